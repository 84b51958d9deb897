//! Capped exponential backoff with jitter: between a pool's connect
//! attempts, and between the NATS exporter's and source's reconnects and
//! retries.

use std::time::Duration;

/// Delays that double from `initial` up to `max`, each a random point in
/// the upper half of its ceiling, so that many clients retrying at once
/// spread out.
///
/// Attempts are counted from 1: [`delay(n)`](Self::delay) is the wait after
/// the `n`th failure, before attempt `n + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// Delay after the first failure. Default 50 ms.
    pub initial: Duration,
    /// Largest delay. Default 5 s.
    pub max: Duration,
}

impl Default for Backoff {
    /// 50 ms doubling up to 5 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// This backoff: `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// The delay after `failures` failures (before attempt `failures + 1`),
    /// without jitter: `initial * 2^(failures-1)`, at most `max` (and
    /// `initial` for 0).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The delay after `failures` failures: a random point in the upper
    /// half of [`ceiling`](Self::ceiling).
    pub fn delay(&self, failures: u32) -> Duration {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(failures);
        let unit = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
        self.ceiling(failures).mul_f64(0.5 + unit / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(200));
        assert_eq!(b.ceiling(4), Duration::from_millis(800));
        assert_eq!(b.ceiling(5), Duration::from_secs(1));
        assert_eq!(b.ceiling(400), Duration::from_secs(1));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1));
        let delays: Vec<_> = (0..50).map(|_| b.delay(3)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(200) && *d <= Duration::from_millis(400))
        );
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "no jitter: {delays:?}"
        );
    }
}
