//! `switchboard audit ...`: check the files an audit log wrote.

mod verify;

use clap::Subcommand;

use crate::{Failure, Status};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check that audit files form one unbroken hash chain: print
    /// `ok: N records` (and any torn tail a crash left), or the first broken
    /// record. Exit status 0 ok, 1 broken, 2 a file cannot be read.
    Verify(verify::Args),
}

pub(crate) fn run(command: Command) -> Result<Status, Failure> {
    match command {
        Command::Verify(args) => verify::run(args),
    }
}
