//! The event stream: from each watched pool's bus to the browsers.
//!
//! - [`entry`]: one item, rendered once (redacted JSON in an SSE frame);
//! - [`ring`]: the last entries, for `Last-Event-ID` resumes;
//! - [`hub`]: numbering, the ring and the clients' bounded buffers;
//! - [`stream`]: one client's response body;
//! - this module: the feed, the console's bus subscription per pool.
//!
//! The feed is a lossy subscriber on a thread of its own (`subscribe_fn`),
//! so nothing it does can slow a statement. It counts every event for the
//! page's charts and records it for `/metrics` (a `MetricsTap`: a
//! subscription of its own would cost the bus a second delivery of each
//! event), but renders and streams at most `stream_rate` of the
//! frequent kinds (checkouts, checkins, statements, transactions) per pool
//! and second; the rest are counted as skipped and announced to clients.
//! Rare kinds (connects, failures, denials, rewrites, invalidations,
//! closes, lags, leaks) are always streamed. Rendering is what costs (a
//! microsecond or two per event, then a socket write per client), and no
//! one reads thousands of events a second in a browser: the cap keeps the
//! console's CPU bounded whatever the statement rate.

pub(crate) mod entry;
pub(crate) mod hub;
pub(crate) mod ring;
pub(crate) mod stream;

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use parking_lot::Mutex;
use switchboard::Switchboard;
use switchboard_core::{Delivery, Event, Filter, SubscriptionId};
use switchboard_observe::MetricsTap;

use crate::activity::PoolActivity;
use crate::error::{Error, Result};
use entry::{Entry, frequent, public_json};
use hub::Hub;

/// Seconds of events between two upkeeps of the metrics recorder.
const UPKEEP_EVERY_S: i64 = 5;

/// A watched pool's subscription; dropping it unsubscribes (and so ends
/// the feed's thread).
pub(crate) struct Feed {
    pool: Switchboard,
    id: SubscriptionId,
    /// The subscription's unique name, to recognise it on a shared bus.
    name: String,
}

impl Feed {
    /// Subscribes to `pool`'s events (only that pool's, when its bus is
    /// shared), lossy with `capacity` events of slack.
    pub(crate) fn start(
        pool: &Switchboard,
        name: String,
        capacity: usize,
        stream_rate: u32,
        hub: Arc<Hub>,
        activity: Arc<Mutex<PoolActivity>>,
        mut metrics: Option<(PrometheusHandle, MetricsTap)>,
    ) -> Result<Feed> {
        let mut pace = Pace::new(stream_rate);
        let mut next_upkeep = 0;
        let id = pool
            .bus()
            .subscribe_fn(
                &name,
                Filter::all().pool(pool.name()),
                Delivery::lossy(capacity),
                move |event: Event| {
                    activity.lock().record(&event);
                    // The recorder keeps histogram samples until an upkeep
                    // folds them in; run one every few seconds of events,
                    // so that memory stays bounded without a timer.
                    if let Some((handle, tap)) = &mut metrics {
                        tap.record(&event);
                        let second = event.meta().at.timestamp();
                        if second >= next_upkeep {
                            next_upkeep = second + UPKEEP_EVERY_S;
                            handle.run_upkeep();
                        }
                    }
                    if frequent(event.kind()) && !pace.admit(&event) {
                        return;
                    }
                    let skipped = pace.take_skipped(&event);
                    if skipped > 0 {
                        hub.skipped(skipped);
                        let note = format!(
                            r#"{{"kind":"Skipped","pool":{},"skipped":{skipped}}}"#,
                            serde_json::Value::from(event.meta().pool.as_ref())
                        );
                        hub.publish(|seq| Entry::skipped(seq, &event, &note));
                    }
                    let json = public_json(&event);
                    hub.publish(|seq| Entry::event(seq, &event, &json));
                },
            )
            .map_err(|e| Error::Subscribe(e.to_string()))?;
        Ok(Feed {
            pool: pool.clone(),
            id,
            name,
        })
    }

    /// Whether `pool` publishes on the bus this feed is subscribed to.
    pub(crate) fn shares_bus_with(&self, pool: &Switchboard) -> bool {
        pool.bus()
            .subscription_stats(self.id)
            .is_some_and(|s| s.name == self.name)
    }

    /// Events the bus dropped because the feed fell behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.pool
            .bus()
            .subscription_stats(self.id)
            .map_or(0, |s| s.dropped)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.pool.bus().unsubscribe(self.id);
    }
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
            skipped: 0,
            noticed_us: i64::MIN,
        }
    }

    fn admit(&mut self, event: &Event) -> bool {
        let now = event.meta().at.timestamp_micros();
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
            self.skipped += 1;
            false
        }
    }

    /// Events skipped since the last notice, when one is due at `event`
    /// (a second after the last), else 0.
    fn take_skipped(&mut self, event: &Event) -> u64 {
        let now = event.meta().at.timestamp_micros();
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

    fn at(us: i64) -> Event {
        let at = chrono::DateTime::from_timestamp_micros(us)
            .unwrap()
            .to_rfc3339();
        Event::from_json(&format!(
            r#"{{"id":1,"at":"{at}","pool":"p","connection":1,"seq":1,"backend":"sqlite","kind":"CheckedIn","held_ns":5}}"#
        ))
        .unwrap()
    }

    #[test]
    fn pace_lets_through_a_tenth_of_a_second_then_the_rate() {
        let mut pace = Pace::new(100);
        let t0 = 1_800_000_000_000_000;
        let passed = (0..1000).filter(|i| pace.admit(&at(t0 + i))).count();
        assert_eq!(passed, 10); // the burst
        assert_eq!(pace.take_skipped(&at(t0 + 1000)), 990);
        // Half a second later: fifty more (the burst refilled, then the rate).
        let passed = (0..10_000)
            .filter(|i| pace.admit(&at(t0 + 500_000 + i * 50)))
            .count();
        assert!((55..=62).contains(&passed), "{passed}");
        // Skipped events are announced once a second at most.
        assert_eq!(pace.take_skipped(&at(t0 + 600_000)), 0);
        assert!(pace.take_skipped(&at(t0 + 1_001_000)) > 9000);
        assert_eq!(pace.take_skipped(&at(t0 + 1_001_001)), 0);
        // An event from the past (another connection's clock read) is
        // judged on the tokens left, without refilling.
        assert!(!pace.admit(&at(t0)));
    }
}
