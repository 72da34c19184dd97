//! Azure SQL Database: logical servers, their databases, TDE and the server's encryption
//! protector (Microsoft.Sql, api-version 2025-01-01; STORE-KINDS.md 8).
//!
//! The store is the database (the server holds settings, not data); `master` is skipped
//! (logins and metadata only, and TDE cannot encrypt it). Requests: per server the
//! databases (their listing carries backup redundancy, size, infrastructure encryption and a
//! database-level key) and the geo-replication links; per database TDE, the one thing no
//! listing carries (`Databases_ListByServer` takes no `$expand`); the server's protector
//! once, and only when a database with TDE on has no key of its own. A link makes the
//! secondary a read replica of the primary (both sides say so, with the partner's
//! location). A failover group (`FailoverGroups_ListByServer`, read only for a server one of
//! whose databases names a `failoverGroupId`) does the same for its databases with each
//! partner server's location, also when the links say nothing of them. Backups kept
//! geo-redundant (`Geo`, `GeoZone`) are a copy in `defaultSecondaryLocation`, else in the
//! region's pair.

use landmeter_proto::v1::{CopyKind, Encryption, EncryptionState, ReplicationRule, StoreKind};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::{Properties, Resource, SERVICE_SQL, arm_id, encrypted, normalize_region};
use crate::providers::azure::calls;
use crate::providers::azure::subscription::Subscription;
use crate::providers::{Call, CallFailure};
use crate::sink::SinkClosed;

pub const SQL_API: &str = "2025-01-01";

#[derive(Debug, Clone, Default, Deserialize)]
struct Server {
    id: String,
}

type Database = Resource<DatabaseProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DatabaseProperties {
    #[serde(default)]
    max_size_bytes: Option<i64>,
    #[serde(default)]
    current_backup_storage_redundancy: String,
    #[serde(default)]
    default_secondary_location: String,
    #[serde(default)]
    is_infra_encryption_enabled: bool,
    /// Per-database customer-managed key (a Key Vault key URI); wins over the server's.
    #[serde(default)]
    encryption_protector: String,
    /// The failover group the database is in (its resource id), when it is in one.
    #[serde(default)]
    failover_group_id: String,
}

/// A failover group of a server (`FailoverGroups_ListByServer`).
type FailoverGroup = Resource<FailoverGroupProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FailoverGroupProperties {
    /// This server's role in the group: Primary or Secondary.
    #[serde(default)]
    replication_role: String,
    #[serde(default)]
    replication_state: String,
    #[serde(default)]
    partner_servers: Vec<PartnerServer>,
    /// Resource ids of the databases in the group.
    #[serde(default)]
    databases: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartnerServer {
    #[serde(default)]
    id: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    replication_role: String,
}

impl FailoverGroup {
    /// Whether `db` is in this group: the group lists it, or it names the group.
    fn holds(&self, db: &Database) -> bool {
        let id = arm_id(&db.id);
        self.properties
            .databases
            .iter()
            .any(|d| arm_id(d).eq_ignore_ascii_case(&id))
            || (!db.properties.failover_group_id.is_empty()
                && arm_id(&db.properties.failover_group_id).eq_ignore_ascii_case(&arm_id(&self.id)))
    }

    /// The database of the same name on `partner` (a failover group keeps the names).
    fn partner_database(partner: &PartnerServer, db: &Database) -> String {
        format!("{}/databases/{}", arm_id(&partner.id), db.name)
    }

    fn this_is_primary(&self) -> bool {
        self.properties
            .replication_role
            .eq_ignore_ascii_case("Primary")
    }
}

type Protector = Properties<ProtectorProperties>;

/// The server's protector (serverKeyType, key URI), read at most once per server.
type ServerProtector = OnceCell<Result<(String, String), CallFailure>>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProtectorProperties {
    #[serde(default)]
    server_key_type: String,
    #[serde(default)]
    uri: String,
}

/// A geo-replication link (`ReplicationLinks_ListByServer`), listed under its database:
/// `…/databases/{db}/replicationLinks/{id}`.
type Link = Resource<LinkProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkProperties {
    #[serde(default)]
    partner_server: String,
    #[serde(default)]
    partner_database: String,
    #[serde(default)]
    partner_database_id: String,
    #[serde(default)]
    partner_location: String,
    /// This database's role: Primary, Secondary, NonReadableSecondary, Source, Copy.
    #[serde(default)]
    role: String,
    #[serde(default)]
    replication_state: String,
}

impl Link {
    /// The database the link is listed under, lowercase.
    fn database(&self) -> Option<String> {
        let lower = self.id.to_ascii_lowercase();
        let (_, rest) = lower.split_once("/databases/")?;
        rest.split('/').next().map(str::to_owned)
    }

    /// The partner's subject: its id, else built from the partner server's name (same
    /// resource group is not guaranteed, so the name form is only a fallback).
    fn partner(&self) -> String {
        let p = &self.properties;
        if p.partner_database_id.is_empty() {
            format!("{}/{}", p.partner_server, p.partner_database)
        } else {
            arm_id(&p.partner_database_id)
        }
    }

    fn this_is_primary(&self) -> bool {
        matches!(self.properties.role.as_str(), "Primary" | "Source")
    }
}

type Tde = Properties<TdeProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
struct TdeProperties {
    #[serde(default)]
    state: String,
}

impl Subscription<'_> {
    pub(super) async fn sql(&self) -> Result<u64, SinkClosed> {
        let servers: Vec<Server> = self
            .list_kind(
                StoreKind::Database,
                calls::LIST_SQL_SERVERS,
                &self.in_subscription("Microsoft.Sql/servers"),
                SQL_API,
            )
            .await?;
        let mut seen = 0;
        for server in &servers {
            seen += self.sql_server(&arm_id(&server.id)).await?;
        }
        Ok(seen)
    }

    async fn sql_server(&self, server: &str) -> Result<u64, SinkClosed> {
        let databases: Vec<Database> = self
            .list_kind(
                StoreKind::Database,
                calls::LIST_SQL_DATABASES,
                &format!("{server}/databases"),
                SQL_API,
            )
            .await?;
        let databases: Vec<&Database> = databases
            .iter()
            .filter(|d| !d.name.eq_ignore_ascii_case("master"))
            .collect();
        if databases.is_empty() {
            return Ok(0);
        }
        self.sink.stores_found(databases.len() as u64);
        let links = self
            .list_all::<Link>(&format!("{server}/replicationLinks"), SQL_API)
            .await;
        // Asked only where a database says it is in a failover group.
        let groups = if databases
            .iter()
            .any(|d| !d.properties.failover_group_id.is_empty())
        {
            self.list_all::<FailoverGroup>(&format!("{server}/failoverGroups"), SQL_API)
                .await
        } else {
            Ok(Vec::new())
        };
        let protector = ServerProtector::new();
        for db in &databases {
            let db_links: Result<Vec<&Link>, &CallFailure> = links.as_ref().map(|all| {
                all.iter()
                    .filter(|l| l.database().as_deref() == Some(&db.name.to_ascii_lowercase()))
                    .collect()
            });
            let db_groups: Result<Vec<&FailoverGroup>, &CallFailure> = match &groups {
                Ok(all) => Ok(all.iter().filter(|g| g.holds(db)).collect()),
                // A failed listing matters only to a database in a group.
                Err(_) if db.properties.failover_group_id.is_empty() => Ok(Vec::new()),
                Err(f) => Err(f),
            };
            self.sql_database(server, db, &protector, db_links, db_groups)
                .await?;
        }
        Ok(databases.len() as u64)
    }

    /// The server's current protector: (serverKeyType, key URI).
    async fn sql_protector(&self, server: &str) -> Result<(String, String), CallFailure> {
        let protectors: Vec<Protector> = self
            .list_all(&format!("{server}/encryptionProtector"), SQL_API)
            .await?;
        // The listing has one item, `current`.
        let p = protectors.into_iter().next().unwrap_or_default().properties;
        Ok((p.server_key_type, p.uri))
    }

    async fn sql_database(
        &self,
        server: &str,
        db: &Database,
        protector: &ServerProtector,
        links: Result<Vec<&Link>, &CallFailure>,
        groups: Result<Vec<&FailoverGroup>, &CallFailure>,
    ) -> Result<(), SinkClosed> {
        let call = calls::LIST_SQL_DATABASES;
        let mut s = db.store(
            &self.ctx.provider,
            SERVICE_SQL,
            StoreKind::Database,
            "Databases_ListByServer.location",
        );
        s.engine = "SQLServer".to_owned();
        // A geo-secondary is a read replica of its primary.
        if let Ok(links) = &links
            && let Some(primary) = links.iter().find(|l| !l.this_is_primary())
        {
            s.copy_of = primary.partner();
            s.copy_kind = CopyKind::ReadReplica as i32;
            s.copy_of_region = normalize_region(&primary.properties.partner_location);
        }
        // A secondary of a failover group: a copy of the primary server's database.
        if s.copy_of.is_empty()
            && let Ok(groups) = &groups
            && let Some(partner) = groups
                .iter()
                .filter(|g| !g.this_is_primary())
                .flat_map(|g| g.properties.partner_servers.iter())
                .find(|p| p.replication_role.eq_ignore_ascii_case("Primary"))
        {
            s.copy_of = FailoverGroup::partner_database(partner, db);
            s.copy_kind = CopyKind::ReadReplica as i32;
            s.copy_of_region = normalize_region(&partner.location);
        }
        let subject = s.name.clone();
        let region = s.region.clone();
        let encryption = match self.sql_encryption(server, db, protector).await {
            Ok(e) => Some(e),
            Err((failed, f)) => {
                self.gap(&subject, failed, &f).await?;
                None
            }
        };
        self.push_store(call, s, &db.tags, encryption).await?;
        let p = &db.properties;
        let redundancy = p.current_backup_storage_redundancy.as_str();
        match links {
            // Not knowing the replicas leaves the copies unknown, whatever the backups say.
            Err(f) => {
                self.gap(&subject, calls::LIST_SQL_REPLICATION_LINKS, f)
                    .await?
            }
            Ok(links)
                if !redundancy.is_empty()
                    || !links.is_empty()
                    || !matches!(&groups, Ok(g) if g.is_empty()) =>
            {
                let mut rules: Vec<ReplicationRule> = links
                    .iter()
                    .filter(|l| l.this_is_primary())
                    .map(|l| ReplicationRule {
                        id: l.id.clone(),
                        status: l.properties.replication_state.clone(),
                        destination_bucket: l.partner(),
                        destination_region: normalize_region(&l.properties.partner_location),
                        copy_kind: CopyKind::ReadReplica as i32,
                        ..ReplicationRule::default()
                    })
                    .collect();
                // The failover groups' partners this database is copied to, unless a link
                // named the same copy.
                for g in groups.iter().flatten().filter(|g| g.this_is_primary()) {
                    for partner in &g.properties.partner_servers {
                        let copy = FailoverGroup::partner_database(partner, db);
                        if rules
                            .iter()
                            .any(|r| r.destination_bucket.eq_ignore_ascii_case(&copy))
                        {
                            continue;
                        }
                        rules.push(ReplicationRule {
                            id: arm_id(&g.id),
                            status: g.properties.replication_state.clone(),
                            destination_bucket: copy,
                            destination_region: normalize_region(&partner.location),
                            copy_kind: CopyKind::ReadReplica as i32,
                            ..ReplicationRule::default()
                        });
                    }
                }
                if matches!(redundancy, "Geo" | "GeoZone") {
                    rules.push(
                        self.geo_copy(&subject, &region, &p.default_secondary_location, redundancy)
                            .await?,
                    );
                }
                // Local or Zone: the backups stay in the database's region.
                self.push_copies(&subject, call, rules).await?;
                // Its failover groups could not be read: the copies above are known, the
                // rest unknown (never "no other copy").
                if let Err(f) = groups {
                    self.gap(&subject, calls::LIST_SQL_FAILOVER_GROUPS, f)
                        .await?;
                }
            }
            Ok(_) => {}
        }
        self.push_allocated(&subject, call, p.max_size_bytes)
            .await?;
        self.sink.store_done();
        Ok(())
    }

    async fn sql_encryption(
        &self,
        server: &str,
        db: &Database,
        protector: &ServerProtector,
    ) -> Result<Encryption, (&'static Call, CallFailure)> {
        let tde: Tde = self
            .get_at(
                &format!("{}/transparentDataEncryption/current", arm_id(&db.id)),
                SQL_API,
                &[],
            )
            .await
            .map_err(|f| (calls::GET_SQL_TDE, f))?;
        let double = db.properties.is_infra_encryption_enabled;
        if tde.properties.state.eq_ignore_ascii_case("Disabled") {
            return Ok(Encryption {
                state: EncryptionState::Disabled as i32,
                algorithm: "TransparentDataEncryption.state=Disabled".to_owned(),
                ..Encryption::default()
            });
        }
        if !db.properties.encryption_protector.is_empty() {
            return Ok(encrypted(
                "AzureKeyVault (database)",
                &db.properties.encryption_protector,
                double,
            ));
        }
        match protector.get_or_init(|| self.sql_protector(server)).await {
            Ok((key_type, uri)) if key_type.eq_ignore_ascii_case("AzureKeyVault") => {
                Ok(encrypted(key_type, uri, double))
            }
            Ok((key_type, _)) => Ok(encrypted(
                if key_type.is_empty() {
                    "ServiceManaged"
                } else {
                    key_type
                },
                "",
                double,
            )),
            Err(f) => Err((calls::LIST_SQL_ENCRYPTION_PROTECTORS, f.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_protector_and_tde() {
        // az-specs Microsoft.Sql/stable/2025-01-01/examples/EncryptionProtectorList.json.
        let json = r#"{"value": [{"id": "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/sqlcrudtest-7398/providers/Microsoft.Sql/servers/sqlcrudtest-4645/encryptionProtector/current",
            "name": "current", "type": "Microsoft.Sql/servers/encryptionProtector", "location": "Japan East", "kind": "azurekeyvault",
            "properties": {"serverKeyName": "someVault_someKey_01234567890123456789012345678901", "serverKeyType": "AzureKeyVault",
            "uri": "https://someVault.vault.azure.net/keys/someKey/01234567890123456789012345678901"}}]}"#;
        let page: crate::providers::azure::arm::Page<Protector> =
            serde_json::from_str(json).expect("parses");
        assert_eq!(page.value[0].properties.server_key_type, "AzureKeyVault");
        // az-specs …/2025-01-01/examples/TransparentDataEncryptionGet.json.
        let tde: Tde = serde_json::from_str(
            r#"{"name": "current", "properties": {"state": "Enabled", "scanState": "Suspend"}}"#,
        )
        .expect("tde");
        assert_eq!(tde.properties.state, "Enabled");
    }

    #[test]
    fn a_failover_group_holds_its_databases_and_names_partners() {
        // Shape of az-specs Microsoft.Sql …/examples/FailoverGroupList.json (one item).
        let page: crate::providers::azure::arm::Page<FailoverGroup> = serde_json::from_str(
            r#"{"value": [{"location": "Japan East",
                "properties": {"readWriteEndpoint": {"failoverPolicy": "Automatic", "failoverWithDataLossGracePeriodMinutes": 480},
                  "readOnlyEndpoint": {"failoverPolicy": "Disabled"}, "replicationRole": "Primary", "replicationState": "CATCH_UP",
                  "partnerServers": [{"id": "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/Default/providers/Microsoft.Sql/servers/failover-group-secondary-server",
                                      "location": "Japan West", "replicationRole": "Secondary"}],
                  "databases": ["/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/Default/providers/Microsoft.Sql/servers/failover-group-primary-server/databases/testdb-1"]},
                "id": "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/Default/providers/Microsoft.Sql/servers/failover-group-primary-server/failoverGroups/failover-group-test",
                "name": "failover-group-test", "type": "Microsoft.Sql/servers/failoverGroups"}]}"#,
        )
        .expect("parses");
        let g = &page.value[0];
        assert!(g.this_is_primary());
        let db = |id: &str, group: &str| Database {
            id: id.to_owned(),
            name: id.rsplit('/').next().unwrap_or_default().to_owned(),
            properties: DatabaseProperties {
                failover_group_id: group.to_owned(),
                ..DatabaseProperties::default()
            },
            ..Database::default()
        };
        let server = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/Default/providers/Microsoft.Sql/servers/failover-group-primary-server";
        let listed = db(&format!("{server}/DATABASES/TESTDB-1"), "");
        assert!(g.holds(&listed), "listed by the group, whatever the case");
        let naming = db(&format!("{server}/databases/testdb-2"), &g.id);
        assert!(g.holds(&naming), "names the group");
        assert!(!g.holds(&db(&format!("{server}/databases/other"), "")));
        let partner = &g.properties.partner_servers[0];
        assert_eq!(normalize_region(&partner.location), "japanwest");
        assert!(
            FailoverGroup::partner_database(partner, &naming)
                .ends_with("/servers/failover-group-secondary-server/databases/testdb-2")
        );
    }

    #[test]
    fn a_link_belongs_to_its_database_and_names_its_partner() {
        let link: Link = serde_json::from_str(
            r#"{"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Sql/servers/a/databases/Payroll/replicationLinks/5b30",
                "properties": {"partnerServer": "b", "partnerDatabase": "payroll", "partnerLocation": "East US",
                               "role": "Secondary", "partnerRole": "Primary", "linkType": "GEO"}}"#,
        )
        .expect("link");
        assert_eq!(link.database().as_deref(), Some("payroll"));
        assert!(!link.this_is_primary());
        assert_eq!(link.partner(), "b/payroll", "no id: the partner's names");
    }
}
