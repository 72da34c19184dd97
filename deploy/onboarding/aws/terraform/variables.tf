variable "agent_principal_arn" {
  description = "ARN of the IAM role (or user) the landmeter agent runs as, e.g. arn:aws:iam::111111111111:role/landmeter-agent."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[\\w+=,.@/-]+$", var.agent_principal_arn))
    error_message = "agent_principal_arn must be an IAM role or user ARN."
  }
}

variable "external_id" {
  description = "External id the agent sends when it assumes the role ([aws] organization_external_id, or external_id of an [[aws.accounts]] entry). The trust policy refuses any other."
  type        = string

  validation {
    condition     = can(regex("^[\\w+=,.@:/-]{2,1224}$", var.external_id))
    error_message = "external_id must be 2 to 1224 letters, digits or +=,.@:/-."
  }
}

variable "role_name" {
  description = "Name of the role: the agent's [aws] organization_role_name."
  type        = string
  default     = "landmeter-read"

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.role_name))
    error_message = "role_name must be an IAM role name (1 to 64 letters, digits or +=,.@-)."
  }
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
