//! The web UI: a single page (vanilla JS modules, SVG) embedded in the binary, so the
//! collector serves it offline with no separate web server and no CDN.
//!
//! `GET /` redirects to `/ui/`; `/ui/` and `/ui/assets/*` serve the assets with a strict
//! Content-Security-Policy; `POST /ui/session` turns a valid operator token into the HttpOnly
//! `landmeter_session` cookie the `/v1/*` endpoints accept; `POST /ui/logout` clears it.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::api::http::HttpState;
use crate::auth::Credential;

/// The cookie the HTTP API reads the operator token from (see the shared HTTP contract).
pub const SESSION_COOKIE: &str = "landmeter_session";

/// Only our own origin: no inline script or style, no framing, no plugins.
const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../ui/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/app.js"),
    },
    Asset {
        name: "i18n.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/i18n.js"),
    },
    Asset {
        name: "graph.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/graph.js"),
    },
    // @dagrejs/dagre 3.1.4 (MIT, collector/ui/vendor/dagre.LICENSE): the map's layered layout.
    Asset {
        name: "dagre.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/vendor/dagre.esm.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../ui/app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../ui/favicon.svg"),
    },
];

/// Strong ETags (FNV-1a of the bytes), computed once: browsers revalidate (`no-cache`) and
/// get a 304 while the binary is the same, and the new assets right after an upgrade.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in a.body {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            format!("\"{h:016x}\"")
        })
        .collect()
});

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/assets/{name}", get(asset))
        .route("/ui/locales/{file}", get(locale))
        .route("/ui/session", post(session))
        .route("/ui/logout", post(logout))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

/// `GET /ui/locales/<lang>.json` (`nl`, `en`, or `default`: the collector's configured
/// `language`): the UI's words from the same Fluent catalogues as the report and the CLI
/// (`ui-` messages; a variable shows as `{$name}`, which the UI fills in), the language they
/// are in, the collector's default and its time zone. Public like the assets: it holds no data.
async fn locale(State(s): State<HttpState>, Path(file): Path<String>) -> Response {
    let configured = s.map.locale().lang;
    let Some(name) = file.strip_suffix(".json") else {
        return (StatusCode::NOT_FOUND, "no such catalogue").into_response();
    };
    let lang = if name == "default" {
        configured
    } else {
        match name.parse::<crate::i18n::Lang>() {
            Ok(l) => l,
            Err(e) => return json_error(StatusCode::NOT_FOUND, &e.to_string()),
        }
    };
    let messages: serde_json::Map<String, serde_json::Value> =
        crate::i18n::messages_with_prefix(lang, "ui-")
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
    (
        [
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        axum::Json(serde_json::json!({
            "lang": lang.code(),
            "default": configured.code(),
            // Dates and times in the UI are shown in the collector's zone.
            "time_zone": s.map.locale().zone.iana_name().unwrap_or("UTC"),
            "messages": messages,
        })),
    )
        .into_response()
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let asset = &ASSETS[i];
    let etag = ETAGS[i].as_str();
    let common = [
        (header::CACHE_CONTROL, "no-cache"),
        (header::ETAG, etag),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, asset.content_type)],
        asset.body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct SessionRequest {
    token: String,
}

/// Tokens are `lm_` and hex; anything else cannot be valid and must not reach a header.
fn plausible_token(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 256
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": message}))).into_response()
}

async fn session(
    State(s): State<HttpState>,
    axum::Json(req): axum::Json<SessionRequest>,
) -> Response {
    let token = req.token.trim().to_owned();
    if !plausible_token(&token) {
        let _ = s.map.audit_refusal("UiSession", "not a token").await;
        return json_error(StatusCode::UNAUTHORIZED, "unknown or revoked token");
    }
    let p = match s
        .map
        .principal_for(Some(Credential::Token(token)), "UiSession")
        .await
    {
        Ok(p) => p,
        Err(e) if e.code() == tonic::Code::Unauthenticated => {
            return json_error(StatusCode::UNAUTHORIZED, "unknown or revoked token");
        }
        Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "authentication failed"),
    };
    // The cookie carries a session id of its own, never the token: it expires, it ends at
    // logout, and revoking the token ends it too.
    let session = crate::auth::new_session_id();
    let store = Arc::clone(&s.store);
    let (hash, token_id) = (crate::auth::token_hash(&session), p.token_id);
    let now = crate::clock::now_ms();
    let expires = now + crate::auth::SESSION_SECONDS * 1000;
    let opened =
        tokio::task::spawn_blocking(move || store.create_session(&hash, token_id, now, expires))
            .await;
    if !matches!(opened, Ok(Ok(()))) {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "session not opened");
    }
    if s.map
        .audit_granted(&p, "UiSession", String::new())
        .await
        .is_err()
    {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "audit failed");
    }
    tracing::info!(
        token_id = p.token_id,
        role = p.role.name(),
        "UI session opened"
    );
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        crate::auth::SESSION_SECONDS
    );
    match HeaderValue::from_str(&cookie) {
        Ok(v) => (
            StatusCode::NO_CONTENT,
            [(header::SET_COOKIE, v)],
            [(header::CACHE_CONTROL, "no-store")],
        )
            .into_response(),
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "session not opened"),
    }
}

/// Ends the session server-side (the cookie alone would outlive a logout) and clears it.
async fn logout(State(s): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(session) = crate::api::http::session_cookie(&headers) {
        let store = Arc::clone(&s.store);
        let hash = crate::auth::token_hash(&session);
        let now = crate::clock::now_ms();
        if let Ok(Ok(true)) =
            tokio::task::spawn_blocking(move || store.end_session(&hash, now)).await
        {
            tracing::info!("UI session ended");
        }
    }
    (
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
        )],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_and_tagged() {
        assert_eq!(ETAGS.len(), ASSETS.len());
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
        }
        let index = std::str::from_utf8(ASSETS[0].body).expect("utf-8");
        // No inline script or style: the CSP would block it.
        assert!(!index.contains("<script>"), "inline script in index.html");
        assert!(!index.contains("style="), "inline style in index.html");
        for a in &ASSETS[1..] {
            if a.name != "favicon.svg" {
                // By the page, or imported by one of the modules it loads.
                let path = format!("/ui/assets/{}", a.name);
                assert!(
                    index.contains(&path)
                        || ASSETS
                            .iter()
                            .any(|b| String::from_utf8_lossy(b.body).contains(&path)),
                    "{} not referenced",
                    a.name
                );
            }
        }
    }

    #[test]
    fn only_token_shaped_strings_reach_the_cookie() {
        assert!(plausible_token("lm_0123abcdef"));
        assert!(!plausible_token(""));
        assert!(!plausible_token("lm_x; Path=/evil"));
        assert!(!plausible_token("lm_x\r\nSet-Cookie: a=b"));
    }
}
