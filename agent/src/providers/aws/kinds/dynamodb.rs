//! DynamoDB: `ListTables`, then per table `DescribeTable` (key, size, replicas) and
//! `ListTagsOfResource`. Tables are always encrypted: no `SSEDescription` (or no KMS type)
//! is the AWS owned key.

use futures::{StreamExt, stream};
use landmeter_proto::v1::{CopyKind, StoreKind};

use super::super::account::AccountScan;
use super::super::calls;
use super::super::sdk::failure;
use super::{KindsOutcome, configured, millis, stored};
use crate::providers::CallFailure;
use crate::sink::SinkClosed;

const SERVICE: &str = "dynamodb";

impl AccountScan<'_> {
    pub(super) async fn dynamodb(&self, region: &str) -> Result<KindsOutcome, SinkClosed> {
        let client = self.dynamodb_client(region);
        let names = match list_tables(&client).await {
            Ok(names) => names,
            Err(failed) => {
                self.listing_gap(StoreKind::Table, region, calls::LIST_TABLES, &failed)
                    .await?;
                return Ok(KindsOutcome::default());
            }
        };
        self.sink.stores_found(names.len() as u64);
        let mut out = KindsOutcome::default();
        let client = &client;
        let mut done = stream::iter(&names)
            .map(|name| self.dynamodb_table(client, region, name))
            .buffer_unordered(self.settings.concurrency);
        while let Some(part) = done.next().await {
            out.merge(part?);
        }
        Ok(out)
    }

    async fn dynamodb_table(
        &self,
        client: &aws_sdk_dynamodb::Client,
        region: &str,
        name: &str,
    ) -> Result<KindsOutcome, SinkClosed> {
        let mut out = KindsOutcome::default();
        let built = self.arn(SERVICE, region, &format!("table/{name}"));
        let described = {
            let _permit = self.permits.acquire().await.ok();
            client.describe_table().table_name(name).send().await
        };
        let call = calls::DESCRIBE_TABLE;
        let table = match described {
            Ok(answer) => answer.table().cloned(),
            Err(err) => {
                // Listed, so it exists here; what it holds and under which key is unknown.
                let store = self.kind_store(
                    SERVICE,
                    StoreKind::Table,
                    &built,
                    region,
                    calls::LIST_TABLES,
                );
                self.emit_store(calls::LIST_TABLES, store).await?;
                self.gap(&built, call, &failure(&err)).await?;
                return Ok(out);
            }
        };
        let Some(table) = table else {
            let store = self.kind_store(
                SERVICE,
                StoreKind::Table,
                &built,
                region,
                calls::LIST_TABLES,
            );
            self.emit_store(calls::LIST_TABLES, store).await?;
            let failed = CallFailure {
                message: "DescribeTable answered without a Table".to_owned(),
                ..CallFailure::default()
            };
            return self.gap(&built, call, &failed).await.map(|()| out);
        };
        let arn = table
            .table_arn()
            .filter(|a| !a.is_empty())
            .map_or(built, str::to_owned);
        let mut store = self.kind_store(SERVICE, StoreKind::Table, &arn, region, call);
        store.created_at_ms = millis(table.creation_date_time());
        self.emit_store(call, store).await?;

        let sse = table.sse_description();
        let encryption = match sse.and_then(|s| s.sse_type()).map(|t| t.as_str()) {
            Some("KMS") => configured("KMS", sse.and_then(|s| s.kms_master_key_arn())),
            // No SSEDescription, or not KMS: the AWS owned key ("DEFAULT" in the console).
            other => configured(other.unwrap_or("DEFAULT"), None),
        };
        out.encryption(&arn, region, call, encryption);
        if let Some(bytes) = table.table_size_bytes() {
            self.emit_size(
                &arn,
                call,
                stored("Stored", bytes, table.item_count().unwrap_or_default()),
            )
            .await?;
        }
        // Global table replicas: the same table in each other region.
        let rules = table
            .replicas()
            .iter()
            .filter_map(|r| {
                let replica_region = r.region_name().filter(|n| *n != region)?;
                let replica = r.replica_arn().filter(|a| !a.is_empty()).map_or_else(
                    || self.arn(SERVICE, replica_region, &format!("table/{name}")),
                    str::to_owned,
                );
                let mut rule = self.copy_rule(
                    &replica,
                    CopyKind::MultiRegion,
                    r.replica_status().map(|s| s.as_str()).unwrap_or_default(),
                );
                rule.destination_region = replica_region.to_owned();
                Some(rule)
            })
            .collect();
        self.emit_replication(&arn, call, rules).await?;

        let tags = {
            let _permit = self.permits.acquire().await.ok();
            list_tags(client, &arn).await
        };
        match tags {
            Ok(tags) => {
                self.emit_tags(&arn, calls::LIST_TAGS_OF_RESOURCE, tags.into_iter())
                    .await?
            }
            Err(failed) => {
                self.gap(&arn, calls::LIST_TAGS_OF_RESOURCE, &failed)
                    .await?
            }
        }
        Ok(out)
    }
}

async fn list_tables(client: &aws_sdk_dynamodb::Client) -> Result<Vec<String>, CallFailure> {
    let mut pages = client.list_tables().into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        names.extend_from_slice(page.map_err(|e| failure(&e))?.table_names());
    }
    Ok(names)
}

async fn list_tags(
    client: &aws_sdk_dynamodb::Client,
    arn: &str,
) -> Result<Vec<(String, String)>, CallFailure> {
    let mut tags = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| failure(&e))?;
        tags.extend(
            page.tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned())),
        );
        match page.next_token().filter(|t| !t.is_empty()) {
            Some(next) if token.as_deref() != Some(next) => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(tags)
}
