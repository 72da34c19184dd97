"""Seeds an S3/KMS estate into an emulator and writes its truth table.

Deterministic: bucket i is the same on every run and every emulator, so a 5,000-bucket
estate is the 1,000-bucket one plus 4,000 more (``--start 1000 --count 5000``).

Per bucket: a region (8, EU and not), default encryption (about 30 % none, 30 % AES256,
40 % aws:kms naming one of 3 customer keys per region, by key id, ARN or alias), tags on
70 %, replication on 4 % (every 25th bucket, to bucket i+3 of the estate, in another region;
versioning on both ends). Sizes are multiples of 100, so i+3 is always in the estate.

With --kinds, instead: COUNT stores of each AWS store kind other than buckets (RDS
instances and their manual snapshots, DynamoDB tables (an on-demand backup of half of
them, point-in-time recovery on a third), EBS volumes and their snapshots, EFS
file systems, Backup vaults, log groups), store i in eu-west-1 or us-east-1 (i % 2), two in
three under a customer managed key of its region, tags on 70 %; moto only (see KindSeeder).

With --org ACCOUNTS, instead: an Organization-scale estate of ACCOUNTS accounts of COUNT
buckets each (moto serves every account: the seeder assumes a role into each, as the agent
does). Account k is 100000000000 + k; its bucket i is `lm-org-KK-IIII` in one of the 8
regions, AES256 on every other bucket (the rest never configured), tags on 70 %; no keys
and no replication, so the scan's requests per bucket are the same in every account.

Usage: seed.py --endpoint URL --count N [--start M] --truth FILE
       seed.py --kinds --endpoint URL --count N --truth FILE
       seed.py --org ACCOUNTS --endpoint URL --count N --truth FILE
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


# ---------------------------------------------------------------- store kinds (--kinds)

KIND_REGIONS = ["eu-west-1", "us-east-1"]
SECOND_ACCOUNT = "444455556666"
KIND_PASSWORD = "password-1"


def kind_region(i):
    return KIND_REGIONS[i % len(KIND_REGIONS)]


def kind_tags(i):
    """Tags on 70 % of the stores, as for buckets."""
    if (i * 31) % 10 < 7:
        return {"classification": ("public", "internal", "confidential", "secret")[i % 4],
                "process": f"p{i % 17}"}
    return {}


def kind_encrypted(i):
    """A customer managed key on two stores in three (store i, any kind)."""
    return i % 3 != 2


def tag_list(tags, key="Key", value="Value"):
    return [{key: k, value: v} for k, v in tags.items()]


class KindSeeder:
    """Seeds `count` stores of each kind (store i in KIND_REGIONS[i % 2]) and returns the
    truth: one row per store the agent must report, with its service, kind, ARN (the map's
    subject), region and encryption (state, key ARN)."""

    def __init__(self, endpoint, count):
        self.endpoint, self.count = endpoint, count
        self.clients = {}
        self.volumes = {}  # store i -> its volume id, for the snapshot of it
        self.account = client("sts", endpoint, KIND_REGIONS[0]).get_caller_identity()["Account"]
        self.keys = {}
        for region in KIND_REGIONS:
            meta = self.client("kms", region).create_key(Description=f"lm-bench kinds {region}")
            self.keys[region] = meta["KeyMetadata"]["Arn"]

    def client(self, service, region):
        if (service, region) not in self.clients:
            self.clients[(service, region)] = client(service, self.endpoint, region)
        return self.clients[(service, region)]

    def arn(self, service, region, resource):
        return f"arn:aws:{service}:{region}:{self.account}:{resource}"

    def row(self, service, kind, arn, region, state, key_arn=""):
        return {"service": service, "kind": kind, "name": arn, "region": region,
                "state": state, "key_arn": key_arn}

    def seed(self, threads):
        steps = [self.rds_instance, self.dynamodb_table, self.ebs_volume, self.efs_file_system,
                 self.backup_vault, self.log_group]
        rows = []
        with ThreadPoolExecutor(threads) as pool:
            for step in steps:
                rows.extend(pool.map(step, range(self.count)))
            # Snapshots of what exists by now: one of each RDS instance and each volume, and
            # an on-demand backup of half the DynamoDB tables (both regions).
            rows.extend(pool.map(self.rds_snapshot, range(self.count)))
            rows.extend(pool.map(self.ebs_snapshot, range(self.count)))
            rows.extend(r for r in pool.map(self.dynamodb_backup, range(self.count)) if r)
        rows.extend(self.backup_plans())
        rows.extend(self.emulator_made())
        return rows

    def rds_instance(self, i):
        region, encrypted = kind_region(i), kind_encrypted(i)
        ident = f"lm-db-{i:04d}"
        args = {"DBInstanceIdentifier": ident, "DBInstanceClass": "db.t3.micro",
                "Engine": "postgres", "AllocatedStorage": 20, "MasterUsername": "admin",
                "MasterUserPassword": KIND_PASSWORD, "StorageEncrypted": encrypted,
                "Tags": tag_list(kind_tags(i))}
        if encrypted:
            args["KmsKeyId"] = self.keys[region]
        self.client("rds", region).create_db_instance(**args)
        return self.row("rds", "database", self.arn("rds", region, f"db:{ident}"), region,
                        "CONFIGURED" if encrypted else "DISABLED",
                        self.keys[region] if encrypted else "")

    def rds_snapshot(self, i):
        """A manual snapshot of instance i; every fifth shared with another account."""
        region, encrypted = kind_region(i), kind_encrypted(i)
        ident = f"lm-db-{i:04d}-manual"
        rds = self.client("rds", region)
        rds.create_db_snapshot(DBSnapshotIdentifier=ident, DBInstanceIdentifier=f"lm-db-{i:04d}")
        if i % 5 == 0:
            rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=ident, AttributeName="restore",
                                             ValuesToAdd=[SECOND_ACCOUNT])
        row = self.row("rds", "snapshot", self.arn("rds", region, f"snapshot:{ident}"), region,
                       "CONFIGURED" if encrypted else "DISABLED",
                       self.keys[region] if encrypted else "")
        row["shared_with"] = [SECOND_ACCOUNT] if i % 5 == 0 else []
        return row

    def dynamodb_table(self, i):
        """Always encrypted: with the customer key, or with the AWS owned key (no key ARN)."""
        region, cmk = kind_region(i), kind_encrypted(i)
        name = f"lm-table-{i:04d}"
        args = {"TableName": name, "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST"}
        if cmk:
            args["SSESpecification"] = {"Enabled": True, "SSEType": "KMS",
                                        "KMSMasterKeyId": self.keys[region]}
        if kind_tags(i):
            args["Tags"] = tag_list(kind_tags(i))
        self.client("dynamodb", region).create_table(**args)
        return self.row("dynamodb", "table", self.arn("dynamodb", region, f"table/{name}"),
                        region, "CONFIGURED", self.keys[region] if cmk else "")

    def dynamodb_backup(self, i):
        """An on-demand backup of table i when i % 4 is 0 or 1 (under the table's key), and
        point-in-time recovery on every third table (a fact on the table, no store)."""
        region, cmk = kind_region(i), kind_encrypted(i)
        name = f"lm-table-{i:04d}"
        ddb = self.client("dynamodb", region)
        if i % 3 == 0:
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        if i % 4 not in (0, 1):
            return None
        arn = ddb.create_backup(TableName=name, BackupName=f"{name}-backup")["BackupDetails"]["BackupArn"]
        row = self.row("dynamodb", "snapshot", arn, region, "CONFIGURED",
                       self.keys[region] if cmk else "")
        row["shared_with"] = []
        return row

    def ebs_volume(self, i):
        region, encrypted = kind_region(i), kind_encrypted(i)
        args = {"AvailabilityZone": f"{region}a", "Size": 8 + i % 5, "Encrypted": encrypted}
        if encrypted:
            args["KmsKeyId"] = self.keys[region]
        if kind_tags(i):
            args["TagSpecifications"] = [{"ResourceType": "volume", "Tags": tag_list(kind_tags(i))}]
        vol = self.client("ec2", region).create_volume(**args)
        self.volumes[i] = vol["VolumeId"]
        return self.row("ebs", "volume", self.arn("ec2", region, f"volume/{vol['VolumeId']}"),
                        region, "CONFIGURED" if encrypted else "DISABLED",
                        self.keys[region] if encrypted else "")

    def ebs_snapshot(self, i):
        """A snapshot of volume i (its encryption); every fifth shared with another account."""
        region = kind_region(i)
        ec2 = self.client("ec2", region)
        snap = ec2.create_snapshot(VolumeId=self.volumes[i], Description=f"lm-bench {i}")
        if i % 5 == 0:
            ec2.modify_snapshot_attribute(SnapshotId=snap["SnapshotId"],
                                          Attribute="createVolumePermission",
                                          OperationType="add", UserIds=[SECOND_ACCOUNT])
        # The key as the service reports it: AWS gives the volume's, moto 5.2 none.
        row = self.row("ebs", "snapshot", self.arn("ec2", region, f"snapshot/{snap['SnapshotId']}"),
                       region, "CONFIGURED" if snap["Encrypted"] else "DISABLED",
                       snap.get("KmsKeyId", ""))
        row["shared_with"] = [SECOND_ACCOUNT] if i % 5 == 0 else []
        return row

    def efs_file_system(self, i):
        region, encrypted = kind_region(i), kind_encrypted(i)
        args = {"CreationToken": f"lm-fs-{i:04d}", "Encrypted": encrypted,
                "Tags": tag_list(kind_tags(i))}
        if encrypted:
            args["KmsKeyId"] = self.keys[region]
        fs = self.client("efs", region).create_file_system(**args)
        arn = fs.get("FileSystemArn") or self.arn("elasticfilesystem", region,
                                                  f"file-system/{fs['FileSystemId']}")
        return self.row("efs", "file-system", arn, region,
                        "CONFIGURED" if encrypted else "DISABLED",
                        self.keys[region] if encrypted else "")

    def backup_vault(self, i):
        """Always encrypted: with the customer key, or the AWS owned key; every tenth locked."""
        region, cmk = kind_region(i), kind_encrypted(i)
        name = f"lm-vault-{i:04d}"
        backup = self.client("backup", region)
        args = {"BackupVaultName": name}
        if cmk:
            args["EncryptionKeyArn"] = self.keys[region]
        if kind_tags(i):
            args["BackupVaultTags"] = kind_tags(i)
        backup.create_backup_vault(**args)
        if i % 10 == 0:
            backup.put_backup_vault_lock_configuration(BackupVaultName=name, MinRetentionDays=7)
        return self.row("backup", "backup-vault",
                        self.arn("backup", region, f"backup-vault:{name}"), region,
                        "CONFIGURED", self.keys[region] if cmk else "")

    def backup_plans(self):
        """One plan per region filling vault 0 or 1, copying to the other region's: plans are
        read per plan (GetBackupPlan), not per vault. Adds no store."""
        for i, region in enumerate(KIND_REGIONS):
            other = (i + 1) % len(KIND_REGIONS)
            self.client("backup", region).create_backup_plan(BackupPlan={
                "BackupPlanName": f"lm-nightly-{region}",
                "Rules": [{"RuleName": "daily", "TargetBackupVaultName": f"lm-vault-{i:04d}",
                           "Lifecycle": {"DeleteAfterDays": 35},
                           "CopyActions": [{"DestinationBackupVaultArn": self.arn(
                               "backup", KIND_REGIONS[other], f"backup-vault:lm-vault-{other:04d}")}]}]})
        return []

    def log_group(self, i):
        """Always encrypted: with the customer key, or the service's own; retention on half."""
        region, cmk = kind_region(i), kind_encrypted(i)
        name = f"/lm-bench/app-{i:04d}"
        logs = self.client("logs", region)
        args = {"logGroupName": name}
        if cmk:
            args["kmsKeyId"] = self.keys[region]
        if kind_tags(i):
            args["tags"] = kind_tags(i)
        logs.create_log_group(**args)
        if i % 2 == 0:
            logs.put_retention_policy(logGroupName=name, retentionInDays=30)
        return self.row("logs", "log-group", self.arn("logs", region, f"log-group:{name}"),
                        region, "CONFIGURED", self.keys[region] if cmk else "")

    def emulator_made(self):
        """Stores the emulator adds by itself (moto: an automated snapshot per RDS instance):
        the agent must report them too. Read back, as the bucket seeder reads moto's implicit
        bucket encryption."""
        rows = []
        for region in KIND_REGIONS:
            pages = self.client("rds", region).get_paginator("describe_db_snapshots")
            for page in pages.paginate(SnapshotType="automated"):
                for s in page["DBSnapshots"]:
                    encrypted = s.get("Encrypted", False)
                    row = self.row("rds", "snapshot", s["DBSnapshotArn"], region,
                                   "CONFIGURED" if encrypted else "DISABLED",
                                   s.get("KmsKeyId", "") if encrypted else "")
                    row["shared_with"] = []  # AWS cannot share automated snapshots
                    rows.append(row)
        return rows


def seed_kinds(args):
    seeder = KindSeeder(args.endpoint, args.count)
    rows = seeder.seed(args.threads)
    with open(args.truth, "w") as f:
        json.dump({"stores": rows, "account": seeder.account,
                   "keys": sorted(seeder.keys.values())}, f)
    by = {}
    for r in rows:
        by[(r["service"], r["kind"])] = by.get((r["service"], r["kind"]), 0) + 1
    print(f"seeded {len(rows)} stores: " + ", ".join(f"{s} {k} {n}" for (s, k), n in sorted(by.items())),
          file=sys.stderr)


# ---------------------------------------------------------------- organisation (--org)

ORG_FIRST_ACCOUNT = 100000000000


def org_account(k):
    return str(ORG_FIRST_ACCOUNT + k)


def org_clients(endpoint, account):
    """S3 clients per region acting in `account` (moto maps an assumed role's temporary
    credentials to the role's account)."""
    sts = client("sts", endpoint, "us-east-1")
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/landmeter-seed",
                        RoleSessionName="lm-bench-seed")["Credentials"]
    return {r: boto3.client("s3", endpoint_url=endpoint, region_name=r,
                            aws_access_key_id=c["AccessKeyId"],
                            aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c["SessionToken"], config=CFG)
            for r in REGIONS}


def seed_org_bucket(k, i, clients):
    name = f"lm-org-{k:02d}-{i:04d}"
    region = REGIONS[(i * 7 + k) % len(REGIONS)]
    s3 = clients[region]
    args = {"Bucket": name}
    if region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**args)
    enc = "AES256" if i % 2 == 0 else ""
    if enc:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": enc}}]})
    if (i * 2654435761 + k) % 10 < 7:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
            {"Key": "classification", "Value": "internal"}]})
    return {"account": org_account(k), "name": name, "region": region, "algorithm": enc,
            "key_arn": ""}


def implicit_algorithm(s3, bucket):
    """The default encryption the service reports for `bucket`, never configured: "" on moto
    (no configuration, AWS before 2023), AES256 on ministack (AWS since 2023-01-05)."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        return ""
    return rules["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]


def seed_org(args):
    rows = []
    with ThreadPoolExecutor(args.threads) as pool:
        for k in range(args.org):
            clients = org_clients(args.endpoint, org_account(k))
            rows.extend(pool.map(lambda i: seed_org_bucket(k, i, clients), range(args.count)))
    # What the service reports for a bucket never configured (see `main`): the truth.
    plain = next(r for r in rows if not r["algorithm"])
    implicit = implicit_algorithm(org_clients(args.endpoint, plain["account"])[plain["region"]],
                                  plain["name"])
    for r in rows:
        r["algorithm"] = r["algorithm"] or implicit
    with open(args.truth, "w") as f:
        json.dump({"buckets": rows, "accounts": [org_account(k) for k in range(args.org)]}, f)
    print(f"seeded {args.org} accounts x {args.count} buckets", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, required=True, help="estate size after seeding")
    ap.add_argument("--truth", required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--kinds", action="store_true",
                    help="seed COUNT stores of each AWS store kind (not buckets) in 2 regions")
    ap.add_argument("--org", type=int, default=0,
                    help="seed ORG accounts of COUNT buckets each (assumed roles in moto)")
    args = ap.parse_args()
    if args.kinds:
        seed_kinds(args)
        return
    if args.org:
        seed_org(args)
        return

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
    implicit = implicit_algorithm(clients[unconfigured["region"]], unconfigured["name"])
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
