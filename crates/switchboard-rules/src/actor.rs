//! The engine as an actor: reload it or switch read-only mode by message,
//! from an admin endpoint or a signal handler, without holding a clone.
//!
//! ```
//! use actix::Actor;
//! use switchboard_rules::{RuleEngine, SetReadOnly};
//!
//! # actix_rt::System::new().block_on(async {
//! let engine = RuleEngine::from_toml("")?;
//! let addr = engine.clone().start();
//! addr.send(SetReadOnly(true)).await.expect("engine is running");
//! assert!(engine.is_read_only());
//! # Ok::<(), switchboard_rules::RulesError>(())
//! # }).unwrap();
//! ```

use std::path::PathBuf;

use actix::{Actor, Context, Handler, Message};
use switchboard_core::guard::{Check, Ruling};

use crate::engine::RuleEngine;
use crate::error::RulesError;
use switchboard_core::Guard as _;

/// Replace the rules with this TOML text ([`RuleEngine::reload_toml`]).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), RulesError>")]
pub struct Reload(pub String);

/// Replace the rules with this file's ([`RuleEngine::reload_file`]). The
/// file is read on the actor's thread; rules files are small.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), RulesError>")]
pub struct ReloadFile(pub PathBuf);

/// Turn read-only mode on or off ([`RuleEngine::set_read_only`]).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct SetReadOnly(pub bool);

/// The actor shares everything with the engine it was started from: a
/// message to it changes what every clone sees.
impl Actor for RuleEngine {
    type Context = Context<Self>;
}

impl Handler<Reload> for RuleEngine {
    type Result = Result<(), RulesError>;
    fn handle(&mut self, msg: Reload, _: &mut Context<Self>) -> Self::Result {
        self.reload_toml(&msg.0)
    }
}

impl Handler<ReloadFile> for RuleEngine {
    type Result = Result<(), RulesError>;
    fn handle(&mut self, msg: ReloadFile, _: &mut Context<Self>) -> Self::Result {
        self.reload_file(&msg.0)
    }
}

impl Handler<SetReadOnly> for RuleEngine {
    type Result = ();
    fn handle(&mut self, msg: SetReadOnly, _: &mut Context<Self>) {
        self.set_read_only(msg.0);
    }
}

/// So that the started engine can also be registered as an actor guard
/// (`Guards::actor`), though an inline guard is faster.
impl Handler<Check> for RuleEngine {
    type Result = Ruling;
    fn handle(&mut self, check: Check, _: &mut Context<Self>) -> Ruling {
        self.check(&check)
    }
}
