#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The public surface.
mod actor; // the engine as an actor: Reload, ReloadFile, SetReadOnly
mod engine; // RuleEngine: load, reload, read-only switch, explain, Guard
mod error;
pub mod replay; // recorded events through the rules // RulesError and where in the file

// The machinery.
mod compile; // TOML text -> checked, prepared RuleSet
mod file; // the file's shape, as serde reads it
mod judge; // one check against a RuleSet
mod limit; // token buckets and in-flight counts per label value
mod rule; // compiled rules and the static tests
mod window; // time windows

#[cfg(test)]
mod testing;

pub use actor::{Reload, ReloadFile, SetReadOnly};
pub use engine::{Explanation, RuleEngine, ShadowReport};
pub use error::{Location, Result, RuleRef, RulesError};
pub use judge::Decider;
pub use replay::{ReplayReport, replay, replay_jsonl};
