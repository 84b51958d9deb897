//! `switchboard audit ...`: keys for signed checkpoints, and checking the
//! files an audit log wrote.

mod keygen;
mod verify;

use clap::Subcommand;

use crate::{Failure, Status};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check that audit files form one unbroken hash chain and, given
    /// `--key`, that they agree with their signed checkpoints (and a
    /// witness's copy): print `ok: N records` and how far checkpoints vouch
    /// for them, or what was tampered with. Exit status 0 intact, 1
    /// tampered, 2 a file cannot be read, 3 intact but with more
    /// unanchored records than --max-unanchored(-age) allow.
    Verify(verify::Args),
    /// Write a new key pair for signing checkpoints: KEY_FILE (secret) and
    /// KEY_FILE.pub (public).
    Keygen(keygen::Args),
}

pub(crate) fn run(command: Command) -> Result<Status, Failure> {
    match command {
        Command::Verify(args) => verify::run(args),
        Command::Keygen(args) => keygen::run(args),
    }
}
