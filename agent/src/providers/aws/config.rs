//! The `[aws]` section: what to scan with the AWS SDK (AWS, or an S3-compatible cloud behind
//! `endpoint_url`), its `LANDMETER_AGENT_*` variables and its checks. Composed into the
//! agent's configuration by `crate::config`, which owns the layering.

use serde::{Deserialize, Serialize};

use crate::config::{MAX_CONCURRENCY, check_url, parse_bool};

/// What to scan with the AWS SDK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Scan AWS. Default: on unless another cloud is enabled (`[azure] enabled = true`), so
    /// configurations from before several clouds per agent mean what they meant. Set
    /// `enabled = true` beside `[azure] enabled = true` to scan both in one scan, or `false`
    /// to turn AWS off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Which provider the endpoint stands for, as the collector's provider table names it:
    /// `aws`, `aws-european-sovereign-cloud`, `ovhcloud`, `scaleway`, `ionos`, `stackit`,
    /// `exoscale`, `open-telekom-cloud`, `hetzner`, ... The same API answer means different
    /// things per provider, so this is recorded on every store. Default `aws`.
    pub provider: String,
    /// Endpoint for every AWS API client (S3, KMS, STS, CloudWatch, Organizations), for
    /// emulators and S3-compatible clouds. When set, S3 is addressed path-style.
    /// Default: none (the SDK's regional endpoints).
    pub endpoint_url: Option<String>,
    /// Region for global calls (ListBuckets, STS, Organizations) when the credential chain
    /// names none (`AWS_REGION`, profile). Default `us-east-1`.
    pub home_region: String,
    /// Buckets examined concurrently per account (1 to 256). Default 16.
    pub concurrency: usize,
    /// Requests in flight at most across the whole AWS scan: every account, region and
    /// service shares this budget (1 to 256). Below it, each service in each region backs
    /// off on throttling and recovers (additive increase, multiplicative decrease). Default 32.
    pub requests_in_flight: usize,
    /// Accounts scanned at once (an Organization's, the roles'), 1 to 64. Default 4.
    pub accounts_in_parallel: usize,
    /// Scan the account of the credential chain itself. Default true.
    pub include_caller_account: bool,
    /// Also scan every active account of the AWS Organization (`organizations:ListAccounts`,
    /// from the management or a delegated administrator account), assuming
    /// `organization_role_name` in each. Default false.
    pub organization: bool,
    /// Role assumed in each organization account. Default `landmeter-read`, the read-only
    /// role of `deploy/onboarding/aws` (CloudFormation StackSet or Terraform), not the
    /// administrator role `OrganizationAccountAccessRole` that Organizations creates.
    pub organization_role_name: String,
    /// External id sent when assuming `organization_role_name` (the onboarding role's trust
    /// policy requires one). Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_external_id: Option<String>,
    /// Read each bucket's Object Lock configuration (`s3:GetObjectLockConfiguration`, one
    /// request per bucket) for the exit scenario's lock-in section. When false, lock-in by
    /// object lock shows as unknown. Default true.
    pub object_lock: bool,
    /// Read bucket sizes from CloudWatch (`ListMetrics` per region, then `GetMetricData`
    /// for about 50 to 250 buckets a request; CloudWatch bills `GetMetricData` per metric).
    /// When false, sizes show as unknown. Default true.
    pub sizes: bool,
    /// Further accounts, each reached by assuming a role.
    pub accounts: Vec<AwsAccount>,
    /// Store kinds scanned besides buckets (which are always scanned), per region:
    /// `database` (RDS instances and clusters), `table` (DynamoDB), `volume` (EBS, and the
    /// region's EBS encryption defaults), `snapshot` (RDS and EBS), `file-system` (EFS),
    /// `backup-vault` (AWS Backup), `log-group` (CloudWatch Logs). Default: all of them;
    /// `[]` scans buckets only.
    pub kinds: Vec<String>,
    /// Regions the kinds are scanned in. Default: empty, meaning the account's enabled
    /// regions (`ec2:DescribeRegions`).
    pub regions: Vec<String>,
}

/// Requests in flight across a whole AWS scan, by default: at a cloud's 20-60 ms a request,
/// 800-2,400 requests a second across every service and region, while any service's
/// throttling is met by its own adaptive limit (down to one request in flight,
/// `budget.rs`). 48, not 32: with the limits keeping a rate limit whatever the budget, a
/// larger one only shortens an unthrottled scan (300 buckets at 25 ms: 1.0 s instead of
/// 1.5 s; a 30 %-throttled one takes about 3 s either way; bench/README.md).
pub const DEFAULT_REQUESTS_IN_FLIGHT: usize = 48;
/// Accounts scanned at once, by default: enough to keep the budget full while one account
/// waits for its role or its listing, few enough that their bucket states stay small.
pub const DEFAULT_ACCOUNTS_IN_PARALLEL: usize = 4;
/// Upper bound of `accounts_in_parallel`.
pub const MAX_ACCOUNTS_IN_PARALLEL: usize = 64;

/// The role the onboarding templates create in every account (`deploy/onboarding/aws`).
pub const DEFAULT_ORGANIZATION_ROLE_NAME: &str = "landmeter-read";

/// The `kinds` values, in the order a scan walks them.
pub const AWS_KINDS: &[&str] = &[
    "database",
    "table",
    "volume",
    "snapshot",
    "file-system",
    "backup-vault",
    "log-group",
];

/// One account reached through a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsAccount {
    /// ARN of the role to assume, e.g. `arn:aws:iam::222222222222:role/landmeter-read`.
    pub role_arn: String,
    /// External id the role's trust policy requires, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            enabled: None,
            provider: "aws".to_owned(),
            endpoint_url: None,
            home_region: "us-east-1".to_owned(),
            concurrency: 16,
            requests_in_flight: DEFAULT_REQUESTS_IN_FLIGHT,
            accounts_in_parallel: DEFAULT_ACCOUNTS_IN_PARALLEL,
            include_caller_account: true,
            organization: false,
            organization_role_name: DEFAULT_ORGANIZATION_ROLE_NAME.to_owned(),
            organization_external_id: None,
            object_lock: true,
            sizes: true,
            accounts: Vec::new(),
            kinds: AWS_KINDS.iter().map(|k| (*k).to_owned()).collect(),
            regions: Vec::new(),
        }
    }
}

impl AwsConfig {
    /// Applies one `LANDMETER_AGENT_<key>` variable of this section. `Ok(false)`: not ours.
    /// The AWS keys keep their names from before several clouds (no `AWS_` prefix), except
    /// `AWS_ENABLED`.
    pub fn apply_env(&mut self, key: &str, value: String) -> Result<bool, String> {
        let flag = |value: &str| parse_bool(value).ok_or("expected true or false");
        match key {
            "AWS_ENABLED" => self.enabled = Some(flag(&value)?),
            "PROVIDER" => self.provider = value,
            "ENDPOINT_URL" => self.endpoint_url = Some(value).filter(|v| !v.is_empty()),
            "HOME_REGION" => self.home_region = value,
            "CONCURRENCY" => {
                self.concurrency = value
                    .trim()
                    .parse()
                    .map_err(|_| "expected a positive integer")?
            }
            "REQUESTS_IN_FLIGHT" => {
                self.requests_in_flight = value
                    .trim()
                    .parse()
                    .map_err(|_| "expected a positive integer")?
            }
            "ACCOUNTS_IN_PARALLEL" => {
                self.accounts_in_parallel = value
                    .trim()
                    .parse()
                    .map_err(|_| "expected a positive integer")?
            }
            "INCLUDE_CALLER_ACCOUNT" => self.include_caller_account = flag(&value)?,
            "ORGANIZATION" => self.organization = flag(&value)?,
            "ORGANIZATION_ROLE_NAME" => self.organization_role_name = value,
            "ORGANIZATION_EXTERNAL_ID" => {
                self.organization_external_id = Some(value).filter(|v| !v.is_empty())
            }
            "OBJECT_LOCK" => self.object_lock = flag(&value)?,
            "SIZES" => self.sizes = flag(&value)?,
            "AWS_KINDS" => self.kinds = list(&value),
            "AWS_REGIONS" => self.regions = list(&value),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks every key of the section; the error names the first bad one. `enabled`: whether
    /// AWS is scanned (an unused section is still checked, but need not name an account).
    pub fn validate(&self, enabled: bool) -> Result<(), String> {
        if self.provider.is_empty()
            || !self
                .provider
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!(
                "aws.provider {:?} must be a lowercase provider id such as \"aws\" or \"ovhcloud\"",
                self.provider
            ));
        }
        if let Some(url) = &self.endpoint_url
            && let Err(reason) = check_url(url)
        {
            return Err(format!("aws.endpoint_url {url:?}: {reason}"));
        }
        if self.home_region.is_empty() || self.home_region.contains(char::is_whitespace) {
            return Err(format!(
                "aws.home_region {:?} is not a region",
                self.home_region
            ));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(format!(
                "aws.concurrency {} must be between 1 and {MAX_CONCURRENCY}",
                self.concurrency
            ));
        }
        if self.requests_in_flight == 0 || self.requests_in_flight > MAX_CONCURRENCY {
            return Err(format!(
                "aws.requests_in_flight {} must be between 1 and {MAX_CONCURRENCY}",
                self.requests_in_flight
            ));
        }
        if self.accounts_in_parallel == 0 || self.accounts_in_parallel > MAX_ACCOUNTS_IN_PARALLEL {
            return Err(format!(
                "aws.accounts_in_parallel {} must be between 1 and {MAX_ACCOUNTS_IN_PARALLEL}",
                self.accounts_in_parallel
            ));
        }
        for kind in &self.kinds {
            if !AWS_KINDS.contains(&kind.as_str()) {
                return Err(format!(
                    "aws.kinds {kind:?} is not one of {}",
                    AWS_KINDS.join(", ")
                ));
            }
        }
        for region in &self.regions {
            if region.is_empty() || region.contains(char::is_whitespace) {
                return Err(format!("aws.regions {region:?} is not a region"));
            }
        }
        if self.organization
            && (self.organization_role_name.is_empty()
                || self.organization_role_name.contains(['/', ':', ' ']))
        {
            return Err(format!(
                "aws.organization_role_name {:?} must be a role name, not a path or ARN",
                self.organization_role_name
            ));
        }
        if self.organization_external_id.as_deref() == Some("") {
            return Err(
                "aws.organization_external_id is empty: remove it or give a value".to_owned(),
            );
        }
        for account in &self.accounts {
            if crate::arn::Arn::parse(&account.role_arn)
                .filter(|arn| arn.service == "iam" && arn.resource.starts_with("role/"))
                .filter(|arn| {
                    arn.account.len() == 12 && arn.account.bytes().all(|b| b.is_ascii_digit())
                })
                .is_none()
            {
                return Err(format!(
                    "aws.accounts role_arn {:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)",
                    account.role_arn
                ));
            }
            if account.external_id.as_deref() == Some("") {
                return Err(format!(
                    "aws.accounts external_id of {} is empty: remove it or give a value",
                    account.role_arn
                ));
            }
        }
        if enabled && !self.include_caller_account && !self.organization && self.accounts.is_empty()
        {
            return Err(
                "nothing to scan: include_caller_account is false, organization is false and no [[aws.accounts]] is given"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// Account ids of the configured roles, in order and once each.
    pub fn role_accounts(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for account in &self.accounts {
            if let Some(arn) = crate::arn::Arn::parse(&account.role_arn)
                && !ids.iter().any(|id| id == arn.account)
            {
                ids.push(arn.account.to_owned());
            }
        }
        ids
    }
}

/// A comma-separated variable as a list; empty items dropped (`""` is the empty list).
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;
    use crate::config::{Config, Overrides};

    #[test]
    fn the_request_budget_and_parallel_accounts_have_defaults_and_bounds() {
        let default = AwsConfig::default();
        assert_eq!(
            (default.requests_in_flight, default.accounts_in_parallel),
            (48, 4)
        );
        let file = Config::from_toml("[aws]\nrequests_in_flight = 8\naccounts_in_parallel = 2\n")
            .expect("parses");
        assert_eq!(
            (file.aws.requests_in_flight, file.aws.accounts_in_parallel),
            (8, 2)
        );
        let config = Config::load(
            None,
            env(&[
                ("LANDMETER_AGENT_REQUESTS_IN_FLIGHT", "64"),
                ("LANDMETER_AGENT_ACCOUNTS_IN_PARALLEL", "16"),
            ]),
            &Overrides::default(),
        )
        .expect("loads");
        assert_eq!(
            (
                config.aws.requests_in_flight,
                config.aws.accounts_in_parallel
            ),
            (64, 16)
        );
        for bad in [
            "requests_in_flight = 0",
            "requests_in_flight = 100000",
            "accounts_in_parallel = 0",
            "accounts_in_parallel = 65",
        ] {
            let config = Config::from_toml(&format!("[aws]\n{bad}\n")).expect("parses");
            assert!(config.validate().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn sizes_are_on_by_default_and_can_be_switched_off() {
        assert!(AwsConfig::default().sizes);
        let off = Config::from_toml("[aws]\nsizes = false\n").expect("parses");
        assert!(!off.aws.sizes && off.aws.object_lock);
        let config = Config::load(
            None,
            env(&[("LANDMETER_AGENT_SIZES", "false")]),
            &Overrides::default(),
        )
        .expect("loads");
        assert!(!config.aws.sizes);
    }

    #[test]
    fn kinds_and_regions_default_to_all_and_can_be_narrowed() {
        let all = AwsConfig::default();
        assert_eq!(all.kinds.len(), AWS_KINDS.len());
        assert!(all.regions.is_empty(), "default: the enabled regions");
        let some = Config::from_toml(
            "[aws]\nkinds = [\"database\", \"log-group\"]\nregions = [\"eu-west-1\"]\n",
        )
        .expect("parses");
        assert_eq!(some.aws.kinds, ["database", "log-group"]);
        assert_eq!(some.aws.regions, ["eu-west-1"]);
        let config = Config::load(
            None,
            env(&[
                ("LANDMETER_AGENT_AWS_KINDS", "table, volume"),
                ("LANDMETER_AGENT_AWS_REGIONS", "eu-central-1,us-east-1"),
            ]),
            &Overrides::default(),
        )
        .expect("loads");
        assert_eq!(config.aws.kinds, ["table", "volume"]);
        assert_eq!(config.aws.regions, ["eu-central-1", "us-east-1"]);
        let none = Config::load(
            None,
            env(&[("LANDMETER_AGENT_AWS_KINDS", "")]),
            &Overrides::default(),
        )
        .expect("loads");
        assert!(none.aws.kinds.is_empty(), "buckets only");
        let bad = Config::from_toml("[aws]\nkinds = [\"disk\"]\n").expect("parses");
        assert!(bad.validate().is_err(), "unknown kind");
    }

    #[test]
    fn object_lock_is_on_by_default_and_can_be_switched_off() {
        assert!(AwsConfig::default().object_lock);
        let off = Config::from_toml("[aws]\nobject_lock = false\n").expect("parses");
        assert!(!off.aws.object_lock);
        let config = Config::load(
            None,
            env(&[("LANDMETER_AGENT_OBJECT_LOCK", "false")]),
            &Overrides::default(),
        )
        .expect("valid");
        assert!(!config.aws.object_lock);
        assert!(
            Config::load(
                None,
                env(&[("LANDMETER_AGENT_OBJECT_LOCK", "maybe")]),
                &Overrides::default(),
            )
            .is_err()
        );
    }

    #[test]
    fn organization_role_defaults_to_the_onboarding_read_role() {
        let default = AwsConfig::default();
        assert_eq!(default.organization_role_name, "landmeter-read");
        assert_eq!(default.organization_external_id, None);
        let file = Config::from_toml(
            "[aws]\norganization = true\norganization_external_id = \"lm-1234\"\n",
        )
        .expect("parses");
        assert_eq!(
            file.aws.organization_external_id.as_deref(),
            Some("lm-1234")
        );
        file.validate().expect("valid");
        let config = Config::load(
            None,
            env(&[
                ("LANDMETER_AGENT_ORGANIZATION", "true"),
                ("LANDMETER_AGENT_ORGANIZATION_EXTERNAL_ID", "lm-5678"),
            ]),
            &Overrides::default(),
        )
        .expect("loads");
        assert_eq!(
            config.aws.organization_external_id.as_deref(),
            Some("lm-5678")
        );
        let cleared = Config::load(
            None,
            env(&[("LANDMETER_AGENT_ORGANIZATION_EXTERNAL_ID", "")]),
            &Overrides::default(),
        )
        .expect("loads");
        assert_eq!(cleared.aws.organization_external_id, None);
        let empty = Config::from_toml("[aws]\norganization_external_id = \"\"\n").expect("parses");
        assert!(empty.validate().is_err(), "an empty external id is refused");
    }

    #[test]
    fn flags_replace_accounts_and_drop_the_caller_account() {
        let base = Config::from_toml(
            "[[aws.accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/a\"\nexternal_id = \"x\"\n",
        )
        .expect("parses");
        let mut config = base.clone();
        config.apply_overrides(&Overrides {
            role_arns: vec!["arn:aws:iam::333333333333:role/b".to_owned()],
            no_caller_account: true,
            ..Overrides::default()
        });
        assert_eq!(
            config.aws.accounts,
            vec![AwsAccount {
                role_arn: "arn:aws:iam::333333333333:role/b".to_owned(),
                external_id: None
            }]
        );
        assert!(!config.aws.include_caller_account);
        config.validate().expect("still valid");
    }
}
