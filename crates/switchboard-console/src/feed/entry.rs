//! [`Entry`]: one item of the console's stream, rendered once as a
//! Server-Sent Events frame and shared by every client that gets it.
//!
//! Events are rendered with the console's redaction, whatever the pool's
//! own policy: bind values never leave the console, only their SQL types,
//! and a connect target's password is replaced again (it already was, by
//! the pool) so that no future event shape can carry one out.

use std::sync::Arc;

use bytes::Bytes;
use switchboard_core::{
    ConnectionId, DatabaseUrl, Event, Kind, Labels, ParamValue, Params, Payload,
};

/// What an entry is about, for the filters.
#[derive(Debug, Clone)]
pub(crate) enum Topic {
    /// A pool's event.
    Event {
        kind: Kind,
        pool: Arc<str>,
        connection: Option<ConnectionId>,
        labels: Labels,
    },
    /// An action taken through the console (SSE event type `action`).
    Action,
    /// Frequent events of a pool counted but not streamed (SSE event type
    /// `skipped`).
    Skipped { pool: Arc<str> },
}

/// The kinds that come with every statement or checkout: the stream
/// paces these (see `feed`).
pub(crate) fn frequent(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::CheckedOut
            | Kind::CheckedIn
            | Kind::Executing
            | Kind::Executed
            | Kind::TxBegin
            | Kind::TxCommit
            | Kind::TxRollback
    )
}

/// One item of the stream: its position and its frame.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Position in the console's stream, from 1, gap-free: the SSE `id`
    /// that `Last-Event-ID` resumes from.
    pub(crate) seq: u64,
    pub(crate) topic: Topic,
    /// `id: ..\n[event: ..\n]data: ..\n\n`, ready to write.
    pub(crate) frame: Bytes,
}

impl Entry {
    /// An event's entry at position `seq`; `json` is [`public_json`]'s.
    pub(crate) fn event(seq: u64, event: &Event, json: &str) -> Entry {
        let meta = event.meta();
        Entry {
            seq,
            topic: Topic::Event {
                kind: event.kind(),
                pool: meta.pool.clone(),
                connection: meta.connection,
                labels: meta.labels.clone(),
            },
            frame: frame(Some(seq), None, json),
        }
    }

    /// A notice, at position `seq`, that frequent events of `event`'s pool
    /// were skipped before it; `json` says how many.
    pub(crate) fn skipped(seq: u64, event: &Event, json: &str) -> Entry {
        Entry {
            seq,
            topic: Topic::Skipped {
                pool: event.meta().pool.clone(),
            },
            frame: frame(Some(seq), Some("skipped"), json),
        }
    }

    /// An action's entry at position `seq`.
    pub(crate) fn action(seq: u64, json: &str) -> Entry {
        Entry {
            seq,
            topic: Topic::Action,
            frame: frame(Some(seq), Some("action"), json),
        }
    }
}

/// One SSE frame. `data` is one line of JSON (serde_json never writes a
/// raw newline), so it needs no splitting over several `data:` lines.
pub(crate) fn frame(id: Option<u64>, event: Option<&str>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(&id.to_string());
        out.push('\n');
    }
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(data);
    out.push_str("\n\n");
    Bytes::from(out)
}

/// The event's JSON form, as `Event::to_json` writes it, with every bind
/// value replaced by its SQL type and a connect target redacted again.
pub(crate) fn public_json(event: &Event) -> String {
    match event.payload() {
        Payload::Executing {
            query_id,
            sql,
            params,
            class,
            origin,
        } if params
            .0
            .iter()
            .any(|p| !matches!(p, ParamValue::Redacted { .. })) =>
        {
            let kind = Payload::Executing {
                query_id: *query_id,
                sql: sql.clone(),
                params: redacted(params),
                class: *class,
                origin: *origin,
            };
            Event::new(event.meta().clone(), kind).to_json()
        }
        Payload::Connecting { target, attempt } => {
            let kind = Payload::Connecting {
                target: redacted_target(target),
                attempt: *attempt,
            };
            Event::new(event.meta().clone(), kind).to_json()
        }
        _ => event.to_json(),
    }
}

/// Each parameter's SQL type only.
fn redacted(params: &Params) -> Params {
    Params(
        params
            .0
            .iter()
            .map(|p| match p {
                ParamValue::Plain { sql_type, .. } | ParamValue::Redacted { sql_type } => {
                    ParamValue::Redacted {
                        sql_type: sql_type.clone(),
                    }
                }
                // A form added later: show nothing of it.
                _ => ParamValue::Redacted {
                    sql_type: "?".into(),
                },
            })
            .collect(),
    )
}

/// A target URL with any password (in the authority or a query parameter)
/// replaced; one that does not parse is not shown at all.
pub(crate) fn redacted_target(target: &str) -> String {
    match DatabaseUrl::parse(target) {
        Ok(url) => url.redacted().to_owned(),
        Err(_) => "(target not shown)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event {
        Event::from_json(json).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    #[test]
    fn plain_bind_values_are_reduced_to_their_types() {
        let ev = event(
            r#"{"id":7,"at":"2026-11-27T01:20:03Z","pool":"p","connection":1,"seq":3,"backend":"sqlite",
                "kind":"Executing","query_id":2,"sql":"INSERT INTO t VALUES (?)",
                "params":[{"plain":{"sql_type":"Text","value":"\"BIND-SENTINEL\""}}],"class":"write","origin":"execute"}"#,
        );
        let json = public_json(&ev);
        assert!(!json.contains("BIND-SENTINEL"), "{json}");
        assert!(
            json.contains(r#"{"redacted":{"sql_type":"Text"}}"#),
            "{json}"
        );
        assert!(json.contains("INSERT INTO t VALUES (?)"), "{json}");
    }

    #[test]
    fn a_connect_target_password_is_redacted_even_if_an_event_carried_it() {
        let ev = event(
            r#"{"id":8,"at":"2026-11-27T01:20:03Z","pool":"p","connection":1,"seq":1,"backend":"postgres",
                "kind":"Connecting","target":"postgres://app:PW-SENTINEL@db/x?password=PW-SENTINEL2","attempt":1}"#,
        );
        let json = public_json(&ev);
        assert!(!json.contains("PW-SENTINEL"), "{json}");
        assert!(json.contains("db/x"), "{json}");
    }

    #[test]
    fn a_frame_is_id_event_data_and_a_blank_line() {
        let f = frame(Some(3), Some("action"), r#"{"a":1}"#);
        assert_eq!(&f[..], b"id: 3\nevent: action\ndata: {\"a\":1}\n\n");
        let f = frame(None, None, "{}");
        assert_eq!(&f[..], b"data: {}\n\n");
    }
}
