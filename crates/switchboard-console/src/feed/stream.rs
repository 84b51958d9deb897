//! [`EventStream`]: one client's `text/event-stream` body.
//!
//! It sends, in order: the reconnection delay and any resume notice (a gap,
//! or a reset after a console restart), the entries the client missed, and
//! then what the hub hands it. An entry arriving after a quiet spell is
//! written at once; under a steady stream, entries are written together at
//! most every [`FLUSH_EVERY`], and the stream does not even look at its
//! buffer in between (so the hub's sends do not wake it). Writing each
//! entry to each client as it came cost a socket write and a reader
//! wake-up per entry and client: with 10 clients, a quarter of the CPU of
//! the `console_load` bench. A comment line keeps an idle connection open
//! through proxies and lets a vanished client be noticed by the failed
//! write. Dropping the
//! stream (the client went away, or the server stops) takes the client
//! off the hub: nothing of it is left.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

use super::entry::{Entry, frame};
use super::hub::{Hub, Joined};
use super::ring::Resume;

/// Bytes gathered into one write at most.
const CHUNK: usize = 32 * 1024;

/// How long a browser waits before reconnecting (the SSE `retry` field).
const RETRY_MS: u32 = 2000;

/// The shortest time between two writes of a steady stream. The client's
/// buffer (`client_buffer`) must hold what arrives meanwhile.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A client's stream of frames.
pub(crate) struct EventStream {
    hub: Arc<Hub>,
    id: u64,
    /// Sent first: `retry`, and the resume notice.
    preamble: Option<Bytes>,
    backlog: VecDeque<Arc<Entry>>,
    rx: mpsc::Receiver<Arc<Entry>>,
    kicked: Arc<std::sync::atomic::AtomicBool>,
    keep_alive: Interval,
    /// Until when the stream holds back after a write.
    hold: Pin<Box<Sleep>>,
    /// Whether `hold` is running.
    holding: bool,
    /// The hub let go of this client; the last frames are being sent.
    ending: bool,
}

impl EventStream {
    pub(crate) fn new(hub: Arc<Hub>, joined: Joined, keep_alive: Duration) -> EventStream {
        let mut preamble = format!("retry: {RETRY_MS}\n\n").into_bytes();
        match joined.resume {
            Some(Resume::Gap { from, to }) => preamble.extend_from_slice(&frame(
                None,
                Some("gap"),
                &format!(r#"{{"from":{from},"to":{to},"missed":{}}}"#, to - from + 1),
            )),
            Some(Resume::Reset) => preamble.extend_from_slice(&frame(
                None,
                Some("reset"),
                r#"{"reason":"the console restarted; its stream starts again at 1"}"#,
            )),
            Some(Resume::Complete) | None => {}
        }
        let mut keep_alive = tokio::time::interval_at(
            tokio::time::Instant::now() + keep_alive,
            keep_alive.max(Duration::from_millis(10)),
        );
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        EventStream {
            hub,
            id: joined.id,
            preamble: Some(Bytes::from(preamble)),
            backlog: joined.backlog.into(),
            rx: joined.rx,
            kicked: joined.kicked,
            keep_alive,
            hold: Box::pin(tokio::time::sleep(Duration::ZERO)),
            holding: false,
            ending: false,
        }
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(preamble) = this.preamble.take() {
            return Poll::Ready(Some(Ok(preamble)));
        }
        // What the client missed: as fast as it reads.
        if !this.backlog.is_empty() {
            let mut out = BytesMut::new();
            while out.len() < CHUNK {
                let Some(entry) = this.backlog.pop_front() else {
                    break;
                };
                out.extend_from_slice(&entry.frame);
            }
            return Poll::Ready(Some(Ok(out.freeze())));
        }
        if this.holding {
            if this.hold.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.holding = false;
        }
        let mut out = BytesMut::new();
        if !this.ending {
            while out.len() < CHUNK {
                match this.rx.poll_recv(cx) {
                    Poll::Ready(Some(entry)) => out.extend_from_slice(&entry.frame),
                    Poll::Ready(None) => {
                        this.ending = true;
                        if this.kicked.load(Ordering::Acquire) {
                            out.extend_from_slice(&frame(
                                None,
                                Some("dropped"),
                                r#"{"reason":"this client fell behind by its whole buffer; reconnect with Last-Event-ID to resume"}"#,
                            ));
                        }
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }
        if !out.is_empty() {
            this.keep_alive.reset();
            if !this.ending {
                this.hold.as_mut().reset(Instant::now() + FLUSH_EVERY);
                this.holding = true;
            }
            return Poll::Ready(Some(Ok(out.freeze())));
        }
        if this.ending {
            return Poll::Ready(None);
        }
        if this.keep_alive.poll_tick(cx).is_ready() {
            return Poll::Ready(Some(Ok(Bytes::from_static(b": keep-alive\n\n"))));
        }
        Poll::Pending
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.hub.leave(self.id);
    }
}
