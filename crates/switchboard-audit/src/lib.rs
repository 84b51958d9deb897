//! Switchboard's audit log: a lossless, tamper-evident, durable trail of
//! every statement, in JSON Lines.
//!
//! - [`log`]: the [`AuditLog`] handle (open, attach to a bus, flush, close);
//! - [`builder`] and [`config`]: what is audited, how durably, where;
//! - [`record`]: what one line holds;
//! - [`chain`]: sealing records into a hash chain;
//! - [`checkpoint`] and [`key`]: signed checkpoints of the chain, and the
//!   Ed25519 keys that sign them;
//! - [`witness`]: where copies of the checkpoints go, outside the log;
//! - [`verify`](mod@verify): checking a set of files (against their
//!   checkpoints, given the public keys);
//! - `intake`, `line`: how each bus's subscriber thread turns events into
//!   sealed record lines, batched in memory;
//! - `writer`, `gate`, `segment`: the writer thread that writes and fsyncs
//!   the batches, the strict-durability gate and its handshake, and the
//!   files.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use switchboard_audit::AuditLog;
//! use switchboard_core::Bus;
//!
//! let bus = Bus::new();
//! let audit = AuditLog::builder("/var/log/switchboard")
//!     .rotate_at_size(64 << 20)
//!     .open()?;
//! // The log keeps its subscription until it is closed.
//! let _audited = audit.attach(&bus)?;
//! // Switchboard::builder(url).bus(bus.clone()).start().await? ...
//! audit.close(Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! # What is recorded
//!
//! One record per audited event: by default a statement's `Executing` (SQL,
//! parameters, class, operation, tables) and exactly one outcome record
//! (`Executed` with rows and duration, `ExecuteFailed` with the error kind,
//! or `Denied` with the guard and its reason), linked by `query_id`; guards'
//! `ShadowDenied` and `Rewritten`; denied connects; and connections'
//! `Connected`, `ConnectFailed` and `Closed`. Classes and kinds are chosen
//! as pgAudit's `pgaudit.log` chooses them ([`AuditConfig::classes`],
//! [`AuditConfig::kinds`]). The class is the one carried by the event; the
//! operation and tables come from `switchboard_sql::Classifier`, the same
//! parser the rule engine uses.
//!
//! # Record format
//!
//! Files are `<dir>/<base>.<NNNNNN>.jsonl`, one JSON object per line:
//!
//! ```text
//! {"n":41,"prev":"9f2c…","id":1207,"at":"2026-11-02T10:15:03.120Z","kind":"Executing",
//!  "pool":"app","backend":"sqlite","connection":3,"seq":18,"labels":{"tenant":"acme"},
//!  "query_id":88,"class":"write","operation":"INSERT","tables":["orders"],
//!  "sql":"INSERT INTO orders (id) VALUES (?)","params":[{"type":"Integer"}],
//!  "origin":"execute","hash":"5be0…"}
//! {"n":42,"prev":"5be0…","id":1208,…,"kind":"Executed","query_id":88,"class":"write",
//!  "outcome":"executed","took_ns":81234,"rows":1,"hash":"03aa…"}
//! ```
//!
//! (wrapped here; a record is one line.) Members that do not apply are left
//! out. See [`Record`] for every member.
//!
//! - `n` numbers records from 0, across files and restarts;
//! - `hash` is the last member: the SHA-256 (hex) of every byte of the line
//!   before `,"hash":`, so editing any byte of a record breaks its own hash;
//! - `prev` is the previous record's `hash` (64 zeros for record 0), so
//!   deleting, inserting or reordering records breaks the link after them.
//!   The first record of a new file links to the last one of the previous
//!   file.
//! - `params` holds each bind's SQL `type`, plus an `hmac` of its value
//!   ([`ParamDisplay::Hashed`]) or the `value` itself ([`ParamDisplay::Plain`]).
//!
//! [`verify`](verify()) reports the first record where any of this fails
//! (file, line, event id, what differs), or `ok: N records`. A hash is only
//! ever written in lowercase hex: any other spelling is an edit.
//!
//! # Signed checkpoints
//!
//! The chain alone cannot show that its newest records were removed, or
//! that it was rewritten and re-chained whole: nothing secret goes into a
//! hash. Given a [`SecretKey`] ([`Builder::sign_checkpoints`]), the log
//! signs a [`Checkpoint`] (the record count, the last hash, the files and
//! the previous checkpoint's signature) when it opens, every
//! [`Checkpoints::every`] (1 s) or [`Checkpoints::records`] while records
//! come, at every rotation and when it closes, into
//! `<dir>/<base>.checkpoints.jsonl`, and sends each to its [`witness`]es.
//! [`verify_with`] given the public keys then finds a log shorter than a
//! checkpoint (truncated), a record that hashes otherwise than signed
//! (rewritten), records after the closing checkpoint (added), and reports
//! how many records no checkpoint covers yet (unanchored).
//!
//! # Durability
//!
//! [`Durability::Batched`] writes and fsyncs every 50 ms or 1000 records
//! (default for read, write and misc statements); until then its records
//! are held in memory, so a crash can lose up to that much. A statement
//! never waits for the disk, only for the log to keep up: each attached
//! bus's subscriber thread makes the records itself (no second queue or
//! thread per event), the writer thread only writes batches, and the log's
//! bus subscription is lossless,
//! so a connection whose statement finds the queue full waits up to the
//! backpressure deadline, then fails with `Error::Backpressure` instead of
//! running unrecorded. [`Durability::Strict`] (default for DDL and role
//! statements) holds each statement until its `Executing` record is fsynced:
//! the log adds a gate to the bus, and all statements waiting together
//! share one fsync (group commit). A strict statement whose record is not
//! durable within the strict deadline, or while the disk fails, is refused
//! with `Error::NotDurable`.
//!
//! # Crashes and failing disks
//!
//! A crash can leave a torn last line (no newline). [`verify`](verify())
//! reports it as a torn tail, not as tampering, only at the end of the
//! newest file and only when it is not a complete record; anywhere else a
//! line without a newline is tampering. The next start moves the torn bytes
//! aside into `<base>.<NNNNNN>.<offset>.torn` (its opening checkpoint names
//! them), and continues the chain after the last complete record. When a write or fsync fails (disk full, file or directory gone)
//! the writer keeps every record not yet durable in memory, takes no new
//! batch (once [`AuditConfig::queue_capacity`] records wait, the bus's
//! subscriber thread waits too, and connections are pushed back), refuses
//! strict statements, and retries: it cuts the file back to its last
//! durable record (or starts a new file) and writes again. Records already
//! on disk are never rewritten.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod builder;
pub mod chain;
pub mod checkpoint;
pub mod config;
pub mod error;
mod gate;
mod hex;
mod intake;
pub mod key;
mod line;
pub mod log;
mod monitor;
mod policy;
pub mod record;
mod segment;
mod stats;
pub mod verify;
pub mod witness;
mod writer;

pub use builder::Builder;
pub use chain::{Digest256, Head};
pub use checkpoint::{Checkpoint, FileMark, LineError, SignedCheckpoint, TornAside, Why};
pub use config::{AuditConfig, Checkpoints, Durability, ParamDisplay, PerClass, Rotation};
pub use error::{AuditError, Result};
pub use key::{KeyError, KeyId, PublicKey, SecretKey};
pub use log::AuditLog;
pub use monitor::AuditMonitor;
pub use record::{AuditParam, Outcome, Record};
pub use segment::files;
pub use stats::AuditStats;
pub use verify::{
    Anchored, Anchoring, Broken, CheckpointInfo, Finding, Problem, Tampered, TornTail, VerifyError,
    VerifyOptions, VerifyReport, WitnessInfo, verify, verify_with,
};
pub use witness::{DirWitness, Witness, WitnessError};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
