output "role_arn" {
  description = "ARN of the read role (an [[aws.accounts]] role_arn, or found by organization_role_name)."
  value       = aws_iam_role.read.arn
}

output "role_name" {
  description = "Name of the read role ([aws] organization_role_name)."
  value       = aws_iam_role.read.name
}
