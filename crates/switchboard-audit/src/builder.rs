//! Configuring an audit log step by step.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::{Kind, StatementClass};

use crate::config::{AuditConfig, Durability, ParamDisplay};
use crate::error::Result;
use crate::key::SecretKey;
use crate::log::AuditLog;
use crate::witness::{DirWitness, Witness};

/// Configures an [`AuditLog`]; [`Builder::open`] opens it. Every setting
/// starts at the default documented on [`AuditConfig`].
#[must_use]
#[derive(Debug, Clone)]
pub struct Builder {
    config: AuditConfig,
}

impl Builder {
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        Builder {
            config: AuditConfig::new(dir),
        }
    }

    /// Replaces the whole configuration (keeping nothing set before).
    pub fn config(mut self, config: AuditConfig) -> Self {
        self.config = config;
        self
    }

    /// Files are `<base>.<NNNNNN>.jsonl` (default `"audit"`).
    pub fn base_name(mut self, base: impl Into<String>) -> Self {
        self.config.base = base.into();
        self
    }

    /// The name in errors and bus statistics (default `"audit"`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Audits only statements of these classes (default all).
    pub fn classes(mut self, classes: impl IntoIterator<Item = StatementClass>) -> Self {
        self.config.classes = classes.into_iter().collect();
        self
    }

    /// Audits only events of these kinds (default
    /// [`AuditConfig::DEFAULT_KINDS`]).
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = Kind>) -> Self {
        self.config.kinds = kinds.into_iter().collect();
        self
    }

    /// The durability of one statement class.
    pub fn durability(mut self, class: StatementClass, durability: Durability) -> Self {
        self.config.durability.set(Some(class), durability);
        self
    }

    /// The durability of records that belong to no statement.
    pub fn connection_durability(mut self, durability: Durability) -> Self {
        self.config.durability.set(None, durability);
        self
    }

    /// The same durability for everything.
    pub fn durability_all(mut self, durability: Durability) -> Self {
        self.config.durability = crate::config::PerClass::all(durability);
        self
    }

    /// What records show of bind parameters (default redacted).
    pub fn params(mut self, mode: ParamDisplay) -> Self {
        self.config.params = mode;
        self
    }

    /// Starts a new file once the current one reaches `bytes`.
    pub fn rotate_at_size(mut self, bytes: u64) -> Self {
        self.config.rotation.max_bytes = Some(bytes);
        self
    }

    /// Starts a new file once the current one is `age` old.
    pub fn rotate_every(mut self, age: Duration) -> Self {
        self.config.rotation.every = Some(age);
        self
    }

    /// How long a strict statement waits for the disk (default 5 s).
    pub fn strict_deadline(mut self, deadline: Duration) -> Self {
        self.config.strict_deadline = deadline;
        self
    }

    /// The lossless queue's capacity and how long a connection waits for
    /// room in it (default 8192 events, 5 s).
    pub fn queue(mut self, capacity: usize, deadline: Duration) -> Self {
        self.config.queue_capacity = capacity;
        self.config.backpressure_deadline = deadline;
        self
    }

    /// How often a failing writer tries again (default 200 ms).
    pub fn retry_every(mut self, every: Duration) -> Self {
        self.config.retry_every = every;
        self
    }

    /// Signs checkpoints with `key` (see [`Checkpoints`](crate::Checkpoints)): every
    /// [`every`](crate::Checkpoints::every) or
    /// [`records`](crate::Checkpoints::records), at every
    /// rotation and at close. The key is never written into the log.
    pub fn sign_checkpoints(mut self, key: SecretKey) -> Self {
        self.config.checkpoints.key = Some(key);
        self
    }

    /// How long and how many durable records may wait for a checkpoint
    /// (default 1 s, 100,000).
    pub fn checkpoint_every(mut self, every: Duration, records: u64) -> Self {
        self.config.checkpoints.every = every;
        self.config.checkpoints.records = records;
        self
    }

    /// Also keeps the checkpoints in `dir`, which must exist and be out of
    /// the log's directory (another disk or mount); see [`DirWitness`].
    pub fn witness_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.witness(DirWitness::new(dir))
    }

    /// Also keeps the checkpoints at `witness`.
    pub fn witness(mut self, witness: impl Witness + 'static) -> Self {
        self.config.checkpoints.witnesses.push(Arc::new(witness));
        self
    }

    /// The configuration so far.
    pub fn to_config(&self) -> AuditConfig {
        self.config.clone()
    }

    /// Opens the log; see [`AuditLog::open`].
    pub fn open(self) -> Result<AuditLog> {
        AuditLog::open(self.config)
    }
}
