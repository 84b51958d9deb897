//! [`Series`]: per-second counts of statement outcomes and checkout waits
//! over the last minutes, for the page's charts.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

/// Checkout waits in one second, by size: bucket 0 holds waits under 1 µs,
/// then two buckets per power of two of microseconds (`[2^e, 1.5·2^e)` and
/// `[1.5·2^e, 2^(e+1))`), the last one everything from about 8 s. A
/// percentile read from it is at most 50% above the true value, plenty
/// for a chart, in 192 bytes a second.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Waits([u32; Waits::BUCKETS]);

impl Default for Waits {
    fn default() -> Self {
        Waits([0; Waits::BUCKETS])
    }
}

impl Waits {
    const BUCKETS: usize = 48;

    fn index(wait: Duration) -> usize {
        let us = wait.as_micros();
        if us == 0 {
            return 0;
        }
        let e = 127 - us.leading_zeros() as usize;
        let half = if e == 0 {
            0
        } else {
            ((us >> (e - 1)) & 1) as usize
        };
        (2 * e + half + 1).min(Self::BUCKETS - 1)
    }

    /// The upper bound of bucket `i`.
    fn upper(i: usize) -> Duration {
        if i == 0 {
            return Duration::from_micros(1);
        }
        let (e, half) = ((i - 1) / 2, (i - 1) % 2);
        let base = 1u64 << e;
        Duration::from_micros(if half == 0 {
            base + (base / 2).max(1)
        } else {
            2 * base
        })
    }

    fn add(&mut self, wait: Duration) {
        let slot = &mut self.0[Self::index(wait)];
        *slot = slot.saturating_add(1);
    }

    fn count(&self) -> u64 {
        self.0.iter().map(|&n| u64::from(n)).sum()
    }

    /// The upper bound of the bucket holding quantile `q`; `None` when
    /// empty.
    fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, &c) in self.0.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(Self::upper(i));
            }
        }
        None
    }
}

/// One second of a pool's activity.
#[derive(Debug, Clone, Default)]
struct Second {
    ok: u32,
    error: u32,
    denied: u32,
    waits: Waits,
}

/// What happened to a statement, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Error,
    Denied,
}

/// The last `window` seconds, one [`Second`] each, keyed by the events'
/// own wall-clock second. Events older than the window are not counted.
#[derive(Debug)]
pub(crate) struct Series {
    /// The unix second of `seconds[0]`.
    first: i64,
    seconds: VecDeque<Second>,
    window: usize,
}

/// The series as the page draws it: oldest first, one value a second,
/// ending at the second asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesView {
    /// Unix time (seconds) of the first value.
    pub start: i64,
    /// Statements that succeeded, each second.
    pub ok: Vec<u32>,
    /// Statements that failed.
    pub error: Vec<u32>,
    /// Statements (and connects) a guard denied.
    pub denied: Vec<u32>,
    /// The 99th percentile of checkout waits (seconds; null when no
    /// checkout happened that second), to within the bucket (≤ 50% high).
    pub checkout_wait_p99_s: Vec<Option<f64>>,
}

impl Series {
    pub(crate) fn new(window: Duration) -> Series {
        let window = window.as_secs().clamp(1, 24 * 3600) as usize;
        Series {
            first: 0,
            seconds: VecDeque::with_capacity(window),
            window,
        }
    }

    /// The bucket of unix second `at`, made (and older ones forgotten) if
    /// needed; `None` if `at` is older than the window.
    fn second(&mut self, at: i64) -> Option<&mut Second> {
        let end = self.first + self.seconds.len() as i64;
        if (self.first..end).contains(&at) {
            // A second already open: most events.
            return self.seconds.get_mut((at - self.first) as usize);
        }
        if self.seconds.is_empty() || at >= end + self.window as i64 {
            // First event, or a silence longer than the window.
            self.seconds.clear();
            self.first = at;
            self.seconds.push_back(Second::default());
        } else if at < self.first {
            return None;
        } else {
            for _ in end..=at {
                self.seconds.push_back(Second::default());
            }
            while self.seconds.len() > self.window {
                self.seconds.pop_front();
                self.first += 1;
            }
            if at < self.first {
                return None;
            }
        }
        self.seconds.get_mut((at - self.first) as usize)
    }

    pub(crate) fn outcome(&mut self, at: i64, outcome: Outcome) {
        if let Some(s) = self.second(at) {
            let n = match outcome {
                Outcome::Ok => &mut s.ok,
                Outcome::Error => &mut s.error,
                Outcome::Denied => &mut s.denied,
            };
            *n = n.saturating_add(1);
        }
    }

    pub(crate) fn checkout(&mut self, at: i64, waited: Duration) {
        if let Some(s) = self.second(at) {
            s.waits.add(waited);
        }
    }

    /// The window ending at unix second `now`, zeros where nothing happened.
    pub(crate) fn view(&self, now: i64) -> SeriesView {
        let start = now - self.window as i64 + 1;
        let mut view = SeriesView {
            start,
            ok: Vec::with_capacity(self.window),
            error: Vec::with_capacity(self.window),
            denied: Vec::with_capacity(self.window),
            checkout_wait_p99_s: Vec::with_capacity(self.window),
        };
        for t in start..=now {
            let s = (t >= self.first)
                .then(|| self.seconds.get((t - self.first) as usize))
                .flatten();
            view.ok.push(s.map_or(0, |s| s.ok));
            view.error.push(s.map_or(0, |s| s.error));
            view.denied.push(s.map_or(0, |s| s.denied));
            view.checkout_wait_p99_s.push(
                s.and_then(|s| s.waits.quantile(0.99))
                    .map(|d| d.as_secs_f64()),
            );
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_buckets_bound_their_values_within_half() {
        for us in [
            0u64, 1, 2, 3, 5, 7, 100, 1000, 1499, 1500, 65_535, 8_000_000,
        ] {
            let d = Duration::from_micros(us);
            let upper = Waits::upper(Waits::index(d));
            assert!(upper > d, "{us} µs: bucket ends at {upper:?}");
            assert!(
                upper.as_secs_f64() <= (us.max(1) as f64 * 1.5 + 1.0) * 1e-6,
                "{us} µs: {upper:?}"
            );
        }
        // Beyond the last bucket: counted in it.
        assert_eq!(Waits::index(Duration::from_secs(3600)), Waits::BUCKETS - 1);
    }

    #[test]
    fn p99_follows_the_slowest_percent() {
        let mut w = Waits::default();
        for _ in 0..990 {
            w.add(Duration::from_micros(10));
        }
        for _ in 0..10 {
            w.add(Duration::from_millis(40));
        }
        let p99 = w.quantile(0.99).unwrap();
        assert!(p99 <= Duration::from_micros(16), "{p99:?}");
        w.add(Duration::from_millis(40));
        let p99 = w.quantile(0.99).unwrap();
        assert!(p99 >= Duration::from_millis(40), "{p99:?}");
        assert_eq!(Waits::default().quantile(0.99), None);
    }

    #[test]
    fn seconds_are_counted_where_their_events_happened() {
        let mut s = Series::new(Duration::from_secs(5));
        s.outcome(100, Outcome::Ok);
        s.outcome(100, Outcome::Ok);
        s.outcome(102, Outcome::Error);
        s.outcome(101, Outcome::Denied);
        s.checkout(102, Duration::from_millis(3));
        let v = s.view(103);
        assert_eq!(v.start, 99);
        assert_eq!(v.ok, [0, 2, 0, 0, 0]);
        assert_eq!(v.denied, [0, 0, 1, 0, 0]);
        assert_eq!(v.error, [0, 0, 0, 1, 0]);
        assert!(v.checkout_wait_p99_s[3].is_some_and(|p| (0.003..0.0045).contains(&p)));
        assert_eq!(v.checkout_wait_p99_s[4], None);
    }

    #[test]
    fn the_window_slides_and_forgets() {
        let mut s = Series::new(Duration::from_secs(3));
        s.outcome(10, Outcome::Ok);
        s.outcome(12, Outcome::Ok);
        s.outcome(13, Outcome::Ok); // 10 falls out
        s.outcome(10, Outcome::Ok); // too old now: not counted
        assert_eq!(s.view(13).ok, [0, 1, 1]);
        // A silence longer than the window starts afresh.
        s.outcome(1000, Outcome::Error);
        assert_eq!(s.view(1000).error, [0, 0, 1]);
        assert_eq!(s.view(1000).ok, [0, 0, 0]);
        // Asking for a later time shows the silence.
        assert_eq!(s.view(1002).error, [1, 0, 0]);
    }
}
