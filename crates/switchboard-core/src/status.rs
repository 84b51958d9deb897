//! Live status of a pool and its connections, for operators: what the
//! `Status` message answers and what a `/status` endpoint serves.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::{Backend, ConnectionId, ErrorInfo, Labels};
use crate::serde_duration;

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionState {
    /// In the idle set, free for the next caller.
    Idle,
    /// Lent to a caller (one message or a lease), no statement running.
    Lent,
    /// Lent, with a statement running.
    Running,
}

/// The statement a connection is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CurrentStatement {
    /// Its query id.
    pub query_id: u64,
    /// Its SQL text, without bind values.
    pub sql: Arc<str>,
    /// How long it has been running.
    #[serde(rename = "running_for_ns", with = "serde_duration")]
    pub running_for: Duration,
}

/// One connection, as its own events describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionStatus {
    /// The connection.
    pub id: ConnectionId,
    /// What it is doing.
    pub state: ConnectionState,
    /// How long it has been open.
    #[serde(rename = "age_ns", with = "serde_duration")]
    pub age: Duration,
    /// Statements it finished (successfully or not).
    pub statements: u64,
    /// Statements that failed.
    pub failures: u64,
    /// The last error it saw, if any.
    pub last_error: Option<ErrorInfo>,
    /// How long the current holder has had it.
    #[serde(
        default,
        rename = "lent_for_ns",
        with = "serde_duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lent_for: Option<Duration>,
    /// The current holder's labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub holder: Labels,
    /// The statement under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<CurrentStatement>,
}

/// A snapshot of one pool. (Not `non_exhaustive`: the manager, in another
/// crate, builds it.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStatus {
    /// The pool's name.
    pub pool: Arc<str>,
    /// The database it talks to.
    pub backend: Backend,
    /// Connections kept open at least.
    pub min: usize,
    /// Connections open at most.
    pub max: usize,
    /// Open connections.
    pub open: usize,
    /// Open connections nobody holds.
    pub idle: usize,
    /// Open connections lent out.
    pub busy: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Connect attempts under way.
    pub connecting: usize,
    /// Every open connection, by id.
    pub connections: Vec<ConnectionStatus>,
}

/// A pool's sizes at one moment: cheap to read (a few atomics), unlike a
/// [`PoolStatus`], which asks the manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PoolStats {
    /// Open connections.
    pub open: usize,
    /// Open connections not lent to anyone.
    pub idle: usize,
    /// Open connections lent out.
    pub busy: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Connect attempts under way.
    pub connecting: usize,
    /// The pool's maximum size.
    pub max: usize,
}

impl PoolStats {
    /// Sizes from the pool's counters; `busy` is what of `open` is not
    /// `idle`.
    pub fn new(open: usize, idle: usize, waiting: usize, connecting: usize, max: usize) -> Self {
        PoolStats {
            open,
            idle,
            busy: open.saturating_sub(idle),
            waiting,
            connecting,
            max,
        }
    }
}

/// A pool whose sizes an observer can sample, without depending on the
/// crate that runs the pool: what `switchboard-observe`'s metrics keep as
/// gauges. `switchboard::Switchboard` implements it.
pub trait PoolGauges: Send + Sync {
    /// The pool's name, as on its events.
    fn name(&self) -> &str;
    /// The database it talks to.
    fn backend(&self) -> Backend;
    /// Its sizes now.
    fn stats(&self) -> PoolStats;
}
