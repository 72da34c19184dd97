//! `--output json`: facts and coverage as one JSON document, without a collector.
//!
//! ```json
//! {"scan_id": "...",
//!  "facts": [{"account": "111111111111", "subject": "bucket", "api_call": "s3:ListBuckets",
//!             "observed_at_ms": 1, "kind": "store", "body": {"provider": "aws", ...}}],
//!  "coverage": [{"account": "...", "complete": true, "stores_seen": 3, "gaps": 0, "reason": ""}]}
//! ```
//!
//! Facts use the workspace's one rendering, [`landmeter_proto::json::fact`] (the collector's
//! exports print the same shape): `kind` names the `body` variant (`store`, `encryption`,
//! `tags`, `replication`, `size`, `key`, `key_store`, `gap`).

use std::io::{self, Write};

use landmeter_proto::v1::{AccountCoverage, Fact};
use serde_json::{Value, json};

/// The whole document.
pub fn scan_document(scan_id: &str, facts: &[Fact], coverage: &[AccountCoverage]) -> Value {
    json!({
        "scan_id": scan_id,
        "facts": facts.iter().map(landmeter_proto::json::fact).collect::<Vec<_>>(),
        "coverage": coverage.iter().map(coverage_to_json).collect::<Vec<_>>(),
    })
}

/// Writes the document of [`scan_document`] fact by fact, as the scan produces them, so a
/// scan's facts are never all in memory at once (5,000 buckets are about 25,000 facts: tens
/// of MB as a `Value` tree). Keys come in the order `scan_id`, `facts`, `coverage`.
pub struct DocumentWriter<W: Write> {
    out: W,
    facts: u64,
}

impl<W: Write> DocumentWriter<W> {
    pub fn start(mut out: W, scan_id: &str) -> io::Result<Self> {
        out.write_all(b"{\"scan_id\":")?;
        serde_json::to_writer(&mut out, scan_id)?;
        out.write_all(b",\"facts\":[")?;
        Ok(DocumentWriter { out, facts: 0 })
    }

    pub fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        if self.facts > 0 {
            self.out.write_all(b",")?;
        }
        self.facts += 1;
        serde_json::to_writer(&mut self.out, &landmeter_proto::json::fact(fact))?;
        Ok(())
    }

    /// Closes the document with the coverage and a newline, and flushes.
    pub fn finish(mut self, coverage: &[AccountCoverage]) -> io::Result<W> {
        self.out.write_all(b"],\"coverage\":")?;
        let coverage: Vec<Value> = coverage.iter().map(coverage_to_json).collect();
        serde_json::to_writer(&mut self.out, &coverage)?;
        self.out.write_all(b"}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

pub fn coverage_to_json(c: &AccountCoverage) -> Value {
    json!({
        "account": c.account,
        "complete": c.complete,
        "stores_seen": c.stores_seen,
        "gaps": c.gaps,
        "reason": c.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::v1::{Encryption, EncryptionState, Gap, GapKind, Store, fact};

    fn fact(subject: &str, api_call: &str, body: fact::Body) -> Fact {
        Fact {
            account: "111111111111".to_owned(),
            subject: subject.to_owned(),
            observed_at_ms: 42,
            api_call: api_call.to_owned(),
            body: Some(body),
        }
    }

    #[test]
    fn document_has_scan_id_facts_and_coverage() {
        let facts = [
            fact(
                "b",
                "s3:ListBuckets",
                fact::Body::Store(Store {
                    provider: "aws".into(),
                    service: "s3".into(),
                    name: "b".into(),
                    region: "eu-west-1".into(),
                    region_source: "HeadBucket".into(),
                    created_at_ms: 7,
                    endpoint: String::new(),
                    ..Store::default()
                }),
            ),
            fact(
                "b",
                "s3:GetBucketEncryption",
                fact::Body::Encryption(Encryption {
                    state: EncryptionState::NotConfigured as i32,
                    not_configured_code: "ServerSideEncryptionConfigurationNotFoundError".into(),
                    ..Encryption::default()
                }),
            ),
            fact(
                "b",
                "s3:GetBucketTagging",
                fact::Body::Gap(Gap {
                    kind: GapKind::AccessDenied as i32,
                    code: "AccessDenied".into(),
                    message: "Access Denied".into(),
                    call: "s3:GetBucketTagging".into(),
                    ..Default::default()
                }),
            ),
        ];
        let coverage = [AccountCoverage {
            account: "111111111111".into(),
            complete: false,
            stores_seen: 1,
            gaps: 1,
            reason: "s3:ListBuckets failed".into(),
        }];
        let doc = scan_document("scan-1", &facts, &coverage);

        // The streaming writer produces the same document.
        let mut writer = DocumentWriter::start(Vec::new(), "scan-1").expect("start");
        for f in &facts {
            writer.fact(f).expect("fact");
        }
        let bytes = writer.finish(&coverage).expect("finish");
        assert_eq!(bytes.last(), Some(&b'\n'));
        let streamed: Value = serde_json::from_slice(&bytes).expect("streamed json parses");
        assert_eq!(streamed, doc);
        let empty = DocumentWriter::start(Vec::new(), "scan-2")
            .and_then(|w| w.finish(&[]))
            .expect("empty document");
        assert_eq!(
            serde_json::from_slice::<Value>(&empty).expect("empty json parses"),
            json!({"scan_id": "scan-2", "facts": [], "coverage": []})
        );

        assert_eq!(doc["scan_id"], "scan-1");
        let rows: Vec<(&str, &str, &str)> = doc["facts"]
            .as_array()
            .expect("facts array")
            .iter()
            .map(|f| {
                (
                    f["kind"].as_str().unwrap_or_default(),
                    f["api_call"].as_str().unwrap_or_default(),
                    f["account"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("store", "s3:ListBuckets", "111111111111"),
                ("encryption", "s3:GetBucketEncryption", "111111111111"),
                ("gap", "s3:GetBucketTagging", "111111111111"),
            ]
        );
        assert_eq!(doc["facts"][0]["body"]["region_source"], "HeadBucket");
        assert_eq!(
            doc["facts"][1]["body"]["state"],
            "ENCRYPTION_STATE_NOT_CONFIGURED"
        );
        assert_eq!(doc["facts"][2]["body"]["kind"], "GAP_KIND_ACCESS_DENIED");
        assert_eq!(
            doc["coverage"][0],
            json!({"account": "111111111111", "complete": false, "stores_seen": 1, "gaps": 1,
                   "reason": "s3:ListBuckets failed"})
        );
    }
}
