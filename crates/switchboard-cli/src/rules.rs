//! `switchboard rules ...`: try a rules file before it guards a pool.

mod check;
mod replay;

use clap::Subcommand;

use crate::{Failure, Status};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Judge one statement: print the verdict, the rule that decided and
    /// any shadow reports. Exit status 0 allowed, 1 denied, 2 error.
    Check(check::Args),
    /// Run recorded events (JSON Lines) through the rules: print each
    /// statement they would have denied, then a summary. Exit status 0
    /// whatever it finds (it is a report), 2 when a file cannot be used.
    Replay(replay::Args),
}

pub(crate) fn run(command: Command) -> Result<Status, Failure> {
    match command {
        Command::Check(args) => check::run(args),
        Command::Replay(args) => replay::run(args),
    }
}
