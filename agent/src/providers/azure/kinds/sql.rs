//! Azure SQL Database: logical servers, their databases, TDE and the server's encryption
//! protector (Microsoft.Sql, api-version 2025-01-01; STORE-KINDS.md 8).
//!
//! The store is the database (the server holds settings, not data); `master` is skipped
//! (logins and metadata only, and TDE cannot encrypt it). Per server: the databases and the
//! protector; per database: TDE. Backups kept geo-redundant (`Geo`, `GeoZone`) are a copy in
//! `defaultSecondaryLocation`, else in the region's pair.

use std::collections::BTreeMap;

use landmeter_proto::v1::{Encryption, EncryptionState, Size, StoreKind, fact};
use serde::Deserialize;

use super::{SERVICE_SQL, encrypted, store};
use crate::providers::azure::calls;
use crate::providers::azure::subscription::Subscription;
use crate::providers::{Call, CallFailure};
use crate::sink::SinkClosed;

pub const SQL_API: &str = "2025-01-01";

#[derive(Debug, Clone, Default, Deserialize)]
struct Server {
    id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Database {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    sku: Option<super::disks::NamedSku>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    properties: DatabaseProperties,
}

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
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Protector {
    #[serde(default)]
    properties: ProtectorProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProtectorProperties {
    #[serde(default)]
    server_key_type: String,
    #[serde(default)]
    uri: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Tde {
    #[serde(default)]
    properties: TdeProperties,
}

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
                &format!("/subscriptions/{}/providers/Microsoft.Sql/servers", self.id),
                SQL_API,
            )
            .await?;
        let mut seen = 0;
        for server in &servers {
            seen += self.sql_server(server).await?;
        }
        Ok(seen)
    }

    async fn sql_server(&self, server: &Server) -> Result<u64, SinkClosed> {
        let databases: Vec<Database> = self
            .list_kind(
                StoreKind::Database,
                calls::LIST_SQL_DATABASES,
                &format!("{}/databases", super::arm_id(&server.id)),
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
        let protector = self.sql_protector(server).await;
        for db in &databases {
            self.sql_database(db, &protector).await?;
        }
        Ok(databases.len() as u64)
    }

    /// The server's current protector: (serverKeyType, key URI).
    async fn sql_protector(&self, server: &Server) -> Result<(String, String), CallFailure> {
        let url = self.ctx.arm.url(
            &format!("{}/encryptionProtector", super::arm_id(&server.id)),
            SQL_API,
        )?;
        let (protectors, failure) = self.ctx.arm.list::<Protector>(url).await;
        if let Some(f) = failure {
            return Err(f);
        }
        // The listing has one item, `current`.
        let p = protectors.into_iter().next().unwrap_or_default().properties;
        Ok((p.server_key_type, p.uri))
    }

    async fn sql_database(
        &self,
        db: &Database,
        protector: &Result<(String, String), CallFailure>,
    ) -> Result<(), SinkClosed> {
        let call = calls::LIST_SQL_DATABASES;
        let mut s = store(
            &self.ctx.provider,
            SERVICE_SQL,
            StoreKind::Database,
            &db.id,
            &db.location,
            "Databases_ListByServer.location",
        );
        s.engine = "SQLServer".to_owned();
        s.sku = db.sku.as_ref().map(|k| k.name.clone()).unwrap_or_default();
        let subject = s.name.clone();
        let region = s.region.clone();
        let encryption = match self.sql_encryption(db, protector).await {
            Ok(e) => Some(e),
            Err((failed, f)) => {
                self.gap(&subject, failed, &f).await?;
                None
            }
        };
        self.push_store(call, s, &db.tags, encryption).await?;
        let p = &db.properties;
        let redundancy = p.current_backup_storage_redundancy.as_str();
        if !redundancy.is_empty() {
            let rules = if matches!(redundancy, "Geo" | "GeoZone") {
                vec![
                    self.geo_copy(&subject, &region, &p.default_secondary_location, redundancy)
                        .await?,
                ]
            } else {
                // Local or Zone: the backups stay in the database's region.
                Vec::new()
            };
            self.push_copies(&subject, call, rules).await?;
        }
        if let Some(max) = p.max_size_bytes.filter(|b| *b > 0) {
            self.push(
                &subject,
                call,
                fact::Body::Size(Size {
                    allocated_bytes: Some(max),
                    ..Size::default()
                }),
            )
            .await?;
        }
        self.sink.store_done();
        Ok(())
    }

    async fn sql_encryption(
        &self,
        db: &Database,
        protector: &Result<(String, String), CallFailure>,
    ) -> Result<Encryption, (&'static Call, CallFailure)> {
        let url = self
            .ctx
            .arm
            .url(
                &format!(
                    "{}/transparentDataEncryption/current",
                    super::arm_id(&db.id)
                ),
                SQL_API,
            )
            .map_err(|f| (calls::GET_SQL_TDE, f))?;
        let tde = self
            .ctx
            .arm
            .get::<Tde>(url)
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
        match protector {
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
}
