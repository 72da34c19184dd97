//! `landmeter enroll-token create`: a one-time token with which an agent enrols itself
//! (`landmeter-agent enroll`), its key never leaving its host. The token is printed once and
//! stored as a SHA-256 hash; it binds the tenant (and the agent name when given), expires
//! (24 hours unless `--expires` says otherwise) and is used at most once. Its creation is in
//! the audit log. The CA's fingerprint printed beside it is what the agent pins.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::open_store;
use super::token::{Validity, parse_validity};

#[derive(Debug, Subcommand)]
pub enum EnrollTokenCommand {
    /// Create a one-time enrolment token for an agent of a tenant; printed once with the
    /// CA fingerprint the agent pins (`landmeter-agent enroll --token ... --ca-fingerprint ...`).
    Create {
        #[arg(long, env = "LANDMETER_DATABASE")]
        db: String,
        /// The tenant the enrolled agent reports into (bound by the token, never by the agent).
        #[arg(long)]
        tenant: String,
        /// The agent's name; when left out the enrolling agent names itself.
        #[arg(long)]
        name: Option<String>,
        /// How long the token can be used: `24h`, `30m`, `7d`.
        #[arg(long, default_value = "24h", value_parser = parse_validity)]
        expires: Validity,
        /// The folder of the agents' CA (`ca.pem`), whose fingerprint the agent pins.
        #[arg(long, env = "LANDMETER_CA_DIR")]
        ca_dir: PathBuf,
    },
}

pub(super) fn run(cmd: EnrollTokenCommand) -> anyhow::Result<()> {
    match cmd {
        EnrollTokenCommand::Create {
            db,
            tenant,
            name,
            expires,
            ca_dir,
        } => {
            crate::pki::validate_name("tenant", &tenant)?;
            if let Some(n) = &name {
                crate::pki::validate_name("agent", n)?;
            }
            let Validity::Millis(valid_ms) = expires else {
                anyhow::bail!("an enrolment token always expires: use e.g. 24h, 30m or 7d");
            };
            let ca_file = ca_dir.join(crate::pki::CA_CERT);
            let ca_pem = std::fs::read_to_string(&ca_file)
                .with_context(|| format!("reading the CA certificate {}", ca_file.display()))?;
            let fingerprint = crate::pki::fingerprint(&ca_pem)?;
            let token = crate::auth::new_token().replacen("lm_", "lme_", 1);
            let now_ms = crate::clock::now_ms();
            let expires_at_ms = now_ms.saturating_add(valid_ms);
            let store = open_store(&db)?;
            let id = store.create_enrolment_token(
                &crate::auth::token_hash(&token),
                &tenant,
                name.as_deref(),
                now_ms,
                expires_at_ms,
            )?;
            store.append_audit(&crate::store::AuditEntry {
                token_id: None,
                role: "operator-cli".to_owned(),
                tenant: Some(tenant.clone()),
                method: "enroll-token create".to_owned(),
                request: format!(
                    "enrolment token {id} agent={} expires_at_ms={expires_at_ms}",
                    name.as_deref().unwrap_or("-")
                ),
                rows: 1,
                outcome: "ok".to_owned(),
            })?;
            eprintln!(
                "enrolment token {id} for {} of tenant {tenant}, usable once until {}; shown once, stored hashed. On the agent's host:\n  landmeter-agent enroll --collector https://<collector>:7400 --token <token> --ca-fingerprint {fingerprint}{}",
                name.as_deref()
                    .map_or_else(|| "an agent".to_owned(), |n| format!("agent {n}")),
                super::token::when(Some(expires_at_ms)),
                if name.is_none() {
                    " --name <agent>"
                } else {
                    ""
                }
            );
            println!("token: {token}");
            println!("ca-fingerprint: {fingerprint}");
            Ok(())
        }
    }
}
