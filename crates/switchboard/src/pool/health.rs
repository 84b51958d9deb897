//! Keeping the pool healthy over time: the reaper (idle timeout, maximum
//! lifetime, the minimum kept warm), pings before lending a connection that
//! sat idle, and leak reports.

use std::time::{Duration, Instant};

use actix::prelude::*;
use switchboard_core::ConnectionId;

use super::Manager;
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
            ctx.run_interval(every, |act, ctx| {
                act.state.get().reap(Instant::now());
                act.carry_out(ctx);
            });
        }
    }

    /// Pings a connection before a queued caller gets it; a connection that
    /// fails closes itself, and the pool finds or opens another.
    pub(super) fn ping(&mut self, conn: ConnectionId, ctx: &mut Context<Self>) {
        let Some(addr) = self.state.lender(conn) else {
            self.state.get().pinged(conn, false, Instant::now());
            return;
        };
        ctx.spawn(
            addr.send(Ping)
                .into_actor(self)
                .map(move |result, act, ctx| {
                    let ok = matches!(result, Ok(Ok(())));
                    if !ok {
                        act.dismiss(conn);
                    }
                    act.state.get().pinged(conn, ok, Instant::now());
                    act.carry_out(ctx);
                }),
        );
    }

    /// Reports connections lent out longer than the leak threshold, checked
    /// a few times per threshold so a report comes at most a quarter of it
    /// late.
    pub(super) fn start_leak_reports(&mut self, ctx: &mut Context<Self>) {
        let Some(threshold) = self.shared.config.leak_threshold else {
            return;
        };
        let every = (threshold / 4).max(Duration::from_millis(5));
        ctx.run_interval(every, move |act, _| act.report_leaks(threshold));
    }

    /// Publishes `LeakSuspected` for each loan past the threshold. The
    /// log line is the `TracingLogger`'s, which writes it from the event
    /// (the manager wrote one too, so a leak was logged twice).
    fn report_leaks(&self, threshold: Duration) {
        for emitter in self.members.values() {
            emitter.report_leak(threshold);
        }
    }
}
