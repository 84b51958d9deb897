//! Pool configuration: a plain struct with documented defaults.

use std::time::Duration;

/// Capped exponential backoff with jitter between connect attempts (core's,
/// shared with the NATS exporter and source).
pub use switchboard_core::Backoff;
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

/// Whether a connection is checked before it is lent out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthCheck {
    /// Never: a broken connection shows itself on the caller's statement
    /// (which fails with `ConnectionLost`; the connection is replaced).
    None,
    /// A cheap `SELECT 1` before lending a connection that sat idle longer
    /// than this; a connection that fails it is replaced, and the caller
    /// gets another. The default, with 30 s.
    PingIfIdle(Duration),
}

/// What is reset on a connection handed back before the pool lends it
/// again, when its holder left something behind. See the README's "Clean
/// hand-back" section for what each backend does.
///
/// What a connection owes is tracked per statement, by classifying every
/// statement it ran since it was lent (messages and closures alike): a
/// transaction begun and not ended, or a statement that may change session
/// state (`SET`, `PREPARE`, `LISTEN`, `DECLARE`, temporary tables,
/// `set_config()`, session advisory locks, MySQL `@variables`, any SQL the
/// classifier cannot parse). A connection that owes nothing is handed on
/// at no cost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResetPolicy {
    /// Roll back an open transaction; leave session state as it is.
    Rollback,
    /// Roll back, and clear session state: PostgreSQL settings, roles,
    /// temporary tables, SQL-level prepared statements, cursors,
    /// listeners and advisory locks (`DISCARD ALL` without dropping the
    /// driver's own prepared statements); SQLite temporary objects and
    /// attached databases; MySQL/MariaDB by replacing the connection. The
    /// pool's connection setup runs again after it. The default.
    #[default]
    Session,
    /// Roll back, then run this SQL.
    Custom(String),
    /// Roll back an open transaction only (a transaction is never left
    /// open for the next caller); session state stays, for the next
    /// holder to inherit. For pools whose callers share one session setup
    /// on purpose.
    None,
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
    /// An idle connection unused this long is closed (`Closing { reason:
    /// idle }`), down to `min_size`. Default 10 min; `None` keeps them.
    pub idle_timeout: Option<Duration>,
    /// A connection older than this is closed when next idle (`Closing {
    /// reason: lifetime }`) and replaced as needed. Default 30 min.
    pub max_lifetime: Option<Duration>,
    /// Checking connections before they are lent. Default
    /// `PingIfIdle(30 s)`.
    pub health_check: HealthCheck,
    /// Delays between connect attempts after failures. Default 50 ms
    /// doubling to 5 s, with jitter.
    pub backoff: Backoff,
    /// How long an `Execute` or `Load` statement may run before it is
    /// cancelled on the server and the caller gets `Error::Timeout`. A
    /// message's own `.timeout()` also bounds its statement. Default `None`.
    pub statement_timeout: Option<Duration>,
    /// How long one connect attempt may take (a host that never answers).
    /// Default 10 s.
    pub connect_timeout: Duration,
    /// Whether `start()` fails when the database cannot be reached. Default
    /// `false`: the pool starts and keeps retrying, and callers get
    /// `Error::Unreachable` after their checkout timeout. Errors no retry
    /// can fix (wrong password, unknown database, a guard's denial) fail
    /// `start()` either way.
    pub fail_fast: bool,
    /// How many independent `Execute`/`Load` messages may share one
    /// PostgreSQL connection at once, pipelined: sent without waiting for
    /// the answers before them (the server still runs them one after
    /// another, each in its own implicit transaction). A message joins the
    /// least busy connection already pipelining if it has room, else takes
    /// an idle one. Only messages without a timeout (their own or the
    /// pool's statement timeout) pipeline: a timed-out statement is
    /// cancelled on the server, which would hit its neighbours. Leases,
    /// transactions, closures and other backends always have their
    /// connection to themselves. Default 32; 1 turns pipelining off.
    ///
    /// Only statements measured fast pipeline (under a millisecond on
    /// average), and nothing joins a pipeline whose statement being
    /// answered has run for a millisecond. Deeper pipelines put concurrent
    /// fast reads on fewer connections, so the client writes and reads
    /// more statements per system call and the server runs fewer
    /// processes: at concurrency 32, a depth of 32 instead of 8 took
    /// PostgreSQL `SELECT 1` from about 0.83 to about 1.0 times a shared
    /// tokio-postgres client on the 2-core bench machine
    /// (benches/README.md, ninth pass). The cost: one connection's
    /// statements run on one server process, one after another, so on a
    /// server with many cores, reads that each take a noticeable part of
    /// a millisecond spread over more server processes with a lower
    /// depth; and a lost connection fails every statement in flight on it
    /// (`Error::ConnectionLost`), up to this many at once.
    pub pipeline: usize,
    /// What is reset on a connection handed back with a transaction open or
    /// its session changed. Default [`ResetPolicy::Session`].
    pub reset: ResetPolicy,
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
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            health_check: HealthCheck::PingIfIdle(Duration::from_secs(30)),
            backoff: Backoff::default(),
            statement_timeout: None,
            connect_timeout: Duration::from_secs(10),
            fail_fast: false,
            pipeline: 32,
            reset: ResetPolicy::Session,
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
        if self.connect_timeout.is_zero() {
            return Err(Error::Config(
                "connect timeout is zero; no connect could ever succeed".into(),
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
        for (name, value) in [
            ("idle timeout", self.idle_timeout),
            ("max lifetime", self.max_lifetime),
            ("statement timeout", self.statement_timeout),
        ] {
            if value.is_some_and(|v| v.is_zero()) {
                return Err(Error::Config(format!(
                    "{name} is zero; every connection would close at once (use None to turn it off)"
                )));
            }
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return Err(Error::Config(format!(
                "connect backoff must start above zero and not exceed its maximum (initial {:?}, max {:?})",
                self.backoff.initial, self.backoff.max
            )));
        }
        if self.pipeline == 0 {
            return Err(Error::Config(
                "pipeline depth is 0; it must be at least 1 (1 turns pipelining off)".into(),
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
