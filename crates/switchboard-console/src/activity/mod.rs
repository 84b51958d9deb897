//! What the page shows beside the event stream, kept per pool from the
//! same events: per-second outcome counts and checkout waits ([`series`]),
//! and denials, slowest statements and leaks ([`notable`]).
//!
//! Counting is the only work the console does for every event (a few tens
//! of nanoseconds on its own thread); see `feed` for why the stream itself
//! is paced.

pub mod notable;
pub mod series;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_core::{Meta, Payload};

use notable::{Denial, Leak, Notable, Slow};
use series::{Outcome, Series, SeriesView};

/// One pool's activity.
#[derive(Debug)]
pub(crate) struct PoolActivity {
    series: Series,
    notable: Notable,
    /// Events a lossy source dropped before the console saw them (its
    /// `Lagged` notices): the counts are short by about this much.
    missed: u64,
}

/// What `GET /api/pools/{name}/activity` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityView {
    /// The pool.
    pub pool: String,
    /// Per-second counts over the window.
    pub series: SeriesView,
    /// Recent denials and shadow denials, newest first.
    pub denials: Vec<Denial>,
    /// The slowest statements of the window, slowest first.
    pub slowest: Vec<Slow>,
    /// Recent leak suspicions, newest first.
    pub leaks: Vec<Leak>,
    /// Events the console missed (it fell behind and the bus dropped them).
    pub missed_events: u64,
}

impl PoolActivity {
    pub(crate) fn new(window: Duration) -> PoolActivity {
        PoolActivity {
            series: Series::new(window),
            notable: Notable::new(window),
            missed: 0,
        }
    }

    /// Counts one event; `second`: its time, in seconds since the epoch
    /// (the caller has it already).
    pub(crate) fn record(&mut self, meta: &Meta, payload: &Payload, second: i64) {
        match payload {
            Payload::Executing { query_id, sql, .. } => self.notable.executing(*query_id, sql),
            Payload::Executed { query_id, took, .. } => {
                self.series.outcome(second, Outcome::Ok);
                self.finished(meta, *query_id, *took, false);
            }
            Payload::ExecuteFailed { query_id, took, .. } => {
                self.series.outcome(second, Outcome::Error);
                self.finished(meta, *query_id, *took, true);
            }
            Payload::Denied {
                query_id,
                guard,
                reason,
            } => {
                self.series.outcome(second, Outcome::Denied);
                self.notable
                    .denied(denial(meta, *query_id, guard, reason, false));
            }
            Payload::ShadowDenied {
                query_id,
                guard,
                reason,
            } => self
                .notable
                .denied(denial(meta, *query_id, guard, reason, true)),
            Payload::CheckedOut { waited } => self.series.checkout(second, *waited),
            Payload::LeakSuspected { held } => self.notable.leak(Leak {
                at: meta.at,
                connection: meta.connection,
                held_ns: nanos(*held),
                labels: meta.labels.clone(),
            }),
            Payload::Lagged { dropped } => self.missed += dropped,
            _ => {}
        }
    }

    /// A statement ended: a candidate for the slowest list, its entry made
    /// only if it would make it.
    fn finished(&mut self, meta: &Meta, query_id: u64, took: Duration, failed: bool) {
        if !self.notable.passes_over(query_id, meta.at, nanos(took)) {
            self.notable.finished(slow(meta, query_id, took, failed));
        }
    }

    pub(crate) fn view(&self, pool: &str, now: DateTime<Utc>) -> ActivityView {
        ActivityView {
            pool: pool.to_owned(),
            series: self.series.view(now.timestamp()),
            denials: self.notable.denials(),
            slowest: self.notable.slowest(now),
            leaks: self.notable.leaks(),
            missed_events: self.missed,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn slow(meta: &Meta, query_id: u64, took: Duration, failed: bool) -> Slow {
    Slow {
        at: meta.at,
        connection: meta.connection,
        query_id,
        took_ns: nanos(took),
        failed,
        sql: None,
        labels: meta.labels.clone(),
    }
}

fn denial(meta: &Meta, query_id: Option<u64>, guard: &str, reason: &str, shadow: bool) -> Denial {
    Denial {
        at: meta.at,
        connection: meta.connection,
        query_id,
        guard: guard.to_owned(),
        reason: reason.to_owned(),
        shadow,
        sql: None,
        labels: meta.labels.clone(),
    }
}
