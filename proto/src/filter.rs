//! What a [`StoreFilter`] means for one [`StoreView`], in memory: the same meaning the store
//! gives it in its queries. Used where views are filtered outside a query (change history,
//! live watches), by the store and the map alike.

use crate::Custody;
use crate::v1::{StoreFilter, StoreView};

/// Whether a view passes a filter.
pub fn matches(f: &StoreFilter, v: &StoreView) -> bool {
    let any = |list: &[String], value: &str| list.is_empty() || list.iter().any(|x| x == value);
    let rank = v.custody().rank();
    any(&f.providers, &v.provider)
        && any(&f.accounts, &v.account)
        && any(&f.regions, &v.region)
        && any(&f.countries, &v.country)
        && any(&f.classifications, &v.classification)
        && any(&f.processes, &v.process)
        && any(&f.kinds, &v.kind)
        && f.eu.is_none_or(|eu| eu == v.eu)
        && f.replicated_outside_eu
            .is_none_or(|r| r == v.replicated_outside_eu)
        && f.cloud_act.is_none_or(|c| c == (v.cloud_act == "yes"))
        && (f.custody_at_least() == Custody::Unspecified || rank >= f.custody_at_least().rank())
        && (f.custody_at_most() == Custody::Unspecified || rank <= f.custody_at_most().rank())
}
