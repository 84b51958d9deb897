//! One audit record: what a line of the log holds, and how it is made from
//! an event.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use switchboard_core::{
    Backend, ConnectionId, ErrorInfo, Event, EventKind, Kind, Labels, Origin, ParamValue,
    StatementClass,
};
use switchboard_sql::{Classifier, Dialect};

use crate::chain::{Digest256, hex};
use crate::config::ParamsMode;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditParam {
    /// The SQL type it was bound as.
    #[serde(rename = "type")]
    pub sql_type: String,
    /// HMAC-SHA256 of the value's text under the log's key
    /// ([`ParamsMode::Hash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<String>,
    /// The value ([`ParamsMode::Plain`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One line of the log. Fields that do not apply to the record's kind are
/// left out of the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionId>,
    /// The event's sequence number on its connection.
    pub seq: u64,
    /// The caller's labels (user, tenant, request id, ...).
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// The statement the record belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<u64>,
    /// The statement's pgAudit class (on every record of a statement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<StatementClass>,
    /// `SELECT`, `INSERT`, `CREATE TABLE`, ... (`Executing`, `Rewritten`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The tables the SQL touches (`Executing`, `Rewritten`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<String>>,
    /// The SQL text (`Executing`; for `Rewritten`, the SQL that ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<Arc<str>>,
    /// Bind parameters (`Executing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<AuditParam>>,
    /// Where the statement came from (`Executing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// How the statement ended (its one outcome record), or a connect denial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// How long the statement ran, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_ns: Option<u64>,
    /// Rows affected or returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// What went wrong (`ExecuteFailed`, `ConnectFailed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The guard (`Denied`, `ShadowDenied`, `Rewritten`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// The guard's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rest of the event's payload, for kinds without fields of their
    /// own here (`Connected`, `Closed`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// SHA-256 of the line up to this member (set when read back; written
    /// by the seal, never serialized from here).
    #[serde(default, skip_serializing)]
    pub hash: Option<Digest256>,
}

impl Record {
    /// Parses one line of a log (with or without its newline). Checks
    /// nothing: [`verify`](crate::verify) checks the chain.
    pub fn parse(line: &[u8]) -> Result<Record, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

/// Makes records from events: classifies SQL for its operation and tables
/// (with the same parser and cache the rule engine uses) and renders
/// parameters as configured. Owned by the writer thread.
pub(crate) struct Recorder {
    classifier: Classifier,
    params: Params,
}

enum Params {
    Redact,
    Hash(Box<Hmac<Sha256>>),
    Plain,
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Recorder {
    pub(crate) fn new(mode: &ParamsMode) -> Self {
        let params = match mode {
            ParamsMode::Redact => Params::Redact,
            ParamsMode::Plain => Params::Plain,
            // HMAC takes keys of any length, so this cannot fail.
            ParamsMode::Hash { key } => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mac) => Params::Hash(Box::new(mac)),
                Err(_) => Params::Redact,
            },
        };
        Recorder {
            classifier: Classifier::default(),
            params,
        }
    }

    fn param(&self, p: &ParamValue) -> AuditParam {
        let (sql_type, value) = match p {
            ParamValue::Redacted { sql_type } => (sql_type, None),
            ParamValue::Plain { sql_type, value } => (sql_type, Some(value)),
            _ => {
                return AuditParam {
                    sql_type: "unknown".into(),
                    hmac: None,
                    value: None,
                };
            }
        };
        let mut out = AuditParam {
            sql_type: sql_type.clone(),
            hmac: None,
            value: None,
        };
        match (&self.params, value) {
            (Params::Plain, Some(v)) => out.value = Some(v.clone()),
            (Params::Hash(mac), Some(v)) => {
                let mut mac = Hmac::clone(mac);
                mac.update(v.as_bytes());
                out.hmac = Some(hex(&mac.finalize().into_bytes()));
            }
            _ => {}
        }
        out
    }

    fn describe(&self, rec: &mut Record, sql: &str) {
        let dialect = Dialect::for_backend(rec.backend);
        if let Ok(c) = &*self.classifier.classify(sql, dialect) {
            rec.operation = Some(c.operation.clone());
            rec.tables = Some(c.tables.clone());
        }
    }

    /// The record of `event` (a statement's record when `class` is set),
    /// to be chained after `prev` at position `n`.
    pub(crate) fn record(
        &self,
        event: &Event,
        class: Option<StatementClass>,
        n: u64,
        prev: Digest256,
    ) -> Record {
        let meta = event.meta();
        let mut rec = Record {
            n,
            prev,
            id: meta.id,
            at: meta.at,
            kind: event.kind(),
            pool: meta.pool.clone(),
            backend: meta.backend,
            connection: meta.connection,
            seq: meta.seq,
            labels: meta.labels.clone(),
            query_id: None,
            class,
            operation: None,
            tables: None,
            sql: None,
            params: None,
            origin: None,
            outcome: None,
            took_ns: None,
            rows: None,
            error: None,
            guard: None,
            reason: None,
            detail: None,
            hash: None,
        };
        match event.payload() {
            EventKind::Executing {
                query_id,
                sql,
                params,
                origin,
                ..
            } => {
                rec.query_id = Some(*query_id);
                self.describe(&mut rec, sql);
                rec.sql = Some(sql.clone());
                rec.params = Some(params.0.iter().map(|p| self.param(p)).collect());
                rec.origin = Some(*origin);
            }
            EventKind::Executed {
                query_id,
                took,
                rows,
            } => {
                rec.query_id = Some(*query_id);
                rec.outcome = Some(Outcome::Executed);
                rec.took_ns = Some(nanos(*took));
                rec.rows = *rows;
            }
            EventKind::ExecuteFailed {
                query_id,
                took,
                error,
            } => {
                rec.query_id = Some(*query_id);
                rec.outcome = Some(Outcome::Failed);
                rec.took_ns = Some(nanos(*took));
                rec.error = Some(error.clone());
            }
            EventKind::Denied {
                query_id,
                guard,
                reason,
            } => {
                rec.query_id = *query_id;
                rec.outcome = Some(Outcome::Denied);
                rec.guard = Some(guard.clone());
                rec.reason = Some(reason.clone());
            }
            EventKind::ShadowDenied {
                query_id,
                guard,
                reason,
            } => {
                rec.query_id = *query_id;
                rec.guard = Some(guard.clone());
                rec.reason = Some(reason.clone());
            }
            EventKind::Rewritten {
                query_id,
                guard,
                reason,
                sql,
            } => {
                rec.query_id = Some(*query_id);
                rec.guard = Some(guard.clone());
                rec.reason = Some(reason.clone());
                self.describe(&mut rec, sql);
                rec.sql = Some(sql.clone());
            }
            EventKind::ConnectFailed { error, .. } | EventKind::Invalidated { error } => {
                rec.error = Some(error.clone());
                rec.detail = detail(event);
            }
            _ => rec.detail = detail(event),
        }
        rec
    }
}

/// The event's payload fields as JSON, without the `kind` tag (already on
/// the record) and without `error` (a field of its own).
fn detail(event: &Event) -> Option<serde_json::Value> {
    let mut value = serde_json::to_value(event.payload()).ok()?;
    let map = value.as_object_mut()?;
    map.remove("kind");
    map.remove("error");
    (!map.is_empty()).then_some(value)
}
