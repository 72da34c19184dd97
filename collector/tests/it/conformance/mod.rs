//! The store boundary's conformance suite: the behaviours every backend must have, written
//! once against the role traits (`landmeter_collector::store`) and instantiated per backend
//! with [`conformance_suite!`] (as quickwit tests every metastore with one suite). A backend
//! passes when every case below passes on it; nothing here knows SQL or a backend's type.
//!
//! The scan end goes through the real use case (`scan_end::finish_scan`), so the suite also
//! checks that a backend applies the write sets it is given, in one transaction.

mod behaviours;
pub mod database;
mod postgres_backend;
mod several_collectors;

use std::sync::Arc;

use landmeter_collector::store::MapStore;

/// Opens a fresh, empty store of one backend.
pub type Open<'a> = &'a dyn Fn() -> Arc<dyn MapStore>;

/// Declares one `#[test]` per behaviour for a backend, in a module named after it.
/// `$fixture` makes what a case opens its store from (a closure owning, say, a database
/// that is dropped when the case ends, passed or failed).
macro_rules! conformance_suite {
    ($backend:ident, $fixture:expr, [$($behaviour:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[test]
                fn $behaviour() {
                    let open = $fixture;
                    super::behaviours::$behaviour(&open);
                }
            )*
        }
    };
}

/// Every behaviour, for every backend's instantiation.
macro_rules! all_behaviours {
    ($backend:ident, $open:expr) => {
        conformance_suite!(
            $backend,
            $open,
            [
                a_batch_is_committed_once_and_a_resend_is_a_duplicate,
                sequence_rules_hold_at_the_scan_end,
                only_the_agent_that_began_a_scan_may_add_to_or_end_it,
                gone_only_after_a_complete_scan,
                change_events_are_recorded_with_the_writes_that_make_them,
                a_tenant_scope_sees_only_its_tenant,
                the_pool_sees_only_summaries_over_at_least_k_tenants,
                keyset_pages_cover_every_store_once,
                summaries_count_unknown_sizes_apart,
                reinterpretation_keeps_bookkeeping_and_records_changes,
                tokens_revocations_and_the_audit_log,
                an_enrolment_token_is_used_once_before_it_expires,
                revocation_follows_renewals_and_stops_them,
                issued_reports_keep_their_figures_per_tenant,
                filters_select_by_kind_and_provider,
                a_store_id_is_unique_within_its_tenant_only,
                unknowns_are_never_no_in_filters_and_summaries,
                a_failed_listing_of_a_part_marks_nothing_under_it_gone,
                a_failed_listing_of_a_kind_marks_none_of_that_kind_gone,
                settings_are_listed_per_tenant_with_their_newest_answer,
                summaries_by_view_equal_the_views_grouped_one_by_one,
                tenant_cells_equal_the_views_grouped_one_by_one,
            ]
        );
    };
}

/// SQLite: a new file in a new temporary folder per case.
fn open_sqlite() -> Arc<dyn MapStore> {
    let dir = crate::harness::temp_dir("conformance");
    let url = format!("sqlite:{}", dir.join("map.db").display());
    landmeter_collector::store::open(&url, Default::default()).expect("open sqlite store")
}

all_behaviours!(sqlite, super::open_sqlite);

/// PostgreSQL: a new database per case on the server `LANDMETER_TEST_PG` names (default the
/// machine's, trust auth), dropped when the case ends. No server reachable fails the case
/// with the reason; it is never skipped.
fn postgres_fixture() -> impl Fn() -> Arc<dyn MapStore> {
    let db = database::TestDatabase::create();
    move || {
        landmeter_collector::store::open(db.url(), Default::default())
            .unwrap_or_else(|e| panic!("open postgres store {}: {e}", db.url()))
    }
}

all_behaviours!(postgres, super::postgres_fixture());
