//! Query surfaces over the map.
//!
//! # Layout
//! - [`documents`]: the board report and evidence bundle over gRPC and HTTP.
//! - [`filter`]: the filter grammar (flags and query parameters -> `StoreFilter`); the CLI uses it.
//! - [`grpc`]: `MapService` (list, get, summary, changes, watch).
//! - [`http`]: `/live`, `/ready`, `/metrics`, `/v1/events` (server-sent change events).
//! - [`insight`]: dashboard, dependency graph, coverage, costs (the JSON API's documents).
//! - [`render`]: stores and summaries as table, JSON and CSV, shared by the CLI and exports.
//! - [`ui`]: the embedded web UI and its session cookie.

pub mod disclosure;
pub mod documents;
pub mod filter;
pub mod grpc;
pub mod http;
pub mod insight;
pub mod names;
pub mod render;
pub mod ui;
