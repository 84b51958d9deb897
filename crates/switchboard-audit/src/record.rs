//! One audit record: what a line of the log holds, and how it is made from
//! an event.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit};
use serde::{Deserialize, Serialize, Serializer};
use sha2::Sha256;
use switchboard_core::{
    Backend, ConnectionId, ErrorInfo, Event, Kind, Labels, Origin, Payload, StatementClass,
};
use switchboard_sql::{Classified, Classifier, Dialect};

use crate::chain::Digest256;
use crate::config::ParamDisplay;
use crate::line::{Line, LineParams, Names, ParamLine, Render};

/// How a statement ended, on its outcome record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// It ran (`Executed`).
    Executed,
    /// It failed (`ExecuteFailed`); `error.kind` says how.
    Failed,
    /// A guard vetoed it (`Denied`); nothing reached the database.
    Denied,
}

/// One bind parameter as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AuditParam {
    /// The SQL type it was bound as.
    #[serde(rename = "type")]
    pub sql_type: String,
    /// HMAC-SHA256 of the value's text under the log's key
    /// ([`ParamDisplay::Hashed`]).
    #[serde(default)]
    pub hmac: Option<String>,
    /// The value ([`ParamDisplay::Plain`]).
    #[serde(default)]
    pub value: Option<String>,
}

/// One line of the log. Fields that do not apply to the record's kind are
/// left out of the JSON.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// Position in the chain: 0 for the first record ever, then +1 per
    /// record, across files and restarts.
    pub n: u64,
    /// The previous record's `hash` (64 zeros for record 0).
    pub prev: Digest256,
    /// The event's id (process-wide, restarts with the process).
    pub id: u64,
    /// When the event happened.
    pub at: DateTime<Utc>,
    /// The event's kind (`Executing`, `Executed`, ...).
    pub kind: Kind,
    /// The pool.
    pub pool: Arc<str>,
    /// The database.
    pub backend: Backend,
    /// The connection, if the event has one.
    #[serde(default)]
    pub connection: Option<ConnectionId>,
    /// The event's sequence number on its connection.
    pub seq: u64,
    /// The caller's labels (user, tenant, request id, ...).
    #[serde(default)]
    pub labels: Labels,
    /// The statement the record belongs to.
    #[serde(default)]
    pub query_id: Option<u64>,
    /// The statement's pgAudit class (on every record of a statement).
    #[serde(default)]
    pub class: Option<StatementClass>,
    /// `SELECT`, `INSERT`, `CREATE TABLE`, ... (`Executing`, `Rewritten`).
    #[serde(default)]
    pub operation: Option<String>,
    /// The tables the SQL touches (`Executing`, `Rewritten`).
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// The SQL text (`Executing`; for `Rewritten`, the SQL that ran).
    #[serde(default)]
    pub sql: Option<Arc<str>>,
    /// Bind parameters (`Executing`).
    #[serde(default)]
    pub params: Option<Vec<AuditParam>>,
    /// Where the statement came from (`Executing`).
    #[serde(default)]
    pub origin: Option<Origin>,
    /// How the statement ended (its one outcome record), or a connect denial.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// How long the statement ran, in nanoseconds.
    #[serde(default)]
    pub took_ns: Option<u64>,
    /// Rows affected or returned.
    #[serde(default)]
    pub rows: Option<u64>,
    /// What went wrong (`ExecuteFailed`, `ConnectFailed`).
    #[serde(default)]
    pub error: Option<ErrorInfo>,
    /// The guard (`Denied`, `ShadowDenied`, `Rewritten`).
    #[serde(default)]
    pub guard: Option<String>,
    /// The guard's reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// The rest of the event's payload, for kinds without fields of their
    /// own here (`Connected`, `Closed`, ...).
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
    /// SHA-256 of the line up to this member (set when read back; written
    /// by the seal, never serialized from here).
    #[serde(default)]
    pub hash: Option<Digest256>,
}

impl Record {
    /// Parses one line of a log (with or without its newline). Checks
    /// nothing: [`verify`](crate::verify()) checks the chain.
    pub fn parse(line: &[u8]) -> Result<Record, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

/// As a line of the log, without its `hash` (which the seal adds).
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Line {
            n: self.n,
            prev: self.prev,
            id: self.id,
            at: &self.at,
            kind: self.kind,
            pool: &self.pool,
            backend: self.backend,
            connection: self.connection,
            seq: self.seq,
            labels: &self.labels,
            query_id: self.query_id,
            class: self.class,
            operation: self.operation.as_deref(),
            tables: self.tables.as_deref(),
            sql: self.sql.as_deref(),
            params: self.params.as_deref().map(LineParams::Recorded),
            origin: self.origin,
            outcome: self.outcome,
            took_ns: self.took_ns,
            rows: self.rows,
            error: self.error.as_ref(),
            guard: self.guard.as_deref(),
            reason: self.reason.as_deref(),
            detail: self.detail.as_ref(),
        }
        .serialize(s)
    }
}

impl Serialize for AuditParam {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ParamLine {
            sql_type: &self.sql_type,
            hmac: self.hmac.as_deref(),
            value: self.value.as_deref(),
        }
        .serialize(s)
    }
}

/// Writes records from events: classifies SQL for its operation and tables
/// (with the same parser and cache the rule engine uses) and renders
/// parameters as configured.
pub(crate) struct Recorder {
    classifier: Classifier,
    render: Render,
    names: Names,
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Recorder {
    pub(crate) fn new(mode: &ParamDisplay) -> Self {
        let render = match mode {
            ParamDisplay::Redacted => Render::Redact,
            ParamDisplay::Plain => Render::Plain,
            // HMAC takes keys of any length, so this cannot fail.
            ParamDisplay::Hashed { key } => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mac) => Render::Hash(Box::new(mac)),
                Err(_) => Render::Redact,
            },
        };
        Recorder {
            classifier: Classifier::default(),
            render,
            names: Names::default(),
        }
    }

    fn classify(&self, sql: &str, backend: Backend) -> Classified {
        self.classifier.classify(sql, Dialect::for_backend(backend))
    }

    /// Appends the record of `event` (a statement's record when `class` is
    /// set), chained after `prev` at position `n`, to `out`: the JSON
    /// object, not yet sealed.
    pub(crate) fn write(
        &self,
        out: &mut Vec<u8>,
        event: &Event,
        class: Option<StatementClass>,
        n: u64,
        prev: Digest256,
    ) -> serde_json::Result<()> {
        // What the line borrows besides the event.
        let classified: Classified;
        let details: Option<serde_json::Value>;
        let meta = event.meta();
        let mut line = Line::new(n, prev, meta, event.kind(), class);
        match event.payload() {
            Payload::Executing {
                query_id,
                sql,
                params,
                origin,
                ..
            } => {
                classified = self.classify(sql, meta.backend);
                line.query_id = Some(*query_id);
                if let Ok(c) = &*classified {
                    line.operation = Some(&c.operation);
                    line.tables = Some(&c.tables);
                }
                line.sql = Some(sql);
                line.params = Some(LineParams::Bound(&params.0, &self.render));
                line.origin = Some(*origin);
            }
            Payload::Executed {
                query_id,
                took,
                rows,
            } => {
                line.query_id = Some(*query_id);
                line.outcome = Some(Outcome::Executed);
                line.took_ns = Some(nanos(*took));
                line.rows = *rows;
            }
            Payload::ExecuteFailed {
                query_id,
                took,
                error,
            } => {
                line.query_id = Some(*query_id);
                line.outcome = Some(Outcome::Failed);
                line.took_ns = Some(nanos(*took));
                line.error = Some(error);
            }
            Payload::Denied {
                query_id,
                guard,
                reason,
            } => {
                line.query_id = *query_id;
                line.outcome = Some(Outcome::Denied);
                line.guard = Some(guard);
                line.reason = Some(reason);
            }
            Payload::ShadowDenied {
                query_id,
                guard,
                reason,
            } => {
                line.query_id = *query_id;
                line.guard = Some(guard);
                line.reason = Some(reason);
            }
            Payload::Rewritten {
                query_id,
                guard,
                reason,
                sql,
            } => {
                classified = self.classify(sql, meta.backend);
                line.query_id = Some(*query_id);
                line.guard = Some(guard);
                line.reason = Some(reason);
                if let Ok(c) = &*classified {
                    line.operation = Some(&c.operation);
                    line.tables = Some(&c.tables);
                }
                line.sql = Some(sql);
            }
            Payload::ConnectFailed { error, .. } | Payload::Invalidated { error } => {
                details = detail(event);
                line.error = Some(error);
                line.detail = details.as_ref();
            }
            _ => {
                details = detail(event);
                line.detail = details.as_ref();
            }
        }
        line.write(out, &self.names)
    }
}

/// The event's payload fields as JSON, without the `kind` tag (already on
/// the record) and without `error` (a field of its own). Only for kinds
/// without members of their own (connects, closes): rare events.
fn detail(event: &Event) -> Option<serde_json::Value> {
    let mut value = serde_json::to_value(event.payload()).ok()?;
    let map = value.as_object_mut()?;
    map.remove("kind");
    map.remove("error");
    (!map.is_empty()).then_some(value)
}
