//! Witnesses: places outside the log's directory that keep a copy of every
//! checkpoint, so that whoever can rewrite the log's directory (log files
//! and checkpoint file alike) cannot also rewrite history there.
//!
//! Each witness is fed by a thread of its own that follows the log's
//! checkpoint file: a slow or unreachable witness never holds back the
//! writer, the anchor or another witness. While it fails, the failures are
//! counted ([`AuditStats::witness_errors`](crate::AuditStats)) and logged,
//! and it is retried with a capped backoff; once it answers again, it is
//! asked for the newest checkpoint it holds and is sent every one after it.
//! At close, a witness that answers gets what is left of the close's time
//! limit to take what it lacks; one that is failing is not waited for.
//! Either way, what a witness lacks is sent when the log opens again.
//!
//! [`DirWitness`] keeps them in a directory (another disk or mount);
//! `switchboard_nats::NatsWitness` in a JetStream stream.

mod dir;
mod feed;

use std::fmt;

pub use dir::DirWitness;
pub(crate) use feed::{Feeds, spawn};

/// A place that keeps a copy of a log's checkpoints.
///
/// The feed calls it from its own thread, one call at a time: [`latest`]
/// when it (re)starts or after a failure, then [`keep`] for each checkpoint
/// in order. A call may block (a remote write and its acknowledgement); it
/// should give up after a bounded time and return an error, which is
/// retried.
///
/// [`latest`]: Witness::latest
/// [`keep`]: Witness::keep
pub trait Witness: Send + Sync + fmt::Debug {
    /// Where it keeps them, for logs and errors (`dir /mnt/witness`, ...).
    fn describe(&self) -> String;

    /// The `seq` of the newest checkpoint it holds for the log `log` (the
    /// log's base name), `None` if none.
    fn latest(&self, log: &str) -> Result<Option<u64>, WitnessError>;

    /// Keeps checkpoint `seq` of the log `log`: `line` is the signed
    /// checkpoint line, without its newline. Returns once it is kept
    /// durably. It is always the checkpoint after the newest one held.
    fn keep(&self, log: &str, seq: u64, line: &[u8]) -> Result<(), WitnessError>;

    /// The local directory it writes into, if any: the log refuses a
    /// witness inside its own directory.
    fn local_dir(&self) -> Option<&std::path::Path> {
        None
    }
}

/// Why a witness could not answer or keep a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessError(String);

impl WitnessError {
    /// An error saying `message`.
    pub fn new(message: impl fmt::Display) -> Self {
        WitnessError(message.to_string())
    }
}

impl fmt::Display for WitnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WitnessError {}
