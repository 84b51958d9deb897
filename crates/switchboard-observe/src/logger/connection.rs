//! Lines for everything but statements: connects, transactions,
//! checkouts, leaks, closes, and the logger's own lag.

use switchboard_core::{Event, Payload};
use tracing::Level;

use super::state::{LoggerState, labels};
use super::text::ms;
use super::{TARGET_CONNECTION, TARGET_OBSERVE, TARGET_POOL};
use crate::endpoint::Endpoint;

impl LoggerState {
    /// Everything but statements: connects, transactions, checkouts,
    /// leaks, closes, lag.
    pub(super) fn connection_event(&mut self, event: &Event) {
        let meta = event.meta();
        let pool = &*meta.pool;
        match event.payload() {
            Payload::Connecting { target, attempt } => {
                let endpoint = Endpoint::from_target(target, meta.backend);
                let ep = self.endpoints.entry(meta.pool.clone()).or_default();
                *ep = endpoint;
                tracing::debug!(
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    attempt,
                    db.system = meta.backend.as_str(),
                    db.namespace = ep.namespace.as_deref(),
                    server.address = ep.address.as_deref(),
                    server.port = ep.port,
                    "connecting"
                );
            }
            Payload::Connected {
                server_version,
                took,
            } => {
                let ep = self.endpoint(meta);
                tracing::info!(
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    db.system = meta.backend.as_str(),
                    db.namespace = ep.namespace.as_deref(),
                    server.address = ep.address.as_deref(),
                    server.port = ep.port,
                    server_version = server_version.as_str(),
                    took_ms = ms(*took),
                    "connected"
                );
            }
            Payload::ConnectFailed {
                error,
                attempt,
                retry_in,
            } => {
                let ep = self.endpoint(meta);
                let (level, then) = match retry_in {
                    Some(d) => (Level::WARN, format!("retrying in {d:?}")),
                    None => (Level::ERROR, "giving up".to_owned()),
                };
                at_level!(
                    level,
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    attempt,
                    db.system = meta.backend.as_str(),
                    server.address = ep.address.as_deref(),
                    server.port = ep.port,
                    error.type = error.kind.as_str(),
                    db.response.status_code = error.code.as_deref(),
                    "connect failed: {}; {then}",
                    error.message
                );
            }
            Payload::Denied {
                query_id: None,
                guard,
                reason,
            } => tracing::warn!(
                target: TARGET_CONNECTION,
                pool,
                connection = meta.connection,
                guard = guard.as_str(),
                "connect denied by {guard}: {reason}"
            ),
            Payload::TxBegin { depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, "begin");
            }
            Payload::TxCommit { depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, "commit");
            }
            Payload::TxRollback { depth, reason } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, reason = ?reason, "rollback");
            }
            Payload::Initialized { took } => tracing::debug!(
                target: TARGET_CONNECTION,
                pool,
                connection = meta.connection,
                took_ms = ms(*took),
                "initialized"
            ),
            Payload::Reset { took, what } => tracing::debug!(
                target: TARGET_CONNECTION,
                pool,
                connection = meta.connection,
                what = ?what,
                took_ms = ms(*took),
                "reset"
            ),
            Payload::PoolStarted { min, max } => tracing::info!(
                target: TARGET_POOL,
                pool,
                min,
                max,
                "pool starting"
            ),
            Payload::PoolStopped { drained } => tracing::info!(
                target: TARGET_POOL,
                pool,
                drained,
                "pool stopped"
            ),
            Payload::CheckoutTimedOut {
                waited,
                waiting,
                unreachable,
            } => tracing::warn!(
                target: TARGET_POOL,
                pool,
                waited_ms = ms(*waited),
                waiting,
                unreachable,
                labels = labels(&meta.labels),
                "a caller gave up waiting for a connection after {waited:?}"
            ),
            Payload::Savepoint { name, depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, savepoint = &**name, "savepoint");
            }
            Payload::SavepointReleased { name, depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, savepoint = &**name, "release savepoint");
            }
            Payload::SavepointRolledBack { name, depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, savepoint = &**name, "rollback to savepoint");
            }
            Payload::Invalidated { error } => tracing::warn!(
                target: TARGET_CONNECTION,
                pool,
                connection = meta.connection,
                error.type = error.kind.as_str(),
                "connection invalidated: {}",
                error.message
            ),
            Payload::Closing { reason } => {
                if let Some(c) = meta.connection {
                    self.closing.insert(c, *reason);
                }
                tracing::debug!(
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    reason = ?reason,
                    "closing"
                );
            }
            Payload::Closed {
                lifetime,
                statements,
            } => {
                let reason = meta.connection.and_then(|c| self.closing.remove(c));
                tracing::info!(
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    reason = reason.map(debug),
                    lifetime_ms = ms(*lifetime),
                    statements,
                    "closed"
                );
            }
            Payload::CheckedOut { waited } => tracing::trace!(
                target: TARGET_POOL,
                pool,
                connection = meta.connection,
                waited_ms = ms(*waited),
                labels = labels(&meta.labels),
                "checked out"
            ),
            Payload::CheckedIn { held } => tracing::trace!(
                target: TARGET_POOL,
                pool,
                connection = meta.connection,
                held_ms = ms(*held),
                "checked in"
            ),
            Payload::LeakSuspected { held } => tracing::warn!(
                target: TARGET_POOL,
                pool,
                connection = meta.connection,
                held_ms = ms(*held),
                labels = labels(&meta.labels),
                "possible connection leak: lent out for {held:?}, past the leak threshold"
            ),
            Payload::Lagged { dropped } => tracing::warn!(
                target: TARGET_OBSERVE,
                pool,
                dropped,
                "the log fell behind: {dropped} events were dropped and not logged"
            ),
            _ => {}
        }
    }
}
