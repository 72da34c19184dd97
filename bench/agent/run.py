"""Agent-versus-peers benchmark (issue 6, agent half). Driven by scripts/bench-agent.sh.

For each emulator (moto, ministack) and estate size: start the emulator, seed the estate
(seed.py, deterministic), measure the emulator ceiling (raw GetBucketEncryption loop,
`count-proxy ceiling`), then run each tool against a counting proxy in front of the
emulator (`count-proxy proxy`) and measure wall time, CPU time (user+sys of the tool's
process tree, from GNU time), peak RSS (largest process of the tree, GNU time's maxrss),
HTTP requests (counted at the proxy), and check the tool's answer against the seeded truth.

Prints one Markdown table on stdout and writes the raw figures as JSON (--json).

`--scenario kinds`: the AWS store kinds other than buckets instead (moto only): seed
`--kinds-count` stores of each kind in 2 regions (seed.py --kinds), run the agent once with
every kind on and those 2 regions, and print requests per store per kind (see kinds_main).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.path.join(ROOT, ".bench")
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
MOTO = os.path.join(ROOT, ".venv", "bin", "moto_server")
MINISTACK = os.path.join(BENCH, "ministack", "bin", "ministack")
PROWLER = os.path.join(BENCH, "prowler", "bin", "prowler")
CUSTODIAN = os.path.join(BENCH, "c7n", "bin", "custodian")
# The release binaries: under CARGO_TARGET_DIR when set (as cargo builds them), else target/.
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
PROXY = os.path.join(TARGET, "release", "count-proxy")
# The agent as shipped: the size-optimised profile the packages and the container build
# (`cargo build --profile release-small -p landmeter-agent`). Its smaller code is a third
# less resident memory than the `release` profile's 64 MB binary (measured at 5,000 buckets:
# 20 MiB of the 34 MiB peak were code pages); `--agent-profile release` measures that one.
AGENT = os.path.join(TARGET, "release-small", "landmeter-agent")
TIME = "/usr/bin/time"  # GNU time (Debian package `time`)

# Largest estate a tool runs on per emulator, to keep the whole run near 15 minutes: on moto
# (about 300 requests/s) the peers at 5,000 buckets would take 3-10 minutes each, and the
# targets are set on ministack. `--all` lifts these.
TIME_BUDGET_LIMITS = {
    ("moto", "boto3"): 1000,
    ("moto", "prowler"): 1000,
    ("moto", "custodian"): 1000,
    ("moto", "agent-default"): 1000,
    ("ministack", "custodian"): 1000,
}
CEILING_CONCURRENCY = 16
# The agent's `[aws] requests_in_flight` default (agent/src/providers/aws/config.rs).
AGENT_DEFAULT_IN_FLIGHT = 48
CEILING_SECONDS = 6.0


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


class Emulator:
    def __init__(self, kind, workdir):
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logf = open(os.path.join(workdir, f"{kind}.log"), "w")
        if kind == "moto":
            cmd = [MOTO, "-H", "127.0.0.1", "-p", str(self.port)]
            env = dict(os.environ)
        else:
            cmd = [MINISTACK]
            env = dict(os.environ, GATEWAY_PORT=str(self.port), BIND_HOST="127.0.0.1",
                       LOG_LEVEL="WARNING", TMPDIR=workdir)
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        wait_port(self.port)
        time.sleep(0.5)
        self.version = version_of(kind)

    def cpu(self):
        """CPU seconds the emulator process has used so far (all its threads)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=20)
        self.logf.close()


def version_of(kind):
    py = VENV_PY if kind == "moto" else os.path.join(BENCH, "ministack", "bin", "python")
    out = subprocess.run([py, "-c", f"import importlib.metadata as m; print(m.version('{kind}'))"],
                         capture_output=True, text=True)
    return out.stdout.strip()


class Proxy:
    def __init__(self, upstream_port, delay_ms=0, jitter_ms=0, throttle_percent=0.0,
                 throttle_rate=0.0):
        """The counting proxy; `delay_ms` + uniform 0..`jitter_ms` held per request (the
        latency model: a cloud API's round trip, which an emulator on loopback lacks);
        `throttle_percent` of the requests answered with the service's throttling error, and
        (`throttle_rate`) those above that many per second per region and service."""
        self.delay_ms = delay_ms
        self.proc = subprocess.Popen([PROXY, "proxy", "--upstream", f"127.0.0.1:{upstream_port}",
                                      "--delay-ms", str(delay_ms), "--jitter-ms", str(jitter_ms),
                                      "--throttle-percent", str(throttle_percent),
                                      "--throttle-rate", str(throttle_rate)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ports = json.loads(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{ports['port']}"
        self.control = f"http://127.0.0.1:{ports['control']}"

    def counts(self, reset=False, trace=None):
        """The counts; `reset` zeroes them after answering, and `trace` (a path) then traces
        every request into that file (see trace.py)."""
        path = "/reset" if reset else "/"
        if reset and trace:
            path += "?trace=" + urllib.parse.quote(trace, safe="/")
        with urllib.request.urlopen(self.control + path) as r:
            return json.load(r)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def measure(cmd, env, stdout_path=None, timeout=1800):
    """Runs cmd; returns wall seconds, CPU seconds (user+sys of the tool and the children it
    waited for), peak RSS MiB (its largest process), exit code.

    CPU and RSS come from GNU time, which forks and execs the tool from its own small
    process: Linux keeps a process's RSS high-water mark across exec, so a tool spawned
    straight from this (large) Python process would report Python's RSS as its own."""
    out = open(stdout_path, "w") if stdout_path else subprocess.DEVNULL
    err = tempfile.TemporaryFile()
    usage_file = tempfile.NamedTemporaryFile("r", suffix=".time", delete=False)
    started = time.monotonic()
    proc = subprocess.Popen([TIME, "-f", "%U %S %M", "-o", usage_file.name, *cmd], env=env,
                            stdout=out, stderr=err)
    # A blocking wait, the timeout from a timer: `wait(timeout=...)` polls with sleeps of up
    # to 50 ms, which rounded a 1.6 s scan's wall up by 0-50 ms.
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        rc = proc.wait()
    finally:
        killer.cancel()
    wall = time.monotonic() - started
    if stdout_path:
        out.close()
    err.seek(0)
    tail = err.read().decode(errors="replace")[-8000:]
    # GNU time prints "Command exited with non-zero status N" first when the tool failed.
    user, sys_, rss_kib = usage_file.read().strip().splitlines()[-1].split()
    usage_file.close()
    os.unlink(usage_file.name)
    return {"wall_s": wall, "cpu_s": float(user) + float(sys_), "rss_mib": int(rss_kib) / 1024.0,
            "rc": rc, "stderr_tail": tail}


def tool_env(endpoint, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LANDMETER_"))}
    env.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": workdir,  # tools write caches and configs under HOME
    })
    return env


# ---------------------------------------------------------------- tools


def measure_ceiling(emu, names):
    """Requests per second the emulator serves to the raw client (`count-proxy ceiling`)."""
    return json.loads(subprocess.run(
        [PROXY, "ceiling", "--target", f"127.0.0.1:{emu.port}", "--buckets", names,
         "--concurrency", str(CEILING_CONCURRENCY), "--seconds", str(CEILING_SECONDS)],
        check=True, capture_output=True, text=True).stdout)


def agent_config(path, endpoint, concurrency, extra, in_flight=None):
    with open(path, "w") as f:
        f.write("[aws]\n")
        f.write(f'endpoint_url = "{endpoint}"\n')
        f.write(f"concurrency = {concurrency}\n")
        if in_flight:
            f.write(f"requests_in_flight = {in_flight}\n")
        for line in extra:
            f.write(line + "\n")


def run_agent(variant, endpoint, workdir, args):
    name, extra = variant
    cfg = os.path.join(workdir, f"agent-{name}.toml")
    agent_config(cfg, endpoint, args.agent_concurrency, extra, args.agent_in_flight)
    out = os.path.join(workdir, f"agent-{name}.json")
    env = tool_env(endpoint, workdir)
    # Warnings, and the request budget's one line per throttled service and region.
    env["RUST_LOG"] = "warn,landmeter_agent::providers::aws::budget=info"
    m = measure([AGENT, "scan", "--config", cfg, "--output", "json"], env, out)
    m["answer"] = parse_agent(out) if m["rc"] == 0 else None
    for line in m["stderr_tail"].splitlines():
        if "throttled: requests in flight" in line:
            try:
                f = json.loads(line)["fields"]
            except (ValueError, KeyError):
                continue
            log(f"agent {name}: throttled {f['service']} {f['region']}: "
                + " ".join(f"{k}={f[k]}" for k in ("throttled", "cuts", "undone", "background",
                                                    "lowest", "limit") if k in f))
    return m


def parse_agent(path):
    with open(path) as f:
        doc = json.load(f)
    rows = {}
    for fact in doc["facts"]:
        kind, body = fact["kind"], fact["body"]
        if kind == "store":
            rows.setdefault(body["name"], {})["region"] = body["region"]
        elif kind == "encryption":
            row = rows.setdefault(fact["subject"], {})
            row["algorithm"] = body["algorithm"] if body["state"].endswith("CONFIGURED") and \
                not body["state"].endswith("NOT_CONFIGURED") else ""
            row["key_arn"] = body["resolved_key_arn"]
        elif kind == "gap":
            rows.setdefault(fact["subject"], {}).setdefault("gaps", []).append(fact["api_call"])
    # Only stores are answers: a gap of a region-wide call (`ebs-encryption-by-default@R`, an
    # action the emulator lacks) is a gap in the map, not an unknown bucket.
    return {name: row for name, row in rows.items() if "region" in row}


def run_boto3(endpoint, workdir, args):
    out = os.path.join(workdir, "boto3.json")
    m = measure([VENV_PY, os.path.join(HERE, "peer_boto3.py"), "--out", out],
                tool_env(endpoint, workdir))
    if m["rc"] == 0:
        with open(out) as f:
            m["answer"] = {r["name"]: r for r in json.load(f)["buckets"]}
    return m


def run_prowler(endpoint, workdir, args):
    if not os.path.exists(PROWLER):
        return {"skip": "not installed (see .bench/install-prowler.log)"}
    outdir = os.path.join(workdir, "prowler")
    shutil.rmtree(outdir, ignore_errors=True)
    cmd = [PROWLER, "aws", "--checks", "s3_bucket_default_encryption", "s3_bucket_kms_encryption",
           "--output-formats", "json-ocsf", "--output-directory", outdir, "--no-banner",
           "--ignore-exit-code-3"]
    m = measure(cmd, tool_env(endpoint, workdir))
    m["answer"] = parse_prowler(outdir)
    return m


ALGO_IN_TEXT = re.compile(r"(aws:kms:dsse|aws:kms|AES256)")


def parse_prowler(outdir):
    """Per bucket: region and algorithm from s3_bucket_default_encryption's findings (the
    algorithm appears only in the finding's text); Prowler reports no key."""
    rows = {}
    for root, _, files in os.walk(outdir):
        for fn in files:
            if not fn.endswith(".ocsf.json"):
                continue
            with open(os.path.join(root, fn)) as f:
                findings = json.load(f)
            for fnd in findings:
                check = fnd.get("metadata", {}).get("event_code", "")
                if check != "s3_bucket_default_encryption":
                    continue
                for res in fnd.get("resources", []):
                    name = res.get("name") or res.get("uid", "").split(":::")[-1]
                    text = fnd.get("status_detail", "") or fnd.get("message", "")
                    algo = ALGO_IN_TEXT.search(text) if fnd.get("status_code") == "PASS" else None
                    rows[name] = {"region": res.get("region", ""),
                                  "algorithm": algo.group(1) if algo else ""}
    return rows or None


def run_custodian(endpoint, workdir, args):
    if not os.path.exists(CUSTODIAN):
        return {"skip": "not installed (see .bench/install-c7n.log)"}
    outdir = os.path.join(workdir, "custodian")
    shutil.rmtree(outdir, ignore_errors=True)
    policy = os.path.join(HERE, "custodian-s3-encryption.yml")
    m = measure([CUSTODIAN, "run", "--cache-period", "0", "-s", outdir, "--region", "us-east-1", policy],
                tool_env(endpoint, workdir))
    m["answer"] = parse_custodian(outdir)
    return m


def parse_custodian(outdir):
    """Per bucket: region (Location), algorithm and the key reference as configured
    (c7n's augmented `ServerSideEncryptionConfiguration`); Custodian does not resolve keys."""
    rows = {}
    for root, _, files in os.walk(outdir):
        if "resources.json" not in files:
            continue
        with open(os.path.join(root, "resources.json")) as f:
            for b in json.load(f):
                loc = (b.get("Location") or {}).get("LocationConstraint") or "us-east-1"
                sse = (b.get("c7n:bucket-encryption") or {}).get("ServerSideEncryptionConfiguration")
                rules = (sse or {}).get("Rules") or [{}]
                default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
                rows[b["Name"]] = {"region": "eu-west-1" if loc == "EU" else loc,
                                   "algorithm": default.get("SSEAlgorithm", ""),
                                   "key_ref": default.get("KMSMasterKeyID", "")}
    return rows or None


# ---------------------------------------------------------------- checking


def check(answer, truth, fields):
    """'yes' or what is wrong, against the truth, over the given fields."""
    if answer is None:
        return "no answer"
    wrong = {f: 0 for f in fields}
    missing = 0
    for t in truth:
        row = answer.get(t["name"])
        if row is None:
            missing += 1
            continue
        for f in fields:
            if (row.get(f) or "") != (t[f] or ""):
                wrong[f] += 1
    extra = len(set(answer) - {t["name"] for t in truth})
    problems = [f"{n} {f} wrong" for f, n in wrong.items() if n]
    if missing:
        problems.append(f"{missing} buckets missing")
    if extra:
        problems.append(f"{extra} unknown buckets")
    return "yes" if not problems else "NO: " + ", ".join(problems)


COVERS = {
    "agent": ("region", "algorithm", "key_arn"),
    "boto3": ("region", "algorithm", "key_arn"),
    "prowler": ("region", "algorithm"),
    "custodian": ("region", "algorithm", "key_ref"),
}


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emulators", default="moto,ministack")
    ap.add_argument("--sizes", default="1000,5000")
    ap.add_argument("--tools", default="agent,agent-default,boto3,prowler,custodian")
    ap.add_argument("--all", action="store_true",
                    help="run every tool at every size (no time-budget limits; ~40 minutes)")
    ap.add_argument("--cold", action="store_true",
                    help="no untimed warm-up scan after the first seeding (the first tool "
                         "then pays the emulator's first use of each service)")
    ap.add_argument("--agent-concurrency", type=int, default=16)
    ap.add_argument("--agent-in-flight", type=int, default=None,
                    help="the agent's requests_in_flight (its global budget); default: the "
                         "agent's own default (48)")
    ap.add_argument("--json", default=os.path.join(BENCH, "agent-results.json"))
    ap.add_argument("--workdir", default=os.path.join(BENCH, "work"))
    ap.add_argument("--scenario", choices=("buckets", "kinds", "org"), default="buckets")
    ap.add_argument("--org-accounts", type=int, default=50,
                    help="org scenario: accounts, each reached by AssumeRole")
    ap.add_argument("--org-buckets", type=int, default=100,
                    help="org scenario: buckets per account")
    ap.add_argument("--kinds-count", type=int, default=50,
                    help="kinds scenario: stores seeded of each kind")
    ap.add_argument("--delays", default="0",
                    help="latency model: milliseconds the proxy holds each request, one run of "
                         "every tool per value (e.g. 0,25)")
    ap.add_argument("--jitter-ms", type=int, default=0,
                    help="latency model: uniform extra 0..J ms per request (with --delays)")
    ap.add_argument("--throttle-percent", type=float, default=0.0,
                    help="the proxy answers this share of requests with the service's "
                         "throttling error (SlowDown, ThrottlingException, ...)")
    ap.add_argument("--throttle-rate", type=float, default=0.0,
                    help="rate-based throttling, as a cloud applies it: the proxy answers "
                         "requests above this many per second per region and service with "
                         "the service's throttling error (0: off)")
    ap.add_argument("--throttled-share", type=float, default=30.0,
                    help="percent of requests the proxy answers throttled for the "
                         "`agent-throttled` tool (the default configuration, judged against "
                         "agent-default's wall in the same run)")
    ap.add_argument("--trace", default=None,
                    help="a directory: trace every request of each tool's run into "
                         "<emulator>-<size>-<tool>-<delay>ms.trace there (bench/agent/trace.py "
                         "reads them)")
    ap.add_argument("--agent-profile", default="release-small",
                    help="cargo profile of the agent binary measured (default: the shipped "
                         "release-small)")
    args = ap.parse_args()
    if args.trace:
        args.trace = os.path.abspath(args.trace)
        os.makedirs(args.trace, exist_ok=True)
    global AGENT
    AGENT = os.path.join(TARGET, args.agent_profile, "landmeter-agent")
    if not os.path.exists(AGENT):
        raise SystemExit(f"{AGENT} is missing: cargo build --profile {args.agent_profile} "
                         "-p landmeter-agent")
    log(f"agent: {AGENT}")
    if args.scenario == "org":
        if args.json == ap.get_default("json"):
            args.json = os.path.join(BENCH, "agent-org-results.json")
        return org_main(args)
    if args.scenario == "kinds":
        if args.json == ap.get_default("json"):
            args.json = os.path.join(BENCH, "agent-kinds-results.json")
        return kinds_main(args)

    os.makedirs(args.workdir, exist_ok=True)
    tools = args.tools.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for kind in args.emulators.split(","):
        workdir = os.path.join(args.workdir, kind)
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        emu = Emulator(kind, workdir)
        delays = [int(d) for d in args.delays.split(",")]
        proxies = {d: Proxy(emu.port, d, args.jitter_ms if d else 0, args.throttle_percent,
                            args.throttle_rate)
                   for d in delays}
        # The throttled variant of the default configuration goes through proxies of its own
        # (same delay), so its unthrottled twin is measured in the same run.
        throttled = ({d: Proxy(emu.port, d, args.jitter_ms if d else 0, args.throttled_share)
                      for d in delays} if "agent-throttled" in args.tools.split(",") else {})
        proxy = proxies[delays[0]]
        truth_path = os.path.join(workdir, "truth.json")
        try:
            seeded = 0
            for size in sizes:
                seeded_before = seeded
                log(f"{kind}: seeding {seeded} -> {size} buckets")
                t0 = time.monotonic()
                subprocess.run([VENV_PY, os.path.join(HERE, "seed.py"), "--endpoint", emu.url,
                                "--start", str(seeded), "--count", str(size), "--truth", truth_path],
                               check=True)
                log(f"{kind}: seeded in {time.monotonic() - t0:.0f}s")
                seeded = size
                with open(truth_path) as f:
                    truth_doc = json.load(f)
                truth = truth_doc["buckets"]
                keys = len(truth_doc["distinct_keys"])
                names = os.path.join(workdir, "names.txt")
                with open(names, "w") as f:
                    f.write("\n".join(f"{t['name']} {t['region']}" for t in truth))
                if not seeded_before and not args.cold:
                    # A cloud has no cold start; an emulator imports each service's code on
                    # its first request (ministack: ~0.2 s in all), which the first tool
                    # measured would pay alone. One untimed default scan of the agent, straight
                    # to the emulator, touches every service any tool here asks.
                    t0 = time.monotonic()
                    run_agent(("warm-up", []), emu.url, workdir, args)
                    log(f"{kind}: warmed up in {time.monotonic() - t0:.1f}s")
                ceiling = measure_ceiling(emu, names)
                log(f"{kind} {size}: ceiling {ceiling['per_second']:.0f} req/s {ceiling['by_status']}")
                results.append({"emulator": kind, "version": emu.version, "size": size,
                                "tool": "ceiling", **ceiling})
                for delay, tool in [(d, t) for d in delays for t in tools]:
                    proxy = throttled[delay] if tool == "agent-throttled" else proxies[delay]
                    limit = TIME_BUDGET_LIMITS.get((kind, tool))
                    if limit and size > limit and not args.all:
                        results.append({"emulator": kind, "size": size, "tool": tool,
                                        "delay_ms": delay,
                                        "skip": f"not run above {limit:,} buckets on {kind} "
                                                "(time budget; `--all` runs it)"})
                        continue
                    trace = (os.path.join(args.trace, f"{kind}-{size}-{tool}-{delay}ms.trace")
                             if args.trace else None)
                    proxy.counts(reset=True, trace=trace)
                    emu_cpu = emu.cpu()
                    log(f"{kind} {size} {delay} ms: {tool} ...")
                    if tool == "agent":
                        m = run_agent(AGENT_LIKE_PEERS, proxy.url, workdir, args)
                    elif tool in ("agent-default", "agent-throttled"):
                        m = run_agent(("default", []), proxy.url, workdir, args)
                    elif tool == "boto3":
                        m = run_boto3(proxy.url, workdir, args)
                    elif tool == "prowler":
                        m = run_prowler(proxy.url, workdir, args)
                    elif tool == "custodian":
                        m = run_custodian(proxy.url, workdir, args)
                    else:
                        raise SystemExit(f"unknown tool {tool}")
                    if "skip" not in m:
                        m["emulator_cpu_s"] = emu.cpu() - emu_cpu
                        counts = proxy.counts()
                        m["requests"] = counts["requests"]
                        m["peak_in_flight"] = counts.get("peak_in_flight", 0)
                        m["throttled"] = counts.get("throttled", 0)
                        m["by_op"] = counts["by_op"]
                        base = "agent" if tool.startswith("agent") else tool
                        m["right"] = check(m.pop("answer", None), truth, COVERS[base])
                        if m["rc"] != 0:
                            m["right"] = f"exit {m['rc']}: " + m["right"]
                        log(f"{kind} {size}: {tool} {m['wall_s']:.1f}s cpu {m['cpu_s']:.1f}s "
                            f"(emulator {m['emulator_cpu_s']:.1f}s) "
                            f"rss {m['rss_mib']:.0f}MiB {m['requests']} req; {m['right']}")
                        if tool == "agent" and kind == "moto" and delay == 0:
                            # The ceiling ratio: the agent straight to the emulator, as the
                            # ceiling client is measured (the proxy's relay is not the agent's
                            # time), twice, each run followed by another ceiling measurement:
                            # moto's rate drifts by 10-20 % within minutes, so both sides are
                            # the mean of runs interleaved in time.
                            m["wall_direct_s"], m["ceilings"], m["right_direct"] = [], [ceiling["per_second"]], "yes"
                            for _ in range(2):
                                d = run_agent(AGENT_LIKE_PEERS, emu.url, workdir, args)
                                right = check(d.pop("answer", None), truth, COVERS["agent"])
                                if right != "yes":
                                    m["right_direct"] = right
                                m["wall_direct_s"].append(d["wall_s"])
                                m["ceilings"].append(measure_ceiling(emu, names)["per_second"])
                            log(f"{kind} {size}: agent direct {m['wall_direct_s']} s; ceilings "
                                f"{[round(c) for c in m['ceilings']]} req/s; {m['right_direct']}")
                    results.append({"emulator": kind, "size": size, "tool": tool, "keys": keys,
                                    "buckets": len(truth), "delay_ms": delay,
                                    "budget": budget_of(tool, args), **m})
        finally:
            for p in [*proxies.values(), *throttled.values()]:
                p.stop()
            emu.stop()
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(table(results))


# ---------------------------------------------------------------- organisation (--scenario org)


def org_main(args):
    """`--org-accounts` accounts of `--org-buckets` buckets in one emulator (the first of
    `--emulators`: moto and ministack both keep an assumed role's resources in the role's
    account), the agent assuming a role into each (`[[aws.accounts]]`, as an Organization's
    accounts are reached), buckets only (`kinds = []`, `sizes = false`: moto's CloudWatch
    costs about a second of emulator time per call), at every `--delays` value."""
    kind = args.emulators.split(",")[0]
    workdir = os.path.join(args.workdir, "org")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    emu = Emulator(kind, workdir)
    truth_path = os.path.join(workdir, "truth.json")
    results = []
    try:
        log(f"{kind}: seeding {args.org_accounts} accounts x {args.org_buckets} buckets")
        t0 = time.monotonic()
        subprocess.run([VENV_PY, os.path.join(HERE, "seed.py"), "--org", str(args.org_accounts),
                        "--endpoint", emu.url, "--count", str(args.org_buckets),
                        "--truth", truth_path], check=True)
        log(f"{kind}: seeded in {time.monotonic() - t0:.0f}s")
        with open(truth_path) as f:
            truth_doc = json.load(f)
        truth = truth_doc["buckets"]
        extra = ["include_caller_account = false", "kinds = []", "sizes = false"]
        for account in truth_doc["accounts"]:
            extra += ["[[aws.accounts]]",
                      f'role_arn = "arn:aws:iam::{account}:role/landmeter-read"']
        for delay in [int(d) for d in args.delays.split(",")]:
            proxy = Proxy(emu.port, delay, args.jitter_ms if delay else 0, args.throttle_percent)
            try:
                emu_cpu = emu.cpu()
                log(f"{kind} org {delay} ms: agent ...")
                # The [aws] keys first: the account tables close the section.
                cfg = os.path.join(workdir, f"agent-org-{delay}.toml")
                agent_config(cfg, proxy.url, args.agent_concurrency, extra, args.agent_in_flight)
                out = os.path.join(workdir, f"agent-org-{delay}.json")
                env = tool_env(proxy.url, workdir)
                env["RUST_LOG"] = "warn"
                m = measure([AGENT, "scan", "--config", cfg, "--output", "json"], env, out)
                m["emulator_cpu_s"] = emu.cpu() - emu_cpu
                counts = proxy.counts()
                m.update(requests=counts["requests"], peak_in_flight=counts.get("peak_in_flight", 0),
                         throttled=counts.get("throttled", 0), by_op=counts["by_op"])
                answer = parse_agent(out) if m["rc"] == 0 else None
                m["right"] = check(answer, truth, ("region", "algorithm"))
                if m["rc"] != 0:
                    log("agent failed:", m["stderr_tail"])
                results.append({"scenario": "org", "emulator": kind, "version": emu.version,
                                "accounts": args.org_accounts,
                                "buckets": len(truth), "delay_ms": delay,
                                "budget": budget_of("agent", args), "tool": "agent", **m})
                log(f"{kind} org {delay} ms: {m['wall_s']:.1f}s rss {m['rss_mib']:.0f}MiB "
                    f"{m['requests']} req (peak {m['peak_in_flight']} in flight); {m['right']}")
            finally:
                proxy.stop()
    finally:
        emu.stop()
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(org_table(results))


def org_table(results):
    lines = [
        "| emulator | accounts x buckets | delay ms | wall s | CPU s | peak RSS MiB | requests | "
        "requests / bucket | in flight: budget / peak at proxy | "
        "wall / (requests x delay / in flight) | emulator CPU s | "
        "answer right (region, algorithm) | target (issue 19) | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        limit = limit_ratio(r)
        target, verdict = "", ""
        if limit:
            target = f"<= 1.5x: {limit[1]:.2f}x"
            verdict = "pass" if limit[1] <= 1.5 else "**MISS**"
        lines.append(
            f"| {r.get('emulator', 'moto')} {r.get('version', '')} | "
            f"{r['accounts']} x {r['buckets'] // r['accounts']} | {r['delay_ms']} | "
            f"{fnum(r['wall_s'])} | {fnum(r['cpu_s'])} | {fnum(r['rss_mib'], 0)} | {r['requests']:,} | "
            f"{r['requests'] / r['buckets']:.2f} | {r.get('budget') or '-'} / {r['peak_in_flight']} | "
            f"{f'{limit[1]:.2f}x' if limit else ''} | {fnum(r['emulator_cpu_s'])} | {r['right']} | "
            f"{target} | {verdict} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- store kinds (--scenario kinds)

KIND_REGIONS = ["eu-west-1", "us-east-1"]
ALL_KINDS = ["database", "table", "volume", "snapshot", "file-system", "backup-vault", "log-group"]

# Rows of the kinds table: (service, kind) as the agent's Store facts say, a label, and the
# operations (as the counting proxy names them) whose requests are that row's. A snapshot is
# an RDS or an EBS one: the rows split by service.
KIND_ROWS = [
    ("rds", "database", "RDS DB instances (and clusters)",
     ["DescribeDBInstances", "DescribeDBClusters", "DescribeGlobalClusters"]),
    ("rds", "snapshot", "RDS DB snapshots (manual, and moto's automated; replicated automated backups)",
     ["DescribeDBSnapshots", "DescribeDBSnapshotAttributes", "DescribeDBInstanceAutomatedBackups"]),
    ("dynamodb", "table", "DynamoDB tables",
     ["ListTables", "DescribeTable", "ListTagsOfResource", "DescribeContinuousBackups"]),
    ("dynamodb", "snapshot", "DynamoDB on-demand backups", ["ListBackups"]),
    ("ebs", "volume", "EBS volumes",
     ["DescribeVolumes", "GetEbsEncryptionByDefault", "GetEbsDefaultKmsKeyId"]),
    ("ebs", "snapshot", "EBS snapshots", ["DescribeSnapshots", "DescribeSnapshotAttribute"]),
    ("efs", "file-system", "EFS file systems",
     ["DescribeFileSystems", "DescribeReplicationConfigurations"]),
    ("backup", "backup-vault", "AWS Backup vaults",
     ["ListBackupVaults", "ListBackupPlans", "GetBackupPlan", "ListRecoveryPointsByBackupVault"]),
    ("logs", "log-group", "CloudWatch Logs log groups", ["DescribeLogGroups"]),
]
# Requests shared by the kinds: the keys their stores name (ListAliases per region of a key,
# DescribeKey per distinct key).
KIND_SHARED = ["ListAliases", "DescribeKey"]

# REST (not query or JSON-target) operations: the proxy names them `service METHOD path`.
REST_OPERATIONS = {
    "elasticfilesystem GET /2015-02-01/file-systems": "DescribeFileSystems",
    "elasticfilesystem GET /2015-02-01/file-systems/replication-configurations":
        "DescribeReplicationConfigurations",
    "backup GET /backup-vaults": "ListBackupVaults",
    "backup GET /backup/plans": "ListBackupPlans",
    "backup GET /backup/plans/{id}": "GetBackupPlan",
    "backup GET /backup-vaults/{id}/recovery-points": "ListRecoveryPointsByBackupVault",
}


def api_name(op):
    return REST_OPERATIONS.get(op.rstrip("/"), op)


def kinds_requests(by_op):
    """The requests of the store kinds other than buckets (their listings, per-store calls and
    the region listing they start from), from the counting proxy's operations."""
    ops = {op for row in KIND_ROWS for op in row[3]} | {"DescribeRegions"}
    return sum(v["n"] if isinstance(v, dict) else v
               for op, v in by_op.items() if api_name(op) in ops)


def parse_agent_kinds(path):
    """Per subject: service, kind and region of its Store fact, encryption state and resolved
    key; and the gaps, by call."""
    with open(path) as f:
        doc = json.load(f)
    rows, gaps = {}, {}
    for fact in doc["facts"]:
        kind, body = fact["kind"], fact["body"]
        if kind == "store":
            rows.setdefault(body["name"], {}).update(
                service=body["service"], kind=body["kind"], region=body["region"])
        elif kind == "encryption":
            rows.setdefault(fact["subject"], {}).update(
                state=body["state"].removeprefix("ENCRYPTION_STATE_"),
                key_arn=body["resolved_key_arn"])
        elif kind == "sharing":
            rows.setdefault(fact["subject"], {})["shared_with"] = sorted(
                body.get("accounts", []) + (["public"] if body.get("public") else []))
        elif kind == "gap":
            gaps[fact["api_call"]] = gaps.get(fact["api_call"], 0) + 1
    return rows, gaps


def check_kind(answer, truth):
    """'yes' or what is wrong: every seeded store of the row reported (and no other), with its
    region, encryption state and key, and (snapshots) the accounts it is shared with; a
    snapshot's sharing left unknown counts as wrong."""
    names = {t["name"] for t in truth}
    missing = sum(1 for t in truth if t["name"] not in answer)
    wrong = {"region": 0, "state": 0, "key_arn": 0, "shared_with": 0}
    for t in truth:
        row = answer.get(t["name"])
        for f in wrong:
            if row is None or f not in t:
                continue
            if f == "shared_with":
                right = row.get(f) == sorted(t[f])  # no Sharing fact: None, never []
            else:
                right = (row.get(f) or "") == (t[f] or "")
            wrong[f] += not right
    extra = len(set(answer) - names)
    problems = [f"{n} {f} wrong" for f, n in wrong.items() if n]
    if missing:
        problems.append(f"{missing} missing")
    if extra:
        problems.append(f"{extra} not seeded")
    return "yes" if not problems else "NO: " + ", ".join(problems)


def kinds_main(args):
    workdir = os.path.join(args.workdir, "kinds")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    emu = Emulator("moto", workdir)
    proxy = Proxy(emu.port)
    truth_path = os.path.join(workdir, "truth.json")
    try:
        log(f"moto: seeding {args.kinds_count} stores of each kind")
        t0 = time.monotonic()
        subprocess.run([VENV_PY, os.path.join(HERE, "seed.py"), "--kinds", "--endpoint", emu.url,
                        "--count", str(args.kinds_count), "--truth", truth_path], check=True)
        log(f"{kind}: seeded in {time.monotonic() - t0:.0f}s")
        with open(truth_path) as f:
            truth = json.load(f)["stores"]
        proxy.counts(reset=True)
        emu_cpu = emu.cpu()
        extra = ["object_lock = false", "sizes = false",
                 "kinds = [" + ", ".join(f'"{k}"' for k in ALL_KINDS) + "]",
                 "regions = [" + ", ".join(f'"{r}"' for r in KIND_REGIONS) + "]"]
        cfg = os.path.join(workdir, "agent-kinds.toml")
        agent_config(cfg, proxy.url, args.agent_concurrency, extra)
        out = os.path.join(workdir, "agent-kinds.json")
        env = tool_env(proxy.url, workdir)
        env["RUST_LOG"] = "warn"
        log("moto kinds: agent ...")
        m = measure([AGENT, "scan", "--config", cfg, "--output", "json"], env, out)
        m["emulator_cpu_s"] = emu.cpu() - emu_cpu
        counts = proxy.counts()
        m["requests"] = counts["requests"]
        m["by_op"] = {api_name(op): v["n"] for op, v in counts["by_op"].items()}
        answer, gaps = parse_agent_kinds(out) if m["rc"] == 0 else ({}, {})
        m["gaps"] = gaps
        rows = []
        for service, kind, label, ops in KIND_ROWS:
            seeded = [t for t in truth if (t["service"], t["kind"]) == (service, kind)]
            reported = {n: r for n, r in answer.items()
                        if (r.get("service"), r.get("kind")) == (service, kind)}
            rows.append({"service": service, "kind": kind, "label": label,
                         "seeded": len(seeded), "reported": len(reported),
                         "by_op": {op: m["by_op"].get(op, 0) for op in ops},
                         "right": check_kind(reported, seeded) if m["rc"] == 0 else f"exit {m['rc']}"})
        counted = {op for *_, ops in KIND_ROWS for op in ops} | set(KIND_SHARED)
        m["other_ops"] = {op: n for op, n in m["by_op"].items() if op not in counted}
        result = {"scenario": "kinds", "per_kind": args.kinds_count, "regions": KIND_REGIONS,
                  "moto": emu.version, "rows": rows, **m}
        log(f"moto kinds: agent {m['wall_s']:.1f}s rss {m['rss_mib']:.0f}MiB "
            f"{m['requests']} req; gaps {gaps}")
        if m["rc"] != 0:
            log("agent failed:", m["stderr_tail"])
    finally:
        proxy.stop()
        emu.stop()
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(kinds_table(result))


def kinds_table(r):
    lines = [
        f"moto {r['moto']}; {r['per_kind']} seeded stores of each kind, store i in "
        f"{' or '.join(r['regions'])} (i % 2); one agent run, every kind on, those regions.",
        "",
        "| kind | stores seeded | stores reported (right: region, encryption, key; snapshots: "
        "sharing) | "
        "requests (by operation) | requests | requests / store |",
        "|---|---|---|---|---|---|",
    ]
    kind_requests = kind_stores = 0
    for row in r["rows"]:
        n = sum(row["by_op"].values())
        kind_requests += n
        kind_stores += row["seeded"]
        ops = ", ".join(f"{op} {c}" for op, c in row["by_op"].items() if c)
        per = n / row["seeded"] if row["seeded"] else 0
        lines.append(f"| {row['label']} | {row['seeded']} | {row['reported']} ({row['right']}) | "
                     f"{ops} | {n} | {per:.2f} |")
    shared = sum(r["by_op"].get(op, 0) for op in KIND_SHARED)
    ops = ", ".join(f"{op} {r['by_op'].get(op, 0)}" for op in KIND_SHARED)
    lines.append(f"| keys the stores name (KMS: ListAliases per region, DescribeKey per "
                 f"distinct key) | | | {ops} | {shared} | |")
    total = kind_requests + shared
    lines.append(f"| **new kinds, total** | {kind_stores} | | | {total} | "
                 f"{total / kind_stores:.2f} |")
    other = ", ".join(f"{op} {n}" for op, n in sorted(r["other_ops"].items()))
    lines.append(f"| not the kinds' (account, bucket listing) | | | {other} | "
                 f"{sum(r['other_ops'].values())} | |")
    gaps = ", ".join(f"{call} {n}" for call, n in sorted(r["gaps"].items())) or "none"
    lines += [
        "",
        f"All requests: {r['requests']}. Agent: wall {fnum(r['wall_s'], 2)} s, CPU "
        f"{fnum(r['cpu_s'], 2)} s, peak RSS {fnum(r['rss_mib'])} MiB; moto CPU "
        f"{fnum(r['emulator_cpu_s'], 1)} s. Gaps the agent reported (by call): {gaps}.",
    ]
    return "\n".join(lines)


def fnum(x, digits=1):
    return f"{x:,.{digits}f}"


# The agent with the peers' coverage: no object-lock request, no CloudWatch sizes.
# No other store kinds either: the peers check buckets only.
AGENT_LIKE_PEERS = ("bench", ["object_lock = false", "sizes = false", "kinds = []"])

TOOL_NAMES = {
    "agent": "landmeter agent, peers' coverage (object_lock = false, sizes = false, kinds = [])",
    "agent-default": "landmeter agent, default config (+ object lock: 1 request per bucket; "
                     "+ CloudWatch sizes: ListMetrics and GetMetricData per region; + the other "
                     "store kinds' listings in every enabled region)",
    "agent-throttled": "landmeter agent, default config, a share of requests answered "
                       "\"throttled\" by the proxy (`--throttled-share`, default 30 %)",
    "boto3": "boto3 script (sequential)",
    "prowler": "Prowler, 2 S3 encryption checks",
    "custodian": "Cloud Custodian, bucket-encryption policy",
}


def budget_of(tool, args):
    """Requests the tool may have in flight, as configured: the agent's budget
    (`requests_in_flight`), 1 for the sequential script; None when the tool does not say
    (the peak seen at the proxy stands in)."""
    if tool.startswith("agent"):
        return args.agent_in_flight or AGENT_DEFAULT_IN_FLIGHT
    if tool == "boto3":
        return 1
    return None


def limit_ratio(r):
    """(in flight used, wall / (requests x delay / in flight)), or None at 0 ms: the latency
    bound of a tool that keeps its budget full all the time."""
    if not r.get("delay_ms"):
        return None
    in_flight = r.get("budget") or r.get("peak_in_flight") or 1
    bound = r["requests"] * r["delay_ms"] / 1000.0 / in_flight
    return in_flight, r["wall_s"] / bound


def table(results):
    ceil = {(r["emulator"], r["size"]): r for r in results if r["tool"] == "ceiling"}
    by = {(r["emulator"], r["size"], r["tool"], r.get("delay_ms", 0)): r for r in results}
    lines = [
        "| emulator | buckets | delay ms | tool | wall s | CPU s | peak RSS MiB | requests / bucket | "
        "in flight: budget / peak at proxy | wall / (requests x delay / in flight) | "
        "emulator CPU s | answer right (fields checked) | target | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        key = (r["emulator"], r["size"])
        delay = r.get("delay_ms", 0)
        if r["tool"] == "ceiling":
            lines.append(f"| {r['emulator']} {r.get('version', '')} | {r['size']:,} | 0 | emulator ceiling: "
                         f"raw GetBucketEncryption loop, {r['concurrency']} connections | | | | "
                         f"{fnum(r['per_second'], 0)} requests/s | | | | | | |")
            continue
        name = TOOL_NAMES.get(r["tool"], r["tool"])
        if "skip" in r:
            lines.append(f"| {r['emulator']} | {r['size']:,} | {delay} | {name} | {r['skip']} | | | | | | | | | |")
            continue
        per_bucket = r["requests"] / r["buckets"]
        base = "agent" if r["tool"].startswith("agent") else r["tool"]
        covers = ", ".join(f.replace("_arn", " ARN").replace("_ref", " reference")
                           for f in COVERS[base])
        targets, verdicts = [], []
        if r["tool"] == "agent" and delay == 0:
            c = ceil.get(key)
            if c and r["emulator"] == "moto":
                proxied = r["wall_s"] / (r["requests"] / c["per_second"])
                if r.get("wall_direct_s"):
                    # Like the ceiling client: straight to the emulator (requests counted in
                    # the proxied run; the agent sends the same ones each time); means of the
                    # interleaved runs.
                    wall = sum(r["wall_direct_s"]) / len(r["wall_direct_s"])
                    rate = sum(r["ceilings"]) / len(r["ceilings"])
                    ratio = wall / (r["requests"] / rate)
                    runs = " and ".join(fnum(w) for w in r["wall_direct_s"])
                    rates = ", ".join(fnum(x, 0) for x in r["ceilings"])
                    targets.append(
                        f"wall straight to moto (runs {runs} s, answer {r['right_direct']}) <= "
                        f"1.25x requests / ceiling (runs {rates} req/s): {ratio:.2f}x "
                        f"(through the counting proxy, first ceiling: {proxied:.2f}x)")
                    verdicts.append(ratio <= 1.25 and r["right_direct"] == "yes")
                else:
                    targets.append(f"wall <= 1.25x requests / ceiling: {proxied:.2f}x")
                    verdicts.append(proxied <= 1.25)
        if r["tool"] == "agent" and delay == 0:
            for peer, factor in (("prowler", 10), ("boto3", 3)):
                p = by.get((r["emulator"], r["size"], peer, delay))
                graded = r["emulator"] == "ministack" and r["size"] == 5000
                if p and "skip" not in p and p.get("rc") == 0:
                    ratio = p["wall_s"] / r["wall_s"]
                    if graded:
                        targets.append(f"{peer} wall / agent wall >= {factor}x: {ratio:.1f}x")
                        verdicts.append(ratio >= factor)
                    else:
                        targets.append(f"({peer} / agent: {ratio:.1f}x)")
                elif graded:
                    targets.append(f"{peer} wall / agent wall >= {factor}x: no {peer} figure")
                    verdicts.append(False)
            if r["emulator"] == "ministack" and r["size"] == 5000:
                limit = 3.2 + r["keys"] / r["buckets"]
                targets.append(f"requests / bucket <= 3.2 + 1 per distinct key ({r['keys']}): "
                               f"{per_bucket:.3f} <= {limit:.3f}")
                verdicts.append(per_bucket <= limit)
                targets.append(f"peak RSS < 30 MB: {r['rss_mib'] * 1.048576:.1f} MB")
                verdicts.append(r["rss_mib"] * 1.048576 < 30)
        if r["tool"] == "agent-default" and delay >= 20:
            # Issue 19's targets at a cloud's round trip, default configuration.
            for peer, factor in (("boto3", 30), ("prowler", 25)):
                p = by.get((r["emulator"], r["size"], peer, delay))
                if p and "skip" not in p and p.get("rc") == 0:
                    ratio = p["wall_s"] / r["wall_s"]
                    targets.append(f"{peer} wall / agent wall >= {factor}x: {ratio:.1f}x")
                    verdicts.append(ratio >= factor)
                else:
                    targets.append(f"{peer} wall / agent wall >= {factor}x: no {peer} figure")
            targets.append(f"peak RSS < 30 MB: {r['rss_mib'] * 1.048576:.1f} MB")
            verdicts.append(r["rss_mib"] * 1.048576 < 30)
            # The other store kinds are listed per region, whatever the number of buckets;
            # issue 19 counts them per store per kind (the kinds table), so the target is the
            # buckets' own requests: every request but the kinds' listings and per-store
            # calls (KMS stays in, though the kinds' keys share it). Both are shown.
            kinds = kinds_requests(r["by_op"])
            own = (r["requests"] - kinds) / r["buckets"]
            targets.append(f"requests / bucket <= 4.2: {own:.2f} for the buckets "
                           f"(all {per_bucket:.2f}, of which the other kinds' listings "
                           f"{kinds:,} requests)")
            verdicts.append(own <= 4.2)
        if r["tool"] == "agent-throttled" and delay >= 20:
            # Issue 19: under throttling the scan completes, loses nothing, and takes at most
            # twice the unthrottled scan's time.
            twin = by.get((r["emulator"], r["size"], "agent-default", delay))
            if twin and "skip" not in twin and twin.get("rc") == 0:
                ratio = r["wall_s"] / twin["wall_s"]
                targets.append(f"{r['throttled']:,} answers throttled; wall / unthrottled "
                               f"wall ({fnum(twin['wall_s'])} s) <= 2x: {ratio:.2f}x; "
                               f"answer right")
                verdicts.append(ratio <= 2 and r["right"] == "yes" and r["rc"] == 0)
            else:
                targets.append("wall / unthrottled wall <= 2x: no agent-default figure")
                verdicts.append(False)
        result = ", ".join("pass" if v else "**MISS**" for v in verdicts)
        limit = limit_ratio(r)
        flight = f"{r.get('budget') or '-'} / {r.get('peak_in_flight', '-')}"
        lines.append(
            f"| {r['emulator']} | {r['size']:,} | {delay} | {name} | {fnum(r['wall_s'])} | "
            f"{fnum(r['cpu_s'])} | {fnum(r['rss_mib'], 0)} | {per_bucket:.2f} | {flight} | "
            f"{f'{limit[1]:.2f}x' if limit else ''} | "
            f"{fnum(r.get('emulator_cpu_s', 0))} | {r['right']} ({covers}) | "
            f"{'; '.join(targets)} | {result} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
