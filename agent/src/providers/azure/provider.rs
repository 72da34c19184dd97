//! [`AzureProvider`]: planning (transport, credential chain, clients, the subscriptions to
//! cover) and the scan of one planned subscription, as the [`Provider`] trait asks.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use landmeter_proto::v1::AccountCoverage;
use tokio::sync::{Mutex, OnceCell};

use super::arm::{self, ArmClient};
use super::config::AzureConfig;
use super::subscription::Subscription;
use super::{auth, blob, calls};
use crate::providers::{Call, CallFailure, PlanError, Provider};
use crate::sink::{FactSink, SinkClosed};

/// Failures that stop an Azure scan before it starts.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("azure setup: {0}")]
    Setup(#[from] auth::SetupError),
    #[error("azure setup: {0}")]
    Invalid(String),
    #[error("cannot list the subscriptions the identity can read (Subscriptions_List): {0}")]
    Subscriptions(CallFailure),
}

impl From<AzureError> for PlanError {
    fn from(err: AzureError) -> PlanError {
        let failed_call = match &err {
            AzureError::Subscriptions(failed) => Some((calls::LIST_SUBSCRIPTIONS, failed.clone())),
            AzureError::Setup(_) | AzureError::Invalid(_) => None,
        };
        PlanError {
            message: err.to_string(),
            failed_call,
        }
    }
}

/// The Azure provider: Resource Manager and the Blob data plane.
#[derive(Debug)]
pub struct AzureProvider {
    config: AzureConfig,
    /// Set by `enumerate`.
    plan: Option<AzurePlan>,
}

/// The subscriptions a scan covers and the clients it uses; built by [`plan`].
#[derive(Debug)]
struct AzurePlan {
    subscriptions: Vec<String>,
    ctx: Ctx,
}

impl AzureProvider {
    pub fn new(config: AzureConfig) -> AzureProvider {
        AzureProvider { config, plan: None }
    }
}

#[async_trait::async_trait(?Send)]
impl Provider for AzureProvider {
    fn id(&self) -> &str {
        &self.config.provider
    }

    fn calls(&self) -> &'static [&'static Call] {
        calls::AZURE_CALLS
    }

    fn configured_accounts(&self) -> Vec<String> {
        self.config.subscriptions.clone()
    }

    async fn enumerate(&mut self) -> Result<Vec<String>, PlanError> {
        let plan = plan(&self.config).await?;
        let subscriptions = plan.subscriptions.clone();
        self.plan = Some(plan);
        Ok(subscriptions)
    }

    async fn scan(&self, account: &str, sink: &FactSink) -> Result<AccountCoverage, SinkClosed> {
        let Some(plan) = self
            .plan
            .as_ref()
            .filter(|p| p.subscriptions.iter().any(|s| s == account))
        else {
            // The scan only asks for enumerated subscriptions; say so rather than panic.
            return Ok(AccountCoverage {
                account: account.to_owned(),
                complete: false,
                reason: "not among the subscriptions this provider enumerated".to_owned(),
                ..AccountCoverage::default()
            });
        };
        let scanner = Subscription {
            ctx: &plan.ctx,
            all_subscriptions: &plan.subscriptions,
            id: account,
            sink,
            gaps: AtomicU64::new(0),
            unlisted: Default::default(),
            locations: Default::default(),
        };
        scanner.scan().await
    }
}

#[derive(Debug)]
pub(super) struct Ctx {
    pub(super) provider: String,
    pub(super) arm: ArmClient,
    pub(super) blob: blob::BlobAccess,
    pub(super) concurrency: usize,
    pub(super) metrics: bool,
    /// The `[azure] kinds` to list beside storage accounts.
    pub(super) kinds: Vec<String>,
    /// Vaults and managed HSMs by lowercase host, listed once per scan.
    pub(super) vaults: OnceCell<HashMap<String, VaultRef>>,
    /// Keys already read, by (subscription, versionless key URI): the collector interprets
    /// per subscription, so a key used in two subscriptions is reported in each.
    pub(super) keys_done: Mutex<HashMap<(String, String), ()>>,
}

#[derive(Debug, Clone)]
pub(super) struct VaultRef {
    pub(super) id: String,
    pub(super) location: String,
    pub(super) subscription: String,
    pub(super) managed_hsm: bool,
}

/// Resolves the credential chain, the clients and the subscriptions to scan.
async fn plan(config: &AzureConfig) -> Result<AzurePlan, AzureError> {
    let transport = auth::transport(config)?;
    let credential = auth::credential_chain(config, &transport)?;
    let arm = ArmClient::new(
        &config.arm_endpoint,
        &config.arm_audience,
        credential.clone(),
        transport.clone(),
    )
    .map_err(AzureError::Invalid)?;
    let blob = blob::BlobAccess::new(config, credential, transport)?;
    let subscriptions = if config.subscriptions.is_empty() {
        let url = arm
            .url("/subscriptions", arm::SUBSCRIPTIONS_API)
            .map_err(AzureError::Subscriptions)?;
        let (subs, failure) = arm.list::<arm::Subscription>(url).await;
        if let Some(f) = failure {
            return Err(AzureError::Subscriptions(f));
        }
        let mut ids: Vec<String> = subs
            .into_iter()
            .filter(|s| s.state.is_empty() || s.state.eq_ignore_ascii_case("Enabled"))
            .map(|s| s.subscription_id)
            .collect();
        ids.sort();
        ids.dedup();
        ids
    } else {
        config.subscriptions.clone()
    };
    let ctx = Ctx {
        provider: config.provider.clone(),
        arm,
        blob,
        concurrency: config.concurrency,
        metrics: config.metrics,
        kinds: config.kinds.clone(),
        vaults: OnceCell::new(),
        keys_done: Mutex::new(HashMap::new()),
    };
    Ok(AzurePlan { subscriptions, ctx })
}
