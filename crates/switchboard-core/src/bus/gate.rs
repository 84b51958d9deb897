//! Durability gates: what a strict audit log uses to hold a statement back
//! until the statement's record is on disk.

use std::future::Future;
use std::pin::Pin;

use crate::error::Result;
use crate::event::Event;

/// Holds statements back until their `Executing` record is durable.
///
/// A lossless subscription guarantees that no event is dropped; a gate
/// guarantees more: the statement does not reach the database before its
/// record is safe. The connection calls [`holds`](Gate::holds) with the
/// statement's `Executing` event and, when it returns true, awaits
/// [`pass`](Gate::pass) before running the statement. A gate batches its
/// work (one fsync for every statement waiting, not one each), and enforces
/// its own deadline: `pass` fails with
/// [`Error::NotDurable`](crate::Error::NotDurable) rather than hang.
pub trait Gate: Send + Sync + 'static {
    /// The name in errors.
    fn name(&self) -> &str;

    /// Whether the statement this `Executing` event begins must wait.
    fn holds(&self, event: &Event) -> bool;

    /// Resolves once `event` is durable, or fails if it cannot be made so.
    fn pass(&self, event: &Event) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;
}
