//! Replaying recorded events through the rules: what would they have
//! denied? How a new rules file is tried on yesterday's traffic before it
//! guards today's.
//!
//! Each `Executing` event is judged as the live guard would have judged it:
//! its SQL classified in its backend's dialect, at its own time, with its
//! labels. A `max_concurrent` place is held until the statement's terminal
//! event (`Executed`, `ExecuteFailed`, `Denied`) or its connection's
//! `Closed`. The engine's counters are used and changed, so replay into a
//! fresh engine.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::io::BufRead;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchboard_core::guard::{Check, Permit, Statement};
use switchboard_core::{ConnectionId, Event, Labels, Payload};
use switchboard_sql::{Classifier, Dialect};

use crate::engine::RuleEngine;
use crate::judge::Decider;

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Events read.
    pub events: u64,
    /// `Executing` events judged.
    pub statements: u64,
    /// Statements the rules would have denied, in order; at most
    /// [`Replay::keep`] of them (`would_deny_total` counts them all).
    pub would_deny: Vec<WouldDeny>,
    /// How many statements the rules would have denied.
    pub would_deny_total: u64,
    /// Shadow reports, in order; at most [`Replay::keep`].
    pub shadow: Vec<Hit>,
    /// How many shadow reports there were.
    pub shadow_total: u64,
    /// Denials and shadow reports per rule (`read_only` and
    /// `on_parse_error` for the set's own checks).
    pub per_rule: BTreeMap<String, RuleCounts>,
    /// Lines that were not events, in order; at most [`Replay::keep`].
    pub malformed: Vec<Malformed>,
    /// How many lines were not events.
    pub malformed_total: u64,
}

/// One statement a rule would have denied or reported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hit {
    /// The `Executing` event's id.
    pub event_id: u64,
    /// When the statement ran.
    pub at: DateTime<Utc>,
    /// The statement's query id.
    pub query_id: u64,
    /// The pool.
    pub pool: Arc<str>,
    /// The statement's labels.
    pub labels: Labels,
    /// The SQL.
    pub sql: Arc<str>,
    /// The rule.
    pub rule: Decider,
    /// Why.
    pub reason: String,
}

/// A statement the rules would have denied.
pub type WouldDeny = Hit;

/// How often one rule decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleCounts {
    /// Statements it would have denied.
    pub denied: u64,
    /// Shadow reports it made.
    pub shadow: u64,
}

/// A line that was not an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Malformed {
    /// Its 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub error: String,
}

/// A replay in progress: feed it events, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct Replay {
    engine: RuleEngine,
    classifier: Classifier,
    /// Places held by statements that have not ended yet, by query id, with
    /// their connection (its `Closed` ends them all).
    in_flight: HashMap<u64, (ConnectionId, Permit)>,
    keep: usize,
    report: ReplayReport,
}

impl Replay {
    /// The default of [`keep`](Self::keep).
    pub const DEFAULT_KEEP: usize = 10_000;

    /// A replay through `engine` (its counters are used and changed).
    pub fn new(engine: &RuleEngine) -> Self {
        Replay {
            engine: engine.clone(),
            classifier: Classifier::default(),
            in_flight: HashMap::new(),
            keep: Self::DEFAULT_KEEP,
            report: ReplayReport::default(),
        }
    }

    /// Keeps at most `n` denials, shadow reports and malformed lines each in
    /// the report (the totals count them all), so that replaying a large
    /// file takes bounded memory.
    #[must_use]
    pub fn keep(mut self, n: usize) -> Self {
        self.keep = n;
        self
    }

    /// Feeds one event.
    pub fn event(&mut self, event: &Event) {
        self.report.events += 1;
        let meta = event.meta();
        match event.payload() {
            Payload::Executing {
                query_id,
                sql,
                origin,
                ..
            } => self.statement(event, *query_id, sql, *origin),
            Payload::Executed { query_id, .. } | Payload::ExecuteFailed { query_id, .. } => {
                self.in_flight.remove(query_id);
            }
            Payload::Denied {
                query_id: Some(query_id),
                ..
            } => {
                self.in_flight.remove(query_id);
            }
            Payload::Closed { .. } => {
                if let Some(connection) = meta.connection {
                    self.in_flight.retain(|_, (c, _)| *c != connection);
                }
            }
            _ => {}
        }
    }

    /// Records that line `line` was not an event.
    pub fn malformed(&mut self, line: u64, error: impl Display) {
        let report = &mut self.report;
        report.malformed_total += 1;
        if report.malformed.len() < self.keep {
            report.malformed.push(Malformed {
                line,
                error: error.to_string(),
            });
        }
    }

    /// The report; statements still in flight are let go.
    pub fn finish(self) -> ReplayReport {
        self.report
    }

    fn statement(
        &mut self,
        event: &Event,
        query_id: u64,
        sql: &Arc<str>,
        origin: switchboard_core::Origin,
    ) {
        let meta = event.meta();
        let classified = self
            .classifier
            .classify(sql, Dialect::for_backend(meta.backend));
        let connection = meta.connection.unwrap_or_default();
        let check = Check::statement(
            meta.pool.clone(),
            meta.backend,
            connection,
            meta.labels.clone(),
            Statement::new(query_id, sql.clone(), origin, classified),
        )
        .at(meta.at);
        let outcome = self.engine.judge(&check);

        let report = &mut self.report;
        report.statements += 1;
        let hit = |rule: Decider, reason: String| Hit {
            event_id: meta.id,
            at: meta.at,
            query_id,
            pool: meta.pool.clone(),
            labels: meta.labels.clone(),
            sql: sql.clone(),
            rule,
            reason,
        };
        for (rule, reason) in outcome.shadow {
            report.shadow_total += 1;
            report
                .per_rule
                .entry(rule.name().to_owned())
                .or_default()
                .shadow += 1;
            if report.shadow.len() < self.keep {
                report.shadow.push(hit(rule, reason));
            }
        }
        match outcome.denied {
            Some((rule, reason)) => {
                report.would_deny_total += 1;
                report
                    .per_rule
                    .entry(rule.name().to_owned())
                    .or_default()
                    .denied += 1;
                if report.would_deny.len() < self.keep {
                    report.would_deny.push(hit(rule, reason));
                }
            }
            None => {
                if let Some(permit) = outcome.holds.into_permit() {
                    self.in_flight.insert(query_id, (connection, permit));
                }
            }
        }
    }
}

/// Replays `events`; an `Err` item is a malformed line, numbered by its
/// position (the first item is line 1).
pub fn replay<E: Display>(
    engine: &RuleEngine,
    events: impl IntoIterator<Item = Result<Event, E>>,
) -> ReplayReport {
    let mut replay = Replay::new(engine);
    for (i, event) in events.into_iter().enumerate() {
        match event {
            Ok(event) => replay.event(&event),
            Err(error) => replay.malformed(i as u64 + 1, error),
        }
    }
    replay.finish()
}

/// Replays a JSON Lines file of events. Blank lines are skipped (and still
/// counted in line numbers); a line that is not an event is reported as
/// malformed. Fails only when reading fails.
pub fn replay_jsonl(engine: &RuleEngine, reader: impl BufRead) -> std::io::Result<ReplayReport> {
    let mut replay = Replay::new(engine);
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        let number = i as u64 + 1;
        match std::str::from_utf8(&line) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => match Event::from_json(text) {
                Ok(event) => replay.event(&event),
                Err(error) => replay.malformed(number, error),
            },
            Err(error) => replay.malformed(number, format_args!("not UTF-8: {error}")),
        }
    }
    Ok(replay.finish())
}

#[cfg(test)]
mod tests;
