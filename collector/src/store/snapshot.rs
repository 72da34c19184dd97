//! What crosses the store boundary at a scan's end: a read snapshot of one account, handed
//! to the scan-end use case (`crate::scan_end`), and the write set it returns, which the
//! backend applies in the transaction that ends the scan. The backend decides when and on
//! which connection a snapshot is taken; it never interprets facts itself.

use landmeter_proto::v1::{ChangeEvent, Fact, StoreView};

/// One stored fact with the bookkeeping the scan end needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountFact {
    pub fact: Fact,
    /// The key under which a fact replaces its predecessor ([`fact_kind`]).
    pub kind: String,
    /// The scan that last reported it.
    pub scan_id: String,
}

/// Everything stored about one account of one tenant, as of one moment.
pub struct AccountSnapshot<'a> {
    pub tenant: &'a str,
    pub account: &'a str,
    pub facts: Vec<AccountFact>,
    /// Every stored view of the account's stores, present and gone, with bookkeeping.
    pub views: Vec<StoreView>,
    /// Another tenant's agent also reported this account.
    pub claimed_by_other_tenant: bool,
    /// The region of a present (not gone) store of the tenant's map, by (account, name):
    /// replication targets the agent could not place. No guess from another account or a
    /// gone store. A backend planning outside its writer may refuse to use a plan that
    /// asked, since other accounts are not part of the snapshot's consistency check.
    pub known_region: &'a dyn Fn(&str, &str) -> Option<String>,
}

/// A view ready to be written, with its encoding (made by the planner, off the writer).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedView {
    pub view: StoreView,
    pub bytes: Vec<u8>,
}

impl EncodedView {
    pub fn new(view: StoreView) -> Self {
        use prost::Message;
        let bytes = view.encode_to_vec();
        Self { view, bytes }
    }
}

/// A change event to record; its id is assigned by the backend when it is inserted.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingChange {
    pub event: ChangeEvent,
    pub bytes: Vec<u8>,
}

impl PendingChange {
    pub fn new(event: ChangeEvent) -> Self {
        use prost::Message;
        let bytes = event.encode_to_vec();
        Self { event, bytes }
    }
}

/// What one account's part of a scan end (or of a re-interpretation) writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountWrites {
    /// (subject, kind) of older facts that this scan's observations supersede: deleted.
    pub superseded: Vec<(String, String)>,
    /// Stores the scan saw: inserted or refreshed (last seen now, gone mark cleared).
    pub seen: Vec<EncodedView>,
    /// Stores re-interpreted from stored facts: interpretation replaced, bookkeeping kept.
    pub reinterpreted: Vec<EncodedView>,
    /// Ids of present stores a complete scan did not see: marked gone now.
    pub gone: Vec<String>,
    /// The changes these writes make, in order; recorded in the same transaction.
    pub changes: Vec<PendingChange>,
}

/// The scan-end use case as the backend sees it: a snapshot in, a write set out. Pure
/// computation: the backend may call it on a snapshot outside its writer and again on one
/// taken inside the write transaction when the first went stale. The snapshot is handed
/// over, so its facts are moved into the interpretation, never copied.
pub trait AccountPlanner: Sync {
    fn plan(&self, snapshot: AccountSnapshot<'_>) -> AccountWrites;
}

/// The key under which a fact replaces its predecessor: one answer per subject and call.
pub fn fact_kind(fact: &Fact) -> std::borrow::Cow<'static, str> {
    use landmeter_proto::v1::fact::Body;
    match &fact.body {
        Some(Body::Store(_)) => "store".into(),
        Some(Body::Encryption(_)) => "encryption".into(),
        Some(Body::Tags(_)) => "tags".into(),
        Some(Body::Replication(_)) => "replication".into(),
        Some(Body::Size(_)) => "size".into(),
        Some(Body::Key(_)) => "key".into(),
        Some(Body::KeyStore(_)) => "key_store".into(),
        Some(Body::Retention(_)) => "retention".into(),
        Some(Body::Sharing(_)) => "sharing".into(),
        Some(Body::Setting(_)) => "setting".into(),
        Some(Body::Gap(g)) => format!("gap:{}", g.call).into(),
        Some(Body::Unsupported(u)) => format!("unsupported:{}", u.call).into(),
        None => "empty".into(),
    }
}
