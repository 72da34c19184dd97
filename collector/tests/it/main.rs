//! Collector integration tests: a real gRPC server on a loopback socket over a real SQLite file.

mod changes;
mod compat;
mod conformance;
mod harness;
mod ingest;
mod insight;
mod layering;
mod queries;
mod report;
mod trust;
mod upgrade;
