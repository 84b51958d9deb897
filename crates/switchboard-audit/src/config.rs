//! What an audit log records, how durably, and where: a plain struct with
//! documented defaults.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::{Kind, StatementClass};

use crate::error::{AuditError, Result};
use crate::key::SecretKey;
use crate::witness::Witness;

/// When a record is forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Group commit: records are written and fsynced together once `every`
    /// has passed since the oldest unsynced one, or once `records` are
    /// waiting (they wait in memory). A crash can lose the records of the
    /// last `every`; a statement never waits for
    /// the disk, only (through the bus's lossless contract) for the writer to
    /// keep up.
    Batched {
        /// Longest a record waits for its fsync.
        every: Duration,
        /// Most records waiting for one fsync.
        records: usize,
    },
    /// A statement does not reach the database until its `Executing`
    /// record is on disk (fsynced). Statements arriving together share one
    /// fsync. Every other record of a strict class is fsynced as soon as it
    /// is written, without holding anything back.
    Strict,
}

impl Durability {
    /// `Batched` every 50 ms or 1000 records.
    pub const fn batched() -> Self {
        Durability::Batched {
            every: Duration::from_millis(50),
            records: 1000,
        }
    }

    /// Whether this is [`Durability::Strict`].
    pub fn is_strict(self) -> bool {
        matches!(self, Durability::Strict)
    }
}

/// A value per statement class, plus one for records of no statement
/// (connects, closes, connect denials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerClass<T> {
    /// `SELECT`, `SHOW`, ...
    pub read: T,
    /// `INSERT`, `UPDATE`, `DELETE`, ...
    pub write: T,
    /// `CREATE`, `ALTER`, `DROP`, ...
    pub ddl: T,
    /// `GRANT`, `REVOKE`, roles and users.
    pub role: T,
    /// Everything else (`SET`, `BEGIN`, unparsable SQL).
    pub misc: T,
    /// Records that belong to no statement.
    pub connection: T,
}

impl<T: Copy> PerClass<T> {
    /// The same value for every class.
    pub const fn all(value: T) -> Self {
        PerClass {
            read: value,
            write: value,
            ddl: value,
            role: value,
            misc: value,
            connection: value,
        }
    }

    /// The value for a statement class, or for no statement.
    pub fn get(&self, class: Option<StatementClass>) -> T {
        match class {
            Some(StatementClass::Read) => self.read,
            Some(StatementClass::Write) => self.write,
            Some(StatementClass::Ddl) => self.ddl,
            Some(StatementClass::Role) => self.role,
            Some(StatementClass::Misc) | Some(_) => self.misc,
            None => self.connection,
        }
    }

    /// Sets the value for a statement class, or for no statement.
    pub fn set(&mut self, class: Option<StatementClass>, value: T) {
        match class {
            Some(StatementClass::Read) => self.read = value,
            Some(StatementClass::Write) => self.write = value,
            Some(StatementClass::Ddl) => self.ddl = value,
            Some(StatementClass::Role) => self.role = value,
            Some(StatementClass::Misc) | Some(_) => self.misc = value,
            None => self.connection = value,
        }
    }
}

/// What a record shows of a statement's bind parameters.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ParamDisplay {
    /// Only each parameter's SQL type (default).
    #[default]
    Redacted,
    /// The SQL type and an HMAC-SHA256 of the value's text under `key`, so
    /// equal values can be correlated across records without being
    /// revealed. Needs values in the events (the pool's
    /// `ParamPolicy::Plain`); a value the event already redacted stays
    /// redacted.
    Hashed {
        /// The HMAC key; keep it out of the log's reach.
        key: Vec<u8>,
    },
    /// The SQL type and the value as the event shows it (the pool's
    /// `ParamPolicy::Plain` decides whether events carry values at all).
    Plain,
}

impl fmt::Debug for ParamDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamDisplay::Redacted => f.write_str("Redacted"),
            ParamDisplay::Hashed { key } => write!(f, "Hashed {{ key: <{} bytes> }}", key.len()),
            ParamDisplay::Plain => f.write_str("Plain"),
        }
    }
}

/// When the writer starts a new file. The chain continues across files: the
/// first record of a new file links to the last of the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Rotation {
    /// Start a new file once the current one holds this many bytes (the
    /// record that crosses the limit stays in the old file). Default `None`.
    pub max_bytes: Option<u64>,
    /// Start a new file before the first record written after the current
    /// file is this old. Default `None`.
    pub every: Option<Duration>,
}

/// Signed checkpoints: off until a key is given.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Checkpoints {
    /// The key checkpoints are signed with; `None` (the default) writes
    /// none, and the log can only be verified as an unanchored chain. Keep
    /// it out of the log's reach: whoever holds it can sign a rewritten log.
    pub key: Option<SecretKey>,
    /// Longest a durable record waits for a checkpoint. Default 1 s.
    pub every: Duration,
    /// Most durable records waiting for a checkpoint. Default 100,000.
    pub records: u64,
    /// Where copies of the checkpoints go, outside the log's directory.
    /// Default none.
    pub witnesses: Vec<Arc<dyn Witness>>,
}

impl Default for Checkpoints {
    fn default() -> Self {
        Checkpoints {
            key: None,
            every: Duration::from_secs(1),
            records: 100_000,
            witnesses: Vec::new(),
        }
    }
}

/// Witnesses compare by identity.
impl PartialEq for Checkpoints {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.every == other.every
            && self.records == other.records
            && self.witnesses.len() == other.witnesses.len()
            && self
                .witnesses
                .iter()
                .zip(&other.witnesses)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

/// How an audit log behaves. [`AuditConfig::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuditConfig {
    /// Directory of the log files; created if missing.
    pub dir: PathBuf,
    /// Files are `<base>.<NNNNNN>.jsonl`, numbered from 000001 in chain
    /// order. Default `"audit"`.
    pub base: String,
    /// The subscription's and the gate's name, in errors. Default `"audit"`.
    pub name: String,
    /// Statement classes audited (pgAudit's `pgaudit.log`). Default all.
    pub classes: Vec<StatementClass>,
    /// Event kinds audited. Default [`AuditConfig::DEFAULT_KINDS`]: every
    /// statement's `Executing` and outcome (`Executed`, `ExecuteFailed`,
    /// `Denied`), guards' `ShadowDenied` and `Rewritten`, denied connects,
    /// and the `Connected`, `ConnectFailed` and `Closed` of connections.
    pub kinds: Vec<Kind>,
    /// Durability per class. Default `Strict` for DDL and role statements,
    /// [`Durability::batched`] for the rest.
    pub durability: PerClass<Durability>,
    /// What records show of bind parameters. Default redacted.
    pub params: ParamDisplay,
    /// When to start a new file. Default never.
    pub rotation: Rotation,
    /// How long a strict statement waits for its record to be durable
    /// before it is refused with `Error::NotDurable`. Default 5 s.
    pub strict_deadline: Duration,
    /// Events the bus holds for the log before connections wait (the
    /// lossless contract's capacity); the records made from them and not
    /// yet taken by the writer are bounded by as many again. Default 8192.
    pub queue_capacity: usize,
    /// How long a connection waits for room in the queue before its
    /// statement fails with `Error::Backpressure`. Default 5 s.
    pub backpressure_deadline: Duration,
    /// While the disk fails, how often the writer tries again. Default 200 ms.
    pub retry_every: Duration,
    /// Signed checkpoints and their witnesses. Default off.
    pub checkpoints: Checkpoints,
}

impl AuditConfig {
    /// The kinds audited by default.
    pub const DEFAULT_KINDS: [Kind; 9] = [
        Kind::Executing,
        Kind::Executed,
        Kind::ExecuteFailed,
        Kind::Denied,
        Kind::ShadowDenied,
        Kind::Rewritten,
        Kind::Connected,
        Kind::ConnectFailed,
        Kind::Closed,
    ];

    /// The defaults, writing into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let mut durability = PerClass::all(Durability::batched());
        durability.ddl = Durability::Strict;
        durability.role = Durability::Strict;
        AuditConfig {
            dir: dir.into(),
            base: "audit".into(),
            name: "audit".into(),
            classes: StatementClass::ALL.to_vec(),
            kinds: Self::DEFAULT_KINDS.to_vec(),
            durability,
            params: ParamDisplay::Redacted,
            rotation: Rotation::default(),
            strict_deadline: Duration::from_secs(5),
            queue_capacity: 8192,
            backpressure_deadline: Duration::from_secs(5),
            retry_every: Duration::from_millis(200),
            checkpoints: Checkpoints::default(),
        }
    }

    /// Checks the values, saying what to change.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(AuditError::Config(msg));
        if self.base.is_empty() || self.base.contains(std::path::is_separator) {
            return bad(format!(
                "base name {:?} must be a plain, non-empty file name",
                self.base
            ));
        }
        if self.queue_capacity == 0 {
            return bad("queue capacity is 0; it must be at least 1".into());
        }
        if self.strict_deadline.is_zero() {
            return bad("strict deadline is zero; no strict statement could ever run".into());
        }
        if self.retry_every.is_zero() {
            return bad("retry interval is zero; use at least a millisecond".into());
        }
        if self.rotation.max_bytes == Some(0) {
            return bad("rotation size is 0 bytes; use None for no size limit".into());
        }
        let cp = &self.checkpoints;
        if cp.key.is_none() && !cp.witnesses.is_empty() {
            return bad("witnesses keep signed checkpoints: give a signing key too".into());
        }
        if cp.every.is_zero() || cp.records == 0 {
            return bad(
                "checkpoints every 0 s or 0 records; use at least a millisecond and a record"
                    .into(),
            );
        }
        for witness in &cp.witnesses {
            if let Some(dir) = witness.local_dir()
                && same_or_inside(dir, &self.dir)
            {
                return bad(format!(
                    "witness directory {} is the log's own directory or inside it; a witness must be out of reach of whoever can rewrite the log",
                    dir.display()
                ));
            }
        }
        for class in [
            Some(StatementClass::Read),
            Some(StatementClass::Write),
            Some(StatementClass::Ddl),
            Some(StatementClass::Role),
            Some(StatementClass::Misc),
            None,
        ] {
            if let Durability::Batched { records: 0, .. } = self.durability.get(class) {
                return bad("a batched durability with 0 records; use at least 1".into());
            }
        }
        Ok(())
    }
}

/// Whether `dir` is `log_dir` or a directory inside it (compared after
/// resolving links, where they exist).
fn same_or_inside(dir: &std::path::Path, log_dir: &std::path::Path) -> bool {
    let resolve =
        |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    resolve(dir).starts_with(resolve(log_dir))
}
