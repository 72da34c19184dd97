//! The board report (`landmeter report`, `GET /v1/report`, `MapService.BoardReport`): one to
//! two printed pages with the posture, the trend since the previous report, the top risks,
//! the exit scenario and costs, and the scans every figure comes from.
//!
//! Built on the collector, authenticated, scoped and audited like every query
//! ([`MapApi::scoped`]). Each issued report keeps its figures in the database
//! (`reports` table); the next report of the same tenant compares with them.
//!
//! - [`figures`]: pure computation (posture, trend, risks, costs, exit).
//! - [`html`]: the print-friendly page (A4, embedded CSS, `data-*` attributes on figures).
//! - [`pdf`]: headless Chromium, when installed.

pub mod figures;
pub mod html;
pub mod pdf;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tonic::{Request, Status};

use landmeter_proto::v1::{BoardReportRequest, BoardReportResponse, StoreFilter, StoreView};

use crate::api::grpc::MapApi;
use crate::map::exit::PriceTable;
use crate::store::reports::check_scope;
use crate::store::{MapStore, Scope, StoreError};

/// `landmeter report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Pdf,
}

/// Scans read for the provenance section (the newest; older last scans are named as such).
const SCANS_READ: usize = 1_000;
const DEFAULT_BANDWIDTH_MBPS: f64 = 1000.0;

/// The tenant a request is about: the one named, else a tenant role's own.
pub fn resolve_tenant(scope: &Scope, named: &str) -> Result<String, StoreError> {
    let tenant = match (named.trim(), scope) {
        ("", Scope::Tenant(own)) => own.clone(),
        ("", _) => {
            return Err(StoreError::Forbidden(
                "name the tenant (tenant=T / --tenant T)".into(),
            ));
        }
        (t, _) => t.to_owned(),
    };
    check_scope(scope, &tenant)?;
    Ok(tenant)
}

/// Every present store of one tenant, across pages.
pub fn tenant_stores(store: &dyn MapStore, tenant: &str) -> Result<Vec<StoreView>, StoreError> {
    tenant_stores_with(store, tenant, &StoreFilter::default())
}

pub fn tenant_stores_with(
    store: &dyn MapStore,
    tenant: &str,
    filter: &StoreFilter,
) -> Result<Vec<StoreView>, StoreError> {
    crate::api::insight::all_stores(store, &Scope::Tenant(tenant.to_owned()), filter)
}

/// A report as issued.
pub struct Issued {
    pub html: String,
    pub report_id: i64,
    pub stores: u64,
}

/// Gathers, records and renders one report. `scope` is the caller's.
pub fn issue(
    store: &dyn MapStore,
    scope: &Scope,
    named_tenant: &str,
    exit_to: &str,
    bandwidth_mbps: f64,
    now_ms: i64,
) -> Result<Issued, StoreError> {
    let tenant = resolve_tenant(scope, named_tenant)?;
    let stores = tenant_stores(store, &tenant)?;
    let scans = store.scan_coverage(scope, Some(&tenant), SCANS_READ)?;
    let previous = store.last_report(scope, &tenant)?.and_then(|r| {
        match serde_json::from_str::<figures::Kept>(&r.figures) {
            Ok(kept) => Some((r.id, r.issued_at_ms, kept)),
            Err(e) => {
                // A report kept by an older format: no trend rather than a wrong one.
                tracing::warn!(report = r.id, error = %e, "previous report's figures unreadable");
                None
            }
        }
    });
    let prices = PriceTable::builtin().unwrap_or_default();
    let default_to = crate::map::reference::ReferenceTables::builtin()
        .ok()
        .and_then(|t| figures::default_exit_target(&t))
        .unwrap_or_else(|| "ovhcloud".to_owned());
    let exit_to = if exit_to.trim().is_empty() {
        default_to
    } else {
        exit_to.trim().to_owned()
    };
    let kept = figures::Kept {
        posture: figures::posture(&stores),
        stores: figures::snapshot(&stores),
    };
    let report_id = store.record_report(
        scope,
        &tenant,
        now_ms,
        &serde_json::to_string(&kept).unwrap_or_default(),
    )?;
    let f = figures::figures(
        figures::Inputs {
            tenant: &tenant,
            stores: &stores,
            scans,
            previous,
            prices: &prices,
            exit_to: &exit_to,
            bandwidth_mbps: if bandwidth_mbps > 0.0 {
                bandwidth_mbps
            } else {
                DEFAULT_BANDWIDTH_MBPS
            },
            interpretation_fingerprint: store.interpretation_fingerprint()?,
        },
        report_id,
        now_ms,
    );
    Ok(Issued {
        html: html::render(&f),
        report_id,
        stores: stores.len() as u64,
    })
}

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `MapService.BoardReport`.
pub async fn board_report(
    api: &MapApi,
    request: Request<BoardReportRequest>,
) -> Result<tonic::Response<BoardReportResponse>, Status> {
    let (meta, ext, req) = request.into_parts();
    let issued = issue_as(api, Request::from_parts(meta, ext, ()), req).await?;
    Ok(tonic::Response::new(BoardReportResponse {
        html: issued.html,
        report_id: issued.report_id,
    }))
}

async fn issue_as(
    api: &MapApi,
    auth: Request<()>,
    req: BoardReportRequest,
) -> Result<Issued, Status> {
    let described = format!(
        "tenant={:?} exit_to={:?} bandwidth_mbps={}",
        req.tenant, req.exit_to, req.bandwidth_mbps
    );
    api.scoped(
        auth,
        "BoardReport",
        described,
        |r: &Issued| r.stores,
        move |store, scope| {
            issue(
                store,
                scope,
                &req.tenant,
                &req.exit_to,
                req.bandwidth_mbps,
                now_ms(),
            )
        },
    )
    .await
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn json_error(code: StatusCode, message: &str) -> Response {
    (code, axum::Json(serde_json::json!({"error": message}))).into_response()
}

/// `GET /v1/report?tenant=T&format=html|pdf[&exit_to=P][&bandwidth_mbps=N]`.
pub async fn http_report(
    State(s): State<crate::api::http::HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let format = param(&pairs, "format").unwrap_or("html");
    let pdf = match format {
        "html" => None,
        // Checked before the report is issued, so a refused PDF leaves no report behind.
        "pdf" => {
            let converter = pdf::converter(None);
            if !converter.is_file() {
                return json_error(
                    StatusCode::NOT_IMPLEMENTED,
                    &pdf::PdfError::ConverterMissing(converter).to_string(),
                );
            }
            Some(converter)
        }
        other => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("unknown format {other:?}: use html or pdf"),
            );
        }
    };
    let req = BoardReportRequest {
        tenant: param(&pairs, "tenant").unwrap_or_default().to_owned(),
        exit_to: param(&pairs, "exit_to").unwrap_or_default().to_owned(),
        bandwidth_mbps: param(&pairs, "bandwidth_mbps")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
    };
    let issued = match issue_as(&s.map, crate::api::http::authorized(&headers, ()), req).await {
        Ok(i) => i,
        Err(e) => return crate::api::http::error(e),
    };
    match pdf {
        None => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            issued.html,
        )
            .into_response(),
        Some(converter) => match pdf::html_to_pdf(&issued.html, &converter).await {
            Ok(bytes) => (
                [
                    (header::CONTENT_TYPE, "application/pdf"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                bytes,
            )
                .into_response(),
            Err(e @ pdf::PdfError::ConverterMissing(_)) => {
                json_error(StatusCode::NOT_IMPLEMENTED, &e.to_string())
            }
            Err(e) => {
                tracing::error!(error = %e, "PDF conversion failed");
                json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
            }
        },
    }
}
