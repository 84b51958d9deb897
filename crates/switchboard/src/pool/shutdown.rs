//! Draining: stop taking work, let in-flight work finish, close every
//! connection, flush lossless subscribers, stop.

use std::time::Instant;

use actix::prelude::*;
use switchboard_core::{CloseReason, ConnectionId, Error, Payload, Phase, Result};
use tokio::sync::oneshot;

use super::Manager;
use crate::connection::Close;
use crate::messages::Shutdown;

impl Manager {
    /// Closes one connection (after any work it has queued); the pool has
    /// already forgotten it.
    pub(super) fn close(
        &mut self,
        conn: ConnectionId,
        reason: CloseReason,
        ctx: &mut Context<Self>,
    ) {
        let Some(addr) = self.dismiss(conn) else {
            self.state.get().closed();
            return;
        };
        ctx.spawn(
            addr.send(Close(reason))
                .into_actor(self)
                .map(|_, act, ctx| {
                    act.state.get().closed();
                    act.carry_out(ctx);
                }),
        );
    }
}

impl Handler<Shutdown> for Manager {
    type Result = ResponseActFuture<Self, Result<()>>;

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.drained.push(tx);
        self.state.get().shutdown();
        self.carry_out(ctx);
        let timeout = self.shared.config.shutdown_timeout;
        let shared = self.shared.clone();
        let drain = async move {
            let started = Instant::now();
            let drained = tokio::time::timeout(timeout, rx).await.is_ok();
            shared.events.emit(Payload::PoolStopped { drained });
            let left = timeout.saturating_sub(started.elapsed());
            let flushed = shared.bus.flush(left).await;
            // Nothing more comes from this pool: if it was the bus's last,
            // the bus ends its subscriptions.
            shared.attachment.release();
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
                            phase: Phase::Shutdown,
                        });
                    }
                    act.publish_stats();
                    flushed
                }),
        )
    }
}
