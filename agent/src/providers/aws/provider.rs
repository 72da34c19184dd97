//! [`AwsProvider`]: planning (who the credential chain is, which accounts to cover) and the
//! scan of one planned account, as the [`Provider`] trait asks.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use landmeter_proto::v1::{AccountCoverage, Fact, StoreKind, fact};

use super::account::{AccountScan, Listed, s3_client};
use super::budget::RequestBudget;
use super::calls;
use super::config::AwsConfig;
use super::listing::list_all_buckets;
use super::sdk::{failure, load_sdk_config};
use crate::arn::Arn;
use crate::providers::{Call, CallFailure, PlanError, Provider, new_fact};
use crate::sink::{FactSink, SinkClosed};

const ROLE_SESSION_NAME: &str = "landmeter-agent";

/// Failures that stop an AWS scan before it starts.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("cannot identify the credential chain's account (sts:GetCallerIdentity): {0}")]
    CallerIdentity(CallFailure),
    #[error("sts:GetCallerIdentity answered without an account id")]
    NoCallerAccount,
}

impl From<AwsError> for PlanError {
    fn from(err: AwsError) -> PlanError {
        let failed_call = match &err {
            AwsError::CallerIdentity(failed) => Some((calls::GET_CALLER_IDENTITY, failed.clone())),
            AwsError::NoCallerAccount => None,
        };
        PlanError {
            message: err.to_string(),
            failed_call,
        }
    }
}

/// The AWS provider (or an S3-compatible cloud behind `endpoint_url`).
#[derive(Debug)]
pub struct AwsProvider {
    config: AwsConfig,
    /// Set by `enumerate`.
    plan: Option<AwsPlan>,
}

/// Who the scan runs as and which accounts it covers; built by [`plan`].
#[derive(Debug)]
struct AwsPlan {
    settings: Settings,
    base: SdkConfig,
    targets: Vec<Target>,
    /// Facts observed while planning (a failed Organization listing), by account; pushed
    /// when that account is scanned.
    pending: Mutex<Vec<Fact>>,
    /// The caller's bucket listing, asked while planning; taken by its account's scan.
    caller_listing: Mutex<Option<Result<Vec<Listed>, CallFailure>>>,
    /// The requests in flight of every call of this scan (`base`'s HTTP client holds it).
    budget: Arc<RequestBudget>,
}

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) provider: String,
    pub(super) endpoint: Option<String>,
    pub(super) concurrency: usize,
    /// Ask `GetObjectLockConfiguration` per bucket (one request per bucket).
    pub(super) object_lock: bool,
    /// Read bucket sizes from CloudWatch.
    pub(super) sizes: bool,
    /// Region of global calls: the chain's region, else `home_region` from the configuration.
    pub(super) home_region: String,
    /// Store kinds scanned besides buckets.
    pub(super) kinds: Vec<StoreKind>,
    /// Regions the kinds are scanned in; empty: the enabled regions.
    pub(super) regions: Vec<String>,
    /// Set when the endpoint is an S3-compatible cloud's (`[[s3_compatible]]`).
    pub(super) compatible: Option<Compatible>,
}

/// What an S3-compatible scan does differently from AWS (`s3_compatible.rs`).
#[derive(Debug, Clone)]
pub(super) struct Compatible {
    pub(super) persona: &'static crate::providers::s3_compatible::Persona,
    /// The region of the endpoint the scan talks to: the signing region of every call and
    /// the region of a bucket the provider places nowhere else.
    pub(super) endpoint_region: String,
}

#[derive(Debug, Clone)]
struct Target {
    account: String,
    access: Access,
}

#[derive(Debug, Clone)]
enum Access {
    /// The credential chain itself.
    Caller,
    Role {
        role_arn: String,
        external_id: Option<String>,
    },
}

impl AwsProvider {
    pub fn new(config: AwsConfig) -> AwsProvider {
        AwsProvider { config, plan: None }
    }
}

#[async_trait::async_trait(?Send)]
impl Provider for AwsProvider {
    fn id(&self) -> &str {
        &self.config.provider
    }

    fn calls(&self) -> &'static [&'static Call] {
        calls::AWS_CALLS
    }

    /// The role accounts, after the provider id standing for the accounts only STS and
    /// Organizations can name (the credential chain's own, the Organization's).
    fn configured_accounts(&self) -> Vec<String> {
        let mut accounts = self.config.role_accounts();
        if self.config.include_caller_account || self.config.organization {
            accounts.insert(0, self.config.provider.clone());
        }
        accounts
    }

    async fn enumerate(&mut self) -> Result<Vec<String>, PlanError> {
        let plan = plan(&self.config).await?;
        let accounts = plan.targets.iter().map(|t| t.account.clone()).collect();
        self.plan = Some(plan);
        Ok(accounts)
    }

    async fn scan(&self, account: &str, sink: &FactSink) -> Result<AccountCoverage, SinkClosed> {
        let target = self.plan.as_ref().and_then(|plan| {
            plan.targets
                .iter()
                .find(|t| t.account == account)
                .map(|t| (plan, t))
        });
        let Some((plan, target)) = target else {
            // The scan only asks for enumerated accounts; say so rather than panic.
            return Ok(AccountCoverage {
                account: account.to_owned(),
                complete: false,
                reason: "not among the accounts this provider enumerated".to_owned(),
                ..AccountCoverage::default()
            });
        };
        let pending: Vec<Fact> = {
            let mut pending = plan
                .pending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let (mine, others) = pending.drain(..).partition(|f| f.account == account);
            *pending = others;
            mine
        };
        for fact in pending {
            sink.push(fact).await?;
        }
        scan_target(plan, target, sink).await
    }

    fn accounts_in_parallel(&self) -> usize {
        self.config.accounts_in_parallel
    }

    fn scan_finished(&self) {
        if let Some(plan) = &self.plan {
            plan.budget.log_summary(&self.config.provider);
        }
    }
}

/// Loads the SDK configuration and decides which accounts to scan.
async fn plan(config: &AwsConfig) -> Result<AwsPlan, AwsError> {
    let budget = RequestBudget::new(config.requests_in_flight);
    let base = load_sdk_config(config, &budget).await;
    let home_region = base
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| config.home_region.clone());
    let settings = Settings {
        provider: config.provider.clone(),
        endpoint: config.endpoint_url.clone(),
        concurrency: config.concurrency.max(1),
        object_lock: config.object_lock,
        sizes: config.sizes,
        home_region,
        kinds: config
            .kinds
            .iter()
            .filter_map(|k| super::kinds::kind_of(k))
            .collect(),
        regions: config.regions.clone(),
        compatible: None,
    };

    // The caller's own buckets are listed beside the question of whose they are: the
    // listing needs only the credentials, and at a cloud's round trip it is the first step
    // of the scan's longest path. Dropped unused when STS fails.
    let caller_listing = async {
        if !config.include_caller_account {
            return None;
        }
        let client = s3_client(&base, &settings.home_region, settings.endpoint.is_some());
        Some(list_all_buckets(&client, "the credential chain's").await)
    };
    let (identity, caller_listing) = tokio::join!(
        aws_sdk_sts::Client::new(&base).get_caller_identity().send(),
        caller_listing
    );
    let identity = identity.map_err(|err| AwsError::CallerIdentity(failure(&err)))?;
    let caller_account = identity
        .account()
        .filter(|a| !a.is_empty())
        .ok_or(AwsError::NoCallerAccount)?
        .to_owned();
    let partition = identity
        .arn()
        .and_then(Arn::parse)
        .map(|arn| arn.partition.to_owned())
        .unwrap_or_else(|| "aws".to_owned());
    tracing::info!(account = %caller_account, arn = identity.arn().unwrap_or_default(), call = calls::GET_CALLER_IDENTITY.name, "credential chain identified");

    let mut targets = Vec::new();
    let mut seen = HashSet::new();
    if config.include_caller_account {
        seen.insert(caller_account.clone());
        targets.push(Target {
            account: caller_account.clone(),
            access: Access::Caller,
        });
    }
    for account in &config.accounts {
        let Some(id) = Arn::parse(&account.role_arn).map(|arn| arn.account.to_owned()) else {
            // Validated by the configuration; skip rather than guess.
            tracing::warn!(role_arn = %account.role_arn, "skipping role that is not an arn");
            continue;
        };
        if !seen.insert(id.clone()) {
            tracing::warn!(account = %id, role_arn = %account.role_arn, "account listed twice, scanning it once");
            continue;
        }
        targets.push(Target {
            account: id,
            access: Access::Role {
                role_arn: account.role_arn.clone(),
                external_id: account.external_id.clone(),
            },
        });
    }

    let mut pending = Vec::new();
    if config.organization {
        match list_organization_accounts(&base).await {
            Ok(ids) => {
                for id in ids {
                    // The caller's own account is covered by include_caller_account.
                    if id == caller_account || !seen.insert(id.clone()) {
                        continue;
                    }
                    targets.push(Target {
                        account: id.clone(),
                        access: Access::Role {
                            role_arn: format!(
                                "arn:{partition}:iam::{id}:role/{}",
                                config.organization_role_name
                            ),
                            external_id: config.organization_external_id.clone(),
                        },
                    });
                }
            }
            Err(failed) => {
                tracing::error!(error = %failed, "cannot list the organization's accounts");
                if config.include_caller_account {
                    pending.push(new_fact(
                        &caller_account,
                        &caller_account,
                        calls::LIST_ACCOUNTS.name,
                        fact::Body::Gap(failed.gap(calls::LIST_ACCOUNTS)),
                    ));
                }
            }
        }
    }

    Ok(AwsPlan {
        settings,
        base,
        targets,
        pending: Mutex::new(pending),
        caller_listing: Mutex::new(caller_listing),
        budget,
    })
}

/// Scans one planned account: assumes its role when it has one, then scans its buckets.
async fn scan_target(
    plan: &AwsPlan,
    target: &Target,
    sink: &FactSink,
) -> Result<AccountCoverage, SinkClosed> {
    let started = std::time::Instant::now();
    let sdk = match &target.access {
        Access::Caller => plan.base.clone(),
        Access::Role {
            role_arn,
            external_id,
        } => match assume_role(&plan.base, role_arn, external_id.as_deref()).await {
            Ok(sdk) => sdk,
            Err(failed) => {
                tracing::error!(account = %target.account, role_arn = %role_arn, error = %failed, "cannot assume role");
                sink.push(new_fact(
                    &target.account,
                    role_arn,
                    calls::ASSUME_ROLE.name,
                    fact::Body::Gap(failed.gap(calls::ASSUME_ROLE)),
                ))
                .await?;
                return Ok(AccountCoverage {
                    account: target.account.clone(),
                    complete: false,
                    stores_seen: 0,
                    gaps: 1,
                    reason: format!("sts:AssumeRole {role_arn} failed: {failed}"),
                });
            }
        },
    };
    let scan = AccountScan::new(target.account.clone(), &plan.settings, sdk, sink);
    let listed = match target.access {
        Access::Caller => plan
            .caller_listing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take(),
        Access::Role { .. } => None,
    };
    let coverage = match listed {
        Some(listed) => scan.scan_after_listing(listed).await?,
        None => scan.scan().await?,
    };
    tracing::info!(
        account = %coverage.account,
        complete = coverage.complete,
        stores = coverage.stores_seen,
        gaps = coverage.gaps,
        seconds = started.elapsed().as_secs_f64(),
        "account scanned"
    );
    Ok(coverage)
}

/// Checks the role can be assumed (for a precise error), then returns a configuration whose
/// credentials come from a refreshing assume-role provider.
async fn assume_role(
    base: &SdkConfig,
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<SdkConfig, CallFailure> {
    aws_sdk_sts::Client::new(base)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(ROLE_SESSION_NAME)
        .set_external_id(external_id.map(str::to_owned))
        .send()
        .await
        .map_err(|err| failure(&err))?;
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name(ROLE_SESSION_NAME)
        .configure(base);
    if let Some(id) = external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

async fn list_organization_accounts(base: &SdkConfig) -> Result<Vec<String>, CallFailure> {
    let client = aws_sdk_organizations::Client::new(base);
    let mut pages = client.list_accounts().into_paginator().send();
    let mut ids = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| failure(&err))?;
        for account in page.accounts() {
            let active = account
                .status()
                .is_none_or(|s| *s == aws_sdk_organizations::types::AccountStatus::Active);
            match account.id() {
                Some(id) if active => ids.push(id.to_owned()),
                Some(id) => {
                    tracing::info!(account = %id, "skipping organization account that is not active")
                }
                None => {}
            }
        }
    }
    Ok(ids)
}
