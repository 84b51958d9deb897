//! Events into counters and histograms.

use switchboard_core::{Event, Payload, StatementClass};

use super::names::*;
use crate::inflight::InFlight;

/// The Metrics subscriber's state, owned by its subscription thread.
pub(super) struct Recorder {
    /// Each statement's class, from its `Executing` to its outcome.
    classes: InFlight<StatementClass>,
}

impl Recorder {
    pub(super) fn new(in_flight: usize) -> Self {
        Recorder {
            classes: InFlight::new(in_flight),
        }
    }

    /// Records one event into the current `metrics` recorder.
    pub(super) fn record(&mut self, event: &Event) {
        let meta = event.meta();
        let pool = meta.pool.to_string();
        let backend = meta.backend.as_str();
        match event.payload() {
            Payload::Executing {
                query_id, class, ..
            } => self.classes.insert(*query_id, *class),
            Payload::Executed { query_id, took, .. } => {
                let class = self.class_of(*query_id);
                let labels = [
                    ("pool", pool),
                    ("backend", backend.to_owned()),
                    ("class", class.to_owned()),
                    ("outcome", "ok".to_owned()),
                ];
                metrics::histogram!(STATEMENT_DURATION, &labels).record(took.as_secs_f64());
                metrics::counter!(STATEMENTS, &labels).increment(1);
            }
            Payload::ExecuteFailed {
                query_id,
                took,
                error,
            } => {
                let class = self.class_of(*query_id);
                let labels = [
                    ("pool", pool.clone()),
                    ("backend", backend.to_owned()),
                    ("class", class.to_owned()),
                    ("outcome", "error".to_owned()),
                ];
                metrics::histogram!(STATEMENT_DURATION, &labels).record(took.as_secs_f64());
                metrics::counter!(STATEMENTS, &labels).increment(1);
                metrics::counter!(STATEMENT_ERRORS, "pool" => pool, "backend" => backend,
                    "error_type" => error.kind.as_str())
                .increment(1);
            }
            Payload::Denied {
                query_id, guard, ..
            } => {
                if let Some(query_id) = query_id {
                    let class = self.class_of(*query_id);
                    metrics::counter!(STATEMENTS, "pool" => pool.clone(), "backend" => backend,
                        "class" => class, "outcome" => "denied")
                    .increment(1);
                }
                metrics::counter!(DENIALS, "pool" => pool, "backend" => backend,
                    "guard" => guard.clone())
                .increment(1);
            }
            Payload::ShadowDenied { guard, .. } => {
                metrics::counter!(SHADOW_DENIALS, "pool" => pool, "backend" => backend,
                    "guard" => guard.clone())
                .increment(1);
            }
            Payload::CheckedOut { waited } => {
                metrics::histogram!(CHECKOUT_WAIT, "pool" => pool, "backend" => backend)
                    .record(waited.as_secs_f64());
            }
            Payload::CheckedIn { held } => {
                metrics::histogram!(HELD, "pool" => pool, "backend" => backend)
                    .record(held.as_secs_f64());
            }
            Payload::Reset { took, .. } => {
                metrics::histogram!(RESET_DURATION, "pool" => pool, "backend" => backend)
                    .record(took.as_secs_f64());
            }
            Payload::CheckoutTimedOut { unreachable, .. } => {
                metrics::counter!(CHECKOUT_TIMEOUTS, "pool" => pool, "backend" => backend,
                    "unreachable" => if *unreachable { "true" } else { "false" })
                .increment(1);
            }
            Payload::Connected { took, .. } => {
                metrics::counter!(CONNECTS, "pool" => pool.clone(), "backend" => backend)
                    .increment(1);
                metrics::histogram!(CONNECT_DURATION, "pool" => pool, "backend" => backend)
                    .record(took.as_secs_f64());
            }
            Payload::ConnectFailed { error, .. } => {
                metrics::counter!(CONNECT_FAILURES, "pool" => pool, "backend" => backend,
                    "error_type" => error.kind.as_str())
                .increment(1);
            }
            Payload::Invalidated { .. } => {
                metrics::counter!(INVALIDATIONS, "pool" => pool, "backend" => backend).increment(1);
            }
            Payload::LeakSuspected { .. } => {
                metrics::counter!(LEAKS_SUSPECTED, "pool" => pool, "backend" => backend)
                    .increment(1);
            }
            // Drops are counted from the bus's own counters (the sampler),
            // which also covers every other lossy subscriber.
            _ => {}
        }
    }

    /// The class remembered from the statement's `Executing`, or `unknown`
    /// when that event was dropped or came before the subscription.
    fn class_of(&mut self, query_id: u64) -> &'static str {
        self.classes
            .remove(query_id)
            .map_or("unknown", StatementClass::as_str)
    }
}
