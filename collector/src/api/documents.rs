//! The board report and the evidence bundle as transports serve them: `MapService.BoardReport`,
//! `MapService.Evidence`, `GET /v1/report`, `GET /v1/evidence`. Authentication, scope and
//! audit come from [`MapApi::scoped`]; the documents themselves are built by `report` and
//! `evidence` from a scope and a read handle, knowing no transport.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tonic::{Request, Status};

use landmeter_proto::v1::{
    BoardReportRequest, BoardReportResponse, EvidenceRequest, EvidenceResponse,
};

use super::grpc::MapApi;
use super::http::HttpState;
use crate::auth::Role;
use crate::clock::now_ms;
use crate::report::{Issued, Keep, issue, pdf};

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
        "tenant={:?} exit_to={:?} bandwidth_mbps={} lang={:?}",
        req.tenant, req.exit_to, req.bandwidth_mbps, req.lang
    );
    // The language asked for, else the tenant's, else the collector's; the zone is the
    // collector's.
    let mut locale = api.locale().clone();
    let asked = !req.lang.trim().is_empty();
    if asked {
        locale.lang = req
            .lang
            .parse()
            .map_err(|e: crate::i18n::UnknownLang| Status::invalid_argument(e.to_string()))?;
    }
    let tenant_languages = api.tenant_languages();
    let (method, keep) = if req.issue {
        ("BoardReportIssue", Keep::Issue)
    } else {
        ("BoardReport", Keep::Preview)
    };
    // Reading a report is a query; issuing one moves every later report's trend baseline,
    // so only an administrator of the tenant (or the admin) may.
    let may = move |who: &crate::auth::Principal| match (keep, who.role) {
        (Keep::Preview, _) | (_, Role::Admin | Role::TenantAdmin) => Ok(()),
        _ => Err(Status::permission_denied(
            "issuing a report needs the admin or the tenant's tenant-admin role; read it as a preview",
        )),
    };
    api.scoped_if(
        auth,
        method,
        described,
        |r: &Issued| r.stores,
        may,
        move |store, scope| {
            // A report of a tenant without a scan would say "no risks" about nothing: refused,
            // naming the tenants that have scans. (Another tenant than a tenant role's own
            // is refused by `issue` itself.)
            let tenant = match (scope, req.tenant.as_str()) {
                (crate::store::Scope::Tenant(own), named) if !named.is_empty() && named != own => {
                    req.tenant.clone()
                }
                (crate::store::Scope::Tenant(own), _) => {
                    super::names::tenant_with_scans(store, scope, own)?
                }
                (_, "") => req.tenant.clone(),
                (_, named) => super::names::tenant_with_scans(store, scope, named)?,
            };
            if let Some(lang) = tenant_languages.get(&tenant).filter(|_| !asked) {
                locale.lang = *lang;
            }
            issue(
                store,
                scope,
                &tenant,
                &req.exit_to,
                req.bandwidth_mbps,
                now_ms(),
                keep,
                &locale,
            )
        },
    )
    .await
}

/// The board report's Content-Security-Policy: nothing but its inline style.
pub const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn json_error(code: StatusCode, message: &str) -> Response {
    (code, axum::Json(serde_json::json!({"error": message}))).into_response()
}

/// `GET /v1/report?tenant=T&format=html|pdf[&exit_to=P][&bandwidth_mbps=N][&lang=nl|en]`: a preview,
/// which keeps nothing.
pub async fn http_report(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    report(s, headers, pairs, false).await
}

/// `POST /v1/report?...` (same parameters): issues the report, which becomes the baseline
/// of the next one's trend (admin or the tenant's tenant-admin).
pub async fn http_issue_report(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    report(s, headers, pairs, true).await
}

async fn report(
    s: HttpState,
    headers: HeaderMap,
    pairs: Vec<(String, String)>,
    issue: bool,
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
        issue,
        lang: param(&pairs, "lang").unwrap_or_default().to_owned(),
    };
    let issued = match issue_as(&s.map, super::http::authorized(&headers, ()), req).await {
        Ok(i) => i,
        Err(e) => return super::http::error(e),
    };
    match pdf {
        None => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                // The page is self-contained: its one style sheet is inline, it runs no
                // script and loads nothing.
                (header::CONTENT_SECURITY_POLICY, REPORT_CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
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

/// `MapService.Evidence`.
pub async fn evidence(
    api: &MapApi,
    request: Request<EvidenceRequest>,
) -> Result<tonic::Response<EvidenceResponse>, Status> {
    let (meta, ext, req) = request.into_parts();
    let json = evidence_as(api, Request::from_parts(meta, ext, ()), req.tenant).await?;
    Ok(tonic::Response::new(EvidenceResponse { json }))
}

async fn evidence_as(api: &MapApi, auth: Request<()>, tenant: String) -> Result<String, Status> {
    api.scoped(
        auth,
        "Evidence",
        format!("tenant={tenant:?}"),
        |(_, rows): &(String, u64)| *rows,
        move |store, scope| {
            let bundle = crate::evidence::build(store, scope, &tenant, now_ms())?;
            let rows = bundle["facts"].as_array().map_or(0, Vec::len) as u64;
            Ok((
                serde_json::to_string_pretty(&bundle).unwrap_or_default(),
                rows,
            ))
        },
    )
    .await
    .map(|(json, _)| json)
}

/// `GET /v1/evidence?tenant=T`.
pub async fn http_evidence(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let tenant = pairs
        .iter()
        .find(|(k, _)| k == "tenant")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    match evidence_as(&s.map, super::http::authorized(&headers, ()), tenant).await {
        Ok(json) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            json,
        )
            .into_response(),
        Err(e) => super::http::error(e),
    }
}
