//! Switchboard's observers: what a pool is doing, in logs and in metrics.
//!
//! - [`logger`]: [`TracingLogger`], one `tracing` line per statement with
//!   OpenTelemetry database attributes, slow-statement and leak warnings;
//! - [`metrics`]: [`Metrics`], histograms, counters and pool gauges through
//!   the `metrics` facade;
//! - [`exporter`]: [`Exporter`], a Prometheus scrape endpoint;
//! - [`error`]: what can go wrong starting them.
//!
//! Both observers are lossy bus subscribers on threads of their own: a
//! stalled log sink or recorder never slows a statement, and what they miss
//! is counted (`Lagged` lines in the log, `switchboard_bus_dropped_total`
//! in the metrics). Both implement core's
//! [`Subscriber`](switchboard_core::Subscriber): attached to a bus (or
//! through a pool's `attach`), each returns a
//! [`Subscription`](switchboard_core::Subscription) that stops it when
//! dropped.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use switchboard::{Bus, Execute, Switchboard};
//! use switchboard_observe::{Exporter, Metrics, TracingLogger};
//!
//! let exporter = Exporter::builder().listen("127.0.0.1:9000").install()?;
//! let bus = Bus::new();
//! let _log = TracingLogger::new().attach(&bus)?;
//! let metrics = Metrics::new().attach(&bus)?;
//! let sb = Switchboard::builder("sqlite::memory:").bus(bus).start().await?;
//! metrics.watch(&sb);
//! sb.run(Execute::sql("SELECT 1")).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod endpoint;
pub mod error;
pub mod exporter;
mod inflight;
pub mod logger;
pub mod metrics;

pub use error::{Error, Result};
pub use exporter::{Exporter, ExporterBuilder, ExporterConfig};
pub use inflight::InFlight;
pub use logger::{LoggerConfig, ParamDisplay, TracingLogger};
pub use metrics::{Kept, Metrics, MetricsConfig, MetricsHandle, MetricsTap, SharedRecorder};
