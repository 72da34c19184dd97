"""Seeds an S3/KMS estate into an emulator and writes its truth table.

Deterministic: bucket i is the same on every run and every emulator, so a 5,000-bucket
estate is the 1,000-bucket one plus 4,000 more (``--start 1000 --count 5000``).

Per bucket: a region (8, EU and not), default encryption (about 30 % none, 30 % AES256,
40 % aws:kms naming one of 3 customer keys per region, by key id, ARN or alias), tags on
70 %, replication on 4 % (every 25th bucket, to bucket i+3 of the estate, in another region;
versioning on both ends). Sizes are multiples of 100, so i+3 is always in the estate.

Usage: seed.py --endpoint URL --count N [--start M] --truth FILE
"""

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REGIONS = [
    "eu-west-1",
    "eu-central-1",
    "eu-west-3",
    "eu-north-1",
    "us-east-1",
    "us-west-2",
    "ap-southeast-1",
    "eu-south-1",
]
KEYS_PER_REGION = 3
CFG = Config(retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=16,
             s3={"addressing_style": "path"})


def client(service, endpoint, region):
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=CFG)


def bucket_name(i):
    return f"lm-bench-{i:05d}"


def plan(i):
    """What bucket i is: region, encryption choice, key index, tags, replication."""
    region = REGIONS[(i * 7 + i // 8) % len(REGIONS)]
    h = (i * 2654435761) % 100  # Knuth's multiplicative hash: stable, spread
    if h < 30:
        enc = None
    elif h < 60:
        enc = "AES256"
    else:
        enc = "aws:kms"
    key = (i // 3) % KEYS_PER_REGION
    ref_style = ("id", "arn", "alias")[i % 3]
    tags = None
    if (i * 31) % 10 < 7:
        tags = {"classification": ("public", "internal", "confidential", "secret")[i % 4],
                "process": f"p{i % 17}"}
    replicate = i % 25 == 0
    return region, enc, key, ref_style, tags, replicate


def ensure_keys(endpoint, state_path):
    """3 customer keys per region, with aliases; remembered in state_path across runs."""
    if os.path.exists(state_path):
        with open(state_path) as f:
            return json.load(f)
    keys = {}
    for region in REGIONS:
        kms = client("kms", endpoint, region)
        keys[region] = []
        for k in range(KEYS_PER_REGION):
            meta = kms.create_key(Description=f"lm-bench {region} {k}")["KeyMetadata"]
            alias = f"alias/lm-bench-{k}"
            kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
            keys[region].append({"id": meta["KeyId"], "arn": meta["Arn"], "alias": alias})
    with open(state_path, "w") as f:
        json.dump(keys, f)
    return keys


def seed_one(i, endpoint, keys, clients):
    name = bucket_name(i)
    region, enc, key, ref_style, tags, replicate = plan(i)
    s3 = clients[region]
    args = {"Bucket": name}
    if region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**args)
    truth = {"name": name, "region": region, "algorithm": enc or "", "key_arn": "",
             "key_ref": "", "tags": tags or {}, "replication_to": "", "seeded_plain": not enc}
    if enc:
        rule = {"SSEAlgorithm": enc}
        if enc == "aws:kms":
            k = keys[region][key]
            rule["KMSMasterKeyID"] = k[ref_style]
            truth["key_arn"] = k["arn"]
            truth["key_ref"] = k[ref_style]
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": rule}]})
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    if replicate or (i >= 3 and plan(i - 3)[5]):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if replicate:
        truth["replication_to"] = bucket_name(i + 3)
    return truth


def replicate_one(i, clients):
    """Second pass: the destination exists (and is versioned) by now."""
    name = bucket_name(i)
    clients[plan(i)[0]].put_bucket_replication(Bucket=name, ReplicationConfiguration={
        "Role": "arn:aws:iam::123456789012:role/replication",
        "Rules": [{"ID": "all", "Status": "Enabled", "Priority": 1, "Filter": {},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": f"arn:aws:s3:::{bucket_name(i + 3)}"}}]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, required=True, help="estate size after seeding")
    ap.add_argument("--truth", required=True)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()

    keys = ensure_keys(args.endpoint, args.truth + ".keys.json")
    clients = {r: client("s3", args.endpoint, r) for r in REGIONS}
    rows = []
    if args.start > 0 and os.path.exists(args.truth):
        with open(args.truth) as f:
            rows = json.load(f)["buckets"]
        for r in rows:
            r["seeded_plain"] = not plan(int(r["name"][-5:]))[1]
    with ThreadPoolExecutor(args.threads) as pool:
        rows.extend(pool.map(lambda i: seed_one(i, args.endpoint, keys, clients),
                             range(args.start, args.count)))
        sources = [i for i in range(args.start, args.count) if plan(i)[5]]
        list(pool.map(lambda i: replicate_one(i, clients), sources))
    # A bucket never configured: moto answers "no configuration" (AWS before 2023), ministack
    # answers SSE-S3 (AWS since 2023-01-05). The truth is what the service reports.
    unconfigured = next(r for r in rows if r["seeded_plain"])
    try:
        rules = clients[unconfigured["region"]].get_bucket_encryption(Bucket=unconfigured["name"])
        implicit = rules["ServerSideEncryptionConfiguration"]["Rules"][0][
            "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        implicit = ""
    for r in rows:
        if r.pop("seeded_plain", False):
            r["algorithm"] = implicit
    distinct_keys = sorted({r["key_arn"] for r in rows if r["key_arn"]})
    with open(args.truth, "w") as f:
        json.dump({"buckets": rows, "distinct_keys": distinct_keys}, f)
    print(f"seeded {args.count - args.start} buckets; estate {len(rows)} buckets, "
          f"{len(distinct_keys)} distinct keys", file=sys.stderr)


if __name__ == "__main__":
    main()
