//! Operators: bearer tokens (stored hashed), roles, and what each role may see.

use crate::store::Scope;

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Reads one tenant's map.
    TenantViewer,
    /// Reads one tenant's map; administers that tenant (agents, tokens) from the CLI.
    TenantAdmin,
    /// Reads aggregates over at least k tenants only, nothing that identifies a tenant.
    PoolViewer,
    /// Reads everything.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::TenantViewer => "tenant-viewer",
            Role::TenantAdmin => "tenant-admin",
            Role::PoolViewer => "pool-viewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::TenantViewer,
            Role::TenantAdmin,
            Role::PoolViewer,
            Role::Admin,
        ]
        .into_iter()
        .find(|r| r.name() == s)
    }

    /// Tenant roles are bound to one tenant; the others must not be.
    pub fn needs_tenant(self) -> bool {
        matches!(self, Role::TenantViewer | Role::TenantAdmin)
    }
}

/// An authenticated operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: i64,
    pub role: Role,
    pub tenant: Option<String>,
}

impl Principal {
    /// The stores this operator may read, given the pool threshold k.
    pub fn scope(&self, pool_min_tenants: u32) -> Scope {
        match (self.role, &self.tenant) {
            (Role::Admin, _) => Scope::AllTenants,
            (Role::PoolViewer, _) => Scope::Pool {
                min_tenants: pool_min_tenants,
            },
            (_, Some(t)) => Scope::Tenant(t.clone()),
            // A tenant role without a tenant cannot exist (checked at creation); see nothing.
            (_, None) => Scope::Tenant(String::new()),
        }
    }
}

/// What a caller presents: an operator token, or a web session the UI opened with one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Token(String),
    Session(String),
}

impl Credential {
    /// The `authorization` header value that carries it to `MapService`.
    pub fn header(&self) -> String {
        match self {
            Credential::Token(t) => format!("Bearer {t}"),
            Credential::Session(s) => format!("Session {s}"),
        }
    }

    /// Reads an `authorization` header value (`Bearer <token>` or `Session <id>`).
    pub fn from_header(value: &str) -> Option<Credential> {
        let (scheme, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        if rest.is_empty() {
            return None;
        }
        match scheme {
            "Bearer" => Some(Credential::Token(rest.to_owned())),
            "Session" => Some(Credential::Session(rest.to_owned())),
            _ => None,
        }
    }
}

/// How long a web session lasts (the cookie's Max-Age): a working day.
pub const SESSION_SECONDS: i64 = 8 * 3600;

/// A new random session id: `ls_` and 64 hex digits.
pub fn new_session_id() -> String {
    format!("ls_{}", &new_token()[3..])
}

/// The operator a credential stands for at `now_ms`; None for an unknown, revoked or
/// expired token or session.
pub fn principal_for_credential(
    store: &dyn crate::store::MapStore,
    credential: &Credential,
    now_ms: i64,
) -> Result<Option<Principal>, crate::store::StoreError> {
    let record = match credential {
        Credential::Token(t) => store.find_token_at(&token_hash(t), now_ms)?,
        Credential::Session(s) => store.find_session(&token_hash(s), now_ms)?,
    };
    Ok(record.and_then(|r| {
        // A role this build does not know grants nothing.
        Role::parse(&r.role).map(|role| Principal {
            token_id: r.id,
            role,
            tenant: r.tenant,
        })
    }))
}

/// A new random token: `lm_` and 64 hex digits (256 bits from the system's CSPRNG).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    format!(
        "lm_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// SHA-256 of a token, hex. Tokens carry 256 bits of entropy, so a plain hash suffices
/// (no password stretching needed) and lookups stay one indexed query.
pub fn token_hash(token: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Client side: adds `authorization: Bearer <token>` to every request (CLI, tests).
#[derive(Clone, Default)]
pub struct BearerToken(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl BearerToken {
    /// None when the token cannot be a header value (it then fails authentication clearly).
    pub fn new(token: Option<&str>) -> Self {
        Self(token.and_then(|t| format!("Bearer {t}").parse().ok()))
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(h) = &self.0 {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn scopes_follow_roles() {
        let p = |role, tenant: Option<&str>| Principal {
            token_id: 1,
            role,
            tenant: tenant.map(str::to_owned),
        };
        assert!(matches!(p(Role::Admin, None).scope(5), Scope::AllTenants));
        assert!(matches!(
            p(Role::PoolViewer, None).scope(5),
            Scope::Pool { min_tenants: 5 }
        ));
        assert!(matches!(p(Role::TenantViewer, Some("a")).scope(5), Scope::Tenant(t) if t == "a"));
        assert_eq!(Role::parse("pool-viewer"), Some(Role::PoolViewer));
        assert_eq!(Role::parse("root"), None);
    }
}
