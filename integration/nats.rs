//! The NATS bridge against real servers: the machine's NATS with JetStream
//! (`SWITCHBOARD_NATS_URL`, default `nats://127.0.0.1:4222`) for the fleet
//! and retry tests, and a private `nats-server` of each test's own for the
//! outages it causes (stopped, killed, restarted).
//!
//! - `fleet`: two services' managers, one central source and audit log;
//! - `retry`: retried publishes stored once;
//! - `outage`: the exporter's contract while NATS is away;
//! - `private_server`: starting and breaking a private server.

mod fleet;
mod outage;
mod private_server;
mod retry;

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use switchboard_nats::StreamSettings;

use crate::support::require_services;

pub const NATS_DEFAULT: &str = "nats://127.0.0.1:4222";

/// The machine's NATS, or `None` after a loud message (a failure under
/// `SWITCHBOARD_REQUIRE_SERVICES=1`).
pub fn shared_nats(test: &str) -> Option<String> {
    let url = std::env::var("SWITCHBOARD_NATS_URL").unwrap_or_else(|_| NATS_DEFAULT.to_owned());
    let addr = url.trim_start_matches("nats://").to_owned();
    let reachable = addr
        .parse()
        .ok()
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
        .is_some();
    if reachable {
        return Some(url);
    }
    assert!(
        !require_services(),
        "{test}: NATS is not reachable at {url} and SWITCHBOARD_REQUIRE_SERVICES=1"
    );
    eprintln!("SKIPPED {test}: NATS is not reachable at {url} (set SWITCHBOARD_NATS_URL)");
    None
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A stream and subject prefix of the test's own, so tests never see each
/// other's events.
pub struct Names {
    pub prefix: String,
    pub stream: StreamSettings,
}

impl Names {
    pub fn new(test: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let unique = format!("sbtest_{test}_{}_{n}", std::process::id());
        Names {
            stream: StreamSettings::new(unique.to_uppercase(), [format!("{unique}.>")]),
            prefix: unique,
        }
    }
}

/// The stream's messages' `Nats-Msg-Id`s, read with an ephemeral consumer,
/// and the message count the server reports.
pub async fn stored_ids(url: &str, stream: &str) -> (Vec<String>, u64) {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    let mut s = js.get_stream(stream).await.unwrap();
    let count = s.info().await.unwrap().state.messages;
    let consumer = s
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut ids = Vec::new();
    let mut messages = consumer.messages().await.unwrap();
    while (ids.len() as u64) < count {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("stream read stalled")
            .unwrap()
            .unwrap();
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .unwrap();
        ids.push(id.as_str().to_owned());
    }
    (ids, count)
}

/// Asserts that `ids` has no repeats; returns how many there are.
pub fn assert_unique(ids: &[String]) -> usize {
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "a message id is stored twice");
    ids.len()
}

pub async fn delete_stream(url: &str, stream: &str) {
    if let Ok(client) = async_nats::connect(url).await {
        let _ = jetstream::new(client).delete_stream(stream).await;
    }
}

/// A synthetic event (for tests that need no database), connection 1,
/// sequence `seq`.
pub fn event(pool: &str, seq: u64) -> switchboard::Event {
    switchboard::Event::from_json(&format!(
        r#"{{"id":{seq},"at":"2026-11-27T01:20:03Z","pool":"{pool}","connection":1,"seq":{seq},"backend":"sqlite","kind":"CheckedOut","waited_ns":0}}"#
    ))
    .unwrap()
}
