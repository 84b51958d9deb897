//! Keeping the pool healthy over time: idle timeout, maximum lifetime, the
//! minimum kept warm, health checks before lending, and which connect
//! failures are worth retrying.

use std::time::{Duration, Instant};

use actix::prelude::*;
use switchboard_core::{CloseReason, ConnectErrorKind, ConnectionId, Error};

use super::Manager;
use crate::config::HealthCheck;
use crate::connection::Ping;

impl Manager {
    /// Checks idle connections periodically, often enough that none outlives
    /// its idle timeout or lifetime by more than a quarter of it.
    pub(super) fn start_reaper(&mut self, ctx: &mut Context<Self>) {
        let config = &self.shared.config;
        let shortest = [config.idle_timeout, config.max_lifetime]
            .into_iter()
            .flatten()
            .min();
        if let Some(shortest) = shortest {
            let every = (shortest / 4).clamp(Duration::from_millis(5), Duration::from_secs(5));
            ctx.run_interval(every, |act, ctx| act.reap(ctx));
        }
    }

    /// Closes idle connections past their lifetime, or idle too long while
    /// the pool is above its minimum; then refills to the minimum.
    fn reap(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        let config = &self.shared.config;
        let now = Instant::now();
        let mut keep = self.pool.open.len();
        let mut doomed = Vec::new();
        // Oldest idle first: those are the ones past the idle timeout.
        for &(id, since) in &self.pool.idle {
            if self.expired(id) {
                doomed.push((id, CloseReason::Lifetime));
                keep -= 1;
            } else if config
                .idle_timeout
                .is_some_and(|t| now.saturating_duration_since(since) >= t)
                && keep > config.min_size
            {
                doomed.push((id, CloseReason::Idle));
                keep -= 1;
            }
        }
        if doomed.is_empty() {
            return;
        }
        for (id, reason) in doomed {
            self.close(id, reason, ctx);
        }
        self.replenish(ctx);
        self.publish_stats();
    }

    /// Whether a connection is older than the pool's maximum lifetime.
    pub(super) fn expired(&self, id: ConnectionId) -> bool {
        match (self.shared.config.max_lifetime, self.pool.emitters.get(&id)) {
            (Some(lifetime), Some(emitter)) => emitter.age() >= lifetime,
            _ => false,
        }
    }

    /// Opens connections for waiting callers, and up to the minimum size.
    pub(super) fn replenish(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        self.grow(ctx);
        while self.pool.size() < self.shared.config.min_size {
            self.spawn_connection(ctx, None);
        }
    }

    /// Whether a connection idle since `since` must be pinged before lending.
    pub(super) fn needs_ping(&self, since: Instant) -> bool {
        match self.shared.config.health_check {
            HealthCheck::PingIfIdle(after) => since.elapsed() >= after,
            _ => false,
        }
    }

    /// Pings a connection taken from the idle set; on success it goes to
    /// the longest waiting caller, on failure (it closed itself) another
    /// connection is found or opened.
    pub(super) fn ping(&mut self, id: ConnectionId, ctx: &mut Context<Self>) {
        let Some(addr) = self.pool.open.get(&id).cloned() else {
            self.grow(ctx);
            return;
        };
        ctx.spawn(
            addr.send(Ping)
                .into_actor(self)
                .map(move |result, act, ctx| {
                    match result {
                        Ok(Ok(())) if !act.draining => act.hand_off(id, ctx),
                        Ok(Ok(())) => act.close(id, CloseReason::Shutdown, ctx),
                        _ => {
                            act.pool.remove(id);
                            act.replenish(ctx);
                            act.check_drained();
                        }
                    }
                    act.publish_stats();
                }),
        );
    }
}

/// Whether no retry can fix a connect failure: the credentials, the
/// database name or a guard's decision must change first.
pub(super) fn is_permanent(err: &Error) -> bool {
    match err {
        Error::Connect { kind, .. } => matches!(
            kind,
            ConnectErrorKind::Authentication
                | ConnectErrorKind::UnknownDatabase
                | ConnectErrorKind::CannotOpen
        ),
        Error::Denied { .. } | Error::InvalidUrl { .. } | Error::UnsupportedScheme { .. } => true,
        _ => false,
    }
}
