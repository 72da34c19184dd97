//! Names an operator types, checked against what exists: a misspelt provider, tenant,
//! account, region, country, classification or process would otherwise select nothing and
//! answer "0 stores", silently. Case does not matter, common provider aliases (`azure`,
//! `AWS`, `google`) are accepted; any other unknown name is an error that lists the known
//! ones. "Known" is what the caller's scope holds, plus the reference tables' providers,
//! regions and countries (a name the tables know may rightly have no store yet).

use std::sync::LazyLock;

use landmeter_proto::v1::StoreFilter;

use crate::map::reference::ReferenceTables;
use crate::store::{GroupField, MapStore, Scope, StoreError};

/// Common names for the providers table's names.
const PROVIDER_ALIASES: [(&str, &str); 8] = [
    ("azure", "microsoft-azure"),
    ("microsoft", "microsoft-azure"),
    ("google", "google-cloud"),
    ("gcp", "google-cloud"),
    ("gcs", "google-cloud"),
    ("amazon", "aws"),
    ("ovh", "ovhcloud"),
    ("otc", "open-telekom-cloud"),
];

/// Known names listed in an error, at most.
const LISTED: usize = 40;

static TABLES: LazyLock<Option<ReferenceTables>> =
    LazyLock::new(|| ReferenceTables::builtin().ok());

/// `given` as one of `known` (exact, then ignoring case, then by alias), or an error listing
/// the known names.
pub fn canonical(
    what: &'static str,
    given: &str,
    known: &[String],
    aliases: &[(&str, &str)],
) -> Result<String, StoreError> {
    let given = given.trim();
    if let Some(k) = known.iter().find(|k| *k == given) {
        return Ok(k.clone());
    }
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(given)) {
        return Ok(k.clone());
    }
    if let Some((_, target)) = aliases
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(given))
        && let Some(k) = known.iter().find(|k| k == target)
    {
        return Ok(k.clone());
    }
    let mut listed: Vec<String> = known.iter().filter(|k| !k.is_empty()).cloned().collect();
    listed.sort();
    listed.dedup();
    if listed.len() > LISTED {
        let more = listed.len() - LISTED;
        listed.truncate(LISTED);
        listed.push(format!("... ({more} more)"));
    }
    Err(StoreError::UnknownName {
        what,
        given: given.to_owned(),
        known: listed,
    })
}

/// The values `field` has among the stores `scope` sees (gone ones included).
fn present(
    store: &dyn MapStore,
    scope: &Scope,
    field: GroupField,
) -> Result<Vec<String>, StoreError> {
    let all = StoreFilter {
        include_gone: true,
        ..StoreFilter::default()
    };
    Ok(store
        .summary(scope, &all, &[field])?
        .into_iter()
        .filter_map(|r| r.keys.into_iter().next())
        .collect())
}

/// A provider's name as the map and the tables spell it (`AWS` -> `aws`, `azure` ->
/// `microsoft-azure`), from those present in `scope` and the providers table.
pub fn provider(store: &dyn MapStore, scope: &Scope, given: &str) -> Result<String, StoreError> {
    let mut known = present(store, scope, GroupField::Provider)?;
    if let Some(t) = TABLES.as_ref() {
        known.extend(t.provider_names().into_iter().map(str::to_owned));
    }
    canonical("provider", given, &known, &PROVIDER_ALIASES)
}

/// A provider's name among `present` (e.g. the providers of listed stores) and the
/// providers table: for callers that hold the stores already (the CLI's exit scenario).
pub fn provider_among<'a>(
    given: &str,
    present: impl IntoIterator<Item = &'a str>,
) -> Result<String, StoreError> {
    let mut known: Vec<String> = present.into_iter().map(str::to_owned).collect();
    if let Some(t) = TABLES.as_ref() {
        known.extend(t.provider_names().into_iter().map(str::to_owned));
    }
    canonical("provider", given, &known, &PROVIDER_ALIASES)
}

/// `filter` with every name canonical, or the first unknown one as an error. The pool role's
/// filters are refused elsewhere; its names are not checked (the list would disclose them).
pub fn check_filter(
    store: &dyn MapStore,
    scope: &Scope,
    mut filter: StoreFilter,
) -> Result<StoreFilter, StoreError> {
    if matches!(scope, Scope::Pool { .. }) {
        return Ok(filter);
    }
    let (regions, countries) = TABLES
        .as_ref()
        .map(ReferenceTables::region_codes_and_countries)
        .unwrap_or_default();
    let fields: [(&'static str, GroupField, &mut Vec<String>, Vec<&str>); 6] = [
        (
            "provider",
            GroupField::Provider,
            &mut filter.providers,
            Vec::new(),
        ),
        (
            "account",
            GroupField::Account,
            &mut filter.accounts,
            Vec::new(),
        ),
        ("region", GroupField::Region, &mut filter.regions, regions),
        (
            "country",
            GroupField::Country,
            &mut filter.countries,
            countries,
        ),
        (
            "classification",
            GroupField::Classification,
            &mut filter.classifications,
            Vec::new(),
        ),
        (
            "process",
            GroupField::Process,
            &mut filter.processes,
            Vec::new(),
        ),
    ];
    for (what, field, values, from_tables) in fields {
        if values.is_empty() {
            continue;
        }
        let mut known = present(store, scope, field)?;
        known.extend(from_tables.into_iter().map(str::to_owned));
        // The map's own words for "none" and "unknown" are always valid answers (0 or more).
        match field {
            GroupField::Classification => {
                known.extend([crate::map::UNCLASSIFIED, crate::map::UNKNOWN].map(str::to_owned));
            }
            GroupField::Process => {
                known.extend([crate::map::NO_PROCESS, crate::map::UNKNOWN].map(str::to_owned));
            }
            _ => {}
        }
        if field == GroupField::Provider
            && let Some(t) = TABLES.as_ref()
        {
            known.extend(t.provider_names().into_iter().map(str::to_owned));
        }
        for v in values.iter_mut() {
            *v = canonical(
                what,
                v,
                &known,
                if field == GroupField::Provider {
                    &PROVIDER_ALIASES
                } else {
                    &[]
                },
            )?;
        }
    }
    Ok(filter)
}

/// The names the caller's scope holds per filter field (tenants for the admin only), for
/// choices in the UI. Refused to the pool role: the names would disclose what one tenant has.
pub fn known_names(store: &dyn MapStore, scope: &Scope) -> Result<serde_json::Value, StoreError> {
    if matches!(scope, Scope::Pool { .. }) {
        return Err(StoreError::Forbidden(
            "the pool role reads aggregates only".into(),
        ));
    }
    let mut out = serde_json::Map::new();
    let mut fields = vec![
        ("provider", GroupField::Provider),
        ("account", GroupField::Account),
        ("region", GroupField::Region),
        ("country", GroupField::Country),
        ("classification", GroupField::Classification),
        ("process", GroupField::Process),
        ("kind", GroupField::Kind),
    ];
    if matches!(scope, Scope::AllTenants) {
        fields.push(("tenant", GroupField::Tenant));
    }
    for (name, field) in fields {
        let mut values: Vec<String> = present(store, scope, field)?
            .into_iter()
            .filter(|v| !v.is_empty())
            .collect();
        values.sort();
        values.dedup();
        out.insert(name.into(), serde_json::json!(values));
    }
    Ok(serde_json::Value::Object(out))
}

/// A tenant a report or a narrowing names: one with a scan, else an error listing those the
/// caller may name.
pub fn tenant_with_scans(
    store: &dyn MapStore,
    scope: &Scope,
    given: &str,
) -> Result<String, StoreError> {
    let known = present(store, scope, GroupField::Tenant)?;
    match canonical("tenant", given, &known, &[]) {
        Ok(t) => Ok(t),
        Err(_) => Err(StoreError::NoScans {
            tenant: given.to_owned(),
            known,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn case_and_aliases_are_accepted_and_anything_else_lists_the_known_names() {
        let k = known(&["aws", "microsoft-azure", "ovhcloud"]);
        assert_eq!(
            canonical("provider", "AWS", &k, &PROVIDER_ALIASES).unwrap(),
            "aws"
        );
        assert_eq!(
            canonical("provider", "azure", &k, &PROVIDER_ALIASES).unwrap(),
            "microsoft-azure"
        );
        let err = canonical("provider", "azrue", &k, &PROVIDER_ALIASES).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown provider \"azrue\"; known: aws, microsoft-azure, ovhcloud"
        );
        // An alias whose target is not known is not accepted either.
        assert!(canonical("provider", "google", &k, &PROVIDER_ALIASES).is_err());
    }
}
