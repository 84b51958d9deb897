//! [`RuleEngine`]: the guard, its reloads and its read-only switch.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use switchboard_core::guard::{Check, Guard, Ruling};
use switchboard_core::{ReadOnly, Verdict};

use crate::compile::{RuleSet, compile};
use crate::error::{Result, RulesError};
use crate::judge::{Decider, Mode};

/// A guard that judges statements by the rules of a TOML file.
///
/// Cheap to clone: clones share the rules, the read-only switch and the
/// counters. See the [crate documentation](crate) for the file.
#[derive(Clone)]
pub struct RuleEngine {
    inner: Arc<Inner>,
}

struct Inner {
    /// The guard's name, fixed at creation: a pool copies it when the guard
    /// is registered, so a reload may not change it.
    name: Box<str>,
    /// The rules in force. Swapped whole by a reload, so that every check
    /// sees one consistent set, and read without a lock on the hot path.
    rules: ArcSwap<RuleSet>,
    /// Read-only mode. Outside the rules: a reload leaves it as it is.
    /// Pools that register the engine watch the switch and make the
    /// database refuse writes too while it is on.
    read_only: ReadOnly,
    /// Serialises reloads, so that two of them cannot both carry counters
    /// over from the same old set and one lose the other's update. Held
    /// while a file is compiled, never by a check.
    reloading: Mutex<()>,
}

/// Why a check would be allowed or denied, for people (the CLI's
/// `rules check`). Made without changing any counter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation {
    /// Allow, or deny with the reason.
    pub verdict: Verdict,
    /// What denied it; `None` when allowed.
    pub decided_by: Option<Decider>,
    /// What shadowed rules would have denied.
    pub shadow: Vec<ShadowReport>,
}

/// A denial a shadowed rule reported instead of enforcing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShadowReport {
    /// The rule.
    pub rule: Decider,
    /// Why it would have denied.
    pub reason: String,
}

impl RuleEngine {
    /// An engine with the rules in `text`, in read-only mode if the file
    /// says `read_only = true`.
    pub fn from_toml(text: &str) -> Result<Self> {
        let rules = compile(text, None)?;
        Ok(RuleEngine {
            inner: Arc::new(Inner {
                name: rules.name.clone(),
                read_only: ReadOnly::new(rules.read_only),
                rules: ArcSwap::from_pointee(rules),
                reloading: Mutex::new(()),
            }),
        })
    }

    /// An engine with the rules in the file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_toml(&read(path)?).map_err(|e| e.in_file(path))
    }

    /// Replaces the rules with those in `text`, atomically: a check sees the
    /// old set or the new one, never a mix. When `text` is invalid nothing
    /// changes and the old rules stay in force.
    ///
    /// The read-only mode is left as it is (the file's `read_only` only
    /// sets it when the engine is created). A `rate_limit` or
    /// `max_concurrent` rule whose name, kind and label are unchanged keeps
    /// its buckets and in-flight counts; any other stateful rule starts
    /// afresh, and statements already running are not counted by it.
    pub fn reload_toml(&self, text: &str) -> Result<()> {
        let _reloading = self.inner.reloading.lock();
        let result = self.swap(text);
        match &result {
            Ok(rules) => tracing::info!(guard = %self.inner.name, rules, "rules reloaded"),
            Err(error) => {
                tracing::warn!(guard = %self.inner.name, %error, "rules not reloaded; the old rules stay in force");
            }
        }
        result.map(drop)
    }

    fn swap(&self, text: &str) -> Result<usize> {
        let old = self.inner.rules.load_full();
        let new = compile(text, Some(&old))?;
        if new.name != self.inner.name {
            return Err(RulesError::Renamed {
                was: self.inner.name.to_string(),
                now: new.name.to_string(),
            });
        }
        let len = new.len();
        self.inner.rules.store(Arc::new(new));
        Ok(len)
    }

    /// [`reload_toml`](Self::reload_toml) with the file at `path`.
    pub fn reload_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.reload_toml(&read(path)?).map_err(|e| e.in_file(path))
    }

    /// Turns read-only mode on or off. In read-only mode every statement
    /// that is not a read (or a misc statement such as `BEGIN` or `SET`) is
    /// denied, and so is every statement that cannot be parsed. Pools that
    /// registered the engine also switch their connections to the
    /// database's own read-only mode, before each connection's next use.
    pub fn set_read_only(&self, on: bool) {
        if self.inner.read_only.set(on) {
            tracing::info!(guard = %self.inner.name, read_only = on, "read-only mode switched");
        }
    }

    /// Whether read-only mode is on.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only.is_on()
    }

    /// How many rules are in force.
    pub fn rules_len(&self) -> usize {
        self.inner.rules.load().len()
    }

    /// The guard's name (the file's `name`, default `rules`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// What the engine would decide about `check`, and why, without taking
    /// a token or counting a statement in flight.
    pub fn explain(&self, check: &Check) -> Explanation {
        let outcome = self
            .inner
            .rules
            .load()
            .judge(check, self.is_read_only(), Mode::DryRun);
        Explanation {
            verdict: outcome.verdict(),
            decided_by: outcome.denied.map(|(decider, _)| decider),
            shadow: outcome
                .shadow
                .into_iter()
                .map(|(rule, reason)| ShadowReport { rule, reason })
                .collect(),
        }
    }

    /// Judges `check` as the guard does, returning the deciding rule and the
    /// shadow reports with the ruling (for replays).
    pub(crate) fn judge(&self, check: &Check) -> crate::judge::Outcome {
        self.inner
            .rules
            .load()
            .judge(check, self.is_read_only(), Mode::Enforce)
    }
}

impl Guard for RuleEngine {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn check(&self, check: &Check) -> Ruling {
        self.judge(check).into_ruling()
    }

    fn read_only(&self) -> Option<ReadOnly> {
        Some(self.inner.read_only.clone())
    }
}

impl fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleEngine")
            .field("name", &self.inner.name)
            .field("rules", &self.rules_len())
            .field("read_only", &self.is_read_only())
            .finish()
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| RulesError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod read_only_switch {
    use super::*;

    #[test]
    fn the_guard_offers_the_switch_it_judges_by() {
        let engine = RuleEngine::from_toml("read_only = true").expect("valid rules");
        let switch = Guard::read_only(&engine).expect("a rule engine has a read-only switch");
        assert!(switch.is_on(), "the file's initial mode");
        engine.set_read_only(false);
        assert!(!switch.is_on(), "pools see the engine's switch");
        switch.set(true);
        assert!(engine.is_read_only(), "one switch, seen from both sides");
        let clone = engine.clone();
        assert!(Guard::read_only(&clone).expect("a switch").same(&switch));
    }
}
