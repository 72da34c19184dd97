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
use serde::Deserialize;
use tokio_stream::StreamExt;

use landmeter_proto::v1::{ChangeKind, StoreFilter};

use crate::auth::principal_for;
use crate::events::ChangeHub;
use crate::metrics::Metrics;
use crate::store::{MapStore, Scope};

#[derive(Clone)]
pub struct HttpState {
    pub store: Arc<dyn MapStore>,
    pub hub: ChangeHub,
    pub metrics: Arc<Metrics>,
    pub pool_min_tenants: u32,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/live", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/events", get(events))
        .with_state(state)
}

async fn ready(State(s): State<HttpState>) -> Response {
    let store = Arc::clone(&s.store);
    match tokio::task::spawn_blocking(move || store.interpretation_fingerprint()).await {
        Ok(Ok(_)) => "ready".into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

async fn metrics(State(s): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

#[derive(Debug, Deserialize, Default)]
pub struct EventsQuery {
    /// Replay recorded changes after this id first.
    #[serde(default)]
    after_id: i64,
}

async fn events(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    // Browsers' EventSource resends the last id it saw on reconnect.
    let after_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(q.after_id);
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
    else {
        return (StatusCode::UNAUTHORIZED, "a bearer token is required").into_response();
    };
    let store = Arc::clone(&s.store);
    let principal = match tokio::task::spawn_blocking(move || principal_for(store.as_ref(), &token))
        .await
    {
        Ok(Ok(Some(p))) => p,
        Ok(Ok(None)) => {
            return (StatusCode::UNAUTHORIZED, "unknown or revoked token").into_response();
        }
        _ => return (StatusCode::INTERNAL_SERVER_ERROR, "authentication failed").into_response(),
    };
    let scope = principal.scope(s.pool_min_tenants);
    if let Scope::Pool { .. } = scope {
        return (StatusCode::FORBIDDEN, "the pool role reads aggregates only").into_response();
    }
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(crate::api::grpc::forward_changes(
        Arc::clone(&s.store),
        scope,
        StoreFilter::default(),
        after_id,
        s.hub.subscribe(),
        tx,
    ));
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map_while(|item| {
        let e = item.ok()?;
        let kind = match e.kind() {
            ChangeKind::Added => "added",
            ChangeKind::Changed => "changed",
            ChangeKind::Gone => "gone",
            ChangeKind::Unspecified => "unknown",
        };
        let data = landmeter_proto::json::change(&e).to_string();
        Some(Ok::<_, Infallible>(
            Event::default().id(e.id.to_string()).event(kind).data(data),
        ))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
