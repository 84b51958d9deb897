#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! - [`exporter`]: [`NatsExporter`], a bus subscriber that publishes to
//!   JetStream, its configuration, delivery contract ([`OnFull`]) and stats;
//! - [`source`]: [`NatsSource`], a durable consumer that delivers into a
//!   local bus;
//! - [`link`]: the connection to NATS both keep, and its [`LinkState`];
//! - [`stream`]: the stream's settings, created or checked by both;
//! - [`subject`]: subjects, message ids and headers;
//! - [`witness`]: [`NatsWitness`], where an audit log's signed checkpoints
//!   are kept apart from the log;
//! - [`error`]: the error type, [`NatsError`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod exporter;
pub mod link;
pub mod source;
pub mod stream;
pub mod subject;
pub mod witness;

pub use error::{NatsError, Result};
pub use exporter::{ExporterBuilder, ExporterConfig, ExporterStats, NatsExporter, OnFull};
pub use link::LinkState;
pub use source::{NatsSource, SourceBuilder, SourceConfig, SourceStats};
pub use stream::{Retention, Storage, StreamSettings};
/// Reconnect and retry delays: core's `Backoff`,
/// the pool's too.
pub use switchboard_core::Backoff;
pub use witness::NatsWitness;
