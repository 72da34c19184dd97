//! The collector's HTTP side: `/live`, `/ready`, `/metrics`, and `/v1/events` (server-sent
//! change events, the same stream as `MapService.Watch`, authenticated the same way).

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_stream::StreamExt;

use crate::api::insight;
use crate::auth::Credential;
use crate::events::ChangeHub;
use crate::metrics::Metrics;
use crate::store::{MapStore, Scope};

#[derive(Clone)]
pub struct HttpState {
    pub store: Arc<dyn MapStore>,
    pub hub: ChangeHub,
    pub metrics: Arc<Metrics>,
    pub pool_min_tenants: u32,
    /// The JSON API answers through the same `MapService` implementation as gRPC, so
    /// authentication, scoping and the audit log are one code path.
    pub map: Arc<crate::api::grpc::MapApi>,
    /// Turns true when the collector shuts down: open event streams end then, so the HTTP
    /// side can drain.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The HTTP side is served over TLS: session cookies get the `Secure` flag.
    pub secure_cookies: bool,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/live", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/events", get(events))
        .route("/v1/stores", get(list_stores))
        .route("/v1/stores/{id}", get(get_store))
        .route("/v1/summary", get(summary))
        .route("/v1/changes", get(list_changes))
        .route("/v1/dashboard", get(dashboard))
        .route("/v1/graph", get(graph))
        .route("/v1/coverage", get(coverage))
        .route("/v1/settings", get(settings))
        .route("/v1/names", get(names))
        .route("/v1/costs", get(costs))
        .route("/v1/exit", get(exit))
        .route(
            "/v1/report",
            get(super::documents::http_report).post(super::documents::http_issue_report),
        )
        .route("/v1/evidence", get(super::documents::http_evidence))
        .route("/openapi.json", get(openapi))
        .merge(crate::api::ui::router())
        .with_state(state)
}

async fn ready(State(s): State<HttpState>) -> Response {
    let store = Arc::clone(&s.store);
    match tokio::task::spawn_blocking(move || store.interpretation_fingerprint()).await {
        Ok(Ok(_)) => "ready".into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

/// The process's counters for anyone who reaches the HTTP side (loopback, or TLS); a scraper
/// that sends a bearer token also gets, for the tenants its token may read, each agent's
/// staleness (`crate::metrics::render_staleness`). Tenant and agent names are never shown
/// without a token.
async fn metrics(State(s): State<HttpState>, headers: HeaderMap) -> Response {
    let mut text = s.metrics.render();
    if let Some(credential) = caller_credential(&headers) {
        let principal = match s.map.principal_for(Some(credential), "Metrics").await {
            Ok(p) => p,
            Err(refused) => return error(refused),
        };
        let scope = principal.scope(s.pool_min_tenants);
        if !matches!(scope, Scope::Pool { .. }) {
            if let Err(e) = s
                .map
                .audit_granted(&principal, "Metrics", "staleness per agent".to_owned())
                .await
            {
                return error(e);
            }
            let store = Arc::clone(&s.store);
            let scans = tokio::task::spawn_blocking(move || {
                store.scan_coverage(&scope, None, crate::metrics::STALENESS_SCANS)
            })
            .await;
            match scans {
                Ok(Ok(scans)) => {
                    let gauges = crate::metrics::render_staleness(&scans, crate::clock::now_ms());
                    // Before the exposition's closing `# EOF`.
                    let body = text.strip_suffix("# EOF\n").unwrap_or(&text).to_owned();
                    text = format!("{body}{gauges}# EOF\n");
                }
                _ => {
                    return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
                        .into_response();
                }
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /v1/events[?after_id=N][&<store filters>]`: recorded changes after `after_id`, then
/// live ones, of the stores the filter selects (the same filter as `/v1/changes`).
async fn events(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let filter = match super::filter::from_query(&pairs) {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let after_id = match param(&pairs, "after_id").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(id)) => id,
        Some(Err(_)) => {
            return error(tonic::Status::invalid_argument(
                "after_id must be a change id (an integer)",
            ));
        }
    };
    // Browsers' EventSource resends the last id it saw on reconnect.
    let after_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(after_id);
    let principal = match s
        .map
        .principal_for(caller_credential(&headers), "Events")
        .await
    {
        Ok(p) => p,
        Err(refused) => return error(refused),
    };
    let scope = principal.scope(s.pool_min_tenants);
    if let Scope::Pool { .. } = scope {
        let refused = tonic::Status::permission_denied("the pool role reads aggregates only");
        let _ = s.map.audit_refusal_of(&principal, "Events", &refused).await;
        return error(refused);
    }
    // `?tenant=` narrows the stream as it narrows every other read (a tenant role's own only).
    let scope = match crate::api::insight::narrow(&scope, param(&pairs, "tenant")) {
        Ok(scope) => scope,
        Err(e) => {
            let refused = crate::status::to_status(e);
            let _ = s.map.audit_refusal_of(&principal, "Events", &refused).await;
            return error(refused);
        }
    };
    // Every read is audited; a stream is audited when it opens (with where it resumes and
    // what it selects).
    let mut described = format!("after_id={after_id}");
    for (k, v) in pairs.iter().filter(|(k, _)| k != "after_id") {
        described.push_str(&format!(" {k}={v}"));
    }
    if let Err(e) = s.map.audit_granted(&principal, "Events", described).await {
        return error(e);
    }
    let filter = match crate::api::grpc::checked_filter(&s.store, &scope, filter).await {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(crate::api::grpc::forward_changes(
        Arc::clone(&s.store),
        scope,
        filter,
        after_id,
        s.hub.subscribe(),
        tx,
    ));
    let mut stopping = s.stopping.clone();
    let stopped = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map_while(|item| {
        let e = item.ok()?;
        let kind = landmeter_proto::json::change_kind(e.kind());
        let data = landmeter_proto::json::change(&e).to_string();
        Some(Ok::<_, Infallible>(
            Event::default().id(e.id.to_string()).event(kind).data(data),
        ))
    });
    Sse::new(futures::StreamExt::take_until(stream, stopped))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The OpenAPI description of the JSON API.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The UI's session id from its HttpOnly cookie (the browser sends it; scripts never see it).
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == crate::api::ui::SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// What the caller presents: the `Authorization: Bearer` token, else the UI's session.
fn caller_credential(headers: &HeaderMap) -> Option<Credential> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| Credential::Token(t.to_owned()));
    bearer.or_else(|| session_cookie(headers).map(Credential::Session))
}

/// A gRPC request carrying the caller's credential (the header's token or the session).
pub(crate) fn authorized<T>(headers: &HeaderMap, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Some(v) = caller_credential(headers).and_then(|c| c.header().parse().ok()) {
        req.metadata_mut().insert("authorization", v);
    }
    req
}

/// [`authorized`], narrowed to one tenant by `?tenant=T` (MapApi decides what a role may).
fn authorized_for<T>(
    headers: &HeaderMap,
    pairs: &[(String, String)],
    message: T,
) -> tonic::Request<T> {
    let mut req = authorized(headers, message);
    if let Some(t) = param(pairs, "tenant").filter(|t| !t.is_empty()) {
        req.extensions_mut()
            .insert(crate::api::grpc::NarrowTo(t.to_owned()));
    }
    req
}

/// An already rendered JSON document (the CLI's `--format json` rendering).
fn json_text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(crate) fn error(status: tonic::Status) -> Response {
    let code = StatusCode::from_u16(crate::status::http_status(status.code()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        axum::Json(serde_json::json!({"error": status.message()})),
    )
        .into_response()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

async fn list_stores(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    use landmeter_proto::v1::map_service_server::MapService;
    let filter = match super::filter::from_query(&pairs) {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let request = landmeter_proto::v1::ListStoresRequest {
        filter: Some(filter),
        page_size: param(&pairs, "page_size")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        page_token: param(&pairs, "page_token").unwrap_or_default().to_owned(),
    };
    let page = |stores: &[landmeter_proto::v1::StoreView], next: String| {
        let stores: Vec<_> = stores
            .iter()
            .map(landmeter_proto::json::store_view)
            .collect();
        axum::Json(serde_json::json!({"stores": stores, "next_page_token": next})).into_response()
    };
    match s
        .map
        .list_stores(authorized_for(&headers, &pairs, request))
        .await
    {
        Ok(r) => {
            let r = r.into_inner();
            page(&r.stores, r.next_page_token)
        }
        Err(e) => error(e),
    }
}

/// `GET /v1/stores/{id}[?tenant=T]`: the tenant names the store's tenant when the id exists
/// in several (as `GetStoreRequest.tenant`).
async fn get_store(
    State(s): State<HttpState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    use landmeter_proto::v1::map_service_server::MapService;
    let tenant = param(&pairs, "tenant").unwrap_or_default().to_owned();
    match s
        .map
        .get_store(authorized(
            &headers,
            landmeter_proto::v1::GetStoreRequest { id, tenant },
        ))
        .await
    {
        Ok(r) => json_text(crate::api::render::store_detail(
            &r.into_inner(),
            crate::api::render::Format::Json,
        )),
        Err(e) => error(e),
    }
}

async fn summary(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    use landmeter_proto::v1::map_service_server::MapService;
    let filter = match super::filter::from_query(&pairs) {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let group_by = param(&pairs, "by")
        .map(|b| {
            b.split(',')
                .map(|f| f.trim().to_owned())
                .filter(|f| !f.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let request = landmeter_proto::v1::SummaryRequest {
        filter: Some(filter),
        group_by,
    };
    match s
        .map
        .summary(authorized_for(&headers, &pairs, request))
        .await
    {
        Ok(r) => json_text(crate::api::render::summary(
            &r.into_inner(),
            crate::api::render::Format::Json,
        )),
        Err(e) => error(e),
    }
}

async fn list_changes(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    use landmeter_proto::v1::map_service_server::MapService;
    let filter = match super::filter::from_query(&pairs) {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let number = |key| param(&pairs, key).and_then(|v| v.parse().ok()).unwrap_or(0);
    let request = landmeter_proto::v1::ListChangesRequest {
        since_ms: number("since_ms"),
        after_id: number("after_id"),
        limit: 0,
        filter: Some(filter),
    };
    match s
        .map
        .list_changes(authorized_for(&headers, &pairs, request))
        .await
    {
        Ok(r) => json_text(crate::api::render::changes(
            &r.into_inner().changes,
            crate::api::render::Format::Json,
        )),
        Err(e) => error(e),
    }
}

fn prices() -> Result<crate::map::exit::PriceTable, tonic::Status> {
    crate::map::exit::PriceTable::builtin().map_err(|e| {
        tracing::error!(error = %e, "price table unreadable");
        tonic::Status::internal("price table unreadable")
    })
}

/// An insight document: authenticated, scoped (narrowed by `?tenant=`) and audited as
/// `method`; `rows` counts what the caller got, for the audit log.
async fn insight_document(
    s: &HttpState,
    headers: &HeaderMap,
    pairs: &[(String, String)],
    method: &str,
    rows: impl Fn(&serde_json::Value) -> u64,
    f: impl FnOnce(&dyn MapStore, &Scope) -> Result<serde_json::Value, crate::store::StoreError>
    + Send
    + 'static,
) -> Response {
    let described = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    match s
        .map
        .scoped(
            authorized_for(headers, pairs, ()),
            method,
            described,
            rows,
            f,
        )
        .await
    {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

async fn dashboard(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (filter, prices) = match (super::filter::from_query(&pairs), prices()) {
        (Ok(f), Ok(p)) => (f, p),
        (Err(e), _) | (_, Err(e)) => return error(e),
    };
    let now = crate::clock::now_ms();
    insight_document(
        &s,
        &headers,
        &pairs,
        "Dashboard",
        |v| v["stores"].as_u64().unwrap_or(0),
        move |store, scope| insight::dashboard(store, scope, &filter, &prices, now),
    )
    .await
}

async fn graph(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let filter = match super::filter::from_query(&pairs) {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let expand: std::collections::BTreeSet<String> = pairs
        .iter()
        .filter(|(k, _)| k == "expand")
        .flat_map(|(_, v)| v.split(','))
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .collect();
    // `group=always` groups a small map too (and `never` a big one): the reader's choice.
    let group = match pairs
        .iter()
        .rev()
        .find(|(k, _)| k == "group")
        .map(|(_, v)| v.as_str())
    {
        None | Some("" | "auto") => None,
        Some("always") => Some(true),
        Some("never") => Some(false),
        Some(other) => {
            return error(tonic::Status::invalid_argument(format!(
                "group must be one of auto, always, never (not {other:?})"
            )));
        }
    };
    insight_document(
        &s,
        &headers,
        &pairs,
        "Graph",
        |v| v["nodes"].as_array().map_or(0, |n| n.len() as u64),
        move |store, scope| {
            let filter = super::names::check_filter(store, scope, filter)?;
            let stores = crate::store::all_stores(store, scope, &filter)?;
            Ok(insight::graph_grouped(&stores, &expand, group))
        },
    )
    .await
}

async fn coverage(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    insight_document(
        &s,
        &headers,
        &pairs,
        "Coverage",
        |v| v["scans"].as_array().map_or(0, |n| n.len() as u64),
        move |store, scope| insight::coverage(store, scope, None),
    )
    .await
}

/// `GET /v1/settings`: account and region settings (EBS encryption by default, its key).
async fn settings(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    insight_document(
        &s,
        &headers,
        &pairs,
        "Settings",
        |v| v["settings"].as_array().map_or(0, |n| n.len() as u64),
        insight::settings,
    )
    .await
}

/// `GET /v1/names`: the names the caller may filter by (the UI offers them as choices).
async fn names(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    // An unreadable price table is an error, never an empty list of exit targets.
    let prices = match prices() {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    insight_document(
        &s,
        &headers,
        &pairs,
        "Names",
        |v| v.as_object().map_or(0, |o| o.len() as u64),
        move |store, scope| {
            let mut names = super::names::known_names(store, scope)?;
            // The exit form's choices: every provider the price table can compute an exit to.
            let targets: Vec<String> = prices.targets().into_iter().map(|t| t.provider).collect();
            names["exit_target"] = serde_json::json!(targets);
            Ok(names)
        },
    )
    .await
}

async fn costs(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (filter, prices) = match (super::filter::from_query(&pairs), prices()) {
        (Ok(f), Ok(p)) => (f, p),
        (Err(e), _) | (_, Err(e)) => return error(e),
    };
    let Some(by) = insight::CostsBy::parse(param(&pairs, "by").unwrap_or_default()) else {
        return error(tonic::Status::invalid_argument(
            "by must be one of provider, account, tenant, kind, store",
        ));
    };
    insight_document(
        &s,
        &headers,
        &pairs,
        "Costs",
        |v| v["rows"].as_array().map_or(0, |n| n.len() as u64),
        move |store, scope| insight::costs(store, scope, &filter, by, &prices),
    )
    .await
}

async fn exit(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (filter, prices) = match (super::filter::from_query(&pairs), prices()) {
        (Ok(f), Ok(p)) => (f, p),
        (Err(e), _) | (_, Err(e)) => return error(e),
    };
    let (Some(from), Some(to)) = (param(&pairs, "from"), param(&pairs, "to")) else {
        return error(tonic::Status::invalid_argument(
            "from and to name the provider to leave and the alternative",
        ));
    };
    let (from, to) = (from.to_owned(), to.to_owned());
    // The CLI's default (`landmeter exit --bandwidth-mbps`).
    let bandwidth_mbps = match param(&pairs, "bandwidth_mbps").map(str::parse::<f64>) {
        None => 1000.0,
        Some(Ok(b)) if b > 0.0 && b.is_finite() => b,
        Some(_) => {
            return error(tonic::Status::invalid_argument(
                "bandwidth_mbps must be a positive number",
            ));
        }
    };
    // The CLI's default (`landmeter exit --on`): today, UTC.
    let on = match param(&pairs, "on").map(crate::map::exit::parse_day) {
        None => crate::map::exit::day_of_ms(crate::clock::now_ms()),
        Some(Ok(day)) => day,
        Some(Err(e)) => return error(tonic::Status::invalid_argument(format!("on: {e}"))),
    };
    let described =
        format!("from={from} to={to} bandwidth_mbps={bandwidth_mbps} on={on} {pairs:?}");
    let result = s
        .map
        .scoped(
            authorized_for(&headers, &pairs, ()),
            "Exit",
            described,
            |x: &crate::map::exit::ExitScenario| x.stores as u64,
            move |store, scope| {
                let filter = super::names::check_filter(store, scope, filter)?;
                let stores = crate::store::all_stores(store, scope, &filter)?;
                // `AWS` is aws, `azure` microsoft-azure; a name that is neither is an error.
                let present = stores.iter().map(|v| v.provider.as_str());
                let from = super::names::provider_among(&from, present.clone())?;
                let to = super::names::provider_among(&to, present)?;
                Ok(crate::map::exit::exit_scenario(
                    &stores,
                    &from,
                    &to,
                    bandwidth_mbps,
                    &prices,
                    on,
                ))
            },
        )
        .await;
    match result {
        // The CLI's `landmeter exit --format json` rendering: one function for both.
        Ok(x) => json_text(crate::api::render::exit(
            &x,
            crate::api::render::Format::Json,
        )),
        Err(e) => error(e),
    }
}
