//! Pool configuration: a plain struct with documented defaults.

use std::time::Duration;

use switchboard_core::{Error, Result};

/// Whether bind parameter values appear in events (and so in logs and audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ParamPolicy {
    /// Events show each parameter's SQL type, never its value (default).
    #[default]
    Redacted,
    /// Events show values (rendered with `Debug`). Only for development.
    Plain,
}

/// How a pool behaves. Every field has a default; see [`PoolConfig::default`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Name on every event of this pool. Default `"default"`.
    pub name: String,
    /// Connections opened at start and kept. Default 1.
    pub min_size: usize,
    /// Most connections open at once. Default 8.
    pub max_size: usize,
    /// How long a caller waits for a free connection before
    /// [`Error::PoolTimeout`]. Default 30 s.
    pub checkout_timeout: Duration,
    /// How long [`Shutdown`](crate::Shutdown) waits for in-flight work and
    /// lossless subscribers. Default 30 s.
    pub shutdown_timeout: Duration,
    /// Whether bind values appear in events. Default redacted.
    pub params: ParamPolicy,
    /// Distinct SQL texts whose classification is cached. Default 1024.
    pub classifier_cache: usize,
    /// A connection lent out longer than this is reported once per loan
    /// (`LeakSuspected` event and a warning log naming the holder's
    /// labels), in the spirit of HikariCP's `leakDetectionThreshold`.
    /// Default `None` (off).
    pub leak_threshold: Option<Duration>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            name: "default".into(),
            min_size: 1,
            max_size: 8,
            checkout_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            params: ParamPolicy::Redacted,
            classifier_cache: 1024,
            leak_threshold: None,
        }
    }
}

impl PoolConfig {
    /// Checks bounds and timeouts, saying what to change.
    pub fn validate(&self) -> Result<()> {
        if self.max_size == 0 {
            return Err(Error::Config(
                "max pool size is 0; it must be at least 1".into(),
            ));
        }
        if self.min_size > self.max_size {
            return Err(Error::Config(format!(
                "min pool size {} is larger than max pool size {}",
                self.min_size, self.max_size
            )));
        }
        if self.checkout_timeout.is_zero() {
            return Err(Error::Config(
                "checkout timeout is zero; no caller could ever get a connection".into(),
            ));
        }
        if self.shutdown_timeout.is_zero() {
            return Err(Error::Config("shutdown timeout is zero".into()));
        }
        if self.leak_threshold.is_some_and(|t| t.is_zero()) {
            return Err(Error::Config(
                "leak threshold is zero; every loan would be reported (use None to turn it off)"
                    .into(),
            ));
        }
        if self.name.is_empty() {
            return Err(Error::Config("pool name is empty".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_bounds_are_named() {
        PoolConfig::default().validate().unwrap();
        let inverted = PoolConfig {
            min_size: 4,
            max_size: 2,
            ..PoolConfig::default()
        };
        let err = inverted.validate().unwrap_err().to_string();
        assert!(
            err.contains("min pool size 4") && err.contains("max pool size 2"),
            "{err}"
        );
        let zero = PoolConfig {
            max_size: 0,
            ..PoolConfig::default()
        };
        assert!(zero.validate().is_err());
        let no_wait = PoolConfig {
            checkout_timeout: Duration::ZERO,
            ..PoolConfig::default()
        };
        assert!(no_wait.validate().is_err());
    }
}
