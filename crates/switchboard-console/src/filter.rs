//! `StreamFilter`: which entries an event stream client gets, from the
//! query parameters of `GET /api/events`.
//!
//! | parameter | form | selects |
//! |---|---|---|
//! | `kind` | `Executing`, `Denied,ShadowDenied`, `action` (repeatable, any case) | these event kinds; `action` for actions taken through the console |
//! | `pool` | a watched pool's name (repeatable) | events of these pools |
//! | `connection` | a connection id | events of that connection |
//! | `label` | `key:value` (repeatable; all must hold) | events whose labels have these values |
//!
//! Without a parameter, a client gets everything. An action has no pool,
//! connection or labels: a `pool`, `connection` or `label` filter leaves
//! actions out. A `skipped` notice (frequent events not streamed) reaches
//! a client that wants one of those kinds from that pool. Anything else is
//! refused with the parameter named.

use std::sync::Arc;

use switchboard_core::{ConnectionId, Kind};

use crate::feed::entry::{Entry, Topic, frequent};

/// A query parameter that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParameter {
    /// The parameter's name.
    pub parameter: String,
    /// What is wrong with it, and what would be right.
    pub reason: String,
}

impl std::fmt::Display for BadParameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "query parameter `{}`: {}", self.parameter, self.reason)
    }
}

/// What one client asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StreamFilter {
    /// `None`: every kind.
    kinds: Option<Vec<Kind>>,
    /// Whether actions pass a kinds filter.
    actions: bool,
    pools: Vec<Arc<str>>,
    connection: Option<ConnectionId>,
    labels: Vec<(String, String)>,
}

impl StreamFilter {
    /// Reads the query pairs; `watched` are the pools a `pool` may name.
    pub(crate) fn parse(
        pairs: &[(String, String)],
        watched: &[Arc<str>],
    ) -> Result<StreamFilter, BadParameter> {
        let mut filter = StreamFilter::default();
        for (name, value) in pairs {
            let bad = |reason: String| BadParameter {
                parameter: name.clone(),
                reason,
            };
            match name.as_str() {
                "kind" => {
                    let kinds = filter.kinds.get_or_insert_with(Vec::new);
                    for part in value.split(',').map(str::trim) {
                        if part.eq_ignore_ascii_case("action") {
                            filter.actions = true;
                            continue;
                        }
                        let kind = Kind::ALL
                            .into_iter()
                            .find(|k| k.as_str().eq_ignore_ascii_case(part))
                            .ok_or_else(|| {
                                bad(format!(
                                    "unknown event kind {part:?}; expected one of {}, or action",
                                    Kind::ALL.map(Kind::as_str).join(", ")
                                ))
                            })?;
                        kinds.push(kind);
                    }
                }
                "pool" => {
                    let pool = watched.iter().find(|p| ***p == **value).ok_or_else(|| {
                        bad(format!(
                            "{value:?} is not a pool this console watches; watched: {}",
                            watched
                                .iter()
                                .map(|p| p.as_ref())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                    filter.pools.push(pool.clone());
                }
                "connection" => {
                    let id = value.trim().parse::<ConnectionId>().map_err(|_| {
                        bad(format!(
                            "{value:?} is not a connection id (a whole number such as 3)"
                        ))
                    })?;
                    if filter.connection.is_some_and(|c| c != id) {
                        return Err(bad("give at most one connection".into()));
                    }
                    filter.connection = Some(id);
                }
                "label" => {
                    let (key, val) = value
                        .split_once(':')
                        .filter(|(k, _)| !k.is_empty())
                        .ok_or_else(|| {
                            bad(format!(
                                "{value:?} is not key:value (for example tenant:acme)"
                            ))
                        })?;
                    filter.labels.push((key.to_owned(), val.to_owned()));
                }
                _ => {
                    return Err(bad(
                        "unknown parameter; the event stream takes kind, pool, connection and label"
                            .into(),
                    ));
                }
            }
        }
        Ok(filter)
    }

    /// Whether the entry is for this client.
    pub(crate) fn matches(&self, entry: &Entry) -> bool {
        match &entry.topic {
            Topic::Action => {
                (self.kinds.is_none() || self.actions)
                    && self.pools.is_empty()
                    && self.connection.is_none()
                    && self.labels.is_empty()
            }
            Topic::Skipped { pool } => {
                self.kinds
                    .as_ref()
                    .is_none_or(|k| k.iter().any(|&k| frequent(k)))
                    && (self.pools.is_empty() || self.pools.iter().any(|p| p == pool))
            }
            Topic::Event {
                kind,
                pool,
                connection,
                labels,
            } => {
                self.kinds.as_ref().is_none_or(|k| k.contains(kind))
                    && (self.pools.is_empty() || self.pools.iter().any(|p| p == pool))
                    && self.connection.is_none_or(|c| *connection == Some(c))
                    && self
                        .labels
                        .iter()
                        .all(|(k, v)| labels.get(k) == Some(v.as_str()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::Labels;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn watched() -> Vec<Arc<str>> {
        vec!["shop".into(), "billing".into()]
    }

    fn entry(kind: Kind, pool: &str, connection: u64, labels: Labels) -> Entry {
        Entry {
            seq: 1,
            topic: Topic::Event {
                kind,
                pool: pool.into(),
                connection: Some(connection),
                labels,
            },
            frame: bytes::Bytes::new(),
        }
    }

    fn parse(q: &[(&str, &str)]) -> Result<StreamFilter, BadParameter> {
        StreamFilter::parse(&pairs(q), &watched())
    }

    #[test]
    fn each_parameter_narrows_the_stream() {
        let acme = Labels::new().with("tenant", "acme");
        let e = entry(Kind::Denied, "shop", 3, acme.clone());
        let action = Entry {
            seq: 2,
            topic: Topic::Action,
            frame: bytes::Bytes::new(),
        };
        let all = parse(&[]).unwrap_or_default();
        assert!(all.matches(&e) && all.matches(&action));

        let f = parse(&[("kind", "denied,ShadowDenied")]).unwrap_or_default();
        assert!(f.matches(&e) && !f.matches(&entry(Kind::Executed, "shop", 3, acme.clone())));
        assert!(!f.matches(&action));
        assert!(parse(&[("kind", "action")]).is_ok_and(|f| f.matches(&action) && !f.matches(&e)));

        let f = parse(&[("pool", "billing")]).unwrap_or_default();
        assert!(!f.matches(&e) && f.matches(&entry(Kind::Denied, "billing", 3, Labels::new())));
        assert!(!f.matches(&action));

        let f = parse(&[("connection", "3")]).unwrap_or_default();
        assert!(f.matches(&e) && !f.matches(&entry(Kind::Denied, "shop", 4, acme.clone())));

        let f = parse(&[("label", "tenant:acme"), ("kind", "Denied")]).unwrap_or_default();
        assert!(f.matches(&e));
        assert!(!f.matches(&entry(Kind::Denied, "shop", 3, Labels::new())));
        assert!(!f.matches(&entry(
            Kind::Denied,
            "shop",
            3,
            Labels::new().with("tenant", "acm")
        )));
    }

    #[test]
    fn a_malformed_parameter_is_named() {
        for (q, parameter) in [
            (("kind", "Executing,Bogus"), "kind"),
            (("pool", "nope"), "pool"),
            (("connection", "three"), "connection"),
            (("connection", "-1"), "connection"),
            (("label", "tenant"), "label"),
            (("label", ":acme"), "label"),
            (("since", "5"), "since"),
        ] {
            let err = parse(&[q]).expect_err("refused");
            assert_eq!(err.parameter, parameter, "{err}");
        }
        let err = parse(&[("kind", "Bogus")]).expect_err("refused");
        assert!(
            err.reason.contains("Executing") && err.reason.contains("Bogus"),
            "{err}"
        );
    }
}
