//! One thread per witness, following the log's checkpoint file: it sends
//! each new checkpoint, and after a failure (or at start) asks the witness
//! what it holds and sends everything after that.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use super::{Witness, WitnessError};
use crate::checkpoint::read_all;
use crate::stats::Counters;

/// Checkpoint lines kept in memory for the witnesses; one that falls
/// further behind reads them back from the log's checkpoint file.
const RECENT: usize = 64;
/// Delays between attempts at a failing witness: 100 ms doubling to 10 s.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// A checkpoint line and its `seq`, shared by every witness thread.
type Line = (u64, Arc<[u8]>);

/// What the anchor shares with the witness threads.
#[derive(Debug)]
pub(crate) struct Feeds {
    state: Mutex<FeedState>,
    /// Wakes the witness threads: a new checkpoint, or the end.
    wake: Condvar,
    /// The log's base name, which names it at the witnesses.
    log: String,
    /// The log's checkpoint file, read when a witness is far behind.
    local: PathBuf,
    stats: Arc<Counters>,
}

#[derive(Debug)]
struct FeedState {
    /// The newest checkpoint lines, oldest first.
    recent: VecDeque<Line>,
    /// The newest checkpoint's `seq`.
    newest: Option<u64>,
    /// Per witness, the next `seq` it needs, as last known.
    next: Vec<u64>,
    /// Stop after this instant, or once nothing is left to send.
    stop_at: Option<Instant>,
}

impl Feeds {
    pub(crate) fn new(
        log: &str,
        local: PathBuf,
        stats: Arc<Counters>,
        witnesses: usize,
        newest: Option<u64>,
    ) -> Self {
        Feeds {
            state: Mutex::new(FeedState {
                recent: VecDeque::new(),
                newest,
                next: vec![0; witnesses],
                stop_at: None,
            }),
            wake: Condvar::new(),
            log: log.to_owned(),
            local,
            stats,
        }
    }

    /// A checkpoint was written (and fsynced) to the log's file.
    pub(crate) fn push(&self, seq: u64, line: &[u8]) {
        let mut st = self.state.lock();
        if st.recent.len() == RECENT {
            st.recent.pop_front();
        }
        st.recent.push_back((seq, Arc::from(line)));
        st.newest = Some(seq);
        drop(st);
        self.wake.notify_all();
    }

    /// Asks the witness threads to send what is left until `at`, then stop.
    pub(crate) fn stop_at(&self, at: Instant) {
        self.state.lock().stop_at = Some(at);
        self.wake.notify_all();
    }

    /// Checkpoints the slowest witness does not hold yet (as last known).
    pub(crate) fn behind(&self) -> u64 {
        let st = self.state.lock();
        let Some(newest) = st.newest else { return 0 };
        st.next
            .iter()
            .map(|next| (newest + 1).saturating_sub(*next))
            .max()
            .unwrap_or(0)
    }

    /// The lines from `seq` on: from memory, or from the log's file.
    fn lines_from(&self, seq: u64) -> Result<Vec<Line>, WitnessError> {
        {
            let st = self.state.lock();
            if st.newest.is_none_or(|n| n < seq) {
                return Ok(Vec::new());
            }
            if st.recent.front().is_some_and(|(s, _)| *s <= seq) {
                return Ok(st
                    .recent
                    .iter()
                    .filter(|(s, _)| *s >= seq)
                    .cloned()
                    .collect());
            }
        }
        let read = read_all(&self.local)
            .map_err(|e| WitnessError::new(format!("{}: {e}", self.local.display())))?
            .unwrap_or_default();
        Ok(read
            .lines
            .into_iter()
            .filter_map(|(_, line)| line.ok())
            .filter(|c| c.checkpoint.seq >= seq)
            .map(|c| (c.checkpoint.seq, Arc::from(c.line)))
            .collect())
    }
}

/// Starts the thread that feeds witness `index`; the receiver answers
/// (closed) when it stops.
pub(crate) fn spawn(
    feeds: Arc<Feeds>,
    index: usize,
    witness: Arc<dyn Witness>,
) -> std::io::Result<(JoinHandle<()>, oneshot::Receiver<()>)> {
    let (done, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("sb-witness-{index}"))
        .spawn(move || {
            let _done = done;
            Feed {
                feeds,
                index,
                witness,
                next: None,
                failures: 0,
            }
            .run();
        })?;
    Ok((thread, stopped))
}

struct Feed {
    feeds: Arc<Feeds>,
    index: usize,
    witness: Arc<dyn Witness>,
    /// The next `seq` to send; `None` until the witness says what it holds.
    next: Option<u64>,
    /// Failed attempts in a row.
    failures: u32,
}

impl Feed {
    fn run(mut self) {
        let mut retry_at: Option<Instant> = None;
        loop {
            if !self.wait(retry_at) {
                return;
            }
            match self.deliver() {
                Ok(()) => {
                    if self.failures > 0 {
                        tracing::info!(witness = %self.witness.describe(), "audit witness is caught up");
                    }
                    self.failures = 0;
                    retry_at = None;
                }
                Err(e) => {
                    Counters::add(&self.feeds.stats.witness_errors, 1);
                    self.failures += 1;
                    // The first failure, then one in ten: a witness down for
                    // hours does not flood the log.
                    if self.failures % 10 == 1 {
                        tracing::warn!(witness = %self.witness.describe(), error = %e, failures = self.failures, "audit witness unavailable; checkpoints are kept and sent once it answers");
                    }
                    self.next = None;
                    let delay = FIRST_RETRY
                        .saturating_mul(1 << self.failures.min(10))
                        .min(LAST_RETRY);
                    retry_at = Some(Instant::now() + delay);
                }
            }
        }
    }

    /// Waits until there is something to send and any retry delay passed;
    /// `false` when the thread must stop.
    fn wait(&self, retry_at: Option<Instant>) -> bool {
        let feeds = &self.feeds;
        let mut st = feeds.state.lock();
        loop {
            let now = Instant::now();
            let pending = match (st.newest, self.next) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(newest), Some(next)) => next <= newest,
            };
            // At the end, a witness that answers gets until `stop` to take
            // what it lacks; one that is failing is not waited for.
            if let Some(stop) = st.stop_at
                && (now >= stop || !pending || self.failures > 0)
            {
                return false;
            }
            if pending && retry_at.is_none_or(|r| now >= r) {
                return true;
            }
            let until = [retry_at.filter(|_| pending), st.stop_at]
                .into_iter()
                .flatten()
                .min();
            match until {
                Some(t) => drop(feeds.wake.wait_until(&mut st, t)),
                None => feeds.wake.wait(&mut st),
            }
        }
    }

    fn deliver(&mut self) -> Result<(), WitnessError> {
        let log = &self.feeds.log;
        let mut next = match self.next {
            Some(next) => next,
            None => self.witness.latest(log)?.map_or(0, |s| s + 1),
        };
        self.next = Some(next);
        self.set_next(next);
        loop {
            let lines = self.feeds.lines_from(next)?;
            if lines.is_empty() {
                let newest = self.feeds.state.lock().newest;
                if newest.is_some_and(|n| next > n + 1) {
                    return Err(WitnessError::new(format!(
                        "it holds checkpoint {} of log {log:?}, but the log's newest is {}: it belongs to a history this log no longer has (move its file aside)",
                        next - 1,
                        newest.unwrap_or(0)
                    )));
                }
                return Ok(());
            }
            for (seq, line) in lines {
                if seq != next {
                    return Err(WitnessError::new(format!(
                        "the log's checkpoint file lacks checkpoint {next}"
                    )));
                }
                self.witness.keep(log, seq, &line)?;
                next += 1;
                self.next = Some(next);
                self.set_next(next);
            }
        }
    }

    fn set_next(&self, next: u64) {
        self.feeds.state.lock().next[self.index] = next;
    }
}
