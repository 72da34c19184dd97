//! What a [`StoreFilter`] means for one [`StoreView`], in memory: the same meaning the store
//! gives it in its queries. Used where views are filtered outside a query (change history,
//! live watches), by the store and the map alike.

use crate::Custody;
use crate::v1::{StoreFilter, StoreView};

/// Whether a view passes a filter.
pub fn matches(f: &StoreFilter, v: &StoreView) -> bool {
    let any = |list: &[String], value: &str| list.is_empty() || list.iter().any(|x| x == value);
    let rank = v.custody().rank();
    let known_custody = !matches!(v.custody(), Custody::Unknown | Custody::Unspecified);
    any(&f.providers, &v.provider)
        && any(&f.accounts, &v.account)
        && any(&f.regions, &v.region)
        && any(&f.countries, &v.country)
        && any(&f.classifications, &v.classification)
        && any(&f.processes, &v.process)
        && any(&f.kinds, &v.kind)
        // A yes/no filter selects known values only: unknown is never "no".
        && f.eu.is_none_or(|eu| v.eu_known() == Some(eu))
        && f.replicated_outside_eu
            .is_none_or(|r| v.replicated_outside_eu_known() == Some(r))
        && f.cloud_act.is_none_or(|c| v.cloud_act_exposed() == Some(c))
        && (f.custody_at_least() == Custody::Unspecified
            || (known_custody && rank >= f.custody_at_least().rank()))
        && (f.custody_at_most() == Custody::Unspecified
            || (known_custody && rank <= f.custody_at_most().rank()))
        && f.unknown.iter().all(|d| v.is_unknown(d))
}
