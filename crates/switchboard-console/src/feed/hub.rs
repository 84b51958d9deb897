//! [`Hub`]: the stream's ring and its clients.
//!
//! Feeds (one tap per watched pool) offer entries; the hub
//! numbers them, keeps the last ones in the ring and hands each to every
//! client whose filter wants it, through that client's bounded buffer. A
//! client whose buffer is full is dropped there and then (and counted): a
//! browser that stopped reading costs the feed one failed `try_send`, never
//! a wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::mpsc;

use super::entry::Entry;
use super::ring::{Resume, Ring};
use crate::filter::StreamFilter;

/// The hub's bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Clients streaming at once; more are refused.
    pub(crate) max_clients: usize,
    /// Entries a client may have waiting; one more drops the client.
    pub(crate) client_buffer: usize,
    /// Entries kept for resuming clients.
    pub(crate) ring: usize,
}

/// One connected client, as the hub sees it.
struct Slot {
    id: u64,
    filter: StreamFilter,
    /// Bounded by `client_buffer`; the client's stream holds the receiver.
    tx: mpsc::Sender<Arc<Entry>>,
    /// Set when the hub drops the client for not keeping up, so its stream
    /// can say why it ends.
    kicked: Arc<AtomicBool>,
}

struct Inner {
    ring: Ring,
    clients: Vec<Slot>,
    /// The last position given out (0: none yet).
    last_seq: u64,
    next_client: u64,
    /// Set by `close`: no new clients, no new entries.
    closed: bool,
}

/// Counters of the event stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StreamStats {
    /// Clients streaming now.
    pub clients: usize,
    /// Clients accepted since start.
    pub connected: u64,
    /// Clients dropped because their buffer filled (they stopped reading,
    /// or read slower than events came).
    pub dropped_slow: u64,
    /// Clients refused because `max_clients` were streaming.
    pub refused: u64,
    /// Entries put on the stream.
    pub entries: u64,
    /// Events counted but not streamed because a pool's stream ran past
    /// its rate (`stream_rate`).
    pub skipped: u64,
    /// Entries held for resuming clients.
    pub ring: usize,
}

/// Why a client was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `max_clients` are streaming.
    Full { max: usize },
    /// The console is stopping.
    Closed,
}

/// A client's end, handed to its stream.
pub(crate) struct Joined {
    pub(crate) id: u64,
    pub(crate) rx: mpsc::Receiver<Arc<Entry>>,
    /// What it missed while away, in order, before anything from `rx`.
    pub(crate) backlog: Vec<Arc<Entry>>,
    pub(crate) resume: Option<Resume>,
    pub(crate) kicked: Arc<AtomicBool>,
}

/// The stream's shared state. One lock: entries are numbered, kept and
/// handed out in one step, so a client joining with `Last-Event-ID` gets
/// every entry exactly once (from the ring, then from its buffer).
pub(crate) struct Hub {
    limits: Limits,
    inner: Mutex<Inner>,
    connected: AtomicU64,
    dropped_slow: AtomicU64,
    refused: AtomicU64,
    skipped: AtomicU64,
}

impl Hub {
    pub(crate) fn new(limits: Limits) -> Hub {
        Hub {
            limits,
            inner: Mutex::new(Inner {
                ring: Ring::new(limits.ring),
                clients: Vec::new(),
                last_seq: 0,
                next_client: 1,
                closed: false,
            }),
            connected: AtomicU64::new(0),
            dropped_slow: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// Numbers an entry made by `make(seq)`, keeps it and hands it out.
    pub(crate) fn publish(&self, make: impl FnOnce(u64) -> Entry) {
        let mut inner = self.inner.lock();
        if inner.closed {
            return;
        }
        inner.last_seq += 1;
        let entry = Arc::new(make(inner.last_seq));
        inner.ring.push(entry.clone());
        let mut dropped = 0;
        inner.clients.retain(|slot| {
            if !slot.filter.matches(&entry) {
                return true;
            }
            match slot.tx.try_send(entry.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    slot.kicked.store(true, Ordering::Release);
                    dropped += 1;
                    tracing::warn!(
                        target: "switchboard::console",
                        client = slot.id,
                        buffer = self.limits.client_buffer,
                        "an event stream client fell behind by its whole buffer; dropped"
                    );
                    false
                }
                // Its stream is gone; `leave` may not have run yet.
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if dropped > 0 {
            self.dropped_slow.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// Counts events a feed did not stream.
    pub(crate) fn skipped(&self, n: u64) {
        self.skipped.fetch_add(n, Ordering::Relaxed);
    }

    /// Lets a client in, with what it missed since `last` (its
    /// `Last-Event-ID`), or refuses it.
    pub(crate) fn join(&self, filter: StreamFilter, last: Option<u64>) -> Result<Joined, Refused> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(Refused::Closed);
        }
        if inner.clients.len() >= self.limits.max_clients {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::Full {
                max: self.limits.max_clients,
            });
        }
        let (backlog, resume) = match last {
            Some(last) => {
                let (resume, rest) = inner.ring.since(last, inner.last_seq);
                let backlog = rest.filter(|e| filter.matches(e)).cloned().collect();
                (backlog, Some(resume))
            }
            None => (Vec::new(), None),
        };
        let id = inner.next_client;
        inner.next_client += 1;
        let (tx, rx) = mpsc::channel(self.limits.client_buffer.max(1));
        let kicked = Arc::new(AtomicBool::new(false));
        inner.clients.push(Slot {
            id,
            filter,
            tx,
            kicked: kicked.clone(),
        });
        self.connected.fetch_add(1, Ordering::Relaxed);
        Ok(Joined {
            id,
            rx,
            backlog,
            resume,
            kicked,
        })
    }

    /// A client's stream ended (it disconnected): forget it.
    pub(crate) fn leave(&self, id: u64) {
        self.inner.lock().clients.retain(|s| s.id != id);
    }

    /// Ends every client's stream and takes no more: the console stops.
    pub(crate) fn close(&self) {
        let mut inner = self.inner.lock();
        inner.closed = true;
        inner.clients.clear();
    }

    pub(crate) fn stats(&self) -> StreamStats {
        let inner = self.inner.lock();
        StreamStats {
            clients: inner.clients.len(),
            connected: self.connected.load(Ordering::Relaxed),
            dropped_slow: self.dropped_slow.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            entries: inner.last_seq,
            skipped: self.skipped.load(Ordering::Relaxed),
            ring: inner.ring.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(max_clients: usize, client_buffer: usize, ring: usize) -> Hub {
        Hub::new(Limits {
            max_clients,
            client_buffer,
            ring,
        })
    }

    fn action(seq: u64) -> Entry {
        Entry::action(seq, "{}")
    }

    fn drain(j: &mut Joined) -> Vec<u64> {
        let mut got: Vec<u64> = j.backlog.drain(..).map(|e| e.seq).collect();
        while let Ok(e) = j.rx.try_recv() {
            got.push(e.seq);
        }
        got
    }

    #[test]
    fn a_resuming_client_gets_every_entry_once() {
        let hub = hub(4, 16, 8);
        for _ in 0..5 {
            hub.publish(action);
        }
        let mut j = hub.join(StreamFilter::default(), Some(2)).unwrap();
        hub.publish(action);
        assert_eq!(j.resume, Some(Resume::Complete));
        assert_eq!(drain(&mut j), [3, 4, 5, 6]);
        // A new client without Last-Event-ID: only what comes next.
        let mut fresh = hub.join(StreamFilter::default(), None).unwrap();
        assert!(fresh.backlog.is_empty() && fresh.resume.is_none());
        hub.publish(action);
        assert_eq!(drain(&mut fresh), [7]);
    }

    #[test]
    fn a_client_that_does_not_read_is_dropped_when_its_buffer_fills() {
        let hub = hub(4, 3, 8);
        let j = hub.join(StreamFilter::default(), None).unwrap();
        for _ in 0..3 {
            hub.publish(action);
        }
        assert_eq!(hub.stats().clients, 1);
        hub.publish(action);
        let stats = hub.stats();
        assert_eq!((stats.clients, stats.dropped_slow), (0, 1));
        assert!(j.kicked.load(Ordering::Acquire));
        // What it had is still its to read; then its stream ends.
        let mut rx = j.rx;
        assert_eq!(rx.try_recv().map(|e| e.seq).ok(), Some(1));
    }

    #[test]
    fn clients_past_the_limit_are_refused_and_leaving_frees_a_place() {
        let hub = hub(2, 4, 8);
        let a = hub.join(StreamFilter::default(), None).unwrap();
        let _b = hub.join(StreamFilter::default(), None).unwrap();
        assert_eq!(
            hub.join(StreamFilter::default(), None).err(),
            Some(Refused::Full { max: 2 })
        );
        hub.leave(a.id);
        assert!(hub.join(StreamFilter::default(), None).is_ok());
        assert_eq!(hub.stats().refused, 1);
        hub.close();
        assert_eq!(
            hub.join(StreamFilter::default(), None).err(),
            Some(Refused::Closed)
        );
        assert_eq!(hub.stats().clients, 0);
    }
}
