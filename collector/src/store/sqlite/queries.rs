//! Operators' reads on SQLite: stores (keyset pages), one store with the facts it rests on,
//! summaries, recorded changes. Every query is filtered by the caller's scope here again.

use prost::Message;
use rusqlite::{params, params_from_iter};

use landmeter_proto::Custody;
use landmeter_proto::v1::{
    ChangeEvent, Fact, GetStoreResponse, Provenance, StoreFilter, StoreView, SummaryRow, fact::Body,
};

use super::{SqliteStore, other_claimants, view_from_row};
use crate::store::{GroupField, QueryStore, Scope, StoreError};

impl QueryStore for SqliteStore {
    fn list_changes(
        &self,
        scope: &Scope,
        since_ms: i64,
        after_id: i64,
        limit: usize,
        filter: &StoreFilter,
    ) -> Result<Vec<ChangeEvent>, StoreError> {
        let tenant = match scope {
            Scope::AllTenants => None,
            Scope::Tenant(t) => Some(t.clone()),
            Scope::Pool { .. } => {
                return Err(StoreError::Forbidden(
                    "the pool role reads aggregates only".into(),
                ));
            }
        };
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, event FROM changes
                 WHERE at_ms >= ?1 AND id > ?2 AND (?3 IS NULL OR tenant = ?3)
                 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![since_ms, after_id, tenant], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, body) = row?;
                let mut event = ChangeEvent::decode(body.as_slice())?;
                // The id is assigned by the insert, after the event was encoded.
                event.id = id;
                if event
                    .store
                    .as_ref()
                    .is_some_and(|v| landmeter_proto::filter::matches(filter, v))
                {
                    out.push(event);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    fn list_stores(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        page_size: usize,
        page_token: &str,
    ) -> Result<(Vec<StoreView>, String), StoreError> {
        if let Scope::Pool { .. } = scope {
            return Err(StoreError::Forbidden(
                "the pool role reads aggregates only".into(),
            ));
        }
        let mut w = Where::new(scope, filter);
        // Keyset pagination on (tenant, id): stable under concurrent writes, no OFFSET scans.
        if !page_token.is_empty() {
            let (t, id) = page_token
                .split_once('\u{1f}')
                .ok_or(StoreError::BadPageToken)?;
            w.params.push(rusqlite::types::Value::Text(t.to_owned()));
            w.params.push(rusqlite::types::Value::Text(id.to_owned()));
            let n = w.params.len();
            w.sql
                .push_str(&format!(" AND (tenant, id) > (?{}, ?{n})", n - 1));
        }
        let sql = format!(
            "SELECT tenant, id, view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id
             FROM stores WHERE {} ORDER BY tenant, id LIMIT {}",
            w.sql,
            page_size + 1
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query_map(params_from_iter(w.params.iter()), view_from_row)?;
            let mut out = Vec::new();
            for row in rows.by_ref() {
                out.push(row??);
            }
            let next = if out.len() > page_size {
                out.truncate(page_size);
                out.last()
                    .map(|v| format!("{}\u{1f}{}", v.tenant, v.id))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            Ok((out, next))
        })
    }

    fn get_store(&self, scope: &Scope, id: &str) -> Result<Option<GetStoreResponse>, StoreError> {
        if let Scope::Pool { .. } = scope {
            return Err(StoreError::Forbidden(
                "the pool role reads aggregates only".into(),
            ));
        }
        let filter = StoreFilter {
            include_gone: true,
            ..StoreFilter::default()
        };
        let mut w = Where::new(scope, &filter);
        w.eq("id", rusqlite::types::Value::Text(id.to_owned()));
        let sql = format!(
            "SELECT tenant, id, account, name, view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id
             FROM stores WHERE {} ORDER BY tenant",
            w.sql
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut found: Vec<_> = stmt
                .query_map(params_from_iter(w.params.iter()), |r| {
                    Ok((
                        r.get::<_, String>("tenant")?,
                        r.get::<_, String>("account")?,
                        r.get::<_, String>("name")?,
                        view_from_row(r)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            if found.len() > 1 {
                return Err(StoreError::AmbiguousStore {
                    id: id.to_owned(),
                    tenants: found.into_iter().map(|f| f.0).collect(),
                });
            }
            let Some((tenant, account, name, view)) = found.pop() else {
                return Ok(None);
            };
            let view = view?;
            // The facts the interpretation rests on: the store's own, and its keys' and key stores'.
            let mut subjects = vec![name];
            let mut stmt = c.prepare_cached(
                "SELECT body, scan_id, agent FROM facts
                 WHERE tenant = ?1 AND account = ?2 AND subject = ?3 ORDER BY kind",
            )?;
            let mut facts = Vec::new();
            let mut i = 0;
            while i < subjects.len() {
                let rows = stmt.query_map(params![tenant, account, subjects[i]], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?;
                for row in rows {
                    let (body, scan_id, agent) = row?;
                    let fact = Fact::decode(body.as_slice())?;
                    // Follow the references: encryption -> key (or its failed lookup) -> key store.
                    let refs: Vec<&String> = match &fact.body {
                        Some(Body::Encryption(e)) => vec![&e.key_ref, &e.resolved_key_arn],
                        Some(Body::Key(k)) => vec![&k.custom_key_store_id],
                        _ => vec![],
                    };
                    for r in refs {
                        if !r.is_empty() && !subjects.contains(r) {
                            subjects.push(r.clone());
                        }
                    }
                    facts.push(Provenance {
                        fact: Some(fact),
                        scan_id,
                        agent,
                    });
                }
                i += 1;
            }
            Ok(Some(GetStoreResponse {
                store: Some(view),
                facts,
            }))
        })
    }

    fn summary(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        group_by: &[GroupField],
    ) -> Result<Vec<SummaryRow>, StoreError> {
        let mut having = String::new();
        if let Scope::Pool { min_tenants } = scope {
            if group_by
                .iter()
                .any(|g| matches!(g, GroupField::Tenant | GroupField::Account))
                || !filter.accounts.is_empty()
            {
                return Err(StoreError::Forbidden(
                    "the pool role cannot group or filter by tenant or account".into(),
                ));
            }
            // A row over fewer than k tenants could identify one: it is left out.
            having = format!("HAVING COUNT(DISTINCT tenant) >= {min_tenants}");
        }
        let w = Where::new(scope, filter);
        let columns: Vec<&str> = group_by.iter().map(|g| g.sql_key()).collect();
        let select_keys = if columns.is_empty() {
            String::new()
        } else {
            format!("{}, ", columns.join(", "))
        };
        let group = if columns.is_empty() {
            having
        } else {
            let positions: Vec<String> = (1..=columns.len()).map(|i| i.to_string()).collect();
            format!("GROUP BY {0} {having} ORDER BY {0}", positions.join(", "))
        };
        let sql = format!(
            "SELECT {select_keys} COUNT(*), COALESCE(SUM(bytes), 0),
                    SUM(bytes IS NULL AND unknown_dims LIKE '%,size,%')
             FROM stores WHERE {} {group}",
            w.sql
        );
        let n = columns.len();
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(w.params.iter()), |r| {
                let mut keys = Vec::with_capacity(n);
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    keys.push(match v {
                        rusqlite::types::Value::Text(s) => s,
                        rusqlite::types::Value::Integer(i) => i.to_string(),
                        rusqlite::types::Value::Null => String::new(),
                        other => format!("{other:?}"),
                    });
                }
                Ok(SummaryRow {
                    keys,
                    stores: r.get::<_, i64>(n)? as u64,
                    bytes: r.get(n + 1)?,
                    stores_without_size: r.get::<_, Option<i64>>(n + 2)?.unwrap_or(0) as u64,
                    withheld_cells: 0,
                })
            })?;
            let rows: Vec<SummaryRow> = rows.collect::<Result<_, _>>()?;
            // An empty map summarised without grouping still has one row of zeros; keep it.
            Ok(rows)
        })
    }

    fn other_claimants(&self, tenant: &str, account: &str) -> Result<Vec<String>, StoreError> {
        self.read(|c| other_claimants(c, tenant, account))
    }
}

/// A WHERE clause and its parameters for a scope and a filter.
pub(super) struct Where {
    pub(super) sql: String,
    pub(super) params: Vec<rusqlite::types::Value>,
}

impl Where {
    pub(super) fn new(scope: &Scope, filter: &StoreFilter) -> Self {
        use rusqlite::types::Value;
        let mut w = Where {
            sql: "1 = 1".into(),
            params: Vec::new(),
        };
        if let Scope::Tenant(t) = scope {
            w.eq("tenant", Value::Text(t.clone()));
        }
        w.any_of("provider", &filter.providers);
        w.any_of("account", &filter.accounts);
        w.any_of("region", &filter.regions);
        w.any_of("country", &filter.countries);
        w.any_of("classification", &filter.classifications);
        w.any_of("process", &filter.processes);
        w.any_of("kind", &filter.kinds);
        // A yes/no filter selects known values only (unknown is never "no"); the meaning is
        // landmeter_proto::filter::matches's, which the conformance suite holds us to.
        if let Some(eu) = filter.eu {
            w.eq("eu", Value::Integer(eu.into()));
            w.sql.push_str(" AND country <> ''");
        }
        match filter.replicated_outside_eu {
            Some(true) => w.sql.push_str(" AND replicated_outside_eu = 1"),
            Some(false) => w.sql.push_str(
                " AND replicated_outside_eu = 0 AND unknown_dims NOT LIKE '%,replication,%'",
            ),
            None => {}
        }
        if let Some(ca) = filter.cloud_act {
            // "unclear" is exposed until a lawyer says otherwise.
            w.sql.push_str(if ca {
                " AND cloud_act IN ('yes', 'unclear')"
            } else {
                " AND cloud_act = 'no'"
            });
        }
        for dimension in &filter.unknown {
            // Dimension names have no LIKE wildcards; any in the input are dropped.
            let name = dimension.replace(['%', '_'], "");
            w.params.push(Value::Text(format!("%,{name},%")));
            w.sql
                .push_str(&format!(" AND unknown_dims LIKE ?{}", w.params.len()));
        }
        let known_custody = Custody::Unknown.rank();
        if filter.custody_at_least() != Custody::Unspecified
            || filter.custody_at_most() != Custody::Unspecified
        {
            w.sql
                .push_str(&format!(" AND custody_rank > {known_custody}"));
        }
        let at_least = filter.custody_at_least();
        if at_least != Custody::Unspecified {
            w.params.push(Value::Integer(at_least.rank().into()));
            w.sql
                .push_str(&format!(" AND custody_rank >= ?{}", w.params.len()));
        }
        let at_most = filter.custody_at_most();
        if at_most != Custody::Unspecified {
            w.params.push(Value::Integer(at_most.rank().into()));
            w.sql
                .push_str(&format!(" AND custody_rank <= ?{}", w.params.len()));
        }
        if !filter.include_gone {
            w.sql.push_str(" AND gone_at_ms IS NULL");
        }
        w
    }

    fn eq(&mut self, column: &str, value: rusqlite::types::Value) {
        self.params.push(value);
        self.sql
            .push_str(&format!(" AND {column} = ?{}", self.params.len()));
    }

    fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let mut marks = Vec::with_capacity(values.len());
        for v in values {
            self.params.push(rusqlite::types::Value::Text(v.clone()));
            marks.push(format!("?{}", self.params.len()));
        }
        self.sql
            .push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
    }
}
