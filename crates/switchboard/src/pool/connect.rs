//! Opening connections: one attempt at a time per slot, guarded, bounded by
//! the connect timeout, with `Connecting`/`Connected`/`ConnectFailed`
//! events, and retried after a backoff while the pool decides someone
//! needs it.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use switchboard_core::{
    ActorRole, Backend, Check, ConnectErrorKind, ConnectionId, Emitter, Error, Payload, Phase,
    Result,
};
use tokio::sync::oneshot;

use super::{Manager, Slot};
use crate::backend::{Connected, connect};
use crate::connection::ConnectionActor;
use crate::connection::Probe;
use crate::guarded::Scope;
use crate::shared::{Outage, Shared};

impl Manager {
    /// The emitter of connect slot `id`, made at its first attempt.
    fn slot(&mut self, id: ConnectionId) -> &mut Slot {
        let shared = &self.shared;
        self.slots.entry(id).or_insert_with(|| Slot {
            emitter: Arc::new(Emitter::new(
                shared.bus.clone(),
                shared.pool.clone(),
                shared.backend,
                id,
            )),
            notify: None,
            delay: Default::default(),
        })
    }

    /// Starts connect attempt `attempt` of slot `id`; its outcome comes
    /// back to [`Manager::on_connect`].
    pub(super) fn attempt_connect(
        &mut self,
        id: ConnectionId,
        attempt: u32,
        ctx: &mut Context<Self>,
    ) {
        let emitter = self.slot(id).emitter.clone();
        let shared = self.shared.clone();
        let work = async move {
            let target: Arc<str> = shared.url.redacted().into();
            emitter.emit(Payload::Connecting {
                target: target.to_string(),
                attempt,
            });
            guard_connect(&shared, &emitter, target, attempt).await?;
            shared.bus.ready().await?;
            let mut connected = connect_within(&shared).await?;
            emitter.emit(Payload::Connected {
                server_version: connected.server_version.clone(),
                took: connected.took,
            });
            if !shared.hooks.setup.is_empty() {
                let started = Instant::now();
                set_up(&shared, &emitter, &mut connected).await?;
                emitter.emit(Payload::Initialized {
                    took: started.elapsed(),
                });
            }
            Ok(connected)
        };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.on_connect(id, attempt, result, ctx);
            act.carry_out(ctx);
        }));
    }

    fn on_connect(
        &mut self,
        id: ConnectionId,
        attempt: u32,
        result: Result<Connected>,
        ctx: &mut Context<Self>,
    ) {
        match result {
            Ok(connected) => {
                *self.shared.outage.lock() = None;
                let Some(slot) = self.slots.remove(&id) else {
                    return;
                };
                let actor = ConnectionActor::new(
                    connected.conn,
                    slot.emitter.clone(),
                    self.shared.clone(),
                    ctx.address(),
                    self.state.clone(),
                );
                self.admit(id, actor.start(), slot.emitter);
                if let Some(n) = slot.notify {
                    let _ = n.send(Ok(()));
                }
                self.state.get().connected(id, Instant::now());
            }
            Err(err) => self.on_connect_failed(id, attempt, err),
        }
    }

    /// A failed attempt: retried after a backoff while someone needs a
    /// connection, unless no retry can help (wrong password, denial).
    fn on_connect_failed(&mut self, id: ConnectionId, attempt: u32, err: Error) {
        let config = &self.shared.config;
        let warming = self.slots.get(&id).is_some_and(|s| s.notify.is_some());
        let give_up = is_permanent(&err) || (warming && config.fail_fast);
        let retry = self.state.get().connect_failed(id, !give_up);
        let delay = config.backoff.delay(attempt);
        let retry_every = config.backoff.ceiling(attempt);
        let slot = self.slot(id);
        slot.delay = delay;
        let emitter = slot.emitter.clone();
        let notify = slot.notify.take();
        if !matches!(err, Error::Denied { .. }) {
            emitter.emit(Payload::ConnectFailed {
                error: err.info(),
                attempt,
                retry_in: retry.then_some(delay),
            });
        }
        tracing::warn!(
            pool = %self.shared.pool, attempt, error = %err,
            retry_in_ms = retry.then_some(delay.as_millis() as u64),
            "connect failed"
        );
        if let Some(n) = notify {
            // Warming up: report the failure, unless the pool keeps trying
            // in the background and may start without it.
            let _ = n.send(if retry { Ok(()) } else { Err(err.clone()) });
        }
        if retry {
            *self.shared.outage.lock() = Some(Outage {
                attempts: attempt,
                last_error: err.to_string(),
                retry_every,
            });
        } else {
            self.slots.remove(&id);
        }
        self.last_connect_error = Some(err);
    }

    /// Waits out the backoff chosen for slot `id`, then asks the pool
    /// whether to try again.
    pub(super) fn back_off(&mut self, id: ConnectionId, ctx: &mut Context<Self>) {
        let delay = self.slot(id).delay;
        let timer = ctx.run_later(delay, move |act, ctx| {
            act.backoffs.remove(&id);
            act.state.get().retry_due(id);
            if !act.state.get().is_connecting(id) {
                act.slots.remove(&id);
            }
            act.carry_out(ctx);
        });
        self.backoffs.insert(id, timer);
    }
}

/// Opens the pool's minimum connections; answers when all attempts ended,
/// with the first failure if any.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct Warm;

impl Handler<Warm> for Manager {
    type Result = ResponseFuture<Result<()>>;

    fn handle(&mut self, _: Warm, ctx: &mut Self::Context) -> Self::Result {
        let ids = self.state.get().warm();
        let rxs: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let (tx, rx) = oneshot::channel();
                self.slot(id).notify = Some(tx);
                rx
            })
            .collect();
        self.carry_out(ctx);
        Box::pin(async move {
            for rx in rxs {
                rx.await.map_err(|_| Error::Gone(ActorRole::Manager))??;
            }
            Ok(())
        })
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
        Error::Denied { .. }
        | Error::InvalidUrl { .. }
        | Error::UnsupportedScheme { .. }
        | Error::BackendDisabled { .. } => true,
        // The pool's own setup failed on the server, or its hook panicked:
        // the setup must change first.
        Error::Database { .. } | Error::Panic(_) => true,
        _ => false,
    }
}

/// One connect, bounded by the pool's connect timeout.
///
/// A SQLite connect is not timed out from outside: diesel-async's SQLite
/// wrapper panics when a blocking call is abandoned on actix's
/// single-threaded runtime. It is local, and bounds its own waits.
async fn connect_within(shared: &Shared) -> Result<Connected> {
    let limit = shared.config.connect_timeout;
    let deadline = Instant::now() + limit;
    let attempt = connect(
        &shared.url,
        shared.backend,
        shared.sqlite_path.as_deref(),
        deadline,
    );
    if shared.backend == Backend::Sqlite {
        return attempt.await;
    }
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err(Error::Connect {
            target: shared.url.redacted().to_owned(),
            kind: ConnectErrorKind::Unreachable,
            message: format!(
                "no answer within the connect timeout ({}ms)",
                limit.as_millis()
            ),
        }),
    }
}

/// Runs the pool's `on_connect` setup on a new connection, bounded by the
/// connect timeout.
///
/// On SQLite it is not timed out (see [`connect_within`]): a hook there
/// that never ends holds its connect for ever.
async fn set_up(
    shared: &Arc<Shared>,
    emitter: &Arc<Emitter>,
    connected: &mut Connected,
) -> Result<()> {
    let limit = shared.config.connect_timeout;
    // The connection's actor, and its probe, come after: the hooks'
    // statements are counted on one of their own.
    let probe = Probe::new(emitter.clone(), shared.clone());
    let scope = Scope::for_hooks(emitter, shared, &probe);
    let setup = shared.hooks.setup.run(&mut connected.conn, scope);
    if shared.backend == Backend::Sqlite {
        return setup.await.map_err(|e| shared.scrub(e));
    }
    match tokio::time::timeout(limit, setup).await {
        Ok(result) => result.map_err(|e| shared.scrub(e)),
        Err(_) => Err(Error::Timeout {
            after: limit,
            phase: Phase::Setup,
        }),
    }
}

/// Asks the pool's guards whether a connect attempt may go ahead; a denial
/// is published as `Denied` (and no `ConnectFailed` follows).
async fn guard_connect(
    shared: &Shared,
    emitter: &Emitter,
    target: Arc<str>,
    attempt: u32,
) -> Result<()> {
    if shared.guards.is_empty() {
        return Ok(());
    }
    let check = Check::connect(
        shared.pool.clone(),
        shared.backend,
        emitter.connection(),
        target,
        attempt,
    );
    crate::statement::guard::ask(shared, emitter, check)
        .await
        .map(drop)
}
