//! The event stream: from each watched pool's bus to the browsers.
//!
//! - [`entry`]: one item, rendered once (redacted JSON in an SSE frame);
//! - [`ring`]: the last entries, for `Last-Event-ID` resumes;
//! - [`hub`]: numbering, the ring and the clients' bounded buffers;
//! - [`stream`]: one client's response body;
//! - this module: the feed, the console's tap on each pool's bus.
//!
//! The feed is a [`Tap`] on the pool's bus: called on the connection's own
//! thread as each event is stamped, it counts the event for the page's
//! charts and records it for `/metrics` (a `MetricsTap` that keeps the
//! hottest histograms and counts itself, in plain memory), a lock and a
//! few counters each. That is all it does per event, and an event no
//! subscription takes is not even made for it: a subscription of its own
//! would have every event made, queued and read on another CPU, which on
//! statements of a few microseconds cost the pool more than 10% of its
//! throughput (`benches/console_load.rs`).
//!
//! It streams at most `stream_rate` of the frequent kinds (checkouts,
//! checkins, statements, transactions) per pool and second; the rest are
//! counted as skipped and announced to clients. Rare kinds (connects,
//! failures, denials, rewrites, invalidations, closes, lags, leaks) are
//! always streamed. The events it streams go to a thread of its own
//! (bounded; what does not fit is counted as missed), which renders them
//! (a microsecond or two each, then a socket write per client) and keeps
//! the metrics recorder's upkeep: nothing costly runs on a connection's
//! thread, and no one reads thousands of events a second in a browser.

pub(crate) mod entry;
pub(crate) mod hub;
pub(crate) mod ring;
pub(crate) mod stream;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use crossbeam_channel::{Receiver, Sender};
use metrics_exporter_prometheus::PrometheusHandle;
use parking_lot::Mutex;
use switchboard::Switchboard;
use switchboard_core::{Event, Filter, Meta, Payload, SubscriptionId, Tap};
use switchboard_observe::exporter::DURATION_BUCKETS;
use switchboard_observe::{Kept, MetricsTap};

use crate::activity::PoolActivity;
use crate::error::{Error, Result};
use entry::{Entry, frequent, public_json};
use hub::Hub;

/// How often the metrics recorder's upkeep runs (it folds histogram
/// samples in, keeping memory bounded).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// A watched pool's tap and its streaming thread; dropping it removes the
/// tap and ends the thread.
pub(crate) struct Feed {
    pool: Switchboard,
    id: SubscriptionId,
    /// The tap's unique name, to recognise it on a shared bus.
    name: String,
    /// What the tap keeps of the pool.
    observed: Arc<Mutex<Observed>>,
    /// Events the streaming thread had no room for.
    missed: Arc<AtomicU64>,
    /// Dropped to end the streaming thread.
    _stop: Sender<()>,
}

/// What the tap keeps of a pool, under one lock (taken once per event):
/// its activity, read by the activity endpoint, the feed's own pace, and
/// the metrics, whose kept families `/metrics` renders.
pub(crate) struct Observed {
    pub(crate) activity: PoolActivity,
    pace: Pace,
    metrics: Option<MetricsTap>,
    day: Day,
}

/// The start of the day of the last event, in microseconds since the
/// epoch: an event's time is then a sum, where `timestamp_micros` counts
/// the days since the epoch from the date every time.
struct Day {
    date: NaiveDate,
    start_us: i64,
}

impl Day {
    fn new() -> Day {
        Day {
            date: NaiveDate::MIN,
            start_us: NaiveDate::MIN
                .and_time(NaiveTime::MIN)
                .and_utc()
                .timestamp_micros(),
        }
    }

    /// `at` in microseconds since the epoch, as `timestamp_micros` gives
    /// it (a leap second's included).
    fn micros(&mut self, at: DateTime<Utc>) -> i64 {
        // The UTC parts as stored (`date_naive` and `time` would add the
        // zero offset, checked).
        let at = at.naive_utc();
        let date = at.date();
        if date != self.date {
            self.date = date;
            self.start_us = date.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
        }
        let time = at.time();
        self.start_us
            + i64::from(time.num_seconds_from_midnight()) * 1_000_000
            + i64::from(time.nanosecond() / 1_000)
    }
}

/// The feed's tap.
struct FeedTap {
    observed: Arc<Mutex<Observed>>,
    /// To the streaming thread: an event, and the events skipped over the
    /// rate to announce before it.
    stream: Sender<(Event, u64)>,
    missed: Arc<AtomicU64>,
}

impl Tap for FeedTap {
    fn record(&self, meta: &Meta, payload: &Payload) {
        let skipped = {
            let mut observed = self.observed.lock();
            let at_us = observed.day.micros(meta.at);
            observed
                .activity
                .record(meta, payload, at_us.div_euclid(1_000_000));
            if let Some(metrics) = &mut observed.metrics {
                metrics.record_parts(meta, payload);
            }
            if frequent(payload.kind()) && !observed.pace.admit(at_us) {
                return;
            }
            observed.pace.take_skipped(at_us)
        };
        let event = Event::new(meta.clone(), payload.clone());
        // Full (the thread fell behind) or gone (the feed is stopping).
        if self.stream.try_send((event, skipped)).is_err() {
            self.missed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Feed {
    /// Taps `pool`'s events (only that pool's, when its bus is shared),
    /// streaming through a buffer of `capacity` events.
    pub(crate) fn start(
        pool: &Switchboard,
        name: String,
        capacity: usize,
        stream_rate: u32,
        hub: Arc<Hub>,
        activity: PoolActivity,
        metrics: Option<(PrometheusHandle, MetricsTap)>,
    ) -> Result<Feed> {
        let (stream, events) = crossbeam_channel::bounded(capacity.max(1));
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let (handle, metrics) = match metrics {
            Some((handle, tap)) => (Some(handle), Some(tap.kept(&DURATION_BUCKETS))),
            None => (None, None),
        };
        let observed = Arc::new(Mutex::new(Observed {
            activity,
            pace: Pace::new(stream_rate),
            metrics,
            day: Day::new(),
        }));
        std::thread::Builder::new()
            .name(format!("sb-{name}"))
            .spawn(move || run_stream(&events, &stopped, &hub, handle.as_ref()))
            .map_err(|e| Error::Subscribe(format!("could not start the feed's thread: {e}")))?;
        let missed = Arc::new(AtomicU64::new(0));
        let id = pool.bus().tap(
            &name,
            Filter::all().pool(pool.name()),
            FeedTap {
                observed: observed.clone(),
                stream,
                missed: missed.clone(),
            },
        );
        Ok(Feed {
            pool: pool.clone(),
            id,
            name,
            observed,
            missed,
            _stop: stop,
        })
    }

    /// Whether `pool` publishes on the bus this feed taps.
    pub(crate) fn shares_bus_with(&self, pool: &Switchboard) -> bool {
        pool.bus()
            .subscription_stats(self.id)
            .is_some_and(|s| s.name == self.name)
    }

    /// The pool's activity, locked (the tap waits meanwhile: keep it
    /// short).
    pub(crate) fn activity(&self) -> parking_lot::MappedMutexGuard<'_, PoolActivity> {
        parking_lot::MutexGuard::map(self.observed.lock(), |o| &mut o.activity)
    }

    /// A snapshot of the metrics the tap keeps itself (statement, checkout
    /// and held-time histograms and statement counts), to render after
    /// the recorder's own.
    pub(crate) fn kept_metrics(&self) -> Option<Kept> {
        self.observed
            .lock()
            .metrics
            .as_ref()?
            .kept_metrics()
            .cloned()
    }

    /// Events the feed could not stream (its thread fell behind).
    pub(crate) fn dropped(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.pool.bus().unsubscribe(self.id);
    }
}

/// The streaming thread: renders what the tap sends and hands it to the
/// clients, and keeps the recorder's upkeep, until `stopped` disconnects.
fn run_stream(
    events: &Receiver<(Event, u64)>,
    stopped: &Receiver<()>,
    hub: &Hub,
    metrics: Option<&PrometheusHandle>,
) {
    let mut next_upkeep = Instant::now() + UPKEEP_EVERY;
    loop {
        crossbeam_channel::select! {
            recv(events) -> got => match got {
                Ok((event, skipped)) => stream(hub, &event, skipped),
                Err(_) => break,
            },
            recv(stopped) -> _ => break,
            default(UPKEEP_EVERY) => {}
        }
        let Some(handle) = metrics else { continue };
        let now = Instant::now();
        if now >= next_upkeep {
            next_upkeep = now + UPKEEP_EVERY;
            handle.run_upkeep();
        }
    }
}

/// Announces `skipped` events (if any), then streams `event`.
fn stream(hub: &Hub, event: &Event, skipped: u64) {
    if skipped > 0 {
        hub.skipped(skipped);
        let note = format!(
            r#"{{"kind":"Skipped","pool":{},"skipped":{skipped}}}"#,
            serde_json::Value::from(event.meta().pool.as_ref())
        );
        hub.publish(|seq| Entry::skipped(seq, event, &note));
    }
    let json = public_json(event);
    hub.publish(|seq| Entry::event(seq, event, &json));
}

/// A token bucket on the events' own clock: `rate` events a second, with
/// a tenth of a second's worth of burst, so that what one flush of a
/// client's stream (`stream::FLUSH_EVERY`) carries stays well inside its
/// buffer.
struct Pace {
    rate: u32,
    burst: f64,
    tokens: f64,
    /// Event time (µs since the epoch) of the last refill.
    last_us: i64,
    /// Before this event time, refilling cannot reach a whole token: the
    /// event is skipped without doing the sums (most events, at a rate
    /// far above `rate`).
    empty_until_us: i64,
    skipped: u64,
    /// Event time of the last `skipped` notice: at most one a second.
    noticed_us: i64,
}

/// Microseconds between two `skipped` notices of a feed.
const NOTICE_EVERY_US: i64 = 1_000_000;

impl Pace {
    fn new(rate: u32) -> Pace {
        let burst = (f64::from(rate) / 10.0).max(1.0);
        Pace {
            rate,
            burst,
            tokens: burst,
            last_us: i64::MIN,
            empty_until_us: i64::MIN,
            skipped: 0,
            noticed_us: i64::MIN,
        }
    }

    /// Whether an event at `now` (µs since the epoch) is streamed.
    fn admit(&mut self, now: i64) -> bool {
        if now < self.empty_until_us {
            self.skipped += 1;
            return false;
        }
        if now > self.last_us {
            let elapsed = if self.last_us == i64::MIN {
                0.0
            } else {
                (now - self.last_us) as f64 / 1e6
            };
            self.tokens = (self.tokens + elapsed * f64::from(self.rate)).min(self.burst);
            self.last_us = now;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            // The whole token is `(1 - tokens) / rate` seconds away
            // (rounded down: the refill above decides at that time).
            let wait_us = (1.0 - self.tokens) * 1e6 / f64::from(self.rate.max(1));
            self.empty_until_us = self.last_us.saturating_add(wait_us as i64);
            self.skipped += 1;
            false
        }
    }

    /// Events skipped since the last notice, when one is due at `event`
    /// (a second after the last), else 0.
    fn take_skipped(&mut self, now: i64) -> u64 {
        if self.skipped == 0 || now.saturating_sub(self.noticed_us) < NOTICE_EVERY_US {
            return 0;
        }
        self.noticed_us = now;
        std::mem::take(&mut self.skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_micros_are_timestamp_micros() {
        let mut day = Day::new();
        let times = [
            "2026-12-06T08:41:33.123456789Z",
            "2026-12-06T23:59:59.999999Z",
            "2026-12-07T00:00:00Z",
            "2026-12-06T00:00:00.000001Z",
            "1969-12-31T23:59:59.5Z",
            "1970-01-01T00:00:00Z",
        ];
        for t in times {
            let at: DateTime<Utc> = t.parse().unwrap();
            assert_eq!(day.micros(at), at.timestamp_micros(), "{t}");
        }
        // A leap second (nanoseconds past 1e9), as chrono counts it.
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        assert_eq!(day.micros(leap), leap.timestamp_micros());
    }

    #[test]
    fn pace_lets_through_a_tenth_of_a_second_then_the_rate() {
        let mut pace = Pace::new(100);
        let t0 = 1_800_000_000_000_000;
        let passed = (0..1000).filter(|i| pace.admit(t0 + i)).count();
        assert_eq!(passed, 10); // the burst
        assert_eq!(pace.take_skipped(t0 + 1000), 990);
        // Half a second later: fifty more (the burst refilled, then the rate).
        let passed = (0..10_000)
            .filter(|i| pace.admit(t0 + 500_000 + i * 50))
            .count();
        assert!((55..=62).contains(&passed), "{passed}");
        // Skipped events are announced once a second at most.
        assert_eq!(pace.take_skipped(t0 + 600_000), 0);
        assert!(pace.take_skipped(t0 + 1_001_000) > 9000);
        assert_eq!(pace.take_skipped(t0 + 1_001_001), 0);
        // An event from the past (another connection's clock read) is
        // judged on the tokens left, without refilling.
        assert!(!pace.admit(t0));
    }
}
