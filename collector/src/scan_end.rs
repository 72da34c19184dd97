//! The scan end as a use case: an account's stored facts -> interpretation -> diff against
//! the stored views -> the writes (views, change events, gone marks).
//!
//! It sits above both `map/` (which interprets, purely) and `store/` (which persists, and
//! knows nothing of interpretation): a backend hands it a read snapshot of an account
//! ([`AccountSnapshot`]) and applies the [`AccountWrites`] it returns in the transaction
//! that ends the scan. When and where the snapshot is read (outside the writer, or again
//! inside it when the first went stale) is the backend's business; the answer is the same.

use std::collections::{HashMap, HashSet};

use landmeter_proto::v1::{
    ChangeEvent, ChangeKind, FieldChange, ScanEnd, Store, StoreView, fact::Body,
};
use landmeter_proto::{FactTopic, StoreKind};

use crate::map::Interpreter;
use crate::map::changes::{diff, history_view};
use crate::store::{
    AccountPlanner, AccountSnapshot, AccountWrites, EncodedView, IngestStore, PendingChange,
    ScanOutcome, StoreError,
};

/// Ends a scan: every account it covered is re-interpreted from its stored facts, and what
/// a complete scan of an account did not see is marked gone. Refused when `agent` did not
/// begin the scan.
pub fn finish_scan(
    store: &dyn IngestStore,
    interpreter: &Interpreter,
    tenant: &str,
    agent: &str,
    end: &ScanEnd,
    now_ms: i64,
) -> Result<ScanOutcome, StoreError> {
    let planner = ScanEndPlanner {
        interpreter,
        end,
        now_ms,
    };
    store.finish_scan(tenant, agent, end, now_ms, &planner)
}

/// Re-interprets every stored account with the current rules and tables (after a table or
/// a tag convention changed); records what changed for stores still present.
pub fn reinterpret_all(
    store: &dyn IngestStore,
    interpreter: &Interpreter,
    now_ms: i64,
) -> Result<usize, StoreError> {
    store.reinterpret_all(&Reinterpreter {
        interpreter,
        now_ms,
    })
}

/// The scan end of one account.
struct ScanEndPlanner<'a> {
    interpreter: &'a Interpreter,
    end: &'a ScanEnd,
    now_ms: i64,
}

impl AccountPlanner for ScanEndPlanner<'_> {
    fn plan(&self, s: AccountSnapshot<'_>) -> AccountWrites {
        let scan_id = self.end.scan_id.as_str();
        let now = self.now_ms;
        let mut writes = AccountWrites::default();

        // A subject observed in this scan loses its older answers (an old AccessDenied gap
        // must not outlive today's successful answer).
        let observed: HashSet<String> = s
            .facts
            .iter()
            .filter(|f| f.scan_id == scan_id)
            .map(|f| f.fact.subject.clone())
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        // Parts of the account whose listing failed in this scan (a storage account whose
        // containers could not be listed): nothing under them is known to be gone.
        let mut unlisted: HashSet<String> = HashSet::new();
        let mut parent_of: HashMap<String, String> = HashMap::new();
        let mut facts = Vec::with_capacity(s.facts.len());
        for f in s.facts {
            let this_scan = f.scan_id == scan_id;
            if !this_scan && observed.contains(&f.fact.subject) {
                writes.superseded.push((f.fact.subject, f.kind));
                continue;
            }
            match &f.fact.body {
                Some(Body::Store(store)) => {
                    if this_scan {
                        seen.insert(f.fact.subject.clone());
                    }
                    if let Some(parent) = parent_subject(store) {
                        parent_of.insert(f.fact.subject.clone(), parent.to_owned());
                    }
                }
                Some(Body::Gap(g)) if this_scan && g.topic() == FactTopic::Listing => {
                    unlisted.insert(f.fact.subject.clone());
                }
                _ => {}
            }
            facts.push(f.fact);
        }

        let before: HashMap<&str, &StoreView> =
            s.views.iter().map(|v| (v.id.as_str(), v)).collect();
        let views = self
            .interpreter
            .interpret_account(s.tenant, s.account, &facts, s.known_region);
        let mut seen_ids: HashSet<String> = HashSet::with_capacity(seen.len());
        for mut view in views {
            if !seen.contains(&view.name) {
                continue;
            }
            view.account_claimed_by_other_tenant = s.claimed_by_other_tenant;
            let previous = before.get(view.id.as_str()).copied();
            if let Some((kind, changes)) = diff(previous, &view) {
                let mut after = view.clone();
                after.last_seen_ms = now;
                after.first_seen_ms = previous.map_or(now, |b| b.first_seen_ms);
                after.last_scan_id = scan_id.to_owned();
                writes
                    .changes
                    .push(change(scan_id, now, kind, changes, &after));
            }
            seen_ids.insert(view.id.clone());
            writes.seen.push(EncodedView::new(view));
        }

        let complete = self
            .end
            .coverage
            .iter()
            .any(|c| c.account == s.account && c.complete);
        if complete {
            for v in s.views.iter().filter(|v| v.gone_at_ms.is_none()) {
                if seen_ids.contains(&v.id) {
                    continue;
                }
                // Under a part whose listing failed (a storage account's containers, one
                // kind in one region or in all): not seen is not gone.
                if parent_of
                    .get(&v.name)
                    .is_some_and(|parent| unlisted.contains(parent))
                    || StoreKind::from_label(&v.kind).is_some_and(|k| {
                        unlisted.contains(&landmeter_proto::listing_part(k, ""))
                            || unlisted.contains(&landmeter_proto::listing_part(k, &v.region))
                    })
                {
                    continue;
                }
                let mut gone = v.clone();
                gone.gone_at_ms = Some(now);
                writes.gone.push(v.id.clone());
                writes
                    .changes
                    .push(change(scan_id, now, ChangeKind::Gone, Vec::new(), &gone));
            }
        }
        writes
    }
}

/// The subject of the store a store is listed under (a container's storage account), if
/// any. Older agents left `parent` empty on containers; their names are "account/container".
fn parent_subject(store: &Store) -> Option<&str> {
    if !store.parent.is_empty() {
        Some(&store.parent)
    } else if store.kind() == StoreKind::Container {
        store.name.split_once('/').map(|(parent, _)| parent)
    } else {
        None
    }
}

/// Re-interpretation of one account: every stored store gets the current interpretation,
/// keeping its bookkeeping; a present store whose interpretation moved is a change.
struct Reinterpreter<'a> {
    interpreter: &'a Interpreter,
    now_ms: i64,
}

/// The scan id change events of a re-interpretation carry.
pub const REINTERPRETATION: &str = "reinterpretation";

impl AccountPlanner for Reinterpreter<'_> {
    fn plan(&self, s: AccountSnapshot<'_>) -> AccountWrites {
        let facts: Vec<_> = s.facts.into_iter().map(|f| f.fact).collect();
        let before: HashMap<&str, &StoreView> =
            s.views.iter().map(|v| (v.id.as_str(), v)).collect();
        let mut writes = AccountWrites::default();
        for mut view in
            self.interpreter
                .interpret_account(s.tenant, s.account, &facts, s.known_region)
        {
            let Some(previous) = before.get(view.id.as_str()).copied() else {
                continue;
            };
            view.account_claimed_by_other_tenant = s.claimed_by_other_tenant;
            // Only present stores: a gone store's re-interpretation is not news.
            if previous.gone_at_ms.is_none()
                && let Some((ChangeKind::Changed, changes)) = diff(Some(previous), &view)
            {
                let mut after = view.clone();
                after.first_seen_ms = previous.first_seen_ms;
                after.last_seen_ms = previous.last_seen_ms;
                after.last_scan_id = previous.last_scan_id.clone();
                writes.changes.push(change(
                    REINTERPRETATION,
                    self.now_ms,
                    ChangeKind::Changed,
                    changes,
                    &after,
                ));
            }
            writes.reinterpreted.push(EncodedView::new(view));
        }
        writes
    }
}

/// A change event as history keeps it (`history_view`), ready to insert.
fn change(
    scan_id: &str,
    at_ms: i64,
    kind: ChangeKind,
    changes: Vec<FieldChange>,
    store: &StoreView,
) -> PendingChange {
    PendingChange::new(ChangeEvent {
        id: 0,
        tenant: store.tenant.clone(),
        store_id: store.id.clone(),
        at_ms,
        scan_id: scan_id.to_owned(),
        kind: kind as i32,
        changes,
        store: Some(history_view(store)),
    })
}
