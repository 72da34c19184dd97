//! Keys: the vaults and managed HSMs of every planned subscription, listed once, and each
//! key URI read once per subscription (`Keys_Get`, `ManagedHsmKeys_Get`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use landmeter_proto::v1::{Fact, Key, fact};

use super::arm;
use super::calls;
use super::provider::VaultRef;
use super::subscription::Subscription;
use crate::providers::{CallFailure, new_fact};
use crate::sink::SinkClosed;

impl Subscription<'_> {
    /// Lists every planned subscription's vaults and managed HSMs once, by host.
    async fn vaults(&self) -> Result<&HashMap<String, VaultRef>, SinkClosed> {
        let mut pending: Vec<Fact> = Vec::new();
        let map = self
            .ctx
            .vaults
            .get_or_init(|| async {
                let mut map = HashMap::new();
                for sub in self.all_subscriptions {
                    for (kind, call, managed_hsm) in [
                        ("vaults", calls::LIST_VAULTS, false),
                        ("managedHSMs", calls::LIST_MANAGED_HSMS, true),
                    ] {
                        let url = self.ctx.arm.url(
                            &format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/{kind}"),
                            arm::KEYVAULT_API,
                        );
                        let (vaults, failure) = match url {
                            Ok(u) => self.ctx.arm.list::<arm::Vault>(u).await,
                            Err(f) => (Vec::new(), Some(f)),
                        };
                        for v in vaults {
                            let uri = if managed_hsm {
                                &v.properties.hsm_uri
                            } else {
                                &v.properties.vault_uri
                            };
                            if let Some(host) = host_of(uri) {
                                map.insert(
                                    host,
                                    VaultRef {
                                        id: v.id.clone(),
                                        location: v.location.clone(),
                                        subscription: sub.clone(),
                                        managed_hsm,
                                    },
                                );
                            }
                        }
                        if let Some(f) = failure {
                            // Reported once, on the subscription whose listing failed.
                            pending.push(new_fact(
                                sub,
                                sub,
                                call.name,
                                fact::Body::Gap(f.gap(call)),
                            ));
                        }
                    }
                }
                map
            })
            .await;
        for f in pending {
            self.gaps.fetch_add(1, Ordering::Relaxed);
            self.sink.push(f).await?;
        }
        Ok(map)
    }

    /// Reads a key once per subscription and scan; the fact's subject and `arn` are the
    /// versionless key URI.
    pub(super) async fn describe_key(&self, key_uri: &str) -> Result<(), SinkClosed> {
        let Some((host, name, versionless)) = parse_key_uri(key_uri) else {
            return Ok(());
        };
        {
            let mut done = self.ctx.keys_done.lock().await;
            if done
                .insert((self.id.to_owned(), versionless.clone()), ())
                .is_some()
            {
                return Ok(());
            }
        }
        let vaults = self.vaults().await?;
        let call_for = |managed_hsm| {
            if managed_hsm {
                calls::GET_MANAGED_HSM_KEY
            } else {
                calls::GET_KEY
            }
        };
        let Some(vault) = vaults.get(&host) else {
            let managed_hsm = host.contains(".managedhsm.");
            let f = CallFailure {
                code: Some("VaultNotFound".into()),
                message: format!(
                    "{host} is not among the key vaults and managed HSMs readable in the scanned subscriptions (another subscription or tenant)"
                ),
                status: Some(404),
                timeout: false,
            };
            return self.gap(&versionless, call_for(managed_hsm), &f).await;
        };
        let call = call_for(vault.managed_hsm);
        let url = match self
            .ctx
            .arm
            .url(&format!("{}/keys/{name}", vault.id), arm::KEYVAULT_API)
        {
            Ok(u) => u,
            Err(f) => return self.gap(&versionless, call, &f).await,
        };
        match self.ctx.arm.get::<arm::VaultKey>(url).await {
            Ok(k) => {
                let p = &k.properties;
                let key = Key {
                    arn: versionless.clone(),
                    key_account: vault.subscription.clone(),
                    region: vault.location.clone(),
                    key_manager: "CUSTOMER".to_owned(),
                    key_state: match p.attributes.enabled {
                        Some(false) => "Disabled".to_owned(),
                        _ => "Enabled".to_owned(),
                    },
                    key_spec: match (&p.key_size, &p.curve_name) {
                        (Some(size), _) => format!("{}-{size}", p.kty),
                        (None, Some(curve)) => format!("{}-{curve}", p.kty),
                        _ => p.kty.clone(),
                    },
                    requested_refs: vec![key_uri.to_owned()],
                    hsm_backed: vault.managed_hsm || p.kty.to_ascii_uppercase().ends_with("-HSM"),
                    key_type: p.kty.clone(),
                    key_service: if vault.managed_hsm {
                        "Microsoft.KeyVault/managedHSMs".to_owned()
                    } else {
                        "Microsoft.KeyVault/vaults".to_owned()
                    },
                    exportable: p.attributes.exportable.unwrap_or(false),
                    ..Key::default()
                };
                self.push(&versionless, call, fact::Body::Key(key)).await
            }
            Err(f) => self.gap(&versionless, call, &f).await,
        }
    }
}

/// `https://HOST/keys/NAME[/VERSION]` -> (lowercase host, name, versionless URI).
pub fn parse_key_uri(uri: &str) -> Option<(String, String, String)> {
    let rest = uri.strip_prefix("https://")?;
    let mut parts = rest.split('/');
    let host = parts.next()?.to_ascii_lowercase();
    if parts.next()? != "keys" {
        return None;
    }
    let name = parts.next().filter(|n| !n.is_empty())?.to_owned();
    let host = host.split(':').next().unwrap_or(&host).to_owned();
    let versionless = format!("https://{host}/keys/{name}");
    Some((host, name, versionless))
}

fn host_of(uri: &str) -> Option<String> {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let host = rest.split(['/', ':']).next()?.to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_uris_parse_with_and_without_version() {
        assert_eq!(
            parse_key_uri("https://myvault8569.vault.azure.net/keys/wrappingKey/0682afdd"),
            Some((
                "myvault8569.vault.azure.net".into(),
                "wrappingKey".into(),
                "https://myvault8569.vault.azure.net/keys/wrappingKey".into()
            ))
        );
        assert_eq!(
            parse_key_uri("https://Contoso.managedhsm.azure.net/keys/k1").map(|k| k.2),
            Some("https://contoso.managedhsm.azure.net/keys/k1".into())
        );
        assert_eq!(parse_key_uri("https://x.vault.azure.net/secrets/s"), None);
        assert_eq!(parse_key_uri("http://x.vault.azure.net/keys/k"), None);
    }
}
