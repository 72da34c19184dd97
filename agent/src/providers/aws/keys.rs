//! KMS: every distinct key reference resolved once (`ListAliases` per region, `DescribeKey`
//! per key), and the custom key stores (CloudHSM, external) behind the keys. The questions
//! are asked as soon as a store names a key (`prefetch_key`: a bucket as it is examined,
//! the other kinds as each region's listing ends, beside the other stores' calls); the facts
//! and gaps are recorded after the last store, from the same answers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_kms::types::KeyMetadata;
use futures::{StreamExt, stream};
use landmeter_proto::v1::{Key, KeyStore, fact};
use tokio::sync::OnceCell;

use super::account::AccountScan;
use super::calls;
use super::sdk::failure;
use crate::arn::{Arn, KeyRef};
use crate::providers::CallFailure;
use crate::sink::SinkClosed;

impl AccountScan<'_> {
    /// Describes every distinct key the stores refer to (raw reference, region a bare id or
    /// alias resolves in); emits `Key` and `KeyStore` facts.
    /// Returns (region the ref resolved in, raw ref) -> key ARN.
    pub(super) async fn resolve_keys(
        &self,
        key_refs: &[(String, String)],
    ) -> Result<HashMap<(String, String), String>, SinkClosed> {
        // (region, raw ref): the same alias name or key id means different keys per region.
        let refs: BTreeSet<(String, String)> = key_refs
            .iter()
            // A bare alias or key id names a key in the bucket's region: when that region is
            // not known, no region is guessed and the key stays undescribed (custody unknown).
            .filter_map(|(raw, context)| {
                let region = KeyRef::parse(raw).region().unwrap_or(context).to_owned();
                (!region.is_empty()).then(|| (region, raw.clone()))
            })
            .collect();
        if refs.is_empty() {
            return Ok(HashMap::new());
        }

        let regions: BTreeSet<&str> = refs.iter().map(|(region, _)| region.as_str()).collect();
        let mut aliases: HashMap<String, Arc<AliasTable>> = HashMap::new();
        // The regions' listings at once (each is a round trip; the request budget bounds
        // them), or their answers already fetched ahead.
        let listed: Vec<(&str, Result<Arc<AliasTable>, CallFailure>)> = stream::iter(regions)
            .map(|region| async move { (region, self.alias_table(region).await) })
            .buffered(self.settings.concurrency)
            .collect()
            .await;
        for (region, answer) in listed {
            match answer {
                Ok(table) => {
                    aliases.insert(region.to_owned(), table);
                }
                Err(failed) => self.gap(region, calls::LIST_ALIASES, &failed).await?,
            }
        }

        // Group refs by the key they name, as far as can be told before DescribeKey.
        let mut groups: BTreeMap<GroupKey, KeyGroup> = BTreeMap::new();
        for (region, raw) in &refs {
            let (key, describe_id) = self.key_group(region, raw, aliases.get(region).map(|t| &**t));
            let group = groups.entry(key).or_insert_with(|| KeyGroup {
                region: region.clone(),
                describe_id,
                refs: BTreeSet::new(),
            });
            // Prefer describing by ARN: it also works across accounts.
            if raw.starts_with("arn:") && !group.describe_id.starts_with("arn:") {
                group.describe_id.clone_from(raw);
            }
            group.refs.insert(raw.clone());
        }

        let described: Vec<(KeyGroup, Result<KeyMetadata, CallFailure>)> = stream::iter(groups)
            .map(|(key, group)| async move {
                let result = self.describe(key, &group.region, &group.describe_id).await;
                (group, result)
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;

        // Merge by ARN: two references may turn out to name the same key.
        let mut keys: BTreeMap<String, (KeyMetadata, BTreeSet<String>)> = BTreeMap::new();
        let mut resolved = HashMap::new();
        for (group, result) in described {
            match result {
                Ok(meta) => {
                    let arn = meta.arn().unwrap_or_default().to_owned();
                    for raw in &group.refs {
                        resolved.insert((group.region.clone(), raw.clone()), arn.clone());
                    }
                    keys.entry(arn)
                        .or_insert_with(|| (meta, BTreeSet::new()))
                        .1
                        .extend(group.refs);
                }
                Err(failed) => {
                    for raw in &group.refs {
                        self.gap(raw, calls::DESCRIBE_KEY, &failed).await?;
                    }
                }
            }
        }

        let mut store_regions = BTreeSet::new();
        for (arn, (meta, refs)) in keys {
            let key = key_fact(&arn, &meta, refs, &aliases);
            // AWS gives every CloudHSM or external key store key a store id. Emulators that
            // create such keys without one have no store to describe (moto answers 500).
            if !key.custom_key_store_id.is_empty() && key.key_account == self.account {
                store_regions.insert(key.region.clone());
            }
            self.emit(&arn, calls::DESCRIBE_KEY, fact::Body::Key(key))
                .await?;
        }
        for region in store_regions {
            self.key_stores(&region).await?;
        }
        Ok(resolved)
    }

    /// Asks KMS about one key reference as soon as a store names it (its region's aliases,
    /// then its description), so the keys' round trips overlap the stores' instead of
    /// following the last of them. Only fills [`KmsAnswers`]: `resolve_keys` records the
    /// gaps and facts, once, from the same answers.
    pub(super) async fn prefetch_key(&self, raw: &str, context: &str) {
        let region = KeyRef::parse(raw).region().unwrap_or(context).to_owned();
        if region.is_empty() {
            return;
        }
        let table = self.alias_table(&region).await.ok();
        let (key, describe_id) = self.key_group(&region, raw, table.as_deref());
        // A failure is kept in the cell and recorded by `resolve_keys`.
        let _ = self.describe(key, &region, &describe_id).await;
    }

    /// The key a reference names as far as can be told before DescribeKey (region, account,
    /// key id or the raw reference), and the id to describe it by.
    fn key_group(&self, region: &str, raw: &str, table: Option<&AliasTable>) -> (GroupKey, String) {
        let (account, ident, describe_id) = match KeyRef::parse(raw) {
            KeyRef::KeyArn {
                account, key_id, ..
            } => (account.to_owned(), key_id.to_owned(), raw.to_owned()),
            KeyRef::KeyId(id) => (self.account.clone(), id.to_owned(), id.to_owned()),
            KeyRef::AliasName(alias) => match table.and_then(|t| t.target.get(alias)) {
                Some(target) => (self.account.clone(), target.clone(), target.clone()),
                None => (self.account.clone(), raw.to_owned(), raw.to_owned()),
            },
            KeyRef::AliasArn { account, alias, .. } => {
                match table
                    .and_then(|t| t.target.get(alias))
                    .filter(|_| account == self.account)
                {
                    Some(target) => (self.account.clone(), target.clone(), target.clone()),
                    None => (account.to_owned(), raw.to_owned(), raw.to_owned()),
                }
            }
        };
        ((region.to_owned(), account, ident), describe_id)
    }

    /// `region`'s aliases, listed at most once per scan.
    async fn alias_table(&self, region: &str) -> Result<Arc<AliasTable>, CallFailure> {
        let cell = Arc::clone(
            lock(&self.kms_answers.aliases)
                .entry(region.to_owned())
                .or_default(),
        );
        cell.get_or_init(|| async { self.list_aliases(region).await.map(Arc::new) })
            .await
            .clone()
    }

    /// The description of the key `key` groups, asked at most once per scan (by the first
    /// `describe_id` that asks).
    async fn describe(
        &self,
        key: GroupKey,
        region: &str,
        describe_id: &str,
    ) -> Result<KeyMetadata, CallFailure> {
        let cell = Arc::clone(lock(&self.kms_answers.described).entry(key).or_default());
        cell.get_or_init(|| async {
            match self
                .kms(region)
                .describe_key()
                .key_id(describe_id)
                .send()
                .await
            {
                Ok(out) => out.key_metadata().cloned().ok_or_else(|| CallFailure {
                    message: "DescribeKey answered without KeyMetadata".to_owned(),
                    ..CallFailure::default()
                }),
                Err(err) => Err(failure(&err)),
            }
        })
        .await
        .clone()
    }

    async fn list_aliases(&self, region: &str) -> Result<AliasTable, CallFailure> {
        let client = self.kms(region);
        let mut pages = client.list_aliases().into_paginator().send();
        let mut table = AliasTable::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| failure(&err))?;
            for alias in page.aliases() {
                if let (Some(name), Some(target)) = (alias.alias_name(), alias.target_key_id()) {
                    table.target.insert(name.to_owned(), target.to_owned());
                    table
                        .by_key
                        .entry(target.to_owned())
                        .or_default()
                        .insert(name.to_owned());
                }
            }
        }
        Ok(table)
    }

    async fn key_stores(&self, region: &str) -> Result<(), SinkClosed> {
        let client = self.kms(region);
        let mut pages = client.describe_custom_key_stores().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(err) => {
                    return self
                        .gap(region, calls::DESCRIBE_CUSTOM_KEY_STORES, &failure(&err))
                        .await;
                }
            };
            for store in page.custom_key_stores() {
                let id = store.custom_key_store_id().unwrap_or_default().to_owned();
                let xks = store.xks_proxy_configuration();
                let key_store = KeyStore {
                    id: id.clone(),
                    name: store.custom_key_store_name().unwrap_or_default().to_owned(),
                    store_type: store
                        .custom_key_store_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    connection_state: store
                        .connection_state()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    cloud_hsm_cluster_id: store
                        .cloud_hsm_cluster_id()
                        .unwrap_or_default()
                        .to_owned(),
                    xks_uri_endpoint: xks
                        .and_then(|x| x.uri_endpoint())
                        .unwrap_or_default()
                        .to_owned(),
                    xks_uri_path: xks
                        .and_then(|x| x.uri_path())
                        .unwrap_or_default()
                        .to_owned(),
                    xks_connectivity: xks
                        .and_then(|x| x.connectivity())
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_default(),
                    xks_vpc_endpoint_service_owner: xks
                        .and_then(|x| x.vpc_endpoint_service_owner())
                        .unwrap_or_default()
                        .to_owned(),
                    region: region.to_owned(),
                };
                self.emit(
                    &id,
                    calls::DESCRIBE_CUSTOM_KEY_STORES,
                    fact::Body::KeyStore(key_store),
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// What KMS answered during one account's scan, each question asked once: a region's
/// aliases, a key group's description. Failures are kept too, so a gap is recorded once.
#[derive(Debug, Default)]
pub(super) struct KmsAnswers {
    aliases: Mutex<HashMap<String, Answer<Arc<AliasTable>>>>,
    described: Mutex<HashMap<GroupKey, Answer<KeyMetadata>>>,
}

type Answer<T> = Arc<OnceCell<Result<T, CallFailure>>>;

/// (region, account, key id or raw reference): the key a reference names.
type GroupKey = (String, String, String);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Aliases of one region: alias name -> target key id, and key id -> alias names.
#[derive(Debug, Default)]
struct AliasTable {
    target: HashMap<String, String>,
    by_key: HashMap<String, BTreeSet<String>>,
}

#[derive(Debug)]
struct KeyGroup {
    region: String,
    describe_id: String,
    refs: BTreeSet<String>,
}

fn key_fact(
    arn: &str,
    meta: &KeyMetadata,
    requested_refs: BTreeSet<String>,
    aliases: &HashMap<String, Arc<AliasTable>>,
) -> Key {
    let parsed = Arn::parse(arn);
    let region = parsed.map(|a| a.region.to_owned()).unwrap_or_default();
    let key_account = meta
        .aws_account_id()
        .map(str::to_owned)
        .or_else(|| parsed.map(|a| a.account.to_owned()))
        .unwrap_or_default();
    let mut alias_names: BTreeSet<String> = aliases
        .get(&region)
        .and_then(|t| t.by_key.get(meta.key_id()))
        .cloned()
        .unwrap_or_default();
    for raw in &requested_refs {
        match KeyRef::parse(raw) {
            KeyRef::AliasName(alias) | KeyRef::AliasArn { alias, .. } => {
                alias_names.insert(alias.to_owned());
            }
            KeyRef::KeyArn { .. } | KeyRef::KeyId(_) => {}
        }
    }
    let multi = meta.multi_region_configuration();
    Key {
        arn: arn.to_owned(),
        key_account,
        region,
        key_manager: meta
            .key_manager()
            .map(|k| k.as_str().to_owned())
            .unwrap_or_default(),
        origin: meta
            .origin()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        custom_key_store_id: meta.custom_key_store_id().unwrap_or_default().to_owned(),
        key_state: meta
            .key_state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        multi_region: meta.multi_region().unwrap_or(false),
        multi_region_key_type: multi
            .and_then(|m| m.multi_region_key_type())
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        primary_region: multi
            .and_then(|m| m.primary_key())
            .and_then(|k| k.region())
            .unwrap_or_default()
            .to_owned(),
        replica_regions: multi
            .map(|m| {
                m.replica_keys()
                    .iter()
                    .filter_map(|k| k.region())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        aliases: alias_names.into_iter().collect(),
        cloud_hsm_cluster_id: meta.cloud_hsm_cluster_id().unwrap_or_default().to_owned(),
        xks_key_id: meta
            .xks_key_configuration()
            .and_then(|x| x.id())
            .unwrap_or_default()
            .to_owned(),
        key_spec: meta
            .key_spec()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        requested_refs: requested_refs.into_iter().collect(),
        ..Key::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_fact_collects_aliases_and_refs() {
        use aws_sdk_kms::types::{KeyManagerType, KeyState, OriginType};
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k-1";
        let meta = KeyMetadata::builder()
            .key_id("k-1")
            .arn(arn)
            .aws_account_id("111122223333")
            .key_manager(KeyManagerType::Customer)
            .origin(OriginType::External)
            .key_state(KeyState::Enabled)
            .build()
            .expect("key id set");
        let mut aliases = HashMap::new();
        let mut table = AliasTable::default();
        table
            .target
            .insert("alias/data".to_owned(), "k-1".to_owned());
        table
            .by_key
            .entry("k-1".to_owned())
            .or_default()
            .insert("alias/data".to_owned());
        aliases.insert("eu-west-1".to_owned(), Arc::new(table));
        let refs = BTreeSet::from(["alias/data".to_owned(), "k-1".to_owned(), arn.to_owned()]);
        let key = key_fact(arn, &meta, refs, &aliases);
        assert_eq!(key.region, "eu-west-1");
        assert_eq!(key.key_account, "111122223333");
        assert_eq!(key.key_manager, "CUSTOMER");
        assert_eq!(key.origin, "EXTERNAL");
        assert_eq!(key.key_state, "Enabled");
        assert_eq!(key.aliases, vec!["alias/data".to_owned()]);
        assert_eq!(key.requested_refs.len(), 3);
    }
}
