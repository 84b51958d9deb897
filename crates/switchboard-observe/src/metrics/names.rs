//! Metric names, their labels, and their descriptions.
//!
//! Durations are in seconds (Prometheus' base unit). Every metric carries
//! `pool` and `backend` (`postgresql`, `mysql`, `sqlite`) unless noted.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Histogram: how long statements ran; labels `class` (read, write, ddl,
/// role, misc, or unknown when the statement's start was not seen) and
/// `outcome` (ok, error).
pub const STATEMENT_DURATION: &str = "switchboard_statement_duration_seconds";
/// Histogram: how long callers waited for a connection.
pub const CHECKOUT_WAIT: &str = "switchboard_checkout_wait_seconds";
/// Histogram: how long callers held a connection (lent to checked in).
pub const HELD: &str = "switchboard_connection_held_seconds";
/// Histogram: how long resets of connections handed back took.
pub const RESET_DURATION: &str = "switchboard_reset_duration_seconds";
/// Histogram: how long successful connects took.
pub const CONNECT_DURATION: &str = "switchboard_connect_duration_seconds";

/// Counter: statements by `class` and `outcome` (ok, error, denied).
pub const STATEMENTS: &str = "switchboard_statements_total";
/// Counter: failed statements by `error_type` (database, timeout, ...).
pub const STATEMENT_ERRORS: &str = "switchboard_statement_errors_total";
/// Counter: connections opened.
pub const CONNECTS: &str = "switchboard_connects_total";
/// Counter: connect attempts that failed, by `error_type`.
pub const CONNECT_FAILURES: &str = "switchboard_connect_failures_total";
/// Counter: statements and connects a guard denied, by `guard`.
pub const DENIALS: &str = "switchboard_denials_total";
/// Counter: what a shadow-mode guard would have denied, by `guard`.
pub const SHADOW_DENIALS: &str = "switchboard_shadow_denials_total";
/// Counter: callers that gave up waiting for a connection; label
/// `unreachable` (`true` when connects were failing meanwhile).
pub const CHECKOUT_TIMEOUTS: &str = "switchboard_checkout_timeouts_total";
/// Counter: connections found broken.
pub const INVALIDATIONS: &str = "switchboard_invalidations_total";
/// Counter: loans that passed the leak threshold (once per loan).
pub const LEAKS_SUSPECTED: &str = "switchboard_leaks_suspected_total";
/// Counter: events the bus dropped for a lossy subscriber; label
/// `subscriber` (its subscription name) only.
pub const BUS_DROPPED: &str = "switchboard_bus_dropped_total";

/// Gauge: open connections.
pub const POOL_OPEN: &str = "switchboard_pool_connections";
/// Gauge: open connections not lent out.
pub const POOL_IDLE: &str = "switchboard_pool_idle_connections";
/// Gauge: open connections lent out.
pub const POOL_BUSY: &str = "switchboard_pool_busy_connections";
/// Gauge: connect attempts under way.
pub const POOL_CONNECTING: &str = "switchboard_pool_connecting";
/// Gauge: the pool's maximum size.
pub const POOL_MAX: &str = "switchboard_pool_max_connections";
/// Gauge: callers waiting for a connection.
pub const POOL_WAITING: &str = "switchboard_pool_waiting_callers";

/// The help text of a metric a tap may keep itself
/// ([`Kept`](super::Kept)); empty for any other.
pub(crate) fn help(name: &str) -> &'static str {
    match name {
        STATEMENT_DURATION => "Statement duration",
        CHECKOUT_WAIT => "Time callers waited for a connection",
        HELD => "Time callers held a connection",
        STATEMENTS => "Statements by class and outcome (ok, error, denied)",
        _ => "",
    }
}

/// Registers units and help texts with the current recorder.
pub(crate) fn describe() {
    for name in [STATEMENT_DURATION, CHECKOUT_WAIT, HELD] {
        describe_histogram!(name, Unit::Seconds, help(name));
    }
    describe_histogram!(
        RESET_DURATION,
        Unit::Seconds,
        "Time resets of returned connections took"
    );
    describe_counter!(
        CHECKOUT_TIMEOUTS,
        "Callers that gave up waiting for a connection"
    );
    describe_histogram!(
        CONNECT_DURATION,
        Unit::Seconds,
        "Time a successful connect took"
    );
    describe_counter!(STATEMENTS, help(STATEMENTS));
    describe_counter!(STATEMENT_ERRORS, "Failed statements by error type");
    describe_counter!(CONNECTS, "Connections opened");
    describe_counter!(CONNECT_FAILURES, "Failed connect attempts by error type");
    describe_counter!(DENIALS, "Statements and connects denied, by guard");
    describe_counter!(SHADOW_DENIALS, "Would-be denials of shadow-mode guards");
    describe_counter!(INVALIDATIONS, "Connections found broken");
    describe_counter!(LEAKS_SUSPECTED, "Loans held past the leak threshold");
    describe_counter!(BUS_DROPPED, "Events dropped for a lossy bus subscriber");
    describe_gauge!(POOL_OPEN, "Open connections");
    describe_gauge!(POOL_IDLE, "Open connections not lent out");
    describe_gauge!(POOL_BUSY, "Open connections lent out");
    describe_gauge!(POOL_CONNECTING, "Connect attempts under way");
    describe_gauge!(POOL_MAX, "Maximum pool size");
    describe_gauge!(POOL_WAITING, "Callers waiting for a connection");
}
