//! [`Exporter`]: a Prometheus scrape endpoint, served by
//! metrics-exporter-prometheus's HTTP listener on a thread of its own.
//!
//! The listener answers every path (`/metrics`, `/`, ...) with the text
//! exposition format, and `/health` with `OK`; it cannot serve other
//! content, so a JSON status page needs a port of its own (see
//! `examples/observability.rs`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::metrics::SharedRecorder;

/// Histogram buckets (seconds) for Switchboard's durations: 100 µs to 10 s.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];

/// How an [`Exporter`] is set up. Every field has a default.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExporterConfig {
    /// `HOST:PORT` to listen on; port 0 picks a free port (see
    /// [`Exporter::local_addr`]). Default `127.0.0.1:9000`: only this
    /// machine can scrape until you choose a wider address.
    pub listen: String,
    /// Bucket bounds, in seconds, of the `switchboard_*` histograms.
    /// Default [`DURATION_BUCKETS`]. Other histograms in the same recorder
    /// are exposed as summaries, the exporter's default.
    pub buckets: Vec<f64>,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            listen: "127.0.0.1:9000".into(),
            buckets: DURATION_BUCKETS.to_vec(),
        }
    }
}

/// Configures an [`Exporter`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ExporterBuilder {
    config: ExporterConfig,
}

impl ExporterBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: ExporterConfig) -> Self {
        self.config = config;
        self
    }

    /// `HOST:PORT` to listen on.
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.config.listen = addr.into();
        self
    }

    /// Bucket bounds, in seconds, of the `switchboard_*` histograms.
    pub fn buckets(mut self, buckets: &[f64]) -> Self {
        self.config.buckets = buckets.to_vec();
        self
    }

    /// Starts serving. Metrics go to it only when recorded into
    /// [`Exporter::recorder`] (see [`Metrics::recorder`](crate::Metrics::recorder)):
    /// the global `metrics` recorder is left alone.
    pub fn start(self) -> Result<Exporter> {
        Exporter::start(self.config)
    }

    /// Starts serving and installs the exporter as the process-wide
    /// `metrics` recorder, so the application's own `metrics::counter!`
    /// calls are exposed beside Switchboard's.
    pub fn install(self) -> Result<Exporter> {
        let exporter = Exporter::start(self.config)?;
        metrics::set_global_recorder(exporter.recorder.clone())
            .map_err(|_| Error::RecorderInstalled)?;
        Ok(exporter)
    }
}

/// A running Prometheus scrape endpoint. Dropping it stops the listener
/// (the recorder lives on while anything still holds it).
pub struct Exporter {
    addr: SocketAddr,
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// Tells the listener thread to stop; dropping it does too.
    stop: Option<oneshot::Sender<()>>,
    /// The listener thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// Configures an exporter.
    pub fn builder() -> ExporterBuilder {
        ExporterBuilder::default()
    }

    fn start(config: ExporterConfig) -> Result<Exporter> {
        let addr = resolve(&config.listen)?;
        // Bind once ourselves: a clear error for a port in use, and the real
        // port when 0 was asked for. The exporter binds it again at once
        // (the socket is released here first).
        let addr = std::net::TcpListener::bind(addr)
            .and_then(|l| l.local_addr())
            .map_err(|source| Error::Listen { addr, source })?;
        let builder = PrometheusBuilder::new()
            .with_http_listener(addr)
            .set_buckets_for_metric(Matcher::Prefix("switchboard_".into()), &config.buckets)
            .map_err(Error::Exporter)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Thread {
                what: "Prometheus exporter runtime",
                source,
            })?;
        // `build` binds the listener and spawns the recorder's upkeep task
        // onto the runtime entered here; both run once the thread drives it.
        let (recorder, serve) = {
            let _entered = runtime.enter();
            builder.build().map_err(Error::Exporter)?
        };
        let handle = recorder.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        // Ends when the Exporter is dropped (stop sent or dropped).
        let thread = std::thread::Builder::new()
            .name("sb-prometheus".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        served = serve => if let Err(e) = served {
                            tracing::error!(target: "switchboard::observe", error = ?e, "Prometheus listener stopped");
                        },
                        _ = stopped => {}
                    }
                });
            })
            .map_err(|source| Error::Thread {
                what: "Prometheus exporter",
                source,
            })?;
        Ok(Exporter {
            addr,
            recorder: Arc::new(recorder),
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address the endpoint listens on (with the real port when 0 was
    /// configured).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The recorder behind the endpoint, to give to
    /// [`Metrics::recorder`](crate::Metrics::recorder) when the exporter is
    /// not installed globally.
    pub fn recorder(&self) -> SharedRecorder {
        self.recorder.clone()
    }

    /// The current exposition text, as a scrape would return it.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The first address `listen` names.
fn resolve(listen: &str) -> Result<SocketAddr> {
    let bad = |reason: String| Error::BadAddress {
        input: listen.to_owned(),
        reason,
    };
    listen
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("it names no address".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_address_is_a_typed_error() {
        let err = Exporter::builder().listen("not an address").start();
        assert!(matches!(err, Err(Error::BadAddress { .. })), "{err:?}");
    }

    #[test]
    fn a_port_in_use_is_a_typed_error() -> std::io::Result<()> {
        let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = taken.local_addr()?;
        let err = Exporter::builder().listen(addr.to_string()).start();
        match err {
            Err(Error::Listen { addr: a, source }) => {
                assert_eq!(a, addr);
                assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
            }
            other => panic!("expected Error::Listen, got {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn port_zero_gets_a_real_port() {
        let exporter = Exporter::builder().listen("127.0.0.1:0").start();
        let exporter = exporter.expect("an exporter on a free port");
        assert_ne!(exporter.local_addr().port(), 0);
    }
}
