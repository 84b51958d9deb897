//! Helpers shared by this crate's tests: events without a database, and a
//! server address where nothing listens.

use switchboard_core::Event;

/// A `CheckedOut` event of connection 1 with this id and sequence.
pub fn event(seq: u64) -> Event {
    Event::from_json(&format!(
        r#"{{"id":{seq},"at":"2026-11-27T01:20:03Z","pool":"app","connection":1,"seq":{seq},"backend":"sqlite","kind":"CheckedOut","waited_ns":0}}"#
    ))
    .expect("a valid event")
}

/// `nats://127.0.0.1:<port>` of a port that was free a moment ago: connects
/// are refused, as when the server is down.
pub fn nowhere() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("nats://127.0.0.1:{port}")
}
