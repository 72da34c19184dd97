//! `EnrolService`: agents enrol and renew without their private key ever leaving their host.
//!
//! - `GetCa` hands out the CA certificate the agents trust, so an agent can compare its
//!   SHA-256 fingerprint with the one its operator gave it before it sends anything secret.
//! - `Enroll` takes a one-time enrolment token (`landmeter enroll-token create`) and a CSR.
//!   The tenant and the agent name come from the token (or the name from the request when
//!   the token binds none); of the CSR only its public key is used, after its signature
//!   proved the sender holds the key. The token is used and the certificate recorded in one
//!   transaction, so a token enrols once.
//! - `Renew` needs the agent's current certificate (mutual TLS, checked for revocation and
//!   expiry as ingest does) and signs a new key for the same tenant and agent; the store
//!   records it as renewed from the presented certificate, refusing when that one is
//!   revoked, and a later revocation of the presented one revokes the renewed one too.
//!
//! The gRPC listener's TLS accept makes client certificates optional at the handshake
//! (operators use bearer tokens); `GetCa` and `Enroll` are the only RPCs answered without
//! one. Every enrolment and renewal, granted or refused, is in the audit log.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use landmeter_proto::v1::enrol_service_server::EnrolService;
use landmeter_proto::v1::{
    EnrollRequest, EnrollResponse, GetCaRequest, GetCaResponse, RenewRequest, RenewResponse,
};

use crate::pki::Ca;
use crate::store::{AgentCertificate, AuditEntry, MapStore, StoreError};

/// Default validity of certificates signed at enrolment and renewal.
pub const DEFAULT_AGENT_CERTIFICATE_DAYS: u32 = 30;

pub struct Enrol {
    store: Arc<dyn MapStore>,
    /// The agents' CA certificate (PEM), as the TLS accept trusts it.
    ca_pem: String,
    /// The CA with its key: None when this collector holds no CA key (enrolment then happens
    /// on the CA host with `landmeter agent enroll`).
    ca: Option<Arc<Ca>>,
    validity: time::Duration,
}

impl Enrol {
    pub fn new(
        store: Arc<dyn MapStore>,
        ca_pem: String,
        ca: Option<Arc<Ca>>,
        validity_days: u32,
    ) -> Self {
        Self {
            store,
            ca_pem,
            ca,
            validity: time::Duration::days(i64::from(validity_days.max(1))),
        }
    }

    fn ca(&self) -> Result<&Ca, Status> {
        self.ca.as_deref().ok_or_else(|| {
            Status::failed_precondition(
                "this collector holds no CA key (tls.ca_key_file): enrol on the CA host with \
                 `landmeter agent enroll`",
            )
        })
    }

    /// Runs a store call off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn MapStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Status> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| Status::internal("store task failed"))?
            .map_err(crate::status::to_status)
    }

    /// Appends an audit entry; a failure to audit is logged, never hidden as success.
    async fn audit(&self, method: &str, tenant: Option<&str>, request: String, outcome: &str) {
        let entry = AuditEntry {
            token_id: None,
            role: "agent".to_owned(),
            tenant: tenant.map(str::to_owned),
            method: method.to_owned(),
            request,
            rows: u64::from(outcome == "ok"),
            outcome: outcome.to_owned(),
        };
        if let Err(e) = self.blocking(move |s| s.append_audit(&entry)).await {
            tracing::error!(error = %e, method, "audit entry not written");
        }
    }
}

#[tonic::async_trait]
impl EnrolService for Enrol {
    async fn get_ca(
        &self,
        _request: Request<GetCaRequest>,
    ) -> Result<Response<GetCaResponse>, Status> {
        Ok(Response::new(GetCaResponse {
            ca_pem: self.ca_pem.clone(),
        }))
    }

    async fn enroll(
        &self,
        request: Request<EnrollRequest>,
    ) -> Result<Response<EnrollResponse>, Status> {
        const METHOD: &str = "EnrolService/Enroll";
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let req = request.into_inner();
        let ca = self.ca()?;
        if req.token.is_empty() {
            return Err(Status::unauthenticated("an enrolment token is required"));
        }
        let hash = crate::auth::token_hash(&req.token);
        let now_ms = crate::clock::now_ms();
        let lookup = hash.clone();
        let token = self
            .blocking(move |s| s.find_enrolment_token(&lookup))
            .await?;
        // The token is looked up by its SHA-256: what is compared is a digest the caller
        // cannot choose, so the comparison's timing tells nothing about a valid token.
        let refusal = match &token {
            None => Some("unknown enrolment token".to_owned()),
            Some(t) if t.used_at_ms.is_some() => Some(format!(
                "enrolment token {} was already used; create a new one",
                t.id
            )),
            Some(t) if t.expires_at_ms <= now_ms => Some(format!(
                "enrolment token {} expired; create a new one",
                t.id
            )),
            Some(_) => None,
        };
        if let Some(why) = refusal {
            let tenant = token.as_ref().map(|t| t.tenant.clone());
            self.audit(
                METHOD,
                tenant.as_deref(),
                format!("peer={peer} token={}", token.as_ref().map_or(0, |t| t.id)),
                "refused",
            )
            .await;
            tracing::warn!(%peer, reason = %why, "enrolment refused");
            return Err(Status::unauthenticated(why));
        }
        let token = token.unwrap_or_default();
        let agent = match (&token.agent, req.agent.trim()) {
            (Some(bound), asked) if !asked.is_empty() && asked != bound => {
                return Err(Status::invalid_argument(format!(
                    "this token enrols agent {bound:?}, not {asked:?}"
                )));
            }
            (Some(bound), _) => bound.clone(),
            (None, "") => {
                return Err(Status::invalid_argument(
                    "the token binds no agent name: give the agent's name",
                ));
            }
            (None, asked) => asked.to_owned(),
        };
        let signed = ca
            .sign_agent_csr(&token.tenant, &agent, &req.csr_pem, self.validity)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let cert = AgentCertificate {
            serial: signed.serial.clone(),
            tenant: token.tenant.clone(),
            agent: agent.clone(),
            issued_at_ms: now_ms,
            not_after_ms: signed.not_after_ms,
            renewed_from: None,
        };
        let record = cert.clone();
        let used = self
            .blocking(move |s| s.consume_enrolment_token(&hash, now_ms, &record))
            .await?;
        let request_line = format!(
            "peer={peer} token={} agent={agent} serial={}",
            token.id, signed.serial
        );
        if !used {
            // Another use won the race (or the token expired meanwhile): this certificate
            // was never recorded and is not handed out.
            self.audit(METHOD, Some(&token.tenant), request_line, "refused")
                .await;
            return Err(Status::unauthenticated(format!(
                "enrolment token {} was already used; create a new one",
                token.id
            )));
        }
        self.audit(METHOD, Some(&token.tenant), request_line, "ok")
            .await;
        tracing::info!(tenant = %cert.tenant, agent = %cert.agent, serial = %cert.serial, %peer, "agent enrolled");
        Ok(Response::new(EnrollResponse {
            cert_pem: signed.cert_pem,
            ca_pem: self.ca_pem.clone(),
            tenant: cert.tenant,
            agent: cert.agent,
            not_after_ms: cert.not_after_ms,
        }))
    }

    async fn renew(
        &self,
        request: Request<RenewRequest>,
    ) -> Result<Response<RenewResponse>, Status> {
        const METHOD: &str = "EnrolService/Renew";
        let id = match crate::ingest::agent_identity(&self.store, &request).await {
            Ok(id) => id,
            Err(status) => {
                self.audit(
                    METHOD,
                    None,
                    format!("refused: {}", status.message()),
                    "refused",
                )
                .await;
                return Err(status);
            }
        };
        let ca = self.ca()?;
        let signed = ca
            .sign_agent_csr(
                &id.tenant,
                &id.agent,
                &request.get_ref().csr_pem,
                self.validity,
            )
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let cert = AgentCertificate {
            serial: signed.serial.clone(),
            tenant: id.tenant.clone(),
            agent: id.agent.clone(),
            issued_at_ms: crate::clock::now_ms(),
            not_after_ms: signed.not_after_ms,
            renewed_from: Some(id.serial.clone()),
        };
        let record = cert.clone();
        let recorded = self.blocking(move |s| s.record_renewal(&record)).await?;
        let request_line = format!(
            "agent={} from={} serial={}",
            id.agent, id.serial, signed.serial
        );
        if !recorded {
            self.audit(METHOD, Some(&id.tenant), request_line, "refused")
                .await;
            tracing::warn!(tenant = %id.tenant, agent = %id.agent, serial = %id.serial, "renewal of a revoked certificate refused");
            return Err(Status::unauthenticated("certificate revoked"));
        }
        self.audit(METHOD, Some(&id.tenant), request_line, "ok")
            .await;
        tracing::info!(tenant = %id.tenant, agent = %id.agent, from = %id.serial, serial = %signed.serial, "agent certificate renewed");
        Ok(Response::new(RenewResponse {
            cert_pem: signed.cert_pem,
            not_after_ms: signed.not_after_ms,
        }))
    }
}
