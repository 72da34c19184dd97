//! `MapService` over the store: every call authenticated, scoped by role and audited.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use landmeter_proto::v1::{
    ChangeEvent, GetStoreRequest, GetStoreResponse, ListChangesRequest, ListChangesResponse,
    ListSettingsRequest, ListSettingsResponse, ListStoresRequest, ListStoresResponse,
    RequestScanRequest, RequestScanResponse, StoreFilter, SummaryRequest, SummaryResponse,
    WatchRequest, map_service_server::MapService,
};

use crate::auth::Principal;
use crate::events::ChangeHub;
use crate::status::to_status;
use crate::store::Scope;
use crate::store::{AuditEntry, GroupField, MapStore, StoreError};

/// Default and largest page of `ListStores`.
pub const DEFAULT_PAGE: usize = 500;
pub const MAX_PAGE: usize = 5_000;

pub struct MapApi {
    store: Arc<dyn MapStore>,
    pool_min_tenants: u32,
    hub: ChangeHub,
    connected: crate::agents::ConnectedAgents,
    /// The configured language and time zone: a report's default (`BoardReportRequest.lang`).
    locale: crate::i18n::Locale,
    /// Tenants whose reports are in another language than the collector's.
    tenant_languages: Arc<std::collections::BTreeMap<String, crate::i18n::Lang>>,
}

/// Most change events one `ListChanges` answer (or one replay step of `Watch`) carries.
pub const MAX_CHANGES: usize = 5_000;

impl MapApi {
    pub fn new(
        store: Arc<dyn MapStore>,
        pool_min_tenants: u32,
        hub: ChangeHub,
        connected: crate::agents::ConnectedAgents,
    ) -> Self {
        Self {
            store,
            pool_min_tenants,
            hub,
            connected,
            locale: crate::i18n::Locale::default(),
            tenant_languages: Arc::default(),
        }
    }

    /// The languages configured per tenant (`[tenants.<name>] language`).
    pub fn with_tenant_languages(
        mut self,
        languages: std::collections::BTreeMap<String, crate::i18n::Lang>,
    ) -> Self {
        self.tenant_languages = Arc::new(languages);
        self
    }

    /// The languages tenants' documents are in unless a request names one.
    pub fn tenant_languages(&self) -> Arc<std::collections::BTreeMap<String, crate::i18n::Lang>> {
        Arc::clone(&self.tenant_languages)
    }

    /// The collector's configured language and time zone.
    pub fn with_locale(mut self, locale: crate::i18n::Locale) -> Self {
        self.locale = locale;
        self
    }

    pub fn locale(&self) -> &crate::i18n::Locale {
        &self.locale
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn MapStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Status> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| Status::internal("query task failed"))?
            .map_err(to_status)
    }

    /// The caller's scope, narrowed to one tenant when the request carries [`NarrowTo`], and
    /// what to add to the audit entry for it. An error (a tenant role naming another tenant,
    /// the pool role naming any) is returned inside the query, so it is audited as one.
    fn scope_of<T>(
        &self,
        who: &Principal,
        request: &Request<T>,
    ) -> (Result<Scope, StoreError>, String) {
        let tenant = request.extensions().get::<NarrowTo>().map(|n| n.0.as_str());
        let scope = crate::api::insight::narrow(&who.scope(self.pool_min_tenants), tenant);
        (
            scope,
            tenant.map(|t| format!(" tenant={t:?}")).unwrap_or_default(),
        )
    }

    /// The operator behind a request's `authorization: Bearer <token>` header. A refused
    /// attempt is audited too (no token id; the token itself is never written anywhere).
    async fn authenticate<T>(&self, req: &Request<T>, method: &str) -> Result<Principal, Status> {
        let credential = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::auth::Credential::from_header);
        self.principal_for(credential, method).await
    }

    /// The operator a token or session names, for surfaces that read it themselves (the
    /// event stream, the UI's sign-in); a refusal is audited under `method`.
    pub async fn principal_for(
        &self,
        credential: Option<crate::auth::Credential>,
        method: &str,
    ) -> Result<Principal, Status> {
        let found = match credential {
            None => Err(Status::unauthenticated(
                "a bearer token is required (landmeter token create)",
            )),
            Some(credential) => {
                let now = crate::clock::now_ms();
                self.blocking(move |s| crate::auth::principal_for_credential(s, &credential, now))
                    .await?
                    .ok_or_else(|| {
                        Status::unauthenticated("unknown, revoked or expired token or session")
                    })
            }
        };
        match &found {
            Ok(who) => {
                let span = tracing::Span::current();
                span.record("role", who.role.name());
                if let Some(t) = &who.tenant {
                    span.record("tenant", t.as_str());
                }
            }
            Err(refused) => self.audit_refusal(method, refused.message()).await?,
        }
        found
    }

    /// An authentication that failed, in the audit log.
    pub async fn audit_refusal(&self, method: &str, why: &str) -> Result<(), Status> {
        let entry = AuditEntry {
            token_id: None,
            role: "none".to_owned(),
            tenant: None,
            method: method.to_owned(),
            request: why.to_owned(),
            rows: 0,
            outcome: format!("{:?}", tonic::Code::Unauthenticated),
        };
        tracing::warn!(method, reason = why, "authentication refused");
        self.blocking(move |s| s.append_audit(&entry)).await
    }

    /// One query outside MapService's methods (the JSON API's dashboard, graph, coverage,
    /// costs, exit): authenticated, scoped by role and audited on the same path as the RPCs;
    /// `f` runs on the blocking pool with the caller's scope (the store enforces it again).
    pub async fn scoped<T: Send + 'static>(
        &self,
        request: Request<()>,
        method: &str,
        described: String,
        rows: impl Fn(&T) -> u64,
        f: impl FnOnce(&dyn MapStore, &Scope) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Status> {
        self.scoped_if(request, method, described, rows, |_| Ok(()), f)
            .await
    }

    /// [`MapApi::scoped`] for what only some roles may do: `may` refuses the others (the
    /// refusal audited like any answer).
    pub async fn scoped_if<T: Send + 'static>(
        &self,
        request: Request<()>,
        method: &str,
        described: String,
        rows: impl Fn(&T) -> u64,
        may: impl FnOnce(&Principal) -> Result<(), Status>,
        f: impl FnOnce(&dyn MapStore, &Scope) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Status> {
        use tracing::Instrument as _;
        let span = tracing::info_span!(
            "query",
            method,
            role = tracing::field::Empty,
            tenant = tracing::field::Empty,
        );
        let (who, narrowed, result) = async {
            let who = self.authenticate(&request, method).await?;
            let (scope, narrowed) = self.scope_of(&who, &request);
            let result = match may(&who) {
                Ok(()) => self.blocking(move |s| f(s, &scope?)).await,
                Err(refused) => Err(refused),
            };
            Ok::<_, Status>((who, narrowed, result))
        }
        .instrument(span)
        .await?;
        self.audit(&who, method, described + &narrowed, &result, rows)
            .await?;
        result
    }

    /// An authenticated request outside MapService's methods that returns no rows (a stream
    /// opened, a session started), in the audit log.
    pub async fn audit_granted(
        &self,
        who: &Principal,
        method: &str,
        request: String,
    ) -> Result<(), Status> {
        self.audit(who, method, request, &Ok(()), |_| 0).await
    }

    /// An authenticated request refused for its role, in the audit log.
    pub async fn audit_refusal_of(
        &self,
        who: &Principal,
        method: &str,
        refused: &Status,
    ) -> Result<(), Status> {
        let result: Result<(), Status> = Err(refused.clone());
        self.audit(who, method, String::new(), &result, |_| 0).await
    }

    /// Writes who asked what, and how many rows they got (or why they got none).
    async fn audit<T>(
        &self,
        who: &Principal,
        method: &str,
        request: String,
        result: &Result<T, Status>,
        rows: impl Fn(&T) -> u64,
    ) -> Result<(), Status> {
        let entry = AuditEntry {
            token_id: Some(who.token_id),
            role: who.role.name().to_owned(),
            tenant: who.tenant.clone(),
            method: method.to_owned(),
            request,
            rows: result.as_ref().map_or(0, rows),
            outcome: match result {
                Ok(_) => "ok".to_owned(),
                Err(s) => format!("{:?}", s.code()),
            },
        };
        tracing::info!(token = who.token_id, role = who.role.name(), method, rows = entry.rows, outcome = %entry.outcome, "query");
        self.blocking(move |s| s.append_audit(&entry)).await
    }
}

/// Narrows a query to one tenant: the JSON API's `?tenant=T`. A request extension, so only
/// the in-process HTTP side sets it; [`crate::api::insight::narrow`] decides what a role may.
#[derive(Debug, Clone)]
pub struct NarrowTo(pub String);

#[tonic::async_trait]
impl MapService for MapApi {
    async fn list_stores(
        &self,
        request: Request<ListStoresRequest>,
    ) -> Result<Response<ListStoresResponse>, Status> {
        let who = self.authenticate(&request, "ListStores").await?;
        let (scope, narrowed) = self.scope_of(&who, &request);
        let req = request.into_inner();
        let described = format!("{req:?}{narrowed}");
        let page = match req.page_size as usize {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let filter = req.filter.unwrap_or_default();
        let result = self
            .blocking(move |s| {
                let scope = scope?;
                let filter = crate::api::names::check_filter(s, &scope, filter)?;
                s.list_stores(&scope, &filter, page, &req.page_token)
            })
            .await;
        self.audit(&who, "ListStores", described, &result, |(stores, _)| {
            stores.len() as u64
        })
        .await?;
        let (stores, next_page_token) = result?;
        Ok(Response::new(ListStoresResponse {
            stores,
            next_page_token,
        }))
    }

    async fn get_store(
        &self,
        request: Request<GetStoreRequest>,
    ) -> Result<Response<GetStoreResponse>, Status> {
        let who = self.authenticate(&request, "GetStore").await?;
        let (scope, narrowed) = self.scope_of(&who, &request);
        let req = request.into_inner();
        let id = req.id;
        // Naming the tenant narrows the scope as `?tenant=` does (a role may name only what
        // it may read).
        let scope = scope.and_then(|s| {
            let tenant = (!req.tenant.is_empty()).then_some(req.tenant.as_str());
            crate::api::insight::narrow(&s, tenant)
        });
        let result = self
            .blocking({
                let id = id.clone();
                move |s| s.get_store(&scope?, &id)
            })
            .await
            .and_then(|found| found.ok_or_else(|| Status::not_found(format!("no store {id:?}"))));
        let described = format!("id={id:?} tenant={:?}{narrowed}", req.tenant);
        self.audit(&who, "GetStore", described, &result, |_| 1)
            .await?;
        result.map(Response::new)
    }

    async fn summary(
        &self,
        request: Request<SummaryRequest>,
    ) -> Result<Response<SummaryResponse>, Status> {
        let who = self.authenticate(&request, "Summary").await?;
        let (scope, narrowed) = self.scope_of(&who, &request);
        let req = request.into_inner();
        let described = format!("{req:?}{narrowed}");
        let result = match req
            .group_by
            .iter()
            .map(|f| GroupField::parse(f))
            .collect::<Result<Vec<_>, _>>()
        {
            Err(e) => Err(to_status(e)),
            Ok(fields) => {
                let filter = req.filter.unwrap_or_default();
                self.blocking(move |s| crate::api::insight::summary(s, &scope?, &filter, &fields))
                    .await
            }
        };
        self.audit(&who, "Summary", described, &result, |rows| {
            rows.len() as u64
        })
        .await?;
        Ok(Response::new(SummaryResponse {
            group_by: req.group_by,
            rows: result?,
        }))
    }

    async fn list_changes(
        &self,
        request: Request<ListChangesRequest>,
    ) -> Result<Response<ListChangesResponse>, Status> {
        let who = self.authenticate(&request, "ListChanges").await?;
        let (scope, narrowed) = self.scope_of(&who, &request);
        let req = request.into_inner();
        let described = format!(
            "since_ms={} after_id={} limit={}{narrowed}",
            req.since_ms, req.after_id, req.limit
        );
        let limit = match req.limit as usize {
            0 => MAX_CHANGES,
            n => n.min(MAX_CHANGES),
        };
        let filter = req.filter.unwrap_or_default();
        let result = self
            .blocking(move |s| {
                let scope = scope?;
                let filter = crate::api::names::check_filter(s, &scope, filter)?;
                s.list_changes(&scope, req.since_ms, req.after_id, limit, &filter)
            })
            .await;
        self.audit(&who, "ListChanges", described, &result, |c| c.len() as u64)
            .await?;
        Ok(Response::new(ListChangesResponse { changes: result? }))
    }

    async fn request_scan(
        &self,
        request: Request<RequestScanRequest>,
    ) -> Result<Response<RequestScanResponse>, Status> {
        let who = self.authenticate(&request, "RequestScan").await?;
        let req = request.into_inner();
        let tenant: Result<String, Status> = match (who.role, &who.tenant) {
            (crate::auth::Role::Admin, _) if !req.tenant.is_empty() => Ok(req.tenant.clone()),
            (crate::auth::Role::Admin, _) => Err(Status::invalid_argument(
                "name the tenant whose agents should scan",
            )),
            (crate::auth::Role::TenantAdmin, Some(own))
                if req.tenant.is_empty() || &req.tenant == own =>
            {
                Ok(own.clone())
            }
            _ => Err(Status::permission_denied(
                "requesting scans needs the admin or that tenant's tenant-admin role",
            )),
        };
        let result = match tenant {
            Ok(t) => {
                let agent = (!req.agent.is_empty()).then_some(req.agent.as_str());
                let reason = if req.reason.is_empty() {
                    "requested by an operator"
                } else {
                    &req.reason
                };
                crate::agents::request_scan_anywhere(
                    Arc::clone(&self.store),
                    &self.connected,
                    &t,
                    agent,
                    reason,
                )
                .await
                .map_err(to_status)
            }
            Err(e) => Err(e),
        };
        self.audit(
            &who,
            "RequestScan",
            format!("tenant={:?} agent={:?}", req.tenant, req.agent),
            &result,
            |a| a.len() as u64,
        )
        .await?;
        Ok(Response::new(RequestScanResponse { agents: result? }))
    }

    async fn board_report(
        &self,
        request: Request<landmeter_proto::v1::BoardReportRequest>,
    ) -> Result<Response<landmeter_proto::v1::BoardReportResponse>, Status> {
        super::documents::board_report(self, request).await
    }

    async fn evidence(
        &self,
        request: Request<landmeter_proto::v1::EvidenceRequest>,
    ) -> Result<Response<landmeter_proto::v1::EvidenceResponse>, Status> {
        super::documents::evidence(self, request).await
    }

    async fn list_settings(
        &self,
        request: Request<ListSettingsRequest>,
    ) -> Result<Response<ListSettingsResponse>, Status> {
        let who = self.authenticate(&request, "ListSettings").await?;
        let (scope, narrowed) = self.scope_of(&who, &request);
        let req = request.into_inner();
        let described = format!("tenant={:?}{narrowed}", req.tenant);
        let result = self
            .blocking(move |s| {
                let scope = scope?;
                // A misspelt tenant is an error listing the known ones, never an empty list.
                let tenant = match req.tenant.as_str() {
                    "" => None,
                    t => Some(crate::api::names::tenant_with_scans(s, &scope, t)?),
                };
                super::insight::settings_rows(s, &scope, tenant.as_deref())
            })
            .await;
        self.audit(&who, "ListSettings", described, &result, |r| r.len() as u64)
            .await?;
        Ok(Response::new(ListSettingsResponse { settings: result? }))
    }

    type WatchStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<ChangeEvent, Status>> + Send>>;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let who = self.authenticate(&request, "Watch").await?;
        let scope = who.scope(self.pool_min_tenants);
        let req = request.into_inner();
        let store = Arc::clone(&self.store);
        let allowed: Result<StoreFilter, Status> = match scope {
            Scope::Pool { .. } => Err(Status::permission_denied(
                "the pool role reads aggregates only",
            )),
            _ => checked_filter(&store, &scope, req.filter.unwrap_or_default()).await,
        };
        self.audit(
            &who,
            "Watch",
            format!("after_id={}", req.after_id),
            &allowed,
            |_| 0,
        )
        .await?;
        let filter = allowed?;
        // Subscribe before replaying, so nothing committed in between is missed.
        let live = self.hub.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(forward_changes(
            store,
            scope,
            filter,
            req.after_id,
            live,
            tx,
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// Replays recorded changes after `after_id`, then forwards live ones; after falling behind
/// the live channel it catches up from the database. Ends when the watcher goes away.
/// `filter` with its names made canonical, or the error listing the known ones: a stream of
/// changes to a misspelt provider would otherwise stay silent forever.
pub(crate) async fn checked_filter(
    store: &Arc<dyn MapStore>,
    scope: &Scope,
    filter: StoreFilter,
) -> Result<StoreFilter, Status> {
    let (store, scope) = (Arc::clone(store), scope.clone());
    tokio::task::spawn_blocking(move || {
        crate::api::names::check_filter(store.as_ref(), &scope, filter)
    })
    .await
    .map_err(|_| Status::internal("name check failed"))?
    .map_err(to_status)
}

pub(crate) async fn forward_changes(
    store: Arc<dyn MapStore>,
    scope: Scope,
    filter: StoreFilter,
    after_id: i64,
    mut live: tokio::sync::broadcast::Receiver<Arc<ChangeEvent>>,
    tx: tokio::sync::mpsc::Sender<Result<ChangeEvent, Status>>,
) {
    let mut last = after_id;
    let mut replay = after_id > 0;
    loop {
        if replay {
            loop {
                let (store, scope, filter) = (Arc::clone(&store), scope.clone(), filter.clone());
                let page = tokio::task::spawn_blocking(move || {
                    store.list_changes(&scope, 0, last, MAX_CHANGES, &filter)
                })
                .await;
                let Ok(Ok(page)) = page else {
                    let _ = tx.send(Err(Status::internal("change replay failed"))).await;
                    return;
                };
                let done = page.len() < MAX_CHANGES;
                for e in page {
                    last = last.max(e.id);
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
                if done {
                    break;
                }
            }
            replay = false;
        }
        match live.recv().await {
            Ok(e) => {
                let visible = match &scope {
                    Scope::Tenant(t) => &e.tenant == t,
                    _ => true,
                };
                if e.id > last
                    && visible
                    && e.store
                        .as_ref()
                        .is_some_and(|v| crate::map::changes::matches(&filter, v))
                {
                    last = e.id;
                    if tx.send(Ok((*e).clone())).await.is_err() {
                        return;
                    }
                } else {
                    last = last.max(e.id);
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => replay = true,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
