//! The per-subscription queue: where a delivery contract is enforced.
//!
//! Publishers push synchronously (a mutex held for a `VecDeque` push, never
//! across an await). The subscription's pump peeks the front, delivers it, and
//! only then acknowledges it, so an event whose delivery failed (the
//! subscriber panicked) is still at the front for the restarted subscriber.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::event::{Backend, Event};

/// What a pump takes from the queue.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    /// An event to deliver.
    Event(Event),
    /// The subscriber missed `dropped` events here.
    Lagged {
        dropped: u64,
        pool: Arc<str>,
        backend: Backend,
    },
}

impl Slot {
    pub(crate) fn into_event(self) -> Event {
        match self {
            Slot::Event(e) => e,
            Slot::Lagged {
                dropped,
                pool,
                backend,
            } => Event::lagged(pool, backend, dropped),
        }
    }
}

#[derive(Default)]
struct State {
    buf: VecDeque<Slot>,
    /// Drops not yet announced by a `Lagged` slot (lossy only).
    unannounced: u64,
    /// Pool and backend of the first unannounced drop, for the notice.
    lag_origin: Option<(Arc<str>, Backend)>,
    closed: bool,
    delivered: u64,
    dropped_total: u64,
}

/// A bounded queue of events for one subscription.
pub(crate) struct Queue {
    /// Guards the buffer; held only for pushes, peeks and pops.
    state: Mutex<State>,
    capacity: usize,
    lossless: bool,
    /// Wakes the pump when an event arrives or the queue closes.
    readable: Notify,
    /// Wakes publishers waiting for room and flushers waiting for empty.
    writable: Notify,
}

impl Queue {
    pub(crate) fn new(capacity: usize, lossless: bool) -> Self {
        Queue {
            state: Mutex::new(State {
                buf: VecDeque::with_capacity(capacity.min(4096)),
                ..State::default()
            }),
            capacity: capacity.max(1),
            lossless,
            readable: Notify::new(),
            writable: Notify::new(),
        }
    }

    /// Offers an event. Lossy: drops and counts it when full. Lossless: always
    /// queues it; publishers call [`Queue::wait_room`] before starting more work.
    pub(crate) fn push(&self, event: &Event) {
        let mut st = self.state.lock();
        if st.closed {
            return;
        }
        if self.lossless {
            st.buf.push_back(Slot::Event(event.clone()));
        } else {
            if st.unannounced > 0 && st.buf.len() < self.capacity {
                let (pool, backend) = st
                    .lag_origin
                    .take()
                    .unwrap_or_else(|| (event.meta().pool.clone(), event.meta().backend));
                let dropped = std::mem::take(&mut st.unannounced);
                st.buf.push_back(Slot::Lagged {
                    dropped,
                    pool,
                    backend,
                });
            }
            if st.buf.len() < self.capacity {
                st.buf.push_back(Slot::Event(event.clone()));
            } else {
                if st.unannounced == 0 {
                    st.lag_origin = Some((event.meta().pool.clone(), event.meta().backend));
                }
                st.unannounced += 1;
                st.dropped_total += 1;
                return;
            }
        }
        drop(st);
        self.readable.notify_one();
    }

    /// The front slot, once there is one; `None` once the queue is closed.
    pub(crate) async fn peek(&self) -> Option<Slot> {
        loop {
            let notified = pin!(self.readable.notified());
            {
                let st = self.state.lock();
                if st.closed {
                    return None;
                }
                if let Some(front) = st.buf.front() {
                    return Some(front.clone());
                }
            }
            notified.await;
        }
    }

    /// The front slot if there is one now: `Ok(None)` when empty,
    /// `Err(())` once the queue is closed.
    pub(crate) fn try_peek(&self) -> Result<Option<Slot>, ()> {
        let st = self.state.lock();
        if st.closed {
            return Err(());
        }
        Ok(st.buf.front().cloned())
    }

    /// Removes the front slot after it was delivered (or given up on).
    pub(crate) fn ack(&self) {
        let mut st = self.state.lock();
        if let Some(Slot::Event(_)) = st.buf.pop_front() {
            st.delivered += 1;
        }
        drop(st);
        self.writable.notify_waiters();
    }

    /// Stops the queue: the pump's next `peek` returns `None`.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.readable.notify_one();
        self.writable.notify_waiters();
    }

    pub(crate) fn len(&self) -> usize {
        self.state.lock().buf.len()
    }

    /// (delivered, dropped) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.delivered, st.dropped_total)
    }

    /// Waits until at most `limit` slots are queued (or the queue closes).
    /// Returns the queue length if `within` passed first.
    pub(crate) async fn wait_len_at_most(
        &self,
        limit: usize,
        within: Duration,
    ) -> Result<(), usize> {
        let wait = async {
            loop {
                let mut notified = pin!(self.writable.notified());
                notified.as_mut().enable();
                {
                    let st = self.state.lock();
                    if st.closed || st.buf.len() <= limit {
                        return;
                    }
                }
                notified.await;
            }
        };
        match tokio::time::timeout(within, wait).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.len()),
        }
    }
}
