//! Lines for everything but statements: connects, transactions,
//! checkouts, leaks, closes, and the logger's own lag.

use switchboard_core::{Event, EventKind};
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
            EventKind::Connecting { target, attempt } => {
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
            EventKind::Connected {
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
            EventKind::ConnectFailed {
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
            EventKind::Denied {
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
            EventKind::TxBegin { depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, "begin");
            }
            EventKind::TxCommit { depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, "commit");
            }
            EventKind::TxRollback { depth, reason } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, reason = ?reason, "rollback");
            }
            EventKind::Initialized { took } => tracing::debug!(
                target: TARGET_CONNECTION,
                pool,
                connection = meta.connection,
                took_ms = ms(*took),
                "initialized"
            ),
            EventKind::Reset { took, what } => tracing::debug!(
                target: TARGET_CONNECTION,
                pool,
                connection = meta.connection,
                what = ?what,
                took_ms = ms(*took),
                "reset"
            ),
            EventKind::PoolStarted { min, max } => tracing::info!(
                target: TARGET_POOL,
                pool,
                min,
                max,
                "pool starting"
            ),
            EventKind::PoolStopped { drained } => tracing::info!(
                target: TARGET_POOL,
                pool,
                drained,
                "pool stopped"
            ),
            EventKind::CheckoutTimedOut {
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
            EventKind::Savepoint { name, depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, savepoint = &**name, "savepoint");
            }
            EventKind::SavepointReleased { name, depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, savepoint = &**name, "release savepoint");
            }
            EventKind::SavepointRolledBack { name, depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, savepoint = &**name, "rollback to savepoint");
            }
            EventKind::Invalidated { error } => tracing::warn!(
                target: TARGET_CONNECTION,
                pool,
                connection = meta.connection,
                error.type = error.kind.as_str(),
                "connection invalidated: {}",
                error.message
            ),
            EventKind::Closing { reason } => {
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
            EventKind::Closed {
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
            EventKind::CheckedOut { waited } => tracing::trace!(
                target: TARGET_POOL,
                pool,
                connection = meta.connection,
                waited_ms = ms(*waited),
                labels = labels(&meta.labels),
                "checked out"
            ),
            EventKind::CheckedIn { held } => tracing::trace!(
                target: TARGET_POOL,
                pool,
                connection = meta.connection,
                held_ms = ms(*held),
                "checked in"
            ),
            EventKind::LeakSuspected { held } => tracing::warn!(
                target: TARGET_POOL,
                pool,
                connection = meta.connection,
                held_ms = ms(*held),
                labels = labels(&meta.labels),
                "possible connection leak: lent out for {held:?}, past the leak threshold"
            ),
            EventKind::Lagged { dropped } => tracing::warn!(
                target: TARGET_OBSERVE,
                pool,
                dropped,
                "the log fell behind: {dropped} events were dropped and not logged"
            ),
            _ => {}
        }
    }
}
