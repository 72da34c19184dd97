//! `landmeter token create | list | revoke`: operator tokens on the collector host. A token
//! is printed once and stored as a hash; it expires (90 days unless `--expires` says
//! otherwise) and can be revoked at once.

use clap::Subcommand;

use super::open_store;
use crate::auth::Role;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bearer token; it is printed once and stored only as a hash.
    Create {
        #[arg(long, env = "LANDMETER_DATABASE")]
        db: String,
        #[arg(long, value_enum)]
        role: Role,
        /// The tenant a tenant-viewer or tenant-admin is bound to.
        #[arg(long)]
        tenant: Option<String>,
        /// Who or what the token is for (shown in the audit log).
        #[arg(long, default_value = "operator")]
        name: String,
        /// How long the token is valid: `90d`, `12h`, `30m`, or `never`.
        #[arg(long, default_value = "90d", value_parser = parse_validity)]
        expires: Validity,
    },
    /// Every token: id, role, tenant, name, created, expires, revoked (never the token).
    List {
        #[arg(long, env = "LANDMETER_DATABASE")]
        db: String,
    },
    /// Revoke a token at once (every session made with it ends too).
    Revoke {
        #[arg(long, env = "LANDMETER_DATABASE")]
        db: String,
        /// The token's id, as `create` and `list` print it.
        #[arg(long)]
        id: i64,
    },
}

/// How long a new token is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Never,
    Millis(i64),
}

/// `--expires`: `never`, or a number with `d`, `h` or `m`.
pub fn parse_validity(s: &str) -> Result<Validity, String> {
    let s = s.trim();
    if s == "never" {
        return Ok(Validity::Never);
    }
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("cannot read {s:?}: use e.g. 90d, 12h, 30m or never"))?;
    let unit_ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        _ => return Err(format!("unknown unit in {s:?}: use d, h or m (or never)")),
    };
    if n <= 0 {
        return Err(format!("{s:?} is not a positive duration"));
    }
    Ok(Validity::Millis(n.saturating_mul(unit_ms)))
}

/// RFC 3339 in UTC, or `-`.
pub(super) fn when(ms: Option<i64>) -> String {
    ms.and_then(|ms| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    })
    .and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_else(|| "-".to_owned())
}

pub(super) fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            db,
            role,
            tenant,
            name,
            expires,
        } => {
            match (role.needs_tenant(), &tenant) {
                (true, None) => anyhow::bail!("role {} needs --tenant", role.name()),
                (false, Some(_)) => anyhow::bail!(
                    "role {} is not bound to a tenant; drop --tenant",
                    role.name()
                ),
                _ => {}
            }
            if let Some(t) = &tenant {
                crate::pki::validate_name("tenant", t)?;
            }
            let expires_at_ms = match expires {
                Validity::Never => None,
                Validity::Millis(ms) => Some(crate::clock::now_ms().saturating_add(ms)),
            };
            let token = crate::auth::new_token();
            let id = open_store(&db)?.create_token_until(
                &crate::auth::token_hash(&token),
                role.name(),
                tenant.as_deref(),
                &name,
                expires_at_ms,
            )?;
            eprintln!(
                "token {id} ({}{}) for {name}, expires {}; shown once, stored hashed:",
                role.name(),
                tenant.map(|t| format!(" of {t}")).unwrap_or_default(),
                expires_at_ms.map_or_else(|| "never".to_owned(), |ms| when(Some(ms)))
            );
            println!("{token}");
            Ok(())
        }
        TokenCommand::List { db } => {
            println!("id\trole\ttenant\tname\tcreated\texpires\trevoked");
            for t in open_store(&db)?.list_tokens()? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.role,
                    t.tenant.as_deref().unwrap_or("-"),
                    t.name,
                    when(Some(t.created_at_ms)),
                    t.expires_at_ms
                        .map_or_else(|| "never".to_owned(), |ms| when(Some(ms))),
                    when(t.revoked_at_ms),
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { db, id } => {
            if open_store(&db)?.revoke_token(id)? {
                println!("token {id} revoked");
                Ok(())
            } else {
                anyhow::bail!("no live token with id {id} (see landmeter token list)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validities_parse_with_helpful_errors() {
        assert_eq!(parse_validity("never"), Ok(Validity::Never));
        assert_eq!(parse_validity("90d"), Ok(Validity::Millis(90 * 86_400_000)));
        assert_eq!(parse_validity("12h"), Ok(Validity::Millis(12 * 3_600_000)));
        assert!(parse_validity("0d").is_err());
        assert!(parse_validity("3w").unwrap_err().contains("use d, h or m"));
        assert!(parse_validity("soon").unwrap_err().contains("90d"));
    }
}
