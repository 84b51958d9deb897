//! One statement's whole story, told in one place: `Executing`, the
//! guards (which may deny or rewrite it), the read-only backstop, the checks
//! and gates before it reaches the database (bind count, lossless
//! subscribers' room, durability gates), the run (within its time limit),
//! and the outcome event (`Executed`, `ExecuteFailed` or `Denied`).
//!
//! Every statement runs through [`StatementRun::tell`]: `Execute` and
//! `Load` messages (from the session) and every statement a closure sends
//! through its guarded connection (`guarded`).

pub(crate) mod backstop;
pub(crate) mod guard;
mod limit;

pub(crate) use limit::cancel_abandoned;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use switchboard_core::guard::{Check, Decision, Statement};
use switchboard_core::{
    Classified, Emitter, Error, Kind, Labels, Origin, Params, Payload, Result, StatementClass,
};

use crate::backend::Canceller;
use crate::bind::BindValue;
use crate::config::ParamPolicy;
use crate::connection::{Deadline, Probe};
use crate::shared::Shared;

static NEXT_QUERY_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh process-wide query id.
pub(crate) fn next_query_id() -> u64 {
    NEXT_QUERY_ID.fetch_add(1, Ordering::Relaxed)
}

/// Where a statement runs and whom its story is told to: the connection's
/// emitter and probe, the pool's shared facts, the message's labels and
/// deadline.
pub(crate) struct Teller<'a> {
    pub(crate) emitter: &'a Emitter,
    pub(crate) shared: &'a Shared,
    pub(crate) probe: &'a Probe,
    pub(crate) labels: &'a Labels,
    pub(crate) deadline: Option<&'a Deadline>,
}

/// Whether a statement may have a time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Never limited: a pipelined statement, whose cancel would hit its
    /// neighbours. (PostgreSQL's alone pipelines.)
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Unlimited,
    /// Limited by the pool's statement timeout and the message's deadline,
    /// and cancelled on the server past it.
    Cancel,
}

/// The driver's work for a statement: its future, and, when the statement
/// has a time limit, a way to cancel it on the server (`None`: SQLite, which
/// runs to its end). Asked for only then: making one costs allocations.
pub(crate) type Work<Fut> = (Fut, Option<Canceller>);

/// A statement as the caller gave it, about to run.
pub(crate) struct StatementRun<'b> {
    pub(crate) sql: Arc<str>,
    pub(crate) classified: Classified,
    /// Its parameters as events and guards show them; `None`: described
    /// from `binds` when someone can see them (`Execute`'s own binds).
    pub(crate) params: Option<Params>,
    pub(crate) origin: Origin,
    /// The bind values are `Execute`'s own, counted against the SQL's
    /// placeholders before the statement is sent. (A typed diesel query's
    /// binds match its SQL by construction.)
    pub(crate) check_binds: bool,
    /// Whether the runner can run a guard's rewrite of the SQL.
    pub(crate) rewritable: bool,
    /// Its bind values: taken out of a failure's server message (which may
    /// quote them) unless the pool shows bind values.
    pub(crate) binds: &'b [Arc<dyn BindValue>],
}

/// What the guards made of a statement: the SQL to run (the caller's, or a
/// guard's rewrite) with its classification, and the decision to hold
/// (its permits count the statement as in flight) until the statement ends.
/// Boxed, and only when there are guards: it lives in every statement's
/// future, which it would grow by its size.
struct Cleared {
    sql: Arc<str>,
    classified: Classified,
    decision: Option<Box<Decision>>,
}

impl<'b> StatementRun<'b> {
    /// An `Execute`'s statement (a message's, or one a closure sends):
    /// its SQL classified (unless `classified` already is its
    /// classification), its binds counted against its placeholders, and
    /// described as the pool shows them when the story has an audience.
    pub(crate) fn execute(
        shared: &Shared,
        sql: Arc<str>,
        classified: Option<Classified>,
        binds: &'b [Arc<dyn BindValue>],
        origin: Origin,
    ) -> Self {
        StatementRun {
            params: None,
            classified: classified
                .unwrap_or_else(|| shared.classifier.classify(&sql, shared.dialect)),
            sql,
            origin,
            check_binds: true,
            rewritable: true,
            binds,
        }
    }
}

impl StatementRun<'_> {
    /// Tells the statement's story on `at`. `run` is given the SQL to run
    /// (the caller's, or a guard's rewrite) and whether a canceller is
    /// needed, and returns the driver's [`Work`]; nothing reaches the
    /// driver before the guards allowed it. `rows` counts what it returned,
    /// for `Executed`. `poisoned` is set when the statement ignored its
    /// cancel and the connection's state is unknown.
    pub(crate) async fn tell<T, F, Fut>(
        self,
        at: &Teller<'_>,
        stop: Stop,
        poisoned: &mut bool,
        run: F,
        rows: fn(&T) -> Option<u64>,
    ) -> Result<T>
    where
        F: FnOnce(Arc<str>, bool) -> Work<Fut>,
        Fut: Future<Output = diesel::QueryResult<T>>,
    {
        let given = self.params.as_ref().map_or(self.binds.len(), Params::len);
        let (origin, check_binds, rewritable) = (self.origin, self.check_binds, self.rewritable);
        let class = match &*self.classified {
            Ok(c) => c.class,
            Err(_) => StatementClass::Misc,
        };
        let query_id = next_query_id();
        let binds = self.binds;
        let plain = at.shared.config.params == ParamPolicy::Plain;
        let mut params = self.params;
        let mut described = || {
            params
                .take()
                .unwrap_or_else(|| crate::bind::describe(binds, plain))
        };
        let executing_of = |sql: Arc<str>, params: Params| Payload::Executing {
            query_id,
            sql,
            params,
            class,
            origin,
        };
        // One clock reading for the event's stamp, the connection's record
        // of its statement and (when no guard is waited for) the
        // statement's start.
        let now = Instant::now();
        // Guards see the parameters as the event shows them.
        let (executing, checked) = match Heard::now(at.shared) {
            // Nobody can receive the event, and nothing waits on it: the
            // connection's status and numbering follow, but no event (and
            // no description of the binds) is made.
            Heard::Not => {
                at.emitter
                    .count(executing_of(self.sql.clone(), Params::none()), now);
                (None, None)
            }
            Heard::Yes { guarded, gated } => {
                let params = described();
                let checked = guarded.then(|| params.clone());
                // Made only when some subscription takes it, or a gate
                // will hold it; taps alone are called without an event.
                let executing = if gated {
                    Some(
                        at.emitter
                            .publish_as(executing_of(self.sql.clone(), params), at.labels),
                    )
                } else {
                    at.emitter.publish_queued_as(
                        executing_of(self.sql.clone(), params),
                        at.labels,
                        now,
                    )
                };
                (executing, checked)
            }
        };
        let guarded = checked.is_some();
        let Cleared {
            sql,
            classified,
            decision,
        } = if let Some(params) = checked {
            // Boxed, as are the other waits below that most statements
            // skip: kept inline, each would grow every statement's future
            // (boxed per statement) by its size, about 1 KB here; see the
            // test `a_statement_future_stays_small`.
            let statement =
                Statement::new(query_id, self.sql, origin, self.classified).with_params(params);
            Box::pin(clear(at, statement, rewritable)).await?
        } else {
            Cleared {
                sql: self.sql,
                classified: self.classified,
                decision: None,
            }
        };
        if let Some(refusal) = backstop::refuses(at.shared, &sql) {
            return Err(guard::deny(
                at.emitter,
                at.labels,
                Some(query_id),
                backstop::NAME,
                refusal.to_owned(),
            ));
        }
        let effect = at.shared.effect(&sql, &classified);
        if stop == Stop::Unlimited && !effect.is_neutral() {
            // Only statements that leave the session as it was share a
            // connection; a guard's rewrite must not change that, since a
            // shared connection is never reset.
            return Err(guard::deny(
                at.emitter,
                at.labels,
                Some(query_id),
                "pipeline",
                "a guard rewrote a pipelined statement into one that changes the session (SET, BEGIN, a temporary table, ...); it would reach the other statements sharing the connection"
                    .to_owned(),
            ));
        }
        // After the guards' wait, if there was one.
        let started = if guarded { Instant::now() } else { now };
        let outcome = async {
            if let Ok(c) = &*classified
                && check_binds
                && c.placeholders != given
            {
                return Err(Error::BindMismatch {
                    expected: c.placeholders,
                    given,
                });
            }
            let bus = &at.shared.bus;
            if !bus.has_room() {
                Box::pin(bus.ready()).await?;
            }
            // A gate added since the statement was found unheard holds it
            // like any other: its `Executing` is published now, for the
            // gate to pass.
            if bus.has_gates() {
                let executing = executing.unwrap_or_else(|| {
                    at.emitter
                        .publish_as(executing_of(sql.clone(), described()), at.labels)
                });
                Box::pin(bus.pass_gates(&executing)).await?;
            }
            at.probe.count_statement();
            at.probe.debt.note(effect);
            match limit::time_limit(at).filter(|_| stop == Stop::Cancel) {
                Some(within) => {
                    let (statement, canceller) = run(sql, true);
                    Box::pin(limit::run_limited(
                        at, within, canceller, statement, poisoned,
                    ))
                    .await
                }
                None => run(sql, false).0.await.map_err(|e| at.shared.db_error(&e)),
            }
        }
        .await;
        let ended = Instant::now();
        let took = ended.saturating_duration_since(started);
        let outcome = outcome.map_err(|e| match e {
            e @ (Error::Database { .. } | Error::ConnectionLost { .. } | Error::Driver(_)) => {
                let values: Vec<String> = binds.iter().filter_map(|b| b.text()).collect();
                at.shared
                    .hooks
                    .classify(at.shared.redact_values(e, &values))
            }
            other => other,
        });
        drop(decision);
        let outcome_event = match &outcome {
            Ok(v) => Payload::Executed {
                query_id,
                took,
                rows: rows(v),
            },
            Err(e) => Payload::ExecuteFailed {
                query_id,
                took,
                error: e.info(),
            },
        };
        at.emitter.emit_as_at(outcome_event, at.labels, ended);
        let ran_class = match &*classified {
            Ok(c) => c.class,
            Err(_) => StatementClass::Misc,
        };
        if class == StatementClass::Misc || ran_class == StatementClass::Misc {
            // SET, RESET, ROLLBACK, ... may have undone the database's
            // read-only setting (the caller's statement, or a guard's
            // rewrite of it): check it again before the next work.
            at.probe.backstop.forget();
        }
        outcome
    }
}

/// Who a statement's `Executing` reaches when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// Nobody: no subscription takes `Executing`, no guard, no gate.
    Not,
    /// A subscription, a tap, a guard or a gate; `guarded`: guards decide
    /// on it; `gated`: a gate holds it.
    Yes { guarded: bool, gated: bool },
}

impl Heard {
    fn now(shared: &Shared) -> Heard {
        let guarded = !shared.guards.is_empty();
        let gated = shared.bus.has_gates();
        if !guarded && !gated && !shared.bus.hears(Kind::Executing) {
            Heard::Not
        } else {
            Heard::Yes { guarded, gated }
        }
    }
}

/// Asks the pool's guards about a statement. A rewrite the runner cannot
/// run is refused, with the reason.
async fn clear(at: &Teller<'_>, statement: Statement, rewritable: bool) -> Result<Cleared> {
    let shared = at.shared;
    let query_id = statement.query_id;
    let (sql, classified) = (statement.sql.clone(), statement.classified.clone());
    let check = Check::statement(
        shared.pool.clone(),
        shared.backend,
        at.emitter.connection(),
        at.labels.clone(),
        statement,
    );
    let decision = guard::ask(shared, at.emitter, check).await?;
    match (decision.sql().cloned(), decision.rewritten.clone()) {
        (Some(new), _) if !rewritable => {
            let by = decision.rewrites.last().map(|r| r.guard.clone());
            let reason = format!(
                "rewrote the statement to {new:?}, but this statement binds user-defined PostgreSQL types, which the driver collects itself from the query as written; deny it instead, or send it as an Execute"
            );
            Err(guard::deny(
                at.emitter,
                at.labels,
                Some(query_id),
                by.as_deref().unwrap_or_default(),
                reason,
            ))
        }
        (Some(sql), Some(classified)) => Ok(Cleared {
            sql,
            classified,
            decision: Some(Box::new(decision)),
        }),
        _ => Ok(Cleared {
            sql,
            classified,
            decision: Some(Box::new(decision)),
        }),
    }
}
