//! The per-subscription queue: where a delivery contract is enforced.
//!
//! Publishers push synchronously (a mutex held for a `VecDeque` push, never
//! across an await). A pump takes slots out in one of two ways, and in both
//! a slot counts as queued (for capacity, [`Queue::len`] and back-pressure)
//! until the pump acknowledges it, so an event whose delivery failed (the
//! subscriber panicked) can be delivered again:
//!
//! - `Recipient` pumps [`peek`](Queue::peek) the front, deliver it, then
//!   [`ack`](Queue::ack) it;
//! - closure pumps [`take`](Queue::take) everything queued in one lock (a
//!   buffer swap), deliver it from their own hand, and
//!   [`ack_taken`](Queue::ack_taken) it in one go; supervised actors' feeds
//!   do the same without blocking ([`poll_take`](Queue::poll_take)), and
//!   [`give_back`](Queue::give_back) what their actor did not handle when
//!   it dies.
//!
//! Waking a pump costs the publisher a futex call (and, on a busy machine,
//! its CPU), so publishers wake a pump only when it said it sleeps. A
//! closure pump that finds its queue empty after a batch naps instead: the
//! events of a stream pile up meanwhile and arrive as the next batch, and it
//! only asks to be woken once a nap found nothing. A pump wakes publishers
//! and flushers only if one is registered as waiting.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::event::{Backend, Event};

#[derive(Default)]
struct State {
    /// Events, and the `Lagged` notices the queue put among them. Plain
    /// events (8 bytes each): a publisher's writes cost fewer cache misses.
    buf: VecDeque<Event>,
    /// Slots a closure pump took and has not acknowledged yet.
    in_hand: usize,
    /// Whether (and how) a push must wake the pump.
    pump: PumpState,
    /// The closure pump's thread while it naps or is parked, to unpark.
    sleeper: Option<Thread>,
    /// The actor pump's task while it waits, to wake. Cloning a waker only
    /// counts a reference to the task: waiting allocates nothing. Taken by
    /// the wake-up, dropped when the pump finds events.
    waker: Option<Waker>,
    /// Drops not yet announced by a `Lagged` notice (lossy only).
    unannounced: u64,
    /// Set by [`Queue::finish`]: no more pushes; once what is queued is
    /// delivered, the queue closes.
    finishing: bool,
    /// Pool and backend of the first unannounced drop, for the notice.
    lag_origin: Option<(Arc<str>, Backend)>,
    /// Where in the subscription's stream the queued notices are (they are
    /// not counted as delivered events); rarely more than one.
    notices: VecDeque<u64>,
    /// Slots acknowledged so far: the stream position of the oldest one
    /// still unacknowledged.
    acked: u64,
    delivered: u64,
    dropped_total: u64,
}

impl State {
    fn pending(&self) -> usize {
        self.buf.len() + self.in_hand
    }

    /// Registers an actor pump's task (or the supervisor's) for the next
    /// push to wake. A waker kept from an earlier poll of the same task is
    /// reused; a new one is a clone, which only counts a reference.
    fn wait(&mut self, waker: &Waker) {
        self.pump = PumpState::Waiting;
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.waker = Some(waker.clone());
        }
    }

    /// Acknowledges the `slots` oldest unacknowledged slots.
    fn acknowledge(&mut self, slots: usize) {
        self.acked += slots as u64;
        let mut notices = 0;
        while self.notices.front().is_some_and(|&at| at < self.acked) {
            self.notices.pop_front();
            notices += 1;
        }
        self.delivered += slots as u64 - notices;
    }
}

/// What the pump is doing, for a publisher deciding whether to wake it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PumpState {
    /// Delivering, or about to look at the queue again: no wake-up needed.
    #[default]
    Busy,
    /// A closure pump's thread napping after a batch: unparked early only
    /// when the queue fills up to `wake_at`, or someone waits for it.
    Napping,
    /// A closure pump's thread parked until the next push.
    Parked,
    /// An actor pump's task waiting for the next push.
    Waiting,
}

/// A bounded queue of events for one subscription. Lossy: holds at most
/// `capacity` unacknowledged slots and drops (and counts) past that.
/// Lossless: never drops; publishers keep it near `capacity` through
/// [`Queue::wait_len_at_most`].
pub(crate) struct Queue {
    /// Guards the buffer; held only for pushes, takes, peeks and acks.
    state: Mutex<State>,
    /// Unacknowledged slots (queued plus in hand), written under the lock,
    /// so that `len` and `Bus::ready` read it without taking the lock.
    pending: AtomicUsize,
    /// Written under the lock; read anywhere, so a pump can stop in the
    /// middle of a batch once the subscription is gone.
    closed: AtomicBool,
    /// Publishers and flushers inside `wait_len_at_most`; acks skip the
    /// wake-up when there are none.
    waiters: AtomicUsize,
    capacity: usize,
    lossless: bool,
    /// Queue length at which a push wakes a napping pump. Lossy: half the
    /// capacity, so that a burst does not overflow the queue during a nap.
    /// Lossless: the capacity; past it, the publisher waits for room
    /// (`wait_len_at_most`), and that ends the nap.
    wake_at: usize,
    /// Queue length at which acks wake publishers waiting for room (and
    /// flushers): half the capacity, so that they resume with room for many
    /// statements instead of being woken for each event the pump delivers.
    resume_at: usize,
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
            pending: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            capacity: capacity.max(1),
            lossless,
            wake_at: if lossless {
                capacity.max(1)
            } else {
                (capacity / 2).max(1)
            },
            resume_at: capacity / 2,
            writable: Notify::new(),
        }
    }

    /// Offers an event. Lossy: drops and counts it when `capacity` slots are
    /// unacknowledged. Lossless: always queues it; publishers call
    /// [`Queue::wait_len_at_most`] before starting more work.
    pub(crate) fn push(&self, event: &Event) {
        let mut st = self.state.lock();
        if self.closed.load(Ordering::Relaxed) || st.finishing {
            return;
        }
        if self.lossless {
            st.buf.push_back(event.clone());
        } else {
            if st.unannounced > 0 && st.pending() < self.capacity {
                let (pool, backend) = st
                    .lag_origin
                    .take()
                    .unwrap_or_else(|| (event.meta().pool.clone(), event.meta().backend));
                let dropped = std::mem::take(&mut st.unannounced);
                let at = st.acked + st.pending() as u64;
                st.notices.push_back(at);
                st.buf.push_back(Event::lagged(pool, backend, dropped));
            }
            if st.pending() < self.capacity {
                st.buf.push_back(event.clone());
            } else {
                if st.unannounced == 0 {
                    st.lag_origin = Some((event.meta().pool.clone(), event.meta().backend));
                }
                st.unannounced += 1;
                st.dropped_total += 1;
            }
        }
        self.pending.store(st.pending(), Ordering::Release);
        let wake = match st.pump {
            PumpState::Busy => false,
            PumpState::Napping => st.buf.len() >= self.wake_at,
            PumpState::Parked | PumpState::Waiting => !st.buf.is_empty(),
        };
        if wake {
            self.wake_pump(st);
        }
    }

    /// Wakes the pump, releasing the lock first so that the pump does not
    /// wake only to wait for it. Its state is reset under the lock, so each
    /// sleep costs at most one wake-up; an unpark that comes before the
    /// pump's park is kept for it, not lost, and a task's waker is
    /// registered under the lock before its task returns `Pending`.
    fn wake_pump(&self, mut st: MutexGuard<'_, State>) {
        let pump = std::mem::take(&mut st.pump);
        let sleeper = st.sleeper.take();
        let waker = st.waker.take();
        drop(st);
        match pump {
            PumpState::Busy => {}
            PumpState::Napping | PumpState::Parked => {
                if let Some(thread) = sleeper {
                    thread.unpark();
                }
            }
            PumpState::Waiting => {
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }

    /// Moves every queued slot into `hand` (which must be empty), where they
    /// stay counted as queued until [`Queue::ack_taken`]; `false` once the
    /// queue is closed. While there is nothing, blocks the thread: for each
    /// of `naps` in turn (a stream's next events pile up meanwhile, and no
    /// publisher pays for a wake-up), then until the next push.
    pub(crate) fn take(&self, hand: &mut VecDeque<Event>, naps: &[Duration]) -> bool {
        debug_assert!(hand.is_empty());
        let mut naps = naps.iter();
        loop {
            let mut st = self.state.lock();
            if self.closed.load(Ordering::Relaxed) || self.finished(&st) {
                return false;
            }
            if !st.buf.is_empty() {
                // A swap, not a drain: both buffers keep their capacity, so
                // taking never allocates once they have grown.
                std::mem::swap(&mut st.buf, hand);
                st.in_hand += hand.len();
                st.pump = PumpState::Busy;
                st.sleeper = None;
                return true;
            }
            let nap = naps.next();
            st.pump = match nap {
                Some(_) => PumpState::Napping,
                None => PumpState::Parked,
            };
            if st.sleeper.is_none() {
                st.sleeper = Some(std::thread::current());
            }
            drop(st);
            match nap {
                Some(&nap) => std::thread::park_timeout(nap),
                None => std::thread::park(),
            }
        }
    }

    /// Acknowledges the first `slots` taken slots after they were delivered
    /// or given up on.
    pub(crate) fn ack_taken(&self, slots: usize) {
        if slots == 0 {
            return;
        }
        let mut st = self.state.lock();
        st.in_hand -= slots;
        st.acknowledge(slots);
        self.acked(st);
    }

    /// [`take`](Queue::take) for a task: acknowledges the first `handled`
    /// taken slots, then (`hand` empty) moves every queued slot into `hand`;
    /// `Ready(false)` once the queue is closed. While there is nothing, the
    /// task's waker is kept for the next push (or the close) to wake.
    pub(crate) fn poll_take(
        &self,
        handled: usize,
        hand: &mut VecDeque<Event>,
        cx: &mut Context<'_>,
    ) -> Poll<bool> {
        debug_assert!(hand.is_empty());
        let mut st = self.state.lock();
        if handled > 0 {
            st.in_hand -= handled;
            st.acknowledge(handled);
            self.pending.store(st.pending(), Ordering::Release);
        }
        let taken = if self.closed.load(Ordering::Relaxed) || self.finished(&st) {
            Poll::Ready(false)
        } else if !st.buf.is_empty() {
            std::mem::swap(&mut st.buf, hand);
            st.in_hand += hand.len();
            st.pump = PumpState::Busy;
            st.waker = None;
            Poll::Ready(true)
        } else {
            st.wait(cx.waker());
            Poll::Pending
        };
        if handled > 0 {
            self.acked(st);
        }
        taken
    }

    /// Ends a feed: acknowledges the first `handled` taken slots and puts
    /// the rest of `hand` back in front of the queue, in order, for the
    /// next feed (or the supervisor) to find at [`peek`](Queue::peek).
    pub(crate) fn give_back(&self, handled: usize, hand: &mut VecDeque<Event>) {
        let mut st = self.state.lock();
        st.in_hand -= hand.len();
        st.acknowledge(handled);
        hand.drain(..handled);
        while let Some(event) = hand.pop_back() {
            st.buf.push_front(event);
        }
        self.acked(st);
    }

    /// The front slot, once there is one; `None` once the queue is closed.
    pub(crate) async fn peek(&self) -> Option<Event> {
        std::future::poll_fn(|cx| {
            let mut st = self.state.lock();
            if self.closed.load(Ordering::Relaxed) || self.finished(&st) {
                return Poll::Ready(None);
            }
            match st.buf.front() {
                Some(front) => {
                    let front = front.clone();
                    st.pump = PumpState::Busy;
                    st.waker = None;
                    Poll::Ready(Some(front))
                }
                None => {
                    st.wait(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Removes the front slot after it was delivered (or given up on);
    /// whether there was one.
    pub(crate) fn ack(&self) -> bool {
        let mut st = self.state.lock();
        let front = st.buf.pop_front().is_some();
        if front {
            st.acknowledge(1);
        }
        self.acked(st);
        front
    }

    /// Ends the queue once the pump has delivered what it holds: pushes are
    /// refused from now on, a lossy queue's drops not yet announced get
    /// their `Lagged` notice, and the pump's `peek` or `take` that finds
    /// the queue empty closes it and says so.
    pub(crate) fn finish(&self) {
        let mut st = self.state.lock();
        if st.finishing || self.closed.load(Ordering::Relaxed) {
            return;
        }
        st.finishing = true;
        if let Some((pool, backend)) = st.lag_origin.take() {
            let dropped = std::mem::take(&mut st.unannounced);
            let at = st.acked + st.pending() as u64;
            st.notices.push_back(at);
            st.buf.push_back(Event::lagged(pool, backend, dropped));
            self.pending.store(st.pending(), Ordering::Release);
        }
        // A busy pump sees the end at its next look; a sleeping one is woken.
        self.wake_pump(st);
    }

    /// Finishing and nothing left to deliver: closes the queue.
    fn finished(&self, st: &State) -> bool {
        let done = st.finishing && st.buf.is_empty() && st.in_hand == 0;
        if done {
            self.closed.store(true, Ordering::Release);
            self.writable.notify_waiters();
        }
        done
    }

    /// Stops the queue: the pump's next `peek` or `take` says so.
    pub(crate) fn close(&self) {
        let st = self.state.lock();
        self.closed.store(true, Ordering::Release);
        // A busy pump sees `closed` at its next look; a sleeping one is woken.
        self.wake_pump(st);
        self.writable.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Slots not yet acknowledged: queued, and taken but not yet delivered.
    pub(crate) fn len(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Whether a publisher or flusher waits for this queue to shrink.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
    }

    /// What the pump is doing, for tests that must act while it waits.
    #[cfg(test)]
    pub(crate) fn pump_state(&self) -> PumpState {
        self.state.lock().pump
    }

    /// (delivered, dropped) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.delivered, st.dropped_total)
    }

    /// Publishes the length after an ack, and wakes `wait_len_at_most`
    /// callers if there are any and the queue is down to `resume_at`. A
    /// waiter registers before it checks the length under the lock, so
    /// either it saw this ack or it is counted here.
    fn acked(&self, st: MutexGuard<'_, State>) {
        let pending = st.pending();
        self.pending.store(pending, Ordering::Release);
        drop(st);
        if pending <= self.resume_at && self.waiters.load(Ordering::SeqCst) > 0 {
            self.writable.notify_waiters();
        }
    }

    /// Waits until at most `limit` slots are unacknowledged (or the queue
    /// closes). Acks wake it only once the queue is down to `resume_at`; if
    /// `within` passes first, the length is checked against `limit` once
    /// more, and returned if it is still above.
    pub(crate) async fn wait_len_at_most(
        &self,
        limit: usize,
        within: Duration,
    ) -> Result<(), usize> {
        let wait = async {
            let _registered = Waiter::register(&self.waiters);
            loop {
                let mut notified = pin!(self.writable.notified());
                notified.as_mut().enable();
                {
                    let st = self.state.lock();
                    if self.closed.load(Ordering::Relaxed) || st.pending() <= limit {
                        return;
                    }
                    // Someone waits now: the pump's nap is over.
                    if st.pump == PumpState::Napping {
                        self.wake_pump(st);
                    }
                }
                notified.await;
            }
        };
        match tokio::time::timeout(within, wait).await {
            Ok(()) => Ok(()),
            Err(_) => match self.len() {
                len if len > limit => Err(len),
                _ => Ok(()),
            },
        }
    }
}

/// Counts one `wait_len_at_most` caller for as long as it waits, including
/// when its timeout drops it.
struct Waiter<'a>(&'a AtomicUsize);

impl<'a> Waiter<'a> {
    fn register(waiters: &'a AtomicUsize) -> Self {
        waiters.fetch_add(1, Ordering::SeqCst);
        Waiter(waiters)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
