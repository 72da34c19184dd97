//! Interpretation: facts and reference tables in, the sovereignty map out. No IO.
//!
//! # Layout
//! - [`reference`]: region -> country -> EU/EEA, provider -> legal parent -> CLOUD Act.
//! - [`custody`]: the custody ladder and its modifiers.
//! - [`exit`]: dated, sourced prices; monthly cost and the exit scenario.
//! - [`indicators`]: SOV-2/SOV-3 indicators per store (heuristic, never a SEAL).
//! - [`changes`]: what changed between two views of a store; in-memory watch filters.
//! - [`azure`]: Azure storage accounts and containers (custody from key source and key
//!   host, geo-redundant SKUs as replication, containers inheriting from their account).
//! - [`settings`]: account and region settings (EBS encryption by default) in words.
//! - this module: joins one account's facts per store and derives location, jurisdiction
//!   exposure, replication, classification, process and size.
//!
//! The map reads the current fact shape only: `interpret_account` first brings facts from
//! older agents up to it (`landmeter_proto::compat`). So no rule here knows a provider's call
//! names: a failed call is found by its subject and the dimension it leaves unknown
//! (`Gap.topic`), a store's sort by `Store.kind`, provider-only encryption values in
//! `Encryption.detail`.

pub mod azure;
pub mod changes;
pub mod custody;
pub mod exit;
pub mod gcp;
pub mod indicators;
pub mod kinds;
pub mod lockin;
pub mod reference;
pub mod settings;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use landmeter_proto::v1::{
    Encryption, Fact, FactTopic, Gap, Key, KeyStore, NotApplicable, ReplicationTarget, Retention,
    Sharing, Size, StoreKind, StoreView, Tag, Unknown, Unsupported, fact::Body,
};
use landmeter_proto::{Custody, compat, dimension};

use custody::{CustodyInput, KeyEvidence};
use reference::ReferenceTables;

/// Tag conventions, configurable per collector (DESIGN.md: `classification=BBN2`).
#[derive(Debug, Clone)]
pub struct TagConventions {
    pub classification_keys: Vec<String>,
    pub process_keys: Vec<String>,
    /// Tag keys whose value `true` declares client-side encryption.
    pub client_side_keys: Vec<String>,
}

impl Default for TagConventions {
    fn default() -> Self {
        Self {
            classification_keys: vec!["classification".into()],
            process_keys: vec!["process".into()],
            client_side_keys: vec!["sovereignty:cse".into()],
        }
    }
}

pub const UNCLASSIFIED: &str = "unclassified";
pub const NO_PROCESS: &str = "unassigned";
/// The classification or process of a store whose tags could not be read: not
/// "unclassified" (the view lists why under `unknowns`).
pub const UNKNOWN: &str = "unknown";

/// Appended to the custody reason of a store whose encryption is a default setting.
pub const DEFAULT_ENCRYPTION_CAVEAT: &str = "; a default for new objects: objects written before \
the default changed, or with per-request encryption, may differ";

/// An unknown dimension because a call failed.
fn unknown_from_gap(dim: &str, gap: &Gap) -> Unknown {
    let mut reason = format!("{} failed: {}", gap.call, gap.code);
    if !gap.message.is_empty() {
        reason.push_str(&format!(" ({})", gap.message));
    }
    Unknown {
        dimension: dim.to_owned(),
        reason,
        call: gap.call.clone(),
        code: gap.code.clone(),
        message: gap.message.clone(),
    }
}

/// A dimension the store's provider does not offer.
fn not_applicable(provider: &str, dim: &str, u: &Unsupported) -> NotApplicable {
    let mut reason = format!("{provider} does not implement {}", u.call);
    if !u.code.is_empty() {
        reason.push_str(&format!(" ({})", u.code));
    }
    NotApplicable {
        dimension: dim.to_owned(),
        reason,
        call: u.call.clone(),
        code: u.code.clone(),
    }
}

/// An unknown dimension for a reason other than a failed call.
fn unknown_because(dim: &str, reason: impl Into<String>) -> Unknown {
    Unknown {
        dimension: dim.to_owned(),
        reason: reason.into(),
        ..Unknown::default()
    }
}
/// Jurisdiction label for a store whose provider's parent is subject to the US CLOUD Act.
pub const CLOUD_ACT: &str = "US-CLOUD-ACT";

/// The map's rules and tables, built once and shared.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub tables: ReferenceTables,
    pub tags: TagConventions,
}

/// Every fact about one account, indexed for the joins interpretation needs.
#[derive(Default)]
struct AccountFacts<'a> {
    stores: Vec<(&'a Fact, &'a landmeter_proto::v1::Store)>,
    stores_by_subject: HashMap<&'a str, &'a landmeter_proto::v1::Store>,
    encryption: HashMap<&'a str, &'a Encryption>,
    tags: HashMap<&'a str, &'a [Tag]>,
    replication: HashMap<&'a str, &'a landmeter_proto::v1::Replication>,
    size: HashMap<&'a str, &'a Size>,
    retention: HashMap<&'a str, &'a Retention>,
    sharing: HashMap<&'a str, &'a Sharing>,
    /// Stores that name their source (`Store.copy_of`), by the source's subject.
    copies_of: HashMap<&'a str, Vec<&'a landmeter_proto::v1::Store>>,
    keys_by_arn: HashMap<&'a str, &'a Key>,
    keys_by_ref: HashMap<&'a str, &'a Key>,
    key_stores: HashMap<&'a str, &'a KeyStore>,
    /// Failed calls by (subject, the dimension they leave unknown).
    gaps: HashMap<(&'a str, FactTopic), &'a Gap>,
    /// Calls the provider does not implement, by (subject, the dimension they would tell).
    unsupported: HashMap<(&'a str, FactTopic), &'a Unsupported>,
}

impl<'a> AccountFacts<'a> {
    fn index(facts: impl IntoIterator<Item = &'a Fact>) -> Self {
        let mut a = AccountFacts::default();
        for f in facts {
            let subject = f.subject.as_str();
            match &f.body {
                Some(Body::Store(s)) => {
                    a.stores.push((f, s));
                    a.stores_by_subject.insert(subject, s);
                    if !s.copy_of.is_empty() {
                        a.copies_of.entry(s.copy_of.as_str()).or_default().push(s);
                    }
                }
                Some(Body::Encryption(e)) => {
                    a.encryption.insert(subject, e);
                }
                Some(Body::Tags(t)) => {
                    a.tags.insert(subject, &t.tags);
                }
                Some(Body::Replication(r)) => {
                    a.replication.insert(subject, r);
                }
                Some(Body::Size(s)) => {
                    a.size.insert(subject, s);
                }
                Some(Body::Key(k)) => {
                    a.keys_by_arn.insert(k.arn.as_str(), k);
                    for r in &k.requested_refs {
                        a.keys_by_ref.insert(r.as_str(), k);
                    }
                }
                Some(Body::KeyStore(ks)) => {
                    a.key_stores.insert(ks.id.as_str(), ks);
                }
                Some(Body::Retention(r)) => {
                    a.retention.insert(subject, r);
                }
                Some(Body::Sharing(sh)) => {
                    a.sharing.insert(subject, sh);
                }
                // Account and region settings describe no store.
                Some(Body::Setting(_)) => {}
                Some(Body::Gap(g)) => {
                    a.gaps.insert((subject, g.topic()), g);
                }
                Some(Body::Unsupported(u)) => {
                    a.unsupported.insert((subject, u.topic()), u);
                }
                None => {}
            }
        }
        a.stores.sort_by(|x, y| x.1.name.cmp(&y.1.name));
        a
    }

    fn key_evidence(&self, enc: &Encryption) -> KeyEvidence<'a> {
        let candidates = [enc.resolved_key_arn.as_str(), enc.key_ref.as_str()];
        for c in candidates.into_iter().filter(|c| !c.is_empty()) {
            if let Some(k) = self.keys_by_arn.get(c).or_else(|| self.keys_by_ref.get(c)) {
                return KeyEvidence::Described(k);
            }
        }
        for c in candidates.into_iter().filter(|c| !c.is_empty()) {
            if let Some(g) = self.gaps.get(&(c, FactTopic::Key)) {
                return KeyEvidence::Failed(g);
            }
        }
        KeyEvidence::NotObserved
    }
}

/// The id of a store in the map: `provider:account:name`.
pub fn store_id(provider: &str, account: &str, name: &str) -> String {
    format!("{provider}:{account}:{name}")
}

impl Interpreter {
    pub fn new(tables: ReferenceTables, tags: TagConventions) -> Self {
        Self { tables, tags }
    }

    /// Interprets every store among one account's facts.
    ///
    /// `known_region` answers the region of a present bucket by (account, name) from the tenant's
    /// map, for replication destinations the agent could not resolve itself.
    ///
    /// Facts from agents before wave 2 are upgraded first (each on a copy, made only for a
    /// fact that needs it; order kept), so stored facts of any age interpret alike.
    pub fn interpret_account(
        &self,
        tenant: &str,
        account: &str,
        facts: &[Fact],
        known_region: &dyn Fn(&str, &str) -> Option<String>,
    ) -> Vec<StoreView> {
        let facts: Vec<Cow<'_, Fact>> = facts
            .iter()
            .map(|f| {
                if compat::needs_upgrade(f) {
                    let mut f = f.clone();
                    compat::upgrade_fact(&mut f);
                    Cow::Owned(f)
                } else {
                    Cow::Borrowed(f)
                }
            })
            .collect();
        let a = AccountFacts::index(facts.iter().map(AsRef::as_ref));
        a.stores
            .iter()
            .map(|(fact, store)| {
                self.interpret_store(tenant, account, fact, store, &a, known_region)
            })
            .collect()
    }

    fn interpret_store(
        &self,
        tenant: &str,
        account: &str,
        fact: &Fact,
        store: &landmeter_proto::v1::Store,
        a: &AccountFacts<'_>,
        known_region: &dyn Fn(&str, &str) -> Option<String>,
    ) -> StoreView {
        let subject = fact.subject.as_str();
        let provider = store.provider.as_str();
        let mut v = StoreView {
            id: store_id(provider, account, &store.name),
            tenant: tenant.to_owned(),
            provider: provider.to_owned(),
            account: account.to_owned(),
            name: store.name.clone(),
            region: store.region.clone(),
            kind: store.kind().label().to_owned(),
            engine: store.engine.clone(),
            ..StoreView::default()
        };
        if !store.copy_of.is_empty() {
            v.copy_of.clone_from(&store.copy_of);
            v.copy_kind = store.copy_kind().label().to_owned();
        }

        // Location.
        let mut jurisdictions = BTreeSet::new();
        let mut all_eu = true;
        let mut location_known = true;
        match self.tables.region(provider, &store.region) {
            Some(r) => {
                v.country = r.country.clone();
                v.eu = r.eu;
                v.location_unverified = r.unverified();
                insert_country(&mut jurisdictions, &r.country);
                all_eu &= r.eu;
            }
            None => {
                v.country = String::new();
                location_known = false;
                v.unknowns
                    .push(match a.gaps.get(&(subject, FactTopic::Location)) {
                        Some(g) if store.region.is_empty() => {
                            unknown_from_gap(dimension::LOCATION, g)
                        }
                        _ if store.region.is_empty() => {
                            unknown_because(dimension::LOCATION, "no region reported")
                        }
                        _ => unknown_because(
                            dimension::LOCATION,
                            format!(
                                "region {:?} of {provider} is not in the regions table",
                                store.region
                            ),
                        ),
                    });
            }
        }

        // Provider's legal parent.
        match self.tables.provider(provider) {
            Some(p) => {
                v.provider_parent = p.legal_parent.clone();
                v.cloud_act = p.cloud_act.clone();
            }
            None => {
                v.cloud_act = "unknown".into();
                v.unknowns.push(unknown_because(
                    dimension::CLOUD_ACT,
                    format!("provider {provider:?} is not in the providers table"),
                ));
            }
        }
        match v.cloud_act.as_str() {
            "yes" => {
                jurisdictions.insert(CLOUD_ACT.to_owned());
            }
            "unclear" => {
                jurisdictions.insert(format!("{CLOUD_ACT}?"));
            }
            _ => {}
        }

        // Tags: classification, process, client-side declaration. The store's own first,
        // then those of the store it lives in or copies (an Azure container's storage
        // account, a file share's account, a snapshot's volume).
        let tags: &[Tag] = a.tags.get(subject).copied().unwrap_or(&[]);
        let holder: Option<&str> = if azure::is_azure_store(store) {
            Some(azure::account_subject(store)).filter(|parent| *parent != subject)
        } else if !store.parent.is_empty() {
            Some(store.parent.as_str())
        } else if !store.copy_of.is_empty() {
            Some(store.copy_of.as_str())
        } else {
            None
        };
        let parent_tags: &[Tag] = holder.and_then(|h| a.tags.get(h).copied()).unwrap_or(&[]);
        let tag = |keys: &[String]| tag_value(tags, keys).or_else(|| tag_value(parent_tags, keys));
        // Tags that could not be read leave "no tag" unknown: the failed read of the store's
        // own tags, or of its account's when the store's own say nothing.
        let unreadable = |of: &str| {
            (!a.tags.contains_key(of))
                .then(|| a.gaps.get(&(of, FactTopic::Tags)).copied())
                .flatten()
        };
        let tags_gap = unreadable(subject).or_else(|| holder.and_then(unreadable));
        for (dim, keys, none, field) in [
            (
                dimension::CLASSIFICATION,
                &self.tags.classification_keys,
                UNCLASSIFIED,
                &mut v.classification,
            ),
            (
                dimension::PROCESS,
                &self.tags.process_keys,
                NO_PROCESS,
                &mut v.process,
            ),
        ] {
            *field = match (tag(keys), tags_gap) {
                (Some(value), _) => value.to_owned(),
                (None, Some(g)) => {
                    v.unknowns.push(unknown_from_gap(dim, g));
                    UNKNOWN.to_owned()
                }
                (None, None) => none.to_owned(),
            };
        }
        let client_side_declared =
            tag(&self.tags.client_side_keys).is_some_and(|val| val.eq_ignore_ascii_case("true"));

        // Custody.
        let decision = if azure::is_azure_store(store) {
            let mut d = azure::decide(a, account, store, subject);
            if client_side_declared {
                d.client_key_mode = "client-side".into();
            }
            d
        } else {
            let encryption = a.encryption.get(subject).copied();
            let key = encryption.map_or(KeyEvidence::NotObserved, |e| a.key_evidence(e));
            let key_store = match key {
                KeyEvidence::Described(k) if !k.custom_key_store_id.is_empty() => {
                    a.key_stores.get(k.custom_key_store_id.as_str()).copied()
                }
                _ => None,
            };
            if let KeyEvidence::Described(k) = &key {
                v.key_store_id = k.custom_key_store_id.clone();
            }
            let input = CustodyInput {
                provider,
                encrypts_by_default: self.tables.encrypts_at_rest_by_default(provider),
                store_account: account,
                store_region: &store.region,
                encryption,
                encryption_gap: a.gaps.get(&(subject, FactTopic::Encryption)).copied(),
                encryption_unsupported: a
                    .unsupported
                    .get(&(subject, FactTopic::Encryption))
                    .copied(),
                key,
                key_store,
                client_side_declared,
            };
            if gcp::is_gcs_bucket(store) {
                gcp::decide(&input)
            } else if kinds::is_object_storage(store.kind()) {
                custody::decide(&input)
            } else {
                kinds::decide(a, &input)
            }
        };
        v.custody = decision.level as i32;
        v.custody_reason = decision.reason;
        v.custody_modifiers = decision.modifiers;
        v.key_arn = decision.key_arn;
        v.key_owner_account = decision.key_owner_account;
        v.key_region = decision.key_region;
        v.client_key_mode = decision.client_key_mode;
        if v.client_key_mode == "client-side" {
            // No API shows client-side encryption: a tag says so.
            v.custody_modifiers
                .push("client-side encryption declared by tag (not observed)".into());
        }
        if store.kind() == StoreKind::Bucket
            && a.encryption.contains_key(subject)
            && !matches!(v.custody(), Custody::Unknown | Custody::Unspecified)
        {
            // A bucket's encryption setting is a default for new objects only.
            v.custody_reason.push_str(DEFAULT_ENCRYPTION_CAVEAT);
        }
        // The key's material lives where the key and its multi-region copies are. A key whose
        // place is not known (a vault the agent cannot read, a region not in the table)
        // leaves the jurisdiction incomplete.
        if !v.key_arn.is_empty() && v.key_region.is_empty() {
            location_known = false;
            v.unknowns.push(unknown_because(
                dimension::KEY_LOCATION,
                format!("the region of key {} is not known", v.key_arn),
            ));
        }
        for key_region in std::iter::once(&v.key_region)
            .chain(&decision.key_replica_regions)
            .filter(|r| !r.is_empty())
        {
            match self.tables.region(provider, key_region) {
                Some(r) => {
                    insert_country(&mut jurisdictions, &r.country);
                    all_eu &= r.eu;
                }
                None => {
                    location_known = false;
                    v.unknowns.push(unknown_because(
                        dimension::KEY_LOCATION,
                        format!("key region {key_region:?} is not in the regions table"),
                    ));
                }
            }
        }
        if matches!(v.custody(), Custody::Unknown | Custody::Unspecified) {
            v.unknowns
                .push(match a.gaps.get(&(subject, FactTopic::Encryption)) {
                    Some(g) => {
                        let mut u = unknown_from_gap(dimension::CUSTODY, g);
                        u.reason = v.custody_reason.clone();
                        u
                    }
                    None => unknown_because(dimension::CUSTODY, v.custody_reason.clone()),
                });
        }

        // Replication. Azure: a geo-redundant SKU keeps a copy of the account (and so of its
        // containers) in the secondary region.
        let mut copies: Vec<ReplicationTarget> = Vec::new();
        if azure::is_azure_store(store) {
            let holder = a
                .stores_by_subject
                .get(azure::account_subject(store))
                .copied()
                .unwrap_or(store);
            if azure::is_geo_redundant(&holder.sku) {
                copies.push(ReplicationTarget {
                    bucket: holder.name.clone(),
                    account: account.to_owned(),
                    region: holder.secondary_region.clone(),
                    copy_kind: landmeter_proto::CopyKind::GeoRedundant.label().to_owned(),
                    ..ReplicationTarget::default()
                });
            }
        } else if !a.replication.contains_key(subject)
            && !a.gaps.contains_key(&(subject, FactTopic::Replication))
            && a.unsupported
                .contains_key(&(subject, FactTopic::Replication))
        {
            // The provider has no bucket replication: nothing to read, nothing unknown (the
            // dimension is listed as not applicable below).
        } else if let Some(g) = (!a.replication.contains_key(subject))
            .then(|| a.gaps.get(&(subject, FactTopic::Replication)))
            .flatten()
        {
            // Not "no replication": the replication settings could not be read.
            location_known = false;
            v.unknowns.push(unknown_from_gap(dimension::REPLICATION, g));
        } else if let Some(repl) = a.replication.get(subject) {
            // Part of the copies answered, part failed (a DynamoDB table's replicas read,
            // its point-in-time recovery not; an SQL database's links read, its failover
            // groups not): the known copies count, and replication stays unknown.
            if let Some(g) = a.gaps.get(&(subject, FactTopic::Replication)) {
                location_known = false;
                v.unknowns.push(unknown_from_gap(dimension::REPLICATION, g));
            }
            for rule in repl.rules.iter().filter(|r| r.status != "Disabled") {
                let target_account = if rule.destination_account.is_empty() {
                    account.to_owned()
                } else {
                    rule.destination_account.clone()
                };
                // The destination's region: as the rule says; else that store in this scan
                // of the same account; else that store in that account, present in the map;
                // else unknown (no guess from a namesake elsewhere or a gone store).
                let region = if !rule.destination_region.is_empty() {
                    rule.destination_region.clone()
                } else if let Some(dest) = (target_account == account)
                    .then(|| a.stores_by_subject.get(rule.destination_bucket.as_str()))
                    .flatten()
                    .filter(|dest| !dest.region.is_empty())
                {
                    dest.region.clone()
                } else {
                    known_region(&target_account, &rule.destination_bucket).unwrap_or_default()
                };
                let mut t = ReplicationTarget {
                    bucket: rule.destination_bucket.clone(),
                    account: target_account,
                    region,
                    copy_kind: rule.copy_kind().label().to_owned(),
                    ..ReplicationTarget::default()
                };
                t.cross_account = t.account != account;
                copies.push(t);
            }
        }
        // The members of a predefined Cloud Storage dual-region each hold the data.
        if gcp::is_gcs_bucket(store) {
            for member in gcp::predefined_dual_region(&store.region) {
                if copies.iter().any(|t| t.region.eq_ignore_ascii_case(member)) {
                    continue;
                }
                copies.push(ReplicationTarget {
                    bucket: store.name.clone(),
                    account: account.to_owned(),
                    region: (*member).to_owned(),
                    copy_kind: landmeter_proto::CopyKind::MultiRegion.label().to_owned(),
                    ..ReplicationTarget::default()
                });
            }
        }
        // Copies that name this store as their source and sit in another region (a
        // snapshot copied away, a replica that only knows its primary).
        for copy in a.copies_of.get(subject).into_iter().flatten() {
            if copy.region == store.region || copies.iter().any(|t| t.bucket == copy.name) {
                continue;
            }
            copies.push(ReplicationTarget {
                bucket: copy.name.clone(),
                account: account.to_owned(),
                region: copy.region.clone(),
                copy_kind: copy.copy_kind().label().to_owned(),
                ..ReplicationTarget::default()
            });
        }
        for mut t in copies {
            match self.tables.region(provider, &t.region) {
                Some(r) => {
                    t.country = r.country.clone();
                    t.eu = r.eu;
                    insert_country(&mut jurisdictions, &r.country);
                    all_eu &= r.eu;
                    if !r.eu {
                        v.replicated_outside_eu = true;
                    }
                }
                None => {
                    location_known = false;
                    v.unknowns.push(unknown_because(
                        dimension::REPLICATION,
                        if t.region.is_empty() {
                            format!("the region of copy {} is not known", t.bucket)
                        } else {
                            format!("copy region {:?} is not in the regions table", t.region)
                        },
                    ));
                }
            }
            v.replication.push(t);
        }

        // Size: the stored bytes when the service reports them; else the provisioned
        // capacity (a volume, a database's allocated storage), marked as such.
        let size = a.size.get(subject).copied();
        v.allocated_bytes = size.and_then(|s| s.allocated_bytes);
        if let Some(size) = size.filter(|s| s.known) {
            v.bytes = Some(size.bytes_by_storage_type.values().sum());
            v.size_basis = "stored".to_owned();
            // Azure's capacity metric carries no object count: unknown, not 0.
            v.objects = (!azure::is_azure_store(store) && kinds::counts_objects(store.kind()))
                .then_some(size.objects);
        } else if let Some(allocated) = v.allocated_bytes {
            v.bytes = Some(allocated);
            v.size_basis = "allocated".to_owned();
        } else if store.kind() != StoreKind::Container {
            // A container's bytes are counted in its storage account's capacity: not a
            // second unknown.
            v.unknowns.push(
                match (
                    a.gaps.get(&(subject, FactTopic::Size)),
                    a.unsupported.get(&(subject, FactTopic::Size)),
                ) {
                    (Some(g), _) => unknown_from_gap(dimension::SIZE, g),
                    // No source of sizes at this provider: unknown, and why.
                    (None, Some(u)) => unknown_because(dimension::SIZE, u.message.clone()),
                    (None, None) => unknown_because(dimension::SIZE, "no size datapoint"),
                },
            );
        }

        // Who else can restore it (snapshots).
        match (
            a.sharing.get(subject),
            a.gaps.get(&(subject, FactTopic::Sharing)),
        ) {
            (Some(sharing), _) => kinds::apply_sharing(&mut v, sharing),
            (None, Some(g)) => v.unknowns.push(unknown_from_gap(dimension::SHARING, g)),
            (None, None) => {}
        }

        // Lock-in: storage classes and retention. An Azure container's capacity is counted
        // on its account, whose access tier applies; immutability is reported per container.
        // Other kinds have no storage classes; a backup vault may be locked.
        let retention = a.retention.get(subject).copied();
        v.delete_after_days = retention
            .map(|r| i64::from(r.delete_after_days))
            .filter(|d| *d > 0);
        if kinds::is_object_storage(store.kind()) {
            let (access_tier, lock_expected) = if azure::is_azure_store(store) {
                let holder = a
                    .stores_by_subject
                    .get(azure::account_subject(store))
                    .copied()
                    .unwrap_or(store);
                (
                    holder.access_tier.as_str(),
                    store.kind() == StoreKind::Container,
                )
            } else {
                // A provider without object lock leaves nothing unknown.
                let unsupported = retention.is_none()
                    && a.unsupported.contains_key(&(subject, FactTopic::Retention));
                ("", !unsupported)
            };
            lockin::apply(&mut v, size, access_tier, retention, lock_expected);
        } else {
            lockin::apply(
                &mut v,
                None,
                "",
                retention,
                store.kind() == StoreKind::BackupVault,
            );
            // Nothing of these kinds sits in an archive class that must be restored first.
            v.archive_bytes = v.bytes.map(|_| 0);
        }

        // What the provider does not offer: listed, neither unknown nor "no". A dimension the
        // agent read after all (an answer or a gap of the same subject) is not listed.
        for topic in [
            FactTopic::Encryption,
            FactTopic::Tags,
            FactTopic::Replication,
            FactTopic::Retention,
        ] {
            let answered = match topic {
                FactTopic::Encryption => a.encryption.contains_key(subject),
                FactTopic::Tags => a.tags.contains_key(subject),
                FactTopic::Replication => a.replication.contains_key(subject),
                _ => retention.is_some(),
            };
            if let (false, None, Some(u), Some(dim)) = (
                answered,
                a.gaps.get(&(subject, topic)),
                a.unsupported.get(&(subject, topic)),
                landmeter_proto::not_applicable::of_topic(topic),
            ) {
                v.not_applicable.push(not_applicable(provider, dim, u));
            }
        }

        v.jurisdiction = jurisdiction_label(location_known, all_eu, &v.cloud_act);
        v.jurisdictions = jurisdictions.into_iter().collect();
        indicators::apply(&mut v, &self.tables);
        v
    }
}

/// A region's country as a jurisdiction; a multi-country location (a multi- or dual-region
/// whose row names no single country) adds none: its members' countries speak for it.
fn insert_country(jurisdictions: &mut BTreeSet<String>, country: &str) {
    if !country.is_empty() {
        jurisdictions.insert(country.to_owned());
    }
}

/// One label per store for grouping: where its data and keys are (EU or not) and whether
/// the provider's parent is within the CLOUD Act's reach.
fn jurisdiction_label(location_known: bool, all_eu: bool, cloud_act: &str) -> String {
    // A part known to be outside the EU makes it non-EU whatever else is unknown.
    let place = match (location_known, all_eu) {
        (_, false) => "non-EU",
        (false, true) => "unknown",
        (true, true) => "EU",
    };
    match cloud_act {
        "yes" => format!("{place}+{CLOUD_ACT}"),
        "unclear" => format!("{place}+{CLOUD_ACT}?"),
        _ => place.to_owned(),
    }
}

fn tag_value<'t>(tags: &'t [Tag], keys: &[String]) -> Option<&'t str> {
    keys.iter().find_map(|k| {
        tags.iter()
            .find(|t| t.key.eq_ignore_ascii_case(k) && !t.value.trim().is_empty())
            .map(|t| t.value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::Custody;
    use landmeter_proto::v1::{
        EncryptionState, GapKind, Replication, ReplicationRule, S3Encryption, Store, Tags,
        encryption::Detail,
    };

    fn fact(subject: &str, body: Body) -> Fact {
        Fact {
            account: "111122223333".into(),
            subject: subject.into(),
            observed_at_ms: 1,
            api_call: "test".into(),
            body: Some(body),
        }
    }

    fn bucket(name: &str, region: &str) -> Fact {
        fact(
            name,
            Body::Store(Store {
                provider: "aws".into(),
                service: "s3".into(),
                name: name.into(),
                region: region.into(),
                kind: StoreKind::Bucket as i32,
                ..Store::default()
            }),
        )
    }

    /// A failed call as the current agent reports it (`topic` set) or an old one (`topic` 0).
    fn failed(subject: &str, call: &str, topic: FactTopic) -> Fact {
        let mut f = fact(
            subject,
            Body::Gap(Gap {
                kind: GapKind::AccessDenied as i32,
                code: "AccessDenied".into(),
                call: call.into(),
                topic: topic as i32,
                ..Gap::default()
            }),
        );
        f.api_call = call.into();
        f
    }

    fn interpreter() -> Interpreter {
        Interpreter::new(
            ReferenceTables::builtin().expect("tables"),
            TagConventions::default(),
        )
    }

    #[test]
    fn eu_bucket_replicating_to_us_is_exposed_and_classified() {
        let facts = vec![
            bucket("b1", "eu-west-1"),
            fact(
                "b1",
                Body::Encryption(Encryption {
                    state: EncryptionState::Configured as i32,
                    algorithm: "AES256".into(),
                    ..Encryption::default()
                }),
            ),
            fact(
                "b1",
                Body::Tags(Tags {
                    tags: vec![
                        Tag {
                            key: "Classification".into(),
                            value: "BBN2".into(),
                        },
                        Tag {
                            key: "process".into(),
                            value: "burgerzaken".into(),
                        },
                    ],
                }),
            ),
            fact(
                "b1",
                Body::Replication(Replication {
                    rules: vec![ReplicationRule {
                        status: "Enabled".into(),
                        destination_bucket: "dst".into(),
                        ..ReplicationRule::default()
                    }],
                }),
            ),
        ];
        let known = |account: &str, name: &str| {
            (account == "111122223333" && name == "dst").then(|| "us-east-2".to_owned())
        };
        let views = interpreter().interpret_account("t1", "111122223333", &facts, &known);
        assert_eq!(views.len(), 1);
        let v = &views[0];
        assert_eq!(v.id, "aws:111122223333:b1");
        assert_eq!((v.country.as_str(), v.eu), ("IE", true));
        assert_eq!(v.custody(), Custody::Provider);
        assert_eq!(
            (v.classification.as_str(), v.process.as_str()),
            ("BBN2", "burgerzaken")
        );
        assert!(v.replicated_outside_eu);
        assert_eq!(v.replication[0].region, "us-east-2");
        assert_eq!(v.replication[0].country, "US");
        assert_eq!(v.jurisdictions, ["IE", "US", "US-CLOUD-ACT"]);
        assert_eq!(v.jurisdiction, "non-EU+US-CLOUD-ACT");
        assert_eq!(v.bytes, None, "no size fact: unknown, not zero");
    }

    #[test]
    fn a_multi_region_key_copy_outside_the_eu_is_a_jurisdiction() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1";
        let facts = vec![
            bucket("gis", "eu-west-1"),
            fact(
                "gis",
                Body::Encryption(Encryption {
                    state: EncryptionState::Configured as i32,
                    algorithm: "aws:kms".into(),
                    key_ref: arn.into(),
                    resolved_key_arn: arn.into(),
                    ..Encryption::default()
                }),
            ),
            fact(
                arn,
                Body::Key(Key {
                    arn: arn.into(),
                    key_account: "111122223333".into(),
                    region: "eu-west-1".into(),
                    key_manager: "CUSTOMER".into(),
                    origin: "AWS_KMS".into(),
                    multi_region: true,
                    multi_region_key_type: "PRIMARY".into(),
                    replica_regions: vec!["us-east-1".into()],
                    ..Key::default()
                }),
            ),
        ];
        let v = &interpreter().interpret_account("t1", "111122223333", &facts, &|_, _| None)[0];
        assert_eq!(v.custody(), Custody::CustomerManaged);
        assert!(
            !v.replicated_outside_eu,
            "the data does not replicate; the key does"
        );
        assert_eq!(v.jurisdictions, ["IE", "US", "US-CLOUD-ACT"]);
        assert_eq!(v.jurisdiction, "non-EU+US-CLOUD-ACT");
    }

    #[test]
    fn unreadable_replication_tags_and_key_places_are_unknown_never_no() {
        let facts = vec![
            bucket("repl-denied", "eu-west-1"),
            failed(
                "repl-denied",
                "s3:GetBucketReplication",
                FactTopic::Replication,
            ),
            bucket("tags-denied", "eu-west-1"),
            failed("tags-denied", "s3:GetBucketTagging", FactTopic::Tags),
            bucket("plain", "eu-west-1"),
            fact("plain", Body::Tags(Tags { tags: Vec::new() })),
        ];
        let views = interpreter().interpret_account("t1", "111122223333", &facts, &|_, _| None);
        let get = |name: &str| views.iter().find(|v| v.name == name).expect(name);

        let repl = get("repl-denied");
        assert_eq!(repl.replicated_outside_eu_known(), None);
        let why = repl
            .unknown(dimension::REPLICATION)
            .expect("replication unknown");
        assert_eq!(
            (why.call.as_str(), why.code.as_str()),
            ("s3:GetBucketReplication", "AccessDenied")
        );
        assert!(
            repl.jurisdiction.starts_with("unknown"),
            "{}",
            repl.jurisdiction
        );
        assert_eq!((repl.sov2_indicator, repl.sov3_indicator), (None, None));
        assert!(
            repl.indicator_reasons
                .iter()
                .any(|r| r.contains("replication unknown") && r.contains("AccessDenied")),
            "{:?}",
            repl.indicator_reasons
        );

        let tags = get("tags-denied");
        assert_eq!(
            (tags.classification.as_str(), tags.process.as_str()),
            (UNKNOWN, UNKNOWN)
        );
        assert!(tags.is_unknown(dimension::CLASSIFICATION) && tags.is_unknown(dimension::PROCESS));

        // Tags read and empty: known to be unclassified.
        let plain = get("plain");
        assert_eq!(plain.classification, UNCLASSIFIED);
        assert!(!plain.is_unknown(dimension::CLASSIFICATION));
        assert_eq!(plain.replicated_outside_eu_known(), Some(false));
        // No size datapoint: the size is unknown, and says so.
        assert!(plain.is_unknown(dimension::SIZE));
    }

    #[test]
    fn gaps_are_found_by_topic_whatever_the_call_is_named() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k1";
        let kms = |subject: &str| {
            fact(
                subject,
                Body::Encryption(Encryption {
                    state: EncryptionState::Configured as i32,
                    algorithm: "aws:kms".into(),
                    key_ref: arn.into(),
                    resolved_key_arn: arn.into(),
                    detail: Some(Detail::S3(S3Encryption::default())),
                    ..Encryption::default()
                }),
            )
        };
        let facts = vec![
            bucket("denied", "eu-west-1"),
            // A new provider's call name: the topic alone says what it leaves unknown.
            failed("denied", "objects:GetEncryption", FactTopic::Encryption),
            bucket("keyless", "eu-west-1"),
            kms("keyless"),
            failed(arn, "keys:Describe", FactTopic::Key),
            bucket("tagless", "eu-west-1"),
            failed("tagless", "objects:GetEncryption", FactTopic::Tags),
        ];
        let views = interpreter().interpret_account("t1", "111122223333", &facts, &|_, _| None);
        let get = |name: &str| views.iter().find(|v| v.name == name).expect(name);
        assert_eq!(get("denied").custody(), Custody::Unknown);
        assert_eq!(
            get("denied").custody_reason,
            "objects:GetEncryption failed: AccessDenied"
        );
        assert_eq!(get("keyless").custody(), Custody::Unknown);
        assert_eq!(
            get("keyless").custody_reason,
            format!("keys:Describe failed for {arn}: AccessDenied")
        );
        // A gap about another dimension is no evidence about encryption.
        assert_eq!(
            get("tagless").custody_reason,
            "no default-encryption answer observed"
        );
    }

    #[test]
    fn an_old_agents_bucket_facts_interpret_as_the_current_ones() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k1";
        let current = |name: &str, enc: Encryption| {
            vec![bucket(name, "eu-west-1"), fact(name, Body::Encryption(enc))]
        };
        // The old shape: no kind, flat S3 fields, gaps named only by their call.
        let old = |mut facts: Vec<Fact>| {
            for f in &mut facts {
                match &mut f.body {
                    Some(Body::Store(s)) => s.kind = 0,
                    Some(Body::Gap(g)) => g.topic = 0,
                    Some(Body::Encryption(e)) => {
                        if let Some(Detail::S3(d)) = e.detail.take() {
                            e.bucket_key_enabled = d.bucket_key_enabled;
                            e.blocked_encryption_types = d.blocked_encryption_types;
                            e.not_configured_code = d.not_configured_code;
                        }
                        e.double_encryption = false;
                    }
                    _ => {}
                }
            }
            facts
        };
        let mut facts = current(
            "kms",
            Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: "aws:kms:dsse".into(),
                key_ref: arn.into(),
                resolved_key_arn: arn.into(),
                double_encryption: true,
                detail: Some(Detail::S3(S3Encryption {
                    bucket_key_enabled: true,
                    blocked_encryption_types: vec!["SSE-C".into()],
                    ..S3Encryption::default()
                })),
                ..Encryption::default()
            },
        );
        facts.push(fact(
            arn,
            Body::Key(Key {
                arn: arn.into(),
                key_account: "111122223333".into(),
                region: "eu-west-1".into(),
                key_manager: "CUSTOMER".into(),
                origin: "EXTERNAL".into(),
                ..Key::default()
            }),
        ));
        facts.extend(current(
            "plain",
            Encryption {
                state: EncryptionState::NotConfigured as i32,
                detail: Some(Detail::S3(S3Encryption {
                    not_configured_code: "ServerSideEncryptionConfigurationNotFoundError".into(),
                    ..S3Encryption::default()
                })),
                ..Encryption::default()
            },
        ));
        facts.push(bucket("denied", "eu-west-1"));
        facts.push(failed(
            "denied",
            "s3:GetBucketEncryption",
            FactTopic::Encryption,
        ));
        let i = interpreter();
        let new_views = i.interpret_account("t1", "111122223333", &facts, &|_, _| None);
        let old_views = i.interpret_account("t1", "111122223333", &old(facts), &|_, _| None);
        assert_eq!(old_views, new_views);
        let kms = &new_views[1];
        assert_eq!((kms.name.as_str(), kms.kind.as_str()), ("kms", "bucket"));
        assert_eq!(kms.custody(), Custody::Byok);
        assert_eq!(kms.client_key_mode, "sse-c-blocked");
        assert_eq!(
            kms.custody_modifiers,
            ["bucket key enabled", "dual-layer encryption (DSSE-KMS)"]
        );
        assert_eq!(new_views[0].custody(), Custody::Unknown, "denied");
        assert_eq!(new_views[2].custody(), Custody::Provider, "plain, on aws");
    }

    #[test]
    fn the_rules_name_no_provider_call_or_service() {
        // Old agents' call names and services are known to landmeter_proto::compat only; the
        // rules read topics, kinds and `Encryption.detail`. Tests may name them.
        let sources = [
            ("mod.rs", include_str!("mod.rs")),
            ("azure.rs", include_str!("azure.rs")),
            ("custody.rs", include_str!("custody.rs")),
            ("changes.rs", include_str!("changes.rs")),
            ("exit.rs", include_str!("exit.rs")),
            ("indicators.rs", include_str!("indicators.rs")),
            ("lockin.rs", include_str!("lockin.rs")),
            ("reference.rs", include_str!("reference.rs")),
        ];
        let forbidden = [
            "\"s3:",
            "\"kms:",
            "\"sts:",
            "\"cloudwatch:",
            "\"organizations:",
            "\"arm:",
            "\"blob:",
            "\"monitor:",
            "\"s3\"",
            "\"azure-storage-account\"",
            "\"azure-blob-container\"",
        ];
        for (file, text) in sources {
            let rules = text.split("#[cfg(test)]").next().unwrap_or_default();
            for f in forbidden {
                assert!(!rules.contains(f), "{file} names {f}");
            }
        }
    }

    #[test]
    fn untagged_store_in_unknown_region_is_unclassified_and_unknown() {
        let facts = vec![bucket("b2", "xx-nowhere-1")];
        let views = interpreter().interpret_account("t1", "111122223333", &facts, &|_, _| None);
        let v = &views[0];
        assert_eq!(v.classification, UNCLASSIFIED);
        assert_eq!(v.process, NO_PROCESS);
        assert_eq!(v.country, "");
        assert_eq!(v.jurisdiction, "unknown+US-CLOUD-ACT");
        assert_eq!(v.custody(), Custody::Unknown);
    }

    /// A call the provider does not implement is "not applicable": listed as such, never an
    /// unknown (no gap) and never "no"; a gap of the same call stays unknown.
    #[test]
    fn unsupported_calls_are_not_applicable_not_unknown_and_not_no() {
        let store = |name: &str, provider: &str, region: &str| {
            fact(
                name,
                Body::Store(Store {
                    provider: provider.into(),
                    name: name.into(),
                    region: region.into(),
                    kind: StoreKind::Bucket as i32,
                    ..Store::default()
                }),
            )
        };
        let unsupported = |subject: &str, call: &str, topic: FactTopic| {
            fact(
                subject,
                Body::Unsupported(Unsupported {
                    call: call.into(),
                    topic: topic as i32,
                    code: "NotImplemented".into(),
                    message:
                        "A parameter you provided implies functionality that is not implemented"
                            .into(),
                    http_status: 501,
                }),
            )
        };
        let calls = [
            ("GetBucketEncryption", FactTopic::Encryption),
            ("GetBucketTagging", FactTopic::Tags),
            ("GetBucketReplication", FactTopic::Replication),
            ("GetObjectLockConfiguration", FactTopic::Retention),
        ];
        let mut facts = vec![
            store("exo", "exoscale", "ch-gva-2"),
            store("ovh", "ovhcloud", "bhs"),
            store("denied", "ovhcloud", "gra"),
        ];
        for subject in ["exo", "ovh"] {
            for (call, topic) in calls {
                facts.push(unsupported(subject, call, topic));
            }
        }
        facts.push(fact(
            "exo",
            Body::Unsupported(Unsupported {
                call: "GetMetricData".into(),
                topic: FactTopic::Size as i32,
                message: "no metrics service: size unknown".into(),
                ..Unsupported::default()
            }),
        ));
        // The same call denied is a gap: unknown, not "not applicable".
        facts.push(failed(
            "denied",
            "GetBucketReplication",
            FactTopic::Replication,
        ));
        let views = interpreter().interpret_account("t1", "acct", &facts, &|_, _| None);
        let view = |name: &str| views.iter().find(|v| v.name == name).expect(name);

        let exo = view("exo");
        assert_eq!((exo.country.as_str(), exo.eu), ("CH", false));
        assert_eq!(exo.custody(), Custody::Provider, "{}", exo.custody_reason);
        assert!(
            exo.custody_reason
                .contains("does not implement GetBucketEncryption")
        );
        let mut dims: Vec<&str> = exo
            .not_applicable
            .iter()
            .map(|n| n.dimension.as_str())
            .collect();
        dims.sort_unstable();
        let mut all = landmeter_proto::not_applicable::ALL.to_vec();
        all.sort_unstable();
        assert_eq!(dims, all);
        for dim in [
            dimension::REPLICATION,
            dimension::CLASSIFICATION,
            dimension::CUSTODY,
        ] {
            assert!(!exo.is_unknown(dim), "{dim}: {:?}", exo.unknowns);
        }
        assert!(!exo.object_lock_unknown && !exo.object_lock);
        assert_eq!(exo.classification, UNCLASSIFIED);
        assert_eq!(exo.jurisdiction, "non-EU");
        assert_eq!(
            exo.unknown(dimension::SIZE).map(|u| u.reason.as_str()),
            Some("no metrics service: size unknown")
        );

        // OVHcloud encrypts only when asked: without the call, custody is unknown, not none.
        let ovh = view("ovh");
        assert_eq!((ovh.country.as_str(), ovh.eu), ("CA", false));
        assert_eq!(ovh.custody(), Custody::Unknown);
        assert!(ovh.is_unknown(dimension::CUSTODY));
        assert!(
            ovh.not_applicable(landmeter_proto::not_applicable::ENCRYPTION_CONFIGURATION)
                .is_some()
        );

        let denied = view("denied");
        assert!(denied.is_unknown(dimension::REPLICATION));
        assert!(denied.not_applicable.is_empty());
    }
}
