//! [`Ring`]: the last entries of the stream, for clients that resume with
//! `Last-Event-ID` (or ask for the recent past with `Last-Event-ID: 0`).

use std::collections::VecDeque;
use std::sync::Arc;

use super::entry::Entry;

/// The most recent `capacity` entries, oldest first. Full, it forgets the
/// oldest for each new one.
pub(crate) struct Ring {
    entries: VecDeque<Arc<Entry>>,
    capacity: usize,
}

/// Where a client resuming after `last` stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Everything after `last` is still here.
    Complete,
    /// Entries `from..=to` were forgotten before the client came back.
    Gap { from: u64, to: u64 },
    /// `last` is ahead of this stream: it came from an earlier console
    /// (a restart numbers from 1 again). Everything held is sent.
    Reset,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Ring {
        Ring {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn push(&mut self, entry: Arc<Entry>) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// What a client that last saw `last` (the newest position given out
    /// so far being `newest`) missed, and the entries after it.
    pub(crate) fn since(
        &self,
        last: u64,
        newest: u64,
    ) -> (Resume, impl Iterator<Item = &Arc<Entry>>) {
        let oldest = self.entries.front().map_or(newest + 1, |e| e.seq);
        let (resume, after) = if last > newest {
            (Resume::Reset, 0)
        } else if last + 1 < oldest {
            (
                Resume::Gap {
                    from: last + 1,
                    to: oldest - 1,
                },
                last,
            )
        } else {
            (Resume::Complete, last)
        };
        // Positions are consecutive, so the first entry after `after` is
        // found by arithmetic rather than by a search.
        let skip = after.saturating_sub(oldest.saturating_sub(1)) as usize;
        (resume, self.entries.iter().skip(skip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::entry::Topic;

    fn ring_of(capacity: usize, seqs: impl Iterator<Item = u64>) -> Ring {
        let mut ring = Ring::new(capacity);
        for seq in seqs {
            ring.push(Arc::new(Entry {
                seq,
                topic: Topic::Action,
                frame: bytes::Bytes::new(),
            }));
        }
        ring
    }

    fn seqs<'a>(it: impl Iterator<Item = &'a Arc<Entry>>) -> Vec<u64> {
        it.map(|e| e.seq).collect()
    }

    #[test]
    fn resuming_inside_the_ring_gives_exactly_what_followed() {
        let ring = ring_of(10, 1..=25);
        let (resume, rest) = ring.since(20, 25);
        assert_eq!(resume, Resume::Complete);
        assert_eq!(seqs(rest), [21, 22, 23, 24, 25]);
        let (resume, rest) = ring.since(25, 25);
        assert_eq!((resume, seqs(rest)), (Resume::Complete, vec![]));
        // The entry just before the oldest: nothing was lost.
        let (resume, rest) = ring.since(15, 25);
        assert_eq!(resume, Resume::Complete);
        assert_eq!(seqs(rest).len(), 10);
    }

    #[test]
    fn resuming_from_before_the_ring_reports_the_gap() {
        let ring = ring_of(10, 1..=25);
        let (resume, rest) = ring.since(3, 25);
        assert_eq!(resume, Resume::Gap { from: 4, to: 15 });
        assert_eq!(seqs(rest), (16..=25).collect::<Vec<_>>());
        // Asking for everything (0) when the start was forgotten is a gap too.
        assert_eq!(ring.since(0, 25).0, Resume::Gap { from: 1, to: 15 });
    }

    #[test]
    fn an_id_from_the_future_means_another_console_and_resends_everything() {
        let ring = ring_of(10, 1..=5);
        let (resume, rest) = ring.since(900, 5);
        assert_eq!(resume, Resume::Reset);
        assert_eq!(seqs(rest), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn an_empty_ring_resumes_cleanly() {
        let ring = ring_of(10, std::iter::empty());
        let (resume, rest) = ring.since(0, 0);
        assert_eq!((resume, seqs(rest)), (Resume::Complete, vec![]));
    }
}
