//! The board report (`landmeter report`, `GET /v1/report`, `MapService.BoardReport`): one to
//! two printed pages with the posture, the trend since the previous report, the top risks,
//! the exit scenario and costs, and the scans every figure comes from.
//!
//! Built from a scope and a read handle; the transports (`api::documents`) authenticate,
//! scope and audit the request like every query. Each issued report keeps its figures in the database
//! (`reports` table); the next report of the same tenant compares with them.
//!
//! - [`figures`]: pure computation (posture, trend, risks, costs, exit).
//! - [`html`]: the print-friendly page (A4, embedded CSS, `data-*` attributes on figures).
//! - [`pdf`]: headless Chromium, when installed.

pub mod figures;
pub mod html;
pub mod pdf;

use landmeter_proto::v1::{StoreFilter, StoreView};

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
    crate::store::all_stores(store, &Scope::Tenant(tenant.to_owned()), filter)
}

/// A report as rendered: issued (kept as the next trend's baseline, `report_id` > 0) or a
/// preview (`report_id` 0).
pub struct Issued {
    pub html: String,
    pub report_id: i64,
    pub stores: u64,
}

/// Whether a report is kept as the baseline of the next one's trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Shown, nothing kept: reading a report never moves the comparison.
    Preview,
    /// Recorded: the next report compares with this one.
    Issue,
}

/// Gathers and renders one report, recording it when `keep` says so. `scope` is the
/// caller's; whether the caller may issue is the transport's check.
// The request's fields, each used once: a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn issue(
    store: &dyn MapStore,
    scope: &Scope,
    named_tenant: &str,
    exit_to: &str,
    bandwidth_mbps: f64,
    now_ms: i64,
    keep: Keep,
    locale: &crate::i18n::Locale,
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
    let report_id = match keep {
        Keep::Issue => store.record_report(
            scope,
            &tenant,
            now_ms,
            &serde_json::to_string(&kept).unwrap_or_default(),
        )?,
        Keep::Preview => 0,
    };
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
        html: html::render_in(&f, locale),
        report_id,
        stores: stores.len() as u64,
    })
}
