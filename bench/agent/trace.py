"""Where a tool's wall time went, from a count-proxy trace (`run.py --trace DIR`).

Each trace line is `arrived_ms forwarded_ms answered_ms operation`, in milliseconds since
the tool's run started at the proxy. Prints, for each trace file given:

- the span from the first request's arrival to the last answer, and how many requests;
- the mean time a request spent held (the modelled round trip), waiting in the emulator's
  queue and being served (the emulator serves one request at a time, so a request's service
  starts when it is forwarded or when the one before it was answered, whichever is later);
- the mean number of requests in flight, and the share of the span with fewer than half of
  `--budget` in flight (the tool leaving its budget idle: start, phase barriers, tail);
- a timeline in `--step` ms slices: requests in flight on average and the operations that
  arrived in the slice.

    .venv/bin/python bench/agent/trace.py .bench/trace/ministack-300-agent-default-25ms.trace
"""

import argparse
import collections


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 3)
            if len(parts) == 4:
                rows.append((float(parts[0]), float(parts[1]), float(parts[2]), parts[3]))
    return rows


def summarise(path, budget, step):
    rows = load(path)
    if not rows:
        print(f"{path}: no requests")
        return
    start = min(r[0] for r in rows)
    end = max(r[2] for r in rows)
    span = end - start
    held = sum(r[1] - r[0] for r in rows) / len(rows)
    # The emulator's queue: in order of forwarding, service starts when the previous answer
    # is out (one request at a time); the rest of forwarded..answered is serving.
    waits, serves, free_at = [], [], 0.0
    for arrived, sent, answered, _ in sorted(rows, key=lambda r: r[1]):
        begin = max(sent, free_at)
        waits.append(begin - sent)
        serves.append(answered - begin)
        free_at = answered
    # In flight over time: +1 at arrival, -1 at answer.
    events = sorted([(r[0], 1) for r in rows] + [(r[2], -1) for r in rows])
    level, last, below, area = 0, start, 0.0, 0.0
    for t, d in events:
        if 2 * level < budget:
            below += t - last
        area += level * (t - last)
        level += d
        last = t
    print(f"{path}")
    print(f"  {len(rows)} requests over {span:.0f} ms (first arrival at {start:.0f} ms)")
    print(f"  per request: held {held:.1f} ms, emulator queue {sum(waits) / len(rows):.1f} ms, "
          f"served {sum(serves) / len(rows):.2f} ms")
    print(f"  in flight: mean {area / span:.1f} of {budget}; below {budget / 2:g} for "
          f"{below:.0f} ms ({100 * below / span:.0f} % of the span)")
    slices = collections.defaultdict(lambda: [0.0, collections.Counter()])
    for arrived, _, answered, op in rows:
        slices[int((arrived - start) // step)][1][op] += 1
        # Its time in flight, shared out over the slices it spans.
        for k in range(int((arrived - start) // step), int((answered - start) // step) + 1):
            lo, hi = start + k * step, start + (k + 1) * step
            slices[k][0] += max(0.0, min(hi, answered) - max(lo, arrived))
    for k in sorted(slices):
        busy, ops = slices[k]
        top = ", ".join(f"{op} {n}" for op, n in ops.most_common(3))
        print(f"  {k * step:6.0f} ms  in flight {busy / step:5.1f}  arrived {sum(ops.values()):4d}  {top}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--budget", type=int, default=32,
                    help="the tool's requests in flight (the agent's default: 32)")
    ap.add_argument("--step", type=float, default=100.0, help="timeline slice, ms")
    args = ap.parse_args()
    for path in args.traces:
        summarise(path, args.budget, args.step)


if __name__ == "__main__":
    main()
