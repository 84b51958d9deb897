//! Taps: observers called on the publisher's own thread.
//!
//! A subscription's events are made, queued and handed to another thread
//! (or task): on a statement of a few microseconds, that hand-over (the
//! event's allocation, the queue's lock, and the event's memory read on
//! another CPU) costs more than most observers' own work. A tap is for an
//! observer whose work per event is a few counters or a histogram sample:
//! it is called with the event's metadata and payload as the publisher
//! stamps them, before (or instead of) the event being made, and when no
//! subscription takes that kind, no event is made at all.
//!
//! What a tap gives up: it runs on the connection's thread, so it must be
//! quick and must never block (a tap that needs to do more hands the rare
//! event it keeps to a thread of its own); it has no delivery contract (it
//! is called, or it is gone); and it does not slow a statement down to
//! keep up, because it never falls behind.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Bus, Subs, SubscriptionId, SubscriptionStats};
use crate::event::{Meta, Payload};
use crate::filter::Filter;

/// An observer called synchronously, on the publishing thread, for every
/// event its filter takes ([`Bus::tap`]).
///
/// `record` runs while the connection waits for it: keep it to counting
/// and sampling (a lock held for that is fine), and never block or do I/O
/// in it. It runs with the connection's own record locked, so it must not
/// call back into the pool (its status, or a statement). A panic is
/// caught, counted (`restarts` in the tap's [`SubscriptionStats`]) and
/// logged; the statement goes on.
pub trait Tap: Send + Sync + 'static {
    /// One event, as its publisher stamped it.
    fn record(&self, meta: &Meta, payload: &Payload);
}

/// A tap as the bus keeps it.
pub(crate) struct TapEntry {
    pub(super) id: SubscriptionId,
    name: String,
    pub(super) filter: Filter,
    tap: Box<dyn Tap>,
    recorded: AtomicU64,
    panics: AtomicU64,
}

impl TapEntry {
    /// Calls the tap, catching a panic.
    pub(crate) fn record(&self, meta: &Meta, payload: &Payload) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
        if catch_unwind(AssertUnwindSafe(|| self.tap.record(meta, payload))).is_err() {
            let panics = self.panics.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(tap = %self.name, panics, kind = ?payload.kind(), "a tap panicked; the event goes on without it");
        }
    }

    pub(super) fn stats(&self) -> SubscriptionStats {
        SubscriptionStats {
            id: self.id,
            name: self.name.clone(),
            delivered: self.recorded.load(Ordering::Relaxed),
            dropped: 0,
            queued: 0,
            restarts: self.panics.load(Ordering::Relaxed),
        }
    }
}

impl Bus {
    /// Adds a [`Tap`]: `tap.record` is called on the publishing thread for
    /// every event `filter` takes, from the next event on. Unlike a
    /// subscription, nothing is queued and no thread or task is started;
    /// an event that only taps take is never made. [`Bus::unsubscribe`]
    /// with the returned id removes it.
    pub fn tap(&self, name: &str, filter: Filter, tap: impl Tap) -> SubscriptionId {
        let id = SubscriptionId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let entry = Arc::new(TapEntry {
            id,
            name: name.to_owned(),
            filter,
            tap: Box::new(tap),
            recorded: AtomicU64::new(0),
            panics: AtomicU64::new(0),
        });
        self.change_subs(|subs| {
            let mut taps = subs.taps.clone();
            taps.push(entry.clone());
            Subs::new(subs.list.clone(), taps)
        });
        id
    }
}
