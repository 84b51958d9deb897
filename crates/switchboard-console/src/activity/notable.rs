//! [`Notable`]: what an operator looks for first: denials (enforced and
//! shadow), the slowest recent statements, and suspected leaks.
//!
//! Denials and outcomes carry only a query id; the SQL text is taken from
//! the statement's `Executing` event, remembered while the statement is
//! in flight.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_core::{ConnectionId, Labels};
use switchboard_observe::InFlight;

/// Statements remembered between `Executing` and their outcome; past this
/// (outcomes the console never saw), the oldest are forgotten.
const IN_FLIGHT: usize = 1024;
/// Denials kept.
const DENIALS: usize = 50;
/// Slowest statements kept.
const SLOWEST: usize = 10;
/// Leak suspicions kept.
const LEAKS: usize = 20;

/// A statement or connect a guard denied, or would have (shadow).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Denial {
    /// When.
    pub at: DateTime<Utc>,
    /// The connection.
    pub connection: Option<ConnectionId>,
    /// The statement's query id; `null` for a connect.
    pub query_id: Option<u64>,
    /// The guard.
    pub guard: String,
    /// Its reason.
    pub reason: String,
    /// Whether the guard only reported it (shadow mode): the work went
    /// ahead.
    pub shadow: bool,
    /// The statement's SQL, without bind values, when the console saw its
    /// `Executing`.
    pub sql: Option<Arc<str>>,
    /// The caller's labels.
    pub labels: Labels,
}

/// One of the slowest recent statements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slow {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// The connection.
    pub connection: Option<ConnectionId>,
    /// Its query id.
    pub query_id: u64,
    /// How long it ran, in nanoseconds.
    pub took_ns: u64,
    /// Whether it failed.
    pub failed: bool,
    /// Its SQL, without bind values, when the console saw its `Executing`.
    pub sql: Option<Arc<str>>,
    /// The caller's labels.
    pub labels: Labels,
}

/// A connection lent out past the pool's leak threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leak {
    /// When it was reported.
    pub at: DateTime<Utc>,
    /// The connection.
    pub connection: Option<ConnectionId>,
    /// How long it had been out, in nanoseconds.
    pub held_ns: u64,
    /// The holder's labels.
    pub labels: Labels,
}

/// The notable things of one pool.
#[derive(Debug)]
pub(crate) struct Notable {
    /// The SQL of statements whose outcome has not come yet, by query id.
    in_flight: InFlight<Arc<str>>,
    denials: VecDeque<Denial>,
    /// Slowest first, none older than `window`.
    slowest: Vec<Slow>,
    /// Until when (inclusive) every entry of `slowest` stays within the
    /// window.
    expires: DateTime<Utc>,
    leaks: VecDeque<Leak>,
    window: chrono::Duration,
}

impl Notable {
    pub(crate) fn new(window: Duration) -> Notable {
        Notable {
            in_flight: InFlight::new(IN_FLIGHT),
            denials: VecDeque::new(),
            slowest: Vec::new(),
            expires: DateTime::<Utc>::MIN_UTC,
            leaks: VecDeque::new(),
            window: chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX),
        }
    }

    pub(crate) fn executing(&mut self, query_id: u64, sql: &Arc<str>) {
        self.in_flight.insert(query_id, sql.clone());
    }

    /// The statement's SQL, forgotten now that it has ended.
    fn ended(&mut self, query_id: u64) -> Option<Arc<str>> {
        self.in_flight.remove(query_id)
    }

    pub(crate) fn denied(&mut self, mut denial: Denial) {
        if let Some(q) = denial.query_id {
            // A shadow denial does not end the statement.
            denial.sql = if denial.shadow {
                self.in_flight.get_mut(q).cloned()
            } else {
                self.ended(q)
            };
        }
        if self.denials.len() == DENIALS {
            self.denials.pop_front();
        }
        self.denials.push_back(denial);
    }

    /// A statement that ended at `at` after `took_ns` and would not make
    /// the slowest list (it is full, all of it within the window, and its
    /// last at least as slow): forgotten, and `true`. Most statements end
    /// here, before their entry is made (it clones their labels).
    pub(crate) fn passes_over(&mut self, query_id: u64, at: DateTime<Utc>, took_ns: u64) -> bool {
        let over = self.slowest.len() == SLOWEST
            && self.slowest.last().is_some_and(|s| s.took_ns >= took_ns)
            && at <= self.expires;
        if over {
            self.ended(query_id);
        }
        over
    }

    /// A statement ended after `took` (failed or not).
    pub(crate) fn finished(&mut self, mut slow: Slow) {
        slow.sql = self.ended(slow.query_id);
        let horizon = slow.at - self.window;
        self.slowest.retain(|s| s.at >= horizon);
        if self.slowest.len() == SLOWEST
            && self
                .slowest
                .last()
                .is_some_and(|s| s.took_ns >= slow.took_ns)
        {
            return;
        }
        let at = self.slowest.partition_point(|s| s.took_ns >= slow.took_ns);
        self.slowest.insert(at, slow);
        self.slowest.truncate(SLOWEST);
        self.expires =
            self.slowest
                .iter()
                .map(|s| s.at)
                .min()
                .map_or(DateTime::<Utc>::MIN_UTC, |oldest| {
                    oldest
                        .checked_add_signed(self.window)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC)
                });
    }

    pub(crate) fn leak(&mut self, leak: Leak) {
        if self.leaks.len() == LEAKS {
            self.leaks.pop_front();
        }
        self.leaks.push_back(leak);
    }

    /// Newest first.
    pub(crate) fn denials(&self) -> Vec<Denial> {
        self.denials.iter().rev().cloned().collect()
    }

    /// Slowest first, within the window ending `now`.
    pub(crate) fn slowest(&self, now: DateTime<Utc>) -> Vec<Slow> {
        let horizon = now - self.window;
        self.slowest
            .iter()
            .filter(|s| s.at >= horizon)
            .cloned()
            .collect()
    }

    /// Newest first.
    pub(crate) fn leaks(&self) -> Vec<Leak> {
        self.leaks.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    fn slow(q: u64, took_ms: u64, when: i64) -> Slow {
        Slow {
            at: at(when),
            connection: Some(1),
            query_id: q,
            took_ns: took_ms * 1_000_000,
            failed: false,
            sql: None,
            labels: Labels::new(),
        }
    }

    fn denial(q: Option<u64>, shadow: bool) -> Denial {
        Denial {
            at: at(0),
            connection: Some(1),
            query_id: q,
            guard: "rules".into(),
            reason: "no".into(),
            shadow,
            sql: None,
            labels: Labels::new(),
        }
    }

    #[test]
    fn a_denial_carries_its_statements_sql() {
        let mut n = Notable::new(Duration::from_secs(60));
        n.executing(7, &Arc::from("DELETE FROM t"));
        n.executing(8, &Arc::from("UPDATE t SET a = 1"));
        n.denied(denial(Some(8), true));
        n.denied(denial(Some(8), false));
        n.denied(denial(None, false));
        let d = n.denials();
        assert_eq!(d[0].sql, None); // the connect
        assert_eq!(d[1].sql.as_deref(), Some("UPDATE t SET a = 1"));
        assert_eq!(d[2].sql.as_deref(), Some("UPDATE t SET a = 1"));
        // The enforced denial ended statement 8; 7 is still in flight.
        assert_eq!(n.in_flight.len(), 1);
    }

    #[test]
    fn the_slowest_ten_of_the_window_are_kept_in_order() {
        let mut n = Notable::new(Duration::from_secs(60));
        for q in 0..30 {
            n.executing(q, &Arc::from(format!("SELECT {q}")));
            n.finished(slow(q, q % 13, 100));
        }
        let s = n.slowest(at(100));
        assert_eq!(s.len(), SLOWEST);
        assert_eq!(s[0].took_ns, 12_000_000);
        assert!(s.windows(2).all(|w| w[0].took_ns >= w[1].took_ns));
        // Of two equally slow, the earlier stays first.
        assert_eq!(s[0].sql.as_deref(), Some("SELECT 12"));
        assert_eq!(s[1].sql.as_deref(), Some("SELECT 25"));
        // A minute later they are all past the window.
        assert!(n.slowest(at(161)).is_empty());
        n.finished(slow(99, 1, 161));
        assert_eq!(n.slowest(at(161)).len(), 1);
        assert!(n.in_flight.is_empty());
    }

    #[test]
    fn passing_over_a_statement_keeps_the_list_the_full_path_keeps() {
        // Two lists fed the same statements, over several windows: one
        // through the quick test first (as the activity does), one always
        // through the full path.
        let (mut quick, mut full) = (
            Notable::new(Duration::from_secs(60)),
            Notable::new(Duration::from_secs(60)),
        );
        let mut passed = 0;
        for q in 0..2_000u64 {
            // Times step a quarter second; durations wander, with a slow
            // spell now and then that ages out of the window later.
            let when = (q / 4) as i64;
            let took_ms = (q * 7919 % 97) + if q % 400 < 5 { 500 } else { 0 };
            let sql: Arc<str> = Arc::from(format!("SELECT {q}"));
            quick.executing(q, &sql);
            full.executing(q, &sql);
            if quick.passes_over(q, at(when), took_ms * 1_000_000) {
                passed += 1;
            } else {
                quick.finished(slow(q, took_ms, when));
            }
            full.finished(slow(q, took_ms, when));
            assert_eq!(quick.slowest(at(when)), full.slowest(at(when)), "at {q}");
        }
        assert!(quick.in_flight.is_empty() && full.in_flight.is_empty());
        assert!(passed > 1_500, "the quick path was taken {passed} times");
    }

    #[test]
    fn lists_are_bounded() {
        let mut n = Notable::new(Duration::from_secs(60));
        for q in 0..(IN_FLIGHT as u64 + 10) {
            n.executing(q, &Arc::from("SELECT 1"));
            n.denied(denial(None, false));
            n.leak(Leak {
                at: at(0),
                connection: None,
                held_ns: q,
                labels: Labels::new(),
            });
        }
        assert_eq!(n.in_flight.len(), IN_FLIGHT);
        // The oldest were forgotten.
        assert_eq!(n.ended(9), None);
        assert_eq!(n.ended(10).as_deref(), Some("SELECT 1"));
        assert_eq!(n.denials().len(), DENIALS);
        assert_eq!(n.leaks().len(), LEAKS);
        assert_eq!(n.leaks()[0].held_ns, IN_FLIGHT as u64 + 9);
    }
}
