//! What can go wrong when starting an observer or the Prometheus endpoint.

use std::net::SocketAddr;

/// Errors of this crate. Each message says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be parsed or resolved.
    #[error(
        "invalid listen address {input:?}: {reason}; expected HOST:PORT such as 127.0.0.1:9000"
    )]
    BadAddress {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// The address is valid but nothing can listen on it (in use, not a
    /// local address, no permission).
    #[error(
        "cannot listen on {addr}: {source}; pick another port (or port 0 for any free one) \
         or stop whatever holds it"
    )]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// metrics-exporter-prometheus refused its configuration.
    #[error("the Prometheus exporter could not start: {0}")]
    Exporter(#[source] metrics_exporter_prometheus::BuildError),
    /// A global `metrics` recorder is already installed in this process.
    #[error(
        "a global metrics recorder is already installed; use `Exporter::start` and \
         `Metrics::recorder` to record into this exporter without installing it"
    )]
    RecorderInstalled,
    /// A background thread could not be started.
    #[error("could not start the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The bus refused the subscription.
    #[error(transparent)]
    Subscribe(#[from] switchboard_core::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
