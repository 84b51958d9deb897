//! [`TracingLogger`]: the lifecycle as `tracing` events, one line per
//! statement.
//!
//! What it emits, by target and level (filter with e.g.
//! `RUST_LOG=switchboard::statement=debug`):
//!
//! | target | level | when |
//! |---|---|---|
//! | `switchboard::statement` | INFO | a statement finished: operation, table, duration, rows, outcome |
//! | `switchboard::statement` | WARN | it ran longer than the slow threshold (with its SQL), failed, or was denied |
//! | `switchboard::statement` | DEBUG | it started: the full SQL (`db.query.text`) and its parameters |
//! | `switchboard::connection` | INFO | connected, closed |
//! | `switchboard::connection` | WARN / ERROR | a connect failed (ERROR when no retry follows), invalidated, connect denied |
//! | `switchboard::connection` | DEBUG | connecting, closing, transaction begin/commit/rollback |
//! | `switchboard::pool` | WARN | a connection lent out past the leak threshold |
//! | `switchboard::pool` | TRACE | checked out, checked in |
//! | `switchboard::guard` | INFO | a shadow-mode guard would have denied; a guard rewrote a statement |
//! | `switchboard::observe` | WARN | the logger fell behind and the bus dropped events for it |
//!
//! Attributes use the OpenTelemetry database semantic conventions:
//! `db.system`, `db.namespace`, `db.operation.name`, `db.collection.name`,
//! `db.query.text`, `server.address`, `server.port`, `error.type`,
//! `db.response.status_code`.
//!
//! Secrets: bind values are shown as their SQL types unless
//! [`ParamDisplay::Plain`] is configured *and* the pool put values in its
//! events (`ParamPolicy::Plain`). Connection URLs are never printed, only
//! host, port and database name. SQL text that may hold a password
//! (`PASSWORD`, `IDENTIFIED BY`) is never printed, nor are its values.

/// `tracing`'s macros need a level known at compile time; this picks the
/// macro for a level chosen at run time (INFO, or WARN for a slow one).
macro_rules! at_level {
    ($level:expr, $($args:tt)+) => {{
        let level: tracing::Level = $level;
        if level == tracing::Level::ERROR {
            tracing::error!($($args)+)
        } else if level == tracing::Level::WARN {
            tracing::warn!($($args)+)
        } else if level == tracing::Level::INFO {
            tracing::info!($($args)+)
        } else if level == tracing::Level::DEBUG {
            tracing::debug!($($args)+)
        } else {
            tracing::trace!($($args)+)
        }
    }};
}

mod connection;
mod state;
mod statement;
mod text;

use std::time::Duration;

use switchboard_core::{Bus, Delivery, Filter, Subscriber, Subscription};
use tracing::Dispatch;

use crate::error::{Error, Result};
use state::LoggerState;

/// The `tracing` target of statement lines.
pub const TARGET_STATEMENT: &str = "switchboard::statement";
/// The `tracing` target of connection lines.
pub const TARGET_CONNECTION: &str = "switchboard::connection";
/// The `tracing` target of checkout, checkin and leak lines.
pub const TARGET_POOL: &str = "switchboard::pool";
/// The `tracing` target of shadow denials and rewrites.
pub const TARGET_GUARD: &str = "switchboard::guard";
/// The `tracing` target of the logger's own notices (dropped events).
pub const TARGET_OBSERVE: &str = "switchboard::observe";

/// How bind parameters appear in log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ParamDisplay {
    /// Only each parameter's SQL type: `[Integer, Text]` (default).
    #[default]
    Redacted,
    /// Values where the event carries them (the pool was built with
    /// `ParamPolicy::Plain`): `[Integer=5, Text="bob"]`. For development.
    Plain,
}

/// How a [`TracingLogger`] behaves. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggerConfig {
    /// Subscription name on the bus (shown in its counters). Default
    /// `"tracing-logger"`.
    pub name: String,
    /// A statement that ran at least this long logs at WARN with its SQL.
    /// Default 1 s; `None` disables.
    pub slow_threshold: Option<Duration>,
    /// How bind parameters appear. Default [`ParamDisplay::Redacted`].
    pub params: ParamDisplay,
    /// Events held for the logger before the bus drops them (the logger
    /// is lossy: a stalled log sink never slows a statement; drops are
    /// logged as they are noticed). Default 4096.
    pub capacity: usize,
    /// Statements remembered between their start and their outcome;
    /// the oldest are forgotten past it. Default 4096.
    pub in_flight: usize,
}

impl Default for LoggerConfig {
    fn default() -> Self {
        LoggerConfig {
            name: "tracing-logger".into(),
            slow_threshold: Some(Duration::from_secs(1)),
            params: ParamDisplay::Redacted,
            capacity: 4096,
            in_flight: 4096,
        }
    }
}

/// Logs the lifecycle of every connection on a bus through `tracing`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use switchboard::{Bus, Switchboard};
/// use switchboard_observe::TracingLogger;
///
/// let bus = Bus::new();
/// // Attach before the pool starts, so the first connects are logged too.
/// let _logger = TracingLogger::new()
///     .slow_threshold(Duration::from_millis(200))
///     .attach(&bus)?;
/// let sb = Switchboard::builder("sqlite::memory:").bus(bus).start().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TracingLogger {
    config: LoggerConfig,
    filter: Filter,
    dispatch: Option<Dispatch>,
}

impl TracingLogger {
    /// A logger with the default [`LoggerConfig`].
    pub fn new() -> Self {
        TracingLogger::default()
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: LoggerConfig) -> Self {
        self.config = config;
        self
    }

    /// Statements at least this long log at WARN (`None`: never).
    pub fn slow_threshold(mut self, threshold: impl Into<Option<Duration>>) -> Self {
        self.config.slow_threshold = threshold.into();
        self
    }

    /// How bind parameters appear.
    pub fn params(mut self, params: ParamDisplay) -> Self {
        self.config.params = params;
        self
    }

    /// Events held before the bus drops them.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.config.capacity = capacity;
        self
    }

    /// Logs only what this filter selects (default: everything).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Emits into this dispatcher (or `tracing` subscriber) instead of the
    /// global default one: the logger runs on a thread of its own, where a
    /// scoped default set by the caller does not apply; this one becomes
    /// that thread's default. Tests use it to capture lines.
    pub fn dispatch(mut self, dispatch: impl Into<Dispatch>) -> Self {
        self.dispatch = Some(dispatch.into());
        self
    }

    /// Subscribes to `bus` (lossy) and starts logging on a thread of its
    /// own. Logging stops when the returned subscription is dropped.
    pub fn attach(self, bus: &Bus) -> Result<Subscription> {
        let TracingLogger {
            config,
            filter,
            mut dispatch,
        } = self;
        let name = config.name.clone();
        let delivery = Delivery::lossy(config.capacity);
        let mut state = LoggerState::new(config);
        // The dispatcher, made the default of the subscription's own thread
        // at its first event for as long as the thread lives (dropped with
        // the closure, on that thread): not set and reset per event.
        let mut _default = None;
        let id = bus.subscribe_fn(&name, filter, delivery, move |event| {
            if let Some(dispatch) = dispatch.take() {
                _default = Some(tracing::dispatcher::set_default(&dispatch));
            }
            state.handle(&event);
        })?;
        Ok(Subscription::new(bus, id))
    }
}

impl Subscriber for TracingLogger {
    type Error = Error;

    fn attach(self, bus: &Bus) -> Result<Subscription> {
        TracingLogger::attach(self, bus)
    }
}
