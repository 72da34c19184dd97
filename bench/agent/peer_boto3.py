"""The peer a government IT team would write: a plain sequential boto3 inventory of S3.

List the buckets, then per bucket: location, default encryption, the KMS key's description,
replication and tags. One S3 client, one KMS client per region, no threads, no caching: the
script as it is usually written. Endpoint and credentials come from the environment
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...), as for any boto3 program.

Writes one JSON document to --out: {"buckets": [{"name", "region", "algorithm", "key_arn",
"key_ref", "replication_to", "tags"}]}.
"""

import argparse
import json

import boto3
from botocore.exceptions import ClientError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    s3 = boto3.client("s3", region_name="us-east-1")
    kms_clients = {}
    rows = []
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        region = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        if region == "EU":
            region = "eu-west-1"
        row = {"name": name, "region": region, "algorithm": "", "key_ref": "", "key_arn": "",
               "replication_to": "", "tags": {}}
        try:
            rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
            default = rules[0]["ApplyServerSideEncryptionByDefault"]
            row["algorithm"] = default["SSEAlgorithm"]
            row["key_ref"] = default.get("KMSMasterKeyID", "")
        except ClientError as err:
            if err.response["Error"]["Code"] != "ServerSideEncryptionConfigurationNotFoundError":
                raise
        if row["key_ref"]:
            kms = kms_clients.setdefault(region, boto3.client("kms", region_name=region))
            row["key_arn"] = kms.describe_key(KeyId=row["key_ref"])["KeyMetadata"]["Arn"]
        try:
            rules = s3.get_bucket_replication(Bucket=name)["ReplicationConfiguration"]["Rules"]
            row["replication_to"] = rules[0]["Destination"]["Bucket"].split(":::")[-1]
        except ClientError as err:
            if err.response["Error"]["Code"] != "ReplicationConfigurationNotFoundError":
                raise
        try:
            tag_set = s3.get_bucket_tagging(Bucket=name)["TagSet"]
            row["tags"] = {t["Key"]: t["Value"] for t in tag_set}
        except ClientError as err:
            if err.response["Error"]["Code"] != "NoSuchTagSet":
                raise
        rows.append(row)
    with open(args.out, "w") as f:
        json.dump({"buckets": rows}, f)


if __name__ == "__main__":
    main()
