//! Pool configurations `start()` must refuse (zero or inverted bounds, zero
//! timeouts), and the errors of a pool too small or shutting down.

use std::time::Duration;

use switchboard::{Backoff, Builder};

use super::Variant::*;
use super::connect::{Case, Servers, Then, err, fixed, run_catalogue};

fn memory(_: &Servers) -> Option<String> {
    fixed("sqlite::memory:")
}

#[allow(clippy::reversed_empty_ranges, reason = "the mistake under test")]
fn inverted_bounds(b: Builder) -> Builder {
    b.pool_size(3..=1)
}

fn cases() -> Vec<Case> {
    let config = |name, config, expect| Case {
        name,
        url: memory,
        config,
        then: Then::Start,
        expect,
    };
    vec![
        // Pool bounds and timeouts.
        config(
            "max size 0",
            |b| b.pool_size(0..=0),
            err(Config, &["max pool size is 0"]),
        ),
        config(
            "inverted bounds",
            inverted_bounds,
            err(Config, &["min pool size 3 is larger than max pool size 1"]),
        ),
        config(
            "zero checkout timeout",
            |b| b.checkout_timeout(Duration::ZERO),
            err(Config, &["checkout timeout is zero"]),
        ),
        config(
            "zero connect timeout",
            |b| b.connect_timeout(Duration::ZERO),
            err(Config, &["connect timeout is zero"]),
        ),
        config(
            "zero shutdown timeout",
            |b| b.shutdown_timeout(Duration::ZERO),
            err(Config, &["shutdown timeout is zero"]),
        ),
        config(
            "zero statement timeout",
            |b| b.statement_timeout(Duration::ZERO),
            err(Config, &["statement timeout is zero", "None"]),
        ),
        config(
            "zero idle timeout",
            |b| b.idle_timeout(Some(Duration::ZERO)),
            err(Config, &["idle timeout is zero"]),
        ),
        config(
            "zero max lifetime",
            |b| b.max_lifetime(Some(Duration::ZERO)),
            err(Config, &["max lifetime is zero"]),
        ),
        config(
            "zero leak threshold",
            |b| b.leak_detection(Duration::ZERO),
            err(Config, &["leak threshold is zero"]),
        ),
        config(
            "zero backoff",
            |b| b.backoff(Backoff::new(Duration::ZERO, Duration::from_secs(1))),
            err(Config, &["backoff must start above zero"]),
        ),
        config(
            "backoff above its maximum",
            |b| b.backoff(Backoff::new(Duration::from_secs(2), Duration::from_secs(1))),
            err(Config, &["not exceed its maximum"]),
        ),
        config(
            "empty pool name",
            |b| b.name(""),
            err(Config, &["pool name is empty"]),
        ),
        // A pool too small for its callers, and one shutting down.
        Case {
            name: "pool too small for its callers",
            url: memory,
            config: |b| {
                b.pool_size(1..=1)
                    .checkout_timeout(Duration::from_millis(200))
            },
            then: Then::WhileLeased,
            expect: err(
                PoolTimeout,
                &["1 busy of max 1", "raise the pool's max size"],
            ),
        },
        Case {
            name: "statement sent to a draining pool",
            url: memory,
            config: |b| b.name("draining").pool_size(1..=1),
            then: Then::WhileDraining,
            expect: err(ShuttingDown, &["\"draining\" is shutting down"]),
        },
    ]
}

#[test]
fn pool_configurations() {
    run_catalogue("pool configurations", cases());
}
