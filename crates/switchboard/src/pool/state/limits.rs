//! The pool's limits, as the state machine reads them.

use std::time::Duration;

use crate::config::{HealthCheck, PoolConfig};

/// The pool's limits, from its configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) min: usize,
    pub(crate) max: usize,
    /// Statements that may share one connection; 1: no pipelining.
    pub(crate) pipeline: usize,
    /// Ping a connection idle longer than this before lending it.
    pub(crate) ping_after: Option<Duration>,
    /// Check every connection before it is lent whole, new ones included
    /// (a checkout hook asks about each).
    pub(crate) check_every_lend: bool,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
}

impl Limits {
    /// These limits, with every idle connection checked before it is lent
    /// (a checkout hook asks about each).
    pub(crate) fn checking_every_lend(self, every: bool) -> Self {
        Limits {
            check_every_lend: every,
            ..self
        }
    }

    pub(crate) fn from_config(config: &PoolConfig) -> Self {
        Limits {
            min: config.min_size,
            max: config.max_size,
            pipeline: config.pipeline.max(1),
            ping_after: match config.health_check {
                HealthCheck::PingIfIdle(after) => Some(after),
                _ => None,
            },
            check_every_lend: false,
            idle_timeout: config.idle_timeout,
            max_lifetime: config.max_lifetime,
        }
    }
}
