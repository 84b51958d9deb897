//! One statement's whole story, told in one place: `Executing`, the
//! guards (which may deny or rewrite it), the checks and gates before it
//! reaches the database (bind count, lossless subscribers' room,
//! durability gates), the run (within its time limit), and the outcome
//! event (`Executed`, `ExecuteFailed` or `Denied`).
//!
//! `Execute` and `Load` run through [`StatementRun`]; closures' statements
//! are reported by the connection's instrumentation.

pub(crate) mod guard;
mod limit;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use switchboard_core::guard::{Check, Decision, Statement};
use switchboard_core::{Classified, Error, EventKind, Origin, Params, Result, StatementClass};

use crate::bind::BindValue;
use crate::connection::{Conn, Held, Session, reset};

static NEXT_QUERY_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh process-wide query id.
pub(crate) fn next_query_id() -> u64 {
    NEXT_QUERY_ID.fetch_add(1, Ordering::Relaxed)
}

/// A statement as the caller gave it, about to run.
pub(crate) struct StatementRun<'b> {
    pub(crate) sql: Arc<str>,
    pub(crate) classified: Classified,
    pub(crate) params: Params,
    pub(crate) origin: Origin,
    /// Its bind values: taken out of a failure's server message (which may
    /// quote them) unless the pool shows bind values.
    pub(crate) binds: &'b [Arc<dyn BindValue>],
}

/// What the guards made of a statement: the SQL to run (the caller's, or a
/// guard's rewrite) with its classification, and the decision to hold
/// (its permits count the statement as in flight) until the statement ends.
struct Cleared {
    sql: Arc<str>,
    classified: Classified,
    decision: Decision,
}

impl StatementRun<'_> {
    /// Runs the statement on `session` between its `Executing` and its last
    /// event. `run` is given the connection and the SQL to run; `rows`
    /// counts what it returned, for `Executed`.
    pub(crate) async fn run<T>(
        self,
        session: &mut Session,
        run: impl AsyncFnOnce(Conn<'_>, Arc<str>) -> diesel::QueryResult<T>,
        rows: fn(&T) -> u64,
    ) -> Result<T> {
        let given = self.params.len();
        let origin = self.origin;
        let class = match &*self.classified {
            Ok(c) => c.class,
            Err(_) => StatementClass::Misc,
        };
        let query_id = next_query_id();
        let executing = session.emitter.publish_as(
            EventKind::Executing {
                query_id,
                sql: self.sql.clone(),
                params: self.params,
                class,
                origin,
            },
            &session.labels,
        );
        let Cleared {
            sql,
            classified,
            decision,
        } = if session.shared.guards.is_empty() {
            Cleared {
                sql: self.sql,
                classified: self.classified,
                decision: Decision::default(),
            }
        } else {
            // Boxed, as are the other waits below that most statements
            // skip: kept inline, each would grow every statement's future
            // (boxed per statement) by its size, about 1 KB here; see the
            // test `a_statement_future_stays_small`.
            Box::pin(clear(session, query_id, self.sql, self.classified, origin)).await?
        };
        let started = Instant::now();
        let outcome = async {
            if let Ok(c) = &*classified
                && origin == Origin::Execute
                && c.placeholders != given
            {
                return Err(Error::BindMismatch {
                    expected: c.placeholders,
                    given,
                });
            }
            let bus = &session.shared.bus;
            if !bus.has_room() {
                Box::pin(bus.ready()).await?;
            }
            bus.pass_gates(&executing).await?;
            session.probe.count_statement();
            session.probe.debt.note(reset::effect(&sql, &classified));
            match (limit::time_limit(session), &mut session.conn) {
                // Pipelined statements never have a time limit.
                (Some(within), Held::Own(_)) => {
                    Box::pin(limit::run_limited(session, within, run, sql)).await
                }
                (_, held) => run(held.conn(), sql)
                    .await
                    .map_err(|e| session.shared.db_error(&e)),
            }
        }
        .await;
        let took = started.elapsed();
        drop(decision);
        let binds = self.binds;
        let outcome = outcome.map_err(|e| match e {
            e @ (Error::Database { .. } | Error::ConnectionLost { .. } | Error::Driver(_)) => {
                let values: Vec<String> = binds.iter().filter_map(|b| b.text()).collect();
                session
                    .shared
                    .hooks
                    .classify(session.shared.redact_values(e, &values))
            }
            other => other,
        });
        let outcome_event = match &outcome {
            Ok(v) => EventKind::Executed {
                query_id,
                took,
                rows: Some(rows(v)),
            },
            Err(e) => EventKind::ExecuteFailed {
                query_id,
                took,
                error: e.info(),
            },
        };
        session.emitter.emit_as(outcome_event, &session.labels);
        outcome
    }
}

/// Asks the pool's guards about a statement. A rewrite of a typed `Load`
/// is refused (its rows' types come from the query, not from SQL text).
async fn clear(
    session: &Session,
    query_id: u64,
    sql: Arc<str>,
    classified: Classified,
    origin: Origin,
) -> Result<Cleared> {
    let shared = &session.shared;
    let statement = Statement::new(query_id, sql.clone(), origin, classified.clone());
    let check = Check::statement(
        shared.pool.clone(),
        shared.backend,
        session.emitter.connection(),
        session.labels.clone(),
        statement,
    );
    let decision = guard::ask(shared, &session.emitter, check).await?;
    match (decision.sql().cloned(), decision.rewritten.clone()) {
        (Some(new), _) if origin == Origin::Load => {
            let by = decision.rewrites.last().map(|r| r.guard.clone());
            let reason = format!(
                "rewrote a typed Load query to {new:?}; only Execute statements can be rewritten"
            );
            Err(guard::deny(
                &session.emitter,
                &session.labels,
                Some(query_id),
                by.as_deref().unwrap_or_default(),
                reason,
            ))
        }
        (Some(sql), Some(classified)) => Ok(Cleared {
            sql,
            classified,
            decision,
        }),
        _ => Ok(Cleared {
            sql,
            classified,
            decision,
        }),
    }
}
