//! The landmeter collector: receives facts from agents, keeps them, interprets them into
//! a sovereignty map and answers operators.
//!
//! # Layout
//! - [`config`]: `landmeter serve` configuration (defaults < file < env < flags).
//! - [`server`]: wires store, interpreter and gRPC services (ingest, map, health, reflection).
//! - [`events`]: fan-out of committed change events to watchers.
//! - [`ingest`]: the agent stream protocol: batches committed before they are acknowledged.
//! - [`map`]: pure interpretation: location, jurisdiction, custody, classification. No IO.
//! - [`store`]: the store boundary (traits by role) and its SQLite backend; the only module
//!   that knows SQL. It interprets nothing.
//! - [`scan_end`]: the scan end as a use case above `map` and `store`: an account's stored
//!   facts -> interpretation -> diff -> the writes a backend applies.
//! - [`agents`]: agents connected now, to send them a `ScanRequest`.
//! - [`alerts`]: webhook alert rules on chosen changes.
//! - [`metrics`]: Prometheus metrics.
//! - [`https`]: the HTTP side over TLS (rustls), when configured.
//! - [`tls_accept`]: TLS in front of the gRPC listener, logging refused handshakes.
//! - [`api`]: `MapService` and the renderings (table, JSON, CSV) shared with the CLI.
//! - [`auth`]: operator tokens (stored hashed), roles and the scope each role may read.
//! - [`pki`]: the collector CA: agent certificates binding tenant and agent, server certificates.
//! - [`status`]: the one mapping from store errors to gRPC and HTTP statuses.
//! - [`clock`]: the wall clock in Unix ms, one place.
//! - [`i18n`]: languages (Fluent catalogues in `locales/`), numbers, dates in a time zone.
//! - [`cli`]: the operator command line (`serve`, queries, `ca`, `agent`, `token`, `audit`).
//! - [`report`]: the board report (HTML, PDF); [`evidence`]: the auditors' evidence bundle.

pub mod agents;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod enrol;
pub mod events;
pub mod evidence;
pub mod https;
pub mod i18n;
pub mod ingest;
pub mod map;
pub mod metrics;
pub mod pki;
pub mod report;
pub mod scan_end;
pub mod server;
pub mod status;
pub mod store;
pub mod tls_accept;
