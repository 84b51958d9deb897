//! Where an event goes on NATS: its subject, its message id and the headers
//! that say which service sent it.
//!
//! Subjects are `<prefix>.<service>.<pool>.<kind>` (prefix `switchboard` by
//! default), so a consumer can pick one service, one pool or one kind with
//! NATS wildcards: `switchboard.orders.>`, `switchboard.*.*.Executing`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use switchboard_core::Event;

/// Header naming the service that exported the event (its name as
/// configured, before any character was replaced to fit a subject token).
pub const SERVICE_HEADER: &str = "Switchboard-Service";

/// Header naming the exporting process instance (see [`instance`]).
pub const INSTANCE_HEADER: &str = "Switchboard-Instance";

/// The subject token for `name`: NATS tokens may not contain `.`, `*`, `>`
/// or whitespace, and may not be empty, so those characters become `_`.
pub fn token(name: &str) -> String {
    if name.is_empty() {
        return "_".to_owned();
    }
    name.chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect()
}

/// `<prefix>.<service>.<pool>.<kind>` for `event`.
pub fn subject(prefix: &str, service_token: &str, event: &Event) -> String {
    format!(
        "{prefix}.{service_token}.{}.{}",
        token(&event.meta().pool),
        event.kind().as_str()
    )
}

/// Whether `subject` matches the NATS subject `pattern` (`*` one token,
/// `>` the rest).
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for p in pattern.split('.') {
        match (p, subject.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (p, Some(s)) if p == s => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

/// The `Nats-Msg-Id` of `event`: `<service>/<instance>/<pool>/<id>`.
///
/// Event ids are unique only within one process and start again at 1 when
/// it restarts, so the id alone would make the server discard a restarted
/// service's first events as duplicates of the previous run's. The process
/// instance makes the id unique across restarts and replicas; a retried
/// publish of the same event carries the same id, which is what lets the
/// server de-duplicate it.
pub fn msg_id(service: &str, event: &Event) -> String {
    let m = event.meta();
    format!("{service}/{}/{}/{}", instance(), m.pool, m.id)
}

/// This process's instance id: 16 hex digits, random per process start
/// (from the standard library's per-process random hash keys, the clock and
/// the process id).
pub fn instance() -> &'static str {
    static INSTANCE: OnceLock<String> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mixed = RandomState::new().hash_one((nanos, std::process::id()));
        format!("{mixed:016x}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_contain_separators_or_wildcards() {
        assert_eq!(token("orders"), "orders");
        assert_eq!(token("eu.west orders*>"), "eu_west_orders__");
        assert_eq!(token(""), "_");
    }

    #[test]
    fn wildcards_match_as_nats_does() {
        assert!(matches("switchboard.>", "switchboard.a.b.Executing"));
        assert!(matches(
            "switchboard.*.*.Executing",
            "switchboard.a.b.Executing"
        ));
        assert!(!matches(
            "switchboard.*.Executing",
            "switchboard.a.b.Executing"
        ));
        assert!(!matches("switchboard.>", "switchboard"));
        assert!(!matches("other.>", "switchboard.a"));
        assert!(matches("a.b", "a.b"));
    }

    #[test]
    fn instance_is_stable_within_a_process() {
        assert_eq!(instance(), instance());
        assert_eq!(instance().len(), 16);
    }
}
