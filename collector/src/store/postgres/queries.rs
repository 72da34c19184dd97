//! Operators' reads on PostgreSQL: stores (keyset pages), one store with the facts it rests
//! on, summaries, recorded changes. Every query is filtered by the caller's scope here again.

use prost::Message;
use tokio_postgres::types::ToSql;

use landmeter_proto::Custody;
use landmeter_proto::v1::{
    ChangeEvent, Fact, GetStoreResponse, Provenance, StoreFilter, StoreView, SummaryRow, fact::Body,
};

use super::{OTHER_CLAIMANTS, PostgresStore, view_from_row};
use crate::store::{
    Dimension, GroupField, QueryStore, Scope, StoreError, TenantCell, ViewDimension,
};

/// Changes read per round trip while filtering them for a watcher.
const CHANGES_CHUNK: i64 = 1_000;

impl QueryStore for PostgresStore {
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
        let mut out = Vec::new();
        let mut after = after_id;
        // In chunks: the filter is applied to the decoded events, so a selective filter may
        // need more rows than `limit`, but never the whole table at once.
        loop {
            let rows = self.query(
                "SELECT id, event FROM changes
                 WHERE at_ms >= $1 AND id > $2 AND ($3::text IS NULL OR tenant = $3)
                 ORDER BY id LIMIT $4",
                &[&since_ms, &after, &tenant, &CHANGES_CHUNK],
            )?;
            for row in &rows {
                let id: i64 = row.try_get(0)?;
                let body: &[u8] = row.try_get(1)?;
                after = id;
                let mut event = ChangeEvent::decode(body)?;
                event.id = id;
                if event
                    .store
                    .as_ref()
                    .is_some_and(|v| landmeter_proto::filter::matches(filter, v))
                {
                    out.push(event);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            if (rows.len() as i64) < CHANGES_CHUNK {
                return Ok(out);
            }
        }
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
            let a = w.bind(t.to_owned());
            let b = w.bind(id.to_owned());
            w.sql.push_str(&format!(" AND (tenant, id) > ({a}, {b})"));
        }
        let sql = format!(
            "SELECT tenant, id, view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id
             FROM stores WHERE {} ORDER BY tenant, id LIMIT {}",
            w.sql,
            page_size + 1
        );
        let rows = self.query(&sql, &w.params())?;
        let mut out = rows
            .iter()
            .map(view_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if out.len() > page_size {
            out.truncate(page_size);
            out.last()
                .map(|v| format!("{}\u{1f}{}", v.tenant, v.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok((out, next))
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
        w.eq("id", id.to_owned());
        let sql = format!(
            "SELECT tenant, id, account, name, view, first_seen_ms, last_seen_ms, gone_at_ms,
                    last_scan_id
             FROM stores WHERE {} ORDER BY tenant",
            w.sql
        );
        let mut found = self.query(&sql, &w.params())?;
        if found.len() > 1 {
            return Err(StoreError::AmbiguousStore {
                id: id.to_owned(),
                tenants: found.iter().map(|r| r.get("tenant")).collect(),
            });
        }
        let Some(row) = found.pop() else {
            return Ok(None);
        };
        let tenant: String = row.try_get("tenant")?;
        let account: String = row.try_get("account")?;
        let view = view_from_row(&row)?;
        // The facts the interpretation rests on: the store's own, and its keys' and key stores'.
        let mut subjects = vec![row.try_get::<_, String>("name")?];
        let mut facts = Vec::new();
        let mut i = 0;
        while i < subjects.len() {
            let rows = self.query(
                "SELECT body, scan_id, agent FROM facts
                 WHERE tenant = $1 AND account = $2 AND subject = $3 ORDER BY kind",
                &[&tenant, &account, &subjects[i]],
            )?;
            for r in rows {
                let body: &[u8] = r.try_get(0)?;
                let fact = Fact::decode(body)?;
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
                    scan_id: r.try_get(1)?,
                    agent: r.try_get(2)?,
                });
            }
            i += 1;
        }
        Ok(Some(GetStoreResponse {
            store: Some(view),
            facts,
        }))
    }

    fn summary(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        group_by: &[GroupField],
    ) -> Result<Vec<SummaryRow>, StoreError> {
        if let Scope::Pool { .. } = scope
            && group_by
                .iter()
                .any(|g| matches!(g, GroupField::Tenant | GroupField::Account))
        {
            return Err(StoreError::Forbidden(
                "the pool role cannot group or filter by tenant or account".into(),
            ));
        }
        let keys: Vec<&str> = group_by.iter().map(|g| g.sql_key()).collect();
        self.summary_rows(
            scope,
            filter,
            &keys,
            group_by.contains(&GroupField::Account),
        )
    }

    /// From the counts (migrations 0014, 0015): every dimension of the pool's release is a
    /// column of them, so no view is read.
    fn tenant_cells(&self, dimensions: &[Dimension]) -> Result<Vec<TenantCell>, StoreError> {
        let keys: Vec<&str> = dimensions
            .iter()
            .map(|d| match d {
                Dimension::Field(f) => f.sql_key(),
                Dimension::View(v) => view_sql_key(*v),
            })
            .collect();
        let n = keys.len();
        let w = Where::new(&Scope::AllTenants, &StoreFilter::default());
        let sql = format!(
            "SELECT tenant, {} SUM(n)::int8, SUM(bytes)::int8, SUM(without_size)::int8
             FROM {COUNTED_STORES} WHERE {} GROUP BY {} HAVING SUM(n) > 0",
            keys.iter().map(|k| format!("{k}, ")).collect::<String>(),
            w.sql,
            (1..=n + 1)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
        self.query(&sql, &w.params())?
            .iter()
            .map(|r| {
                let mut keys = Vec::with_capacity(n);
                for i in 1..=n {
                    keys.push(r.try_get::<_, Option<String>>(i)?.unwrap_or_default());
                }
                Ok(TenantCell {
                    tenant: r.try_get(0)?,
                    keys,
                    stores: r.try_get::<_, i64>(n + 1)? as u64,
                    bytes: r.try_get(n + 2)?,
                    stores_without_size: r.try_get::<_, i64>(n + 3)? as u64,
                })
            })
            .collect()
    }

    fn other_claimants(&self, tenant: &str, account: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .query(OTHER_CLAIMANTS, &[&account, &tenant])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}

impl PostgresStore {
    /// Summary rows keyed by the SQL expressions `keys` (over the columns of `stores`), with
    /// the scope's rules: the pool may not filter by account, and sees only rows over at
    /// least k tenants. Read from the summary counts unless the account is needed
    /// (`by_account`, or a filter on accounts), which only `stores` has.
    pub(super) fn summary_rows(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        keys: &[&str],
        by_account: bool,
    ) -> Result<Vec<SummaryRow>, StoreError> {
        let mut having = String::new();
        if let Scope::Pool { min_tenants } = scope {
            if !filter.accounts.is_empty() {
                return Err(StoreError::Forbidden(
                    "the pool role cannot group or filter by tenant or account".into(),
                ));
            }
            // A row over fewer than k tenants could identify one: it is left out.
            having = format!("HAVING COUNT(DISTINCT tenant) >= {min_tenants}");
        }
        let w = Where::new(scope, filter);
        let n = keys.len();
        let positions: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        let group = if keys.is_empty() {
            having
        } else {
            format!("GROUP BY {0} {having} ORDER BY {0}", positions.join(", "))
        };
        // The counts (migrations 0014, 0015) hold every dimension but the account: a summary
        // that needs no account reads them instead of every store.
        let sql = if by_account || !filter.accounts.is_empty() {
            format!(
                "SELECT {keys} COUNT(*), COALESCE(SUM(bytes), 0)::int8,
                        COUNT(*) FILTER (WHERE bytes IS NULL AND unknown_dims LIKE '%,size,%')
                 FROM stores WHERE {} {group}",
                w.sql,
                keys = keys.iter().map(|k| format!("{k}, ")).collect::<String>(),
            )
        } else {
            // Per tenant first, so that a combination whose stores all went nets out (and
            // counts no tenant for the pool's k).
            format!(
                "SELECT {outer} COALESCE(SUM(n), 0)::int8, COALESCE(SUM(bytes), 0)::int8,
                        COALESCE(SUM(without_size), 0)::int8
                 FROM (SELECT {keys} tenant, SUM(n) AS n, SUM(bytes) AS bytes,
                              SUM(without_size) AS without_size
                       FROM {COUNTED_STORES} WHERE {}
                       GROUP BY {inner} HAVING SUM(n) > 0) AS per_tenant {group}",
                w.sql,
                outer = (1..=n).map(|i| format!("k{i}, ")).collect::<String>(),
                keys = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("{k} AS k{}, ", i + 1))
                    .collect::<String>(),
                inner = positions
                    .iter()
                    .cloned()
                    .chain([(n + 1).to_string()])
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        };
        let rows = self.query(&sql, &w.params())?;
        rows.iter()
            .map(|r| {
                let mut keys = Vec::with_capacity(n);
                for i in 0..n {
                    keys.push(r.try_get::<_, Option<String>>(i)?.unwrap_or_default());
                }
                Ok(SummaryRow {
                    keys,
                    stores: r.try_get::<_, i64>(n)? as u64,
                    bytes: r.try_get(n + 1)?,
                    stores_without_size: r.try_get::<_, i64>(n + 2)? as u64,
                    withheld_cells: 0,
                })
            })
            .collect()
    }
}

/// The SQL key of a view dimension over the columns migration 0015 added (the same keys as
/// [`ViewDimension::key`]: an indicator with no level is "unknown").
pub(super) fn view_sql_key(dimension: ViewDimension) -> &'static str {
    match dimension {
        ViewDimension::ProviderParent => "provider_parent",
        ViewDimension::Sov2 => "COALESCE(sov2::text, 'unknown') COLLATE \"C\"",
        ViewDimension::Sov3 => "COALESCE(sov3::text, 'unknown') COLLATE \"C\"",
    }
}

/// The counts and the deltas not yet folded into them (migrations 0014 and 0015), under the
/// column names of `stores` that [`Where`], [`GroupField::sql_key`] and the view dimensions
/// use (`gone_at_ms` is NULL for a present store and an indicator NULL when unknown, as in
/// `stores`).
pub(super) const COUNTED_STORES: &str = "(SELECT tenant, provider, region, country, eu,
        jurisdiction, cloud_act, custody, custody_rank, classification, process, kind,
        replicated_outside_eu, unknown_dims, CASE WHEN gone THEN 0 END AS gone_at_ms, n, bytes,
        without_size, provider_parent, NULLIF(sov2, -1) AS sov2, NULLIF(sov3, -1) AS sov3
    FROM store_counts
    UNION ALL
    SELECT tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
        custody_rank, classification, process, kind, replicated_outside_eu, unknown_dims,
        CASE WHEN gone THEN 0 END, n, bytes, without_size, provider_parent, NULLIF(sov2, -1),
        NULLIF(sov3, -1)
    FROM store_count_deltas) AS stores";

/// A value bound to a `$n` placeholder of a [`Where`].
pub(super) enum Param {
    Text(String),
    Texts(Vec<String>),
    Bool(bool),
    Int(i32),
}

/// A WHERE clause and its parameters for a scope and a filter.
pub(super) struct Where {
    pub(super) sql: String,
    values: Vec<Param>,
}

impl Where {
    pub(super) fn new(scope: &Scope, filter: &StoreFilter) -> Self {
        let mut w = Where {
            sql: "TRUE".into(),
            values: Vec::new(),
        };
        if let Scope::Tenant(t) = scope {
            w.eq("tenant", t.clone());
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
            let p = w.bind_param(Param::Bool(eu));
            w.sql.push_str(&format!(" AND eu = {p} AND country <> ''"));
        }
        match filter.replicated_outside_eu {
            Some(true) => w.sql.push_str(" AND replicated_outside_eu"),
            Some(false) => w.sql.push_str(
                " AND NOT replicated_outside_eu AND unknown_dims NOT LIKE '%,replication,%'",
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
            let p = w.bind(format!("%,{name},%"));
            w.sql.push_str(&format!(" AND unknown_dims LIKE {p}"));
        }
        if filter.custody_at_least() != Custody::Unspecified
            || filter.custody_at_most() != Custody::Unspecified
        {
            w.sql
                .push_str(&format!(" AND custody_rank > {}", Custody::Unknown.rank()));
        }
        let at_least = filter.custody_at_least();
        if at_least != Custody::Unspecified {
            let p = w.bind_param(Param::Int(at_least.rank()));
            w.sql.push_str(&format!(" AND custody_rank >= {p}"));
        }
        let at_most = filter.custody_at_most();
        if at_most != Custody::Unspecified {
            let p = w.bind_param(Param::Int(at_most.rank()));
            w.sql.push_str(&format!(" AND custody_rank <= {p}"));
        }
        if !filter.include_gone {
            w.sql.push_str(" AND gone_at_ms IS NULL");
        }
        w
    }

    fn bind_param(&mut self, value: Param) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    /// Binds a text value; returns its placeholder.
    pub(super) fn bind(&mut self, value: String) -> String {
        self.bind_param(Param::Text(value))
    }

    pub(super) fn eq(&mut self, column: &str, value: String) {
        let p = self.bind(value);
        self.sql.push_str(&format!(" AND {column} = {p}"));
    }

    fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let p = self.bind_param(Param::Texts(values.to_vec()));
        self.sql.push_str(&format!(" AND {column} = ANY({p})"));
    }

    /// The parameters, in placeholder order.
    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| -> &(dyn ToSql + Sync) {
                match v {
                    Param::Text(s) => s,
                    Param::Texts(s) => s,
                    Param::Bool(b) => b,
                    Param::Int(i) => i,
                }
            })
            .collect()
    }
}
