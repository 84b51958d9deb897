//! `switchboard`: the command line of Switchboard.
//!
//! ```text
//! switchboard rules check RULES.toml --sql "DELETE FROM t" [--backend postgres] [--label k=v]... [--at TIME] [--read-only]
//! switchboard rules replay RULES.toml EVENTS.jsonl [--read-only]
//! switchboard audit verify FILE|DIR... [--base NAME] [--partial] [--key PUBLIC_KEY]... [--witness DIR|nats://HOST:PORT/STREAM/PREFIX]
//!                            [--checkpoints FILE] [--max-unanchored N] [--max-unanchored-age SECONDS]
//! switchboard audit keygen KEY_FILE
//! ```
//!
//! Exit status, the same for every command: 0 success (`rules check`: the
//! statement is allowed; `rules replay`: the report was made, whatever it
//! found; `audit verify`: the log is intact), 1 `rules check` denied the
//! statement or `audit verify` found tampering, 2 a usage error or a
//! file that cannot be read or is invalid, 3 `audit verify`: intact, but
//! more records than allowed are not covered by a signed checkpoint.
//!
//! Each group of commands is one module with its own `Command` enum and
//! `run`; adding one (`audit verify`) is a module and a variant here.

mod audit;
mod failure;
mod rules;
mod text;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub(crate) use failure::{Failure, Status};

/// Switchboard: database connection management with lifecycle events and guards.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_STATUS: &str = "Exit status: 0 success (rules check: allowed; audit verify: intact), 1 rules check denied the statement or audit verify found tampering, 2 usage or file error, 3 audit verify: intact but with unanchored records past --max-unanchored(-age).";

#[derive(Debug, Subcommand)]
enum Command {
    /// Try a rules file: judge one statement, or replay recorded events.
    #[command(subcommand)]
    Rules(rules::Command),
    /// Check audit log files; make keys to sign their checkpoints.
    #[command(subcommand)]
    Audit(audit::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Rules(command) => rules::run(command),
        Command::Audit(command) => audit::run(command),
    };
    match result {
        Ok(status) => status.into(),
        Err(failure) => {
            eprintln!("switchboard: {failure}");
            Status::Usage.into()
        }
    }
}
