//! Logs and traces of the landmeter binaries (agent and collector), set up once in `main`.
//!
//! - Logs go to stderr as JSON (one object a line: files, journald, Kubernetes) or as text for
//!   people, with colours only on a terminal (`--log-format`, default JSON unless stderr is a
//!   terminal); `RUST_LOG` filters them (default `info`).
//! - Traces are exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, with the OpenTelemetry SDK's own variables
//!   (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_HEADERS`,
//!   `OTEL_EXPORTER_OTLP_TIMEOUT`). `OTEL_TRACES_EXPORTER=none` turns them off. The binaries'
//!   `tracing` spans (scan, ingest batch, scan end, query) become the exported spans.
//!
//! Telemetry never stops the program: an exporter that cannot be built is a warning and the
//! program runs without traces; an unreachable endpoint loses spans, not scans.

mod export;

use std::io::IsTerminal as _;

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// How logs are written to stderr (`--log-format`, `LANDMETER_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object a line (the default when stderr is not a terminal: files, journald).
    Json,
    /// Lines for people; colours only on a terminal.
    Text,
}

/// Where traces go, from the environment: `None` when no OTLP endpoint is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The endpoint as configured (the exporter reads the variables itself; this is what the
    /// start-up log says).
    pub endpoint: String,
}

impl OtlpSettings {
    /// Reads the OpenTelemetry variables from `vars`.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Option<Self> {
        let mut endpoint = None;
        let mut traces_endpoint = None;
        let mut exporter = None;
        for (k, v) in vars {
            match k.as_str() {
                "OTEL_EXPORTER_OTLP_ENDPOINT" if !v.trim().is_empty() => endpoint = Some(v),
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" if !v.trim().is_empty() => {
                    traces_endpoint = Some(v)
                }
                "OTEL_TRACES_EXPORTER" => exporter = Some(v),
                _ => {}
            }
        }
        if exporter.as_deref().map(str::trim) == Some("none") {
            return None;
        }
        traces_endpoint
            .or(endpoint)
            .map(|endpoint| Self { endpoint })
    }
}

/// Keeps the trace pipeline alive; dropping it flushes the spans not yet exported (bounded
/// by the exporter's timeout) and stops the export thread. Hold it until `main` returns.
#[must_use = "dropping the guard stops trace export"]
pub struct Telemetry {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("landmeter: flushing traces at exit failed: {err}");
        }
    }
}

/// Sets the global logger (and the trace exporter when the environment configures one) for
/// `service` ("landmeter-agent", "landmeter-collector"; `OTEL_SERVICE_NAME` overrides it).
pub fn init(service: &'static str, format: Option<LogFormat>) -> Telemetry {
    let terminal = std::io::stderr().is_terminal();
    let format = format.unwrap_or(if terminal {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(terminal);
    let fmt = match format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    let settings = OtlpSettings::from_env(std::env::vars());
    let (provider, failure) = match &settings {
        Some(_) => match export::provider(service) {
            Ok(p) => (Some(p), None),
            Err(err) => (None, Some(err)),
        },
        None => (None, None),
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service))
            .with_filter(filter())
    });
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter()))
        .with(otel)
        .init();
    match (&settings, &failure) {
        (Some(s), None) => tracing::info!(endpoint = %s.endpoint, "exporting traces over OTLP"),
        (Some(s), Some(err)) => tracing::warn!(
            endpoint = %s.endpoint,
            error = %err,
            "traces are not exported: the OTLP exporter could not be built"
        ),
        _ => {}
    }
    Telemetry { provider }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn traces_are_exported_only_when_an_endpoint_is_set() {
        assert_eq!(OtlpSettings::from_env(vars(&[("HOME", "/root")])), None);
        assert_eq!(
            OtlpSettings::from_env(vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])),
            None,
            "an empty variable configures nothing"
        );
        assert_eq!(
            OtlpSettings::from_env(vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317")])),
            Some(OtlpSettings {
                endpoint: "http://otel:4317".into()
            })
        );
    }

    #[test]
    fn the_traces_endpoint_wins_and_none_turns_traces_off() {
        assert_eq!(
            OtlpSettings::from_env(vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4317"),
            ]))
            .map(|s| s.endpoint),
            Some("http://b:4317".into())
        );
        assert_eq!(
            OtlpSettings::from_env(vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
                ("OTEL_TRACES_EXPORTER", "none"),
            ])),
            None
        );
    }
}
