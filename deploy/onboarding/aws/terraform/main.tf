# The landmeter read role: the agent's metadata-only policy
# (deploy/policies/aws-agent-policy.json), assumable only by the agent's principal and only
# with the external id. The same role as ../landmeter-read-role.yaml; a test checks both
# against the agent's call registry (agent/src/providers/aws/calls.rs).

data "aws_partition" "current" {}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "LandmeterAgentWithExternalId"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [var.agent_principal_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

data "aws_iam_policy_document" "read" {
  statement {
    sid    = "LandmeterMetadataOnly"
    effect = "Allow"
    actions = [
      "s3:ListAllMyBuckets",
      "s3:ListBucket",
      "s3:GetBucketLocation",
      "s3:GetEncryptionConfiguration",
      "s3:GetBucketTagging",
      "s3:GetReplicationConfiguration",
      "s3:GetBucketObjectLockConfiguration",
      "cloudwatch:ListMetrics",
      "cloudwatch:GetMetricData",
      "kms:ListAliases",
      "kms:DescribeKey",
      "kms:DescribeCustomKeyStores",
      "organizations:ListAccounts",
      "ec2:DescribeRegions",
      "rds:DescribeDBInstances",
      "rds:DescribeDBClusters",
      "rds:DescribeGlobalClusters",
      "rds:DescribeDBSnapshots",
      "rds:DescribeDBSnapshotAttributes",
      "rds:DescribeDBInstanceAutomatedBackups",
      "dynamodb:ListTables",
      "dynamodb:DescribeTable",
      "dynamodb:ListTagsOfResource",
      "dynamodb:DescribeContinuousBackups",
      "dynamodb:ListBackups",
      "ec2:DescribeVolumes",
      "ec2:DescribeSnapshots",
      "ec2:DescribeSnapshotAttribute",
      "ec2:GetEbsEncryptionByDefault",
      "ec2:GetEbsDefaultKmsKeyId",
      "elasticfilesystem:DescribeFileSystems",
      "elasticfilesystem:DescribeReplicationConfigurations",
      "backup:ListBackupVaults",
      "backup:ListRecoveryPointsByBackupVault",
      "backup:ListBackupPlans",
      "backup:GetBackupPlan",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "LandmeterAssumeScanRoles"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${data.aws_partition.current.partition}:iam::*:role/${var.role_name}"]
  }
}

resource "aws_iam_role" "read" {
  name                 = var.role_name
  description          = "landmeter agent, read-only metadata (no object, key or log data)"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = merge({ landmeter = "read-role" }, var.tags)
}

resource "aws_iam_role_policy" "read" {
  name   = "landmeter-metadata-only"
  role   = aws_iam_role.read.id
  policy = data.aws_iam_policy_document.read.json
}
