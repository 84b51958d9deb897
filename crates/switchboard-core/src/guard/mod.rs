//! Guards: subscribers asked *before* a connect or a statement, able to veto.
//!
//! A connection builds a [`Check`] and asks every guard of its pool, in
//! registration order, for a [`Ruling`]. The first `Deny` wins and nothing
//! reaches the database; a `Rewrite` (from a guard allowed to rewrite)
//! replaces the SQL the later guards and the database see; a guard in shadow
//! mode reports what it would have denied without denying.
//!
//! A guard is either
//! - **inline**: a [`Guard`] called on the connection's own thread, for fast,
//!   non-blocking decisions such as the rule engine's; or
//! - **an actor**: any `Recipient<Check>`, sent the check and awaited, for
//!   decisions that need I/O or their own state machine.
//!
//! Each has a [`GuardPolicy`]: a deadline (actors), whether it fails open,
//! whether it may rewrite. A guard that times out, panics, is gone, or
//! rewrites without permission *fails*: that denies the work unless the
//! guard fails open.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix::dev::MessageResponse;
use actix::{Actor, Message};
use chrono::{DateTime, Utc};

use crate::class::{Classified, StatementClass};
use crate::event::{Backend, ConnectionId, Labels, Origin, Params};
use crate::read_only::ReadOnly;

/// What a guard is asked about: one connect attempt or one statement.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Check {
    /// The pool.
    pub pool: Arc<str>,
    /// The database the pool talks to.
    pub backend: Backend,
    /// The connection (for a connect: the one being opened).
    pub connection: ConnectionId,
    /// Labels of the message that caused the work (none for a connect).
    pub labels: Labels,
    /// When the check was made; rules with time windows decide by it.
    pub at: DateTime<Utc>,
    /// What is about to happen.
    pub subject: Subject,
}

/// What a [`Check`] is about.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Subject {
    /// A connect attempt.
    Connect {
        /// The database URL with its password replaced by `***`.
        target: Arc<str>,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// A statement.
    Statement(Statement),
}

/// A statement about to run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Statement {
    /// The id its events carry.
    pub query_id: u64,
    /// The SQL text (without bind values).
    pub sql: Arc<str>,
    /// Where it came from.
    pub origin: Origin,
    /// What the SQL does, or why it could not be parsed.
    pub classified: Classified,
    /// The bind parameters, as the statement's `Executing` event shows them:
    /// always each one's SQL type, and its value only when the pool's
    /// `ParamPolicy` is `Plain`.
    pub params: Params,
}

impl Statement {
    /// A statement to check, without bind parameters.
    pub fn new(query_id: u64, sql: Arc<str>, origin: Origin, classified: Classified) -> Self {
        Statement {
            query_id,
            sql,
            origin,
            classified,
            params: Params::none(),
        }
    }

    /// The same statement with its bind parameters.
    #[must_use]
    pub fn with_params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    /// Its pgAudit class; `Misc` when it could not be parsed.
    pub fn class(&self) -> StatementClass {
        match &*self.classified {
            Ok(c) => c.class,
            Err(_) => StatementClass::Misc,
        }
    }
}

impl Check {
    /// A check of a statement.
    pub fn statement(
        pool: Arc<str>,
        backend: Backend,
        connection: ConnectionId,
        labels: Labels,
        statement: Statement,
    ) -> Self {
        Check {
            pool,
            backend,
            connection,
            labels,
            at: Utc::now(),
            subject: Subject::Statement(statement),
        }
    }

    /// A check of a connect attempt.
    pub fn connect(
        pool: Arc<str>,
        backend: Backend,
        connection: ConnectionId,
        target: Arc<str>,
        attempt: u32,
    ) -> Self {
        Check {
            pool,
            backend,
            connection,
            labels: Labels::new(),
            at: Utc::now(),
            subject: Subject::Connect { target, attempt },
        }
    }

    /// The same check made at another time (replaying recorded traffic).
    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// The statement, when the check is about one.
    pub fn as_statement(&self) -> Option<&Statement> {
        match &self.subject {
            Subject::Statement(s) => Some(s),
            Subject::Connect { .. } => None,
        }
    }

    /// The statement's query id, when the check is about one.
    pub fn query_id(&self) -> Option<u64> {
        self.as_statement().map(|s| s.query_id)
    }
}

impl Message for Check {
    type Result = Ruling;
}

/// A guard's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Do not run it; the caller gets [`Error::Denied`](crate::Error::Denied)
    /// with this reason.
    Deny {
        /// Why, in words an operator understands.
        reason: String,
    },
    /// Run `sql` instead (honoured only from a guard allowed to rewrite).
    Rewrite {
        /// The replacement SQL; it must take the same bind parameters.
        sql: String,
        /// Why.
        reason: String,
    },
}

/// Held while the statement it was given for runs; dropped after it ends.
/// How a guard counts work in flight (concurrency limits).
pub struct Permit(#[allow(dead_code)] Box<dyn Any + Send>);

impl Permit {
    /// Wraps anything whose `Drop` releases what the guard counted.
    pub fn new(hold: impl Any + Send) -> Self {
        Permit(Box::new(hold))
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}

/// A guard's answer to a [`Check`]: the verdict, what it would have denied
/// in shadow mode, and a permit to hold while the work runs.
#[derive(Debug)]
#[non_exhaustive]
pub struct Ruling {
    /// The decision.
    pub verdict: Verdict,
    /// Reasons it would have denied, had its shadowed rules been enforced.
    pub shadow: Vec<String>,
    /// Held until the statement ends.
    pub permit: Option<Permit>,
}

impl Ruling {
    /// Go ahead.
    pub fn allow() -> Self {
        Verdict::Allow.into()
    }

    /// Do not run it, because `reason`.
    pub fn deny(reason: impl Into<String>) -> Self {
        Verdict::Deny {
            reason: reason.into(),
        }
        .into()
    }

    /// Run `sql` instead, because `reason`.
    pub fn rewrite(sql: impl Into<String>, reason: impl Into<String>) -> Self {
        Verdict::Rewrite {
            sql: sql.into(),
            reason: reason.into(),
        }
        .into()
    }

    /// The same ruling, also reporting that a shadowed rule would deny.
    #[must_use]
    pub fn with_shadow(mut self, reason: impl Into<String>) -> Self {
        self.shadow.push(reason.into());
        self
    }

    /// The same ruling, holding `permit` while the statement runs.
    #[must_use]
    pub fn with_permit(mut self, permit: Permit) -> Self {
        self.permit = Some(permit);
        self
    }
}

impl From<Verdict> for Ruling {
    fn from(verdict: Verdict) -> Self {
        Ruling {
            verdict,
            shadow: Vec::new(),
            permit: None,
        }
    }
}

impl<A: Actor> MessageResponse<A, Check> for Ruling {
    fn handle(self, _: &mut A::Context, tx: Option<actix::dev::OneshotSender<Ruling>>) {
        if let Some(tx) = tx {
            // The connection gave up waiting (deadline); nothing to do.
            let _ = tx.send(self);
        }
    }
}

/// A guard called inline, on the connection's thread. It must not block:
/// anything slow belongs in an actor guard, which has a deadline.
pub trait Guard: Send + Sync + 'static {
    /// The name in events and errors.
    fn name(&self) -> &str;

    /// Decides on one check.
    fn check(&self, check: &Check) -> Ruling;

    /// The switch of this guard's read-only mode, if it has one. A pool
    /// registering the guard watches it and makes the database enforce the
    /// mode too (see [`ReadOnly`]). Default: none.
    fn read_only(&self) -> Option<ReadOnly> {
        None
    }
}

/// How a guard is treated when it fails, and what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuardPolicy {
    /// How long an actor guard may take; past it the guard has failed.
    pub deadline: Duration,
    /// Whether a failed guard lets the work go ahead (default: no, it fails
    /// closed).
    pub fail_open: bool,
    /// Whether the guard may answer `Rewrite`.
    pub may_rewrite: bool,
}

impl Default for GuardPolicy {
    fn default() -> Self {
        GuardPolicy {
            deadline: Duration::from_secs(1),
            fail_open: false,
            may_rewrite: false,
        }
    }
}

impl GuardPolicy {
    /// This deadline for an actor guard's answer.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// A failed guard lets the work go ahead (logged), instead of denying it.
    #[must_use]
    pub fn fail_open(mut self) -> Self {
        self.fail_open = true;
        self
    }

    /// The guard may answer `Rewrite`.
    #[must_use]
    pub fn may_rewrite(mut self) -> Self {
        self.may_rewrite = true;
        self
    }
}

mod decide;

pub use decide::{Decision, Denial, Guards, Rewrite, Shadowed};

#[cfg(test)]
mod tests;
