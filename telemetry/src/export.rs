//! The OTLP/gRPC span exporter and the runtime it needs.
//!
//! The SDK's batch processor exports from a plain thread through a blocking executor, but the
//! tonic exporter needs a tokio reactor (hyper's connections, timeouts): without one the
//! export thread panics with "no reactor running" and every later span is dropped
//! (opentelemetry-rust#2673, #3125). So the exporter owns a one-thread tokio runtime: it is
//! built inside it, and every export runs as a task there, awaited from the batch thread.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::WithTonicConfig as _;
use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

/// Why traces cannot be exported (the program then runs without them).
#[derive(Debug)]
pub struct BuildError(String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tracer provider exporting in batches to the configured OTLP endpoint.
pub fn provider(service: &'static str) -> Result<SdkTracerProvider, BuildError> {
    if let Ok(protocol) = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL")
        && !protocol.trim().is_empty()
        && protocol.trim() != "grpc"
    {
        return Err(BuildError(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported: landmeter exports OTLP over gRPC only (unset it or set grpc)"
        )));
    }
    let exporter = RuntimeExporter::build()?;
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the builder, win over this.
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The tonic exporter with its own runtime.
#[derive(Debug)]
struct RuntimeExporter {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: Runtime,
}

impl RuntimeExporter {
    fn build() -> Result<Self, BuildError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("landmeter-otlp")
            .enable_all()
            .build()
            .map_err(|e| BuildError(format!("the export runtime could not start: {e}")))?;
        let tls = tls_config()?;
        // The channel is made (lazily) inside the runtime that will drive it.
        let inner = runtime.block_on(async {
            let builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
            let builder = match tls {
                Some(tls) => builder.with_tls_config(tls),
                None => builder,
            };
            builder.build()
        });
        let inner = inner.map_err(|e| BuildError(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(inner),
            runtime: Runtime(Some(runtime)),
        })
    }
}

/// TLS for an `https://` endpoint: the system's roots, and the CA in
/// `OTEL_EXPORTER_OTLP_CERTIFICATE` when set (a private collector). `None` for plaintext.
fn tls_config() -> Result<Option<ClientTlsConfig>, BuildError> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
        .unwrap_or_default();
    if !endpoint.trim().starts_with("https://") {
        return Ok(None);
    }
    let mut tls = ClientTlsConfig::new().with_native_roots();
    if let Ok(path) = std::env::var("OTEL_EXPORTER_OTLP_CERTIFICATE")
        && !path.trim().is_empty()
    {
        let pem = std::fs::read(path.trim()).map_err(|e| {
            BuildError(format!(
                "OTEL_EXPORTER_OTLP_CERTIFICATE {}: {e}",
                path.trim()
            ))
        })?;
        tls = tls.ca_certificate(Certificate::from_pem(pem));
    }
    Ok(Some(tls))
}

impl SpanExporter for RuntimeExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let inner = Arc::clone(&self.inner);
        let task = self
            .runtime
            .handle()
            .map(|h| h.spawn(async move { inner.export(batch).await }));
        async move {
            match task {
                Some(task) => task
                    .await
                    .unwrap_or_else(|e| Err(OTelSdkError::InternalFailure(e.to_string()))),
                None => Err(OTelSdkError::AlreadyShutdown),
            }
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called while the provider is built, before any export holds a clone.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// A runtime that may be dropped anywhere, also inside another runtime (where dropping a
/// runtime normally panics): it shuts down in the background.
#[derive(Debug)]
struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}
