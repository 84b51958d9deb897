//! Integration tests against real SQLite, PostgreSQL and MariaDB.
//!
//! Servers come from `SWITCHBOARD_PG_URL` and `SWITCHBOARD_MYSQL_URL`; see
//! README.md. A missing server skips its tests loudly, or fails them when
//! `SWITCHBOARD_REQUIRE_SERVICES=1`.

#![allow(clippy::unwrap_used)]

mod audit;
mod bad_input;
mod classifier_corpus;
mod closures;
mod console;
mod delivery;
mod ending;
mod errors;
mod events;
mod faults;
mod guard_view;
mod guards;
mod handback;
mod handback_edges;
mod handback_load;
mod hooks;
mod lifecycle;
mod nats;
mod observe;
mod pipeline;
mod pool;
mod prepared;
mod queries;
mod read_only;
mod rules;
mod soak;
mod status;
mod subscribers;
mod support;
mod timeouts;
mod transactions;
