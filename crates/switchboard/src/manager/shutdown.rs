//! Draining: stop taking work, let in-flight work finish, close every
//! connection, flush lossless subscribers, stop.

use std::time::Instant;

use actix::prelude::*;
use switchboard_core::{CloseReason, ConnectionId, Error, Result};
use tokio::sync::oneshot;

use super::Manager;
use crate::connection::Close;
use crate::messages::Shutdown;

impl Manager {
    /// Closes one connection (after any work it has queued) and forgets it.
    pub(super) fn close(&mut self, id: ConnectionId, reason: CloseReason, ctx: &mut Context<Self>) {
        let Some(addr) = self.pool.remove(id) else {
            return;
        };
        self.pool.closing += 1;
        ctx.spawn(addr.send(Close(reason)).into_actor(self).map(|_, act, _| {
            act.pool.closing -= 1;
            act.check_drained();
        }));
    }

    /// During a drain, tells the shutdown callers once nothing is left open.
    pub(super) fn check_drained(&mut self) {
        if self.draining
            && self.pool.open.is_empty()
            && self.pool.connecting == 0
            && self.pool.closing == 0
        {
            for tx in self.drained.drain(..) {
                let _ = tx.send(());
            }
        }
    }
}

impl Handler<Shutdown> for Manager {
    type Result = ResponseActFuture<Self, Result<()>>;

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) -> Self::Result {
        if !self.draining {
            self.draining = true;
            let err = self.shutting_down();
            for w in self.pool.waiters.drain(..) {
                let _ = w.tx.send(Err(err.clone()));
            }
            for (id, _) in std::mem::take(&mut self.pool.idle) {
                self.close(id, CloseReason::Shutdown, ctx);
            }
            self.cancel_retries(ctx);
            self.publish_stats();
        }
        let (tx, rx) = oneshot::channel();
        self.drained.push(tx);
        self.check_drained();
        let timeout = self.shared.config.shutdown_timeout;
        let bus = self.shared.bus.clone();
        let drain = async move {
            let started = Instant::now();
            let drained = tokio::time::timeout(timeout, rx).await.is_ok();
            let left = timeout.saturating_sub(started.elapsed());
            let flushed = bus.flush(left).await;
            (drained, flushed)
        };
        Box::pin(
            drain
                .into_actor(self)
                .map(move |(drained, flushed), act, ctx| {
                    ctx.stop();
                    if !drained {
                        return Err(Error::Timeout {
                            after: timeout,
                            during: "shutdown: connections still lent out",
                        });
                    }
                    act.publish_stats();
                    flushed
                }),
        )
    }
}
