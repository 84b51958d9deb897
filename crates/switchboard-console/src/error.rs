//! What can go wrong starting a console. Each message says what to change.

use std::net::SocketAddr;

/// Errors of [`ConsoleBuilder::start`](crate::ConsoleBuilder::start) and
/// [`ConsoleBuilder::build`](crate::ConsoleBuilder::build).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be parsed or resolved.
    #[error(
        "invalid console listen address {input:?}: {reason}; expected HOST:PORT such as 127.0.0.1:9100"
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
        "the console cannot listen on {addr}: {source}; pick another port (or port 0 for any free one) \
         or stop whatever holds it"
    )]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Something in the configuration cannot work.
    #[error("invalid console configuration: {0}")]
    Config(String),
    /// `start()` was called outside an actix (Tokio) runtime.
    #[error(
        "the console must be started inside the application's actix System \
         (call start() from code running under actix::System::new().block_on or #[actix::main])"
    )]
    NoRuntime,
    /// A bus refused the console's subscription, or an observer could not
    /// start.
    #[error("the console could not subscribe to a pool's events: {0}")]
    Subscribe(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
