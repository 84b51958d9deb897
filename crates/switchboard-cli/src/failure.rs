//! How a command ends: an exit status, or a failure printed to stderr.

use std::fmt;
use std::process::ExitCode;

/// What a command that ran to its end reports through the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// 0: done (allowed, or a report made).
    Ok,
    /// 1: the statement was denied.
    Denied,
    /// 1: an audit log was tampered with.
    Broken,
    /// 3: an audit log is intact, but more of it than allowed is not yet
    /// covered by a signed checkpoint.
    Unanchored,
    /// 2: bad usage or a file that cannot be used.
    Usage,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(match status {
            Status::Ok => 0,
            Status::Denied | Status::Broken => 1,
            Status::Usage => 2,
            Status::Unanchored => 3,
        })
    }
}

/// A command could not do its work: a file that cannot be read or is
/// invalid. Printed as `switchboard: {message}`, exit status 2.
#[derive(Debug)]
pub(crate) struct Failure(String);

impl Failure {
    pub(crate) fn new(message: impl fmt::Display) -> Self {
        // toml's messages end with a newline; the caller adds its own.
        Failure(message.to_string().trim_end().to_owned())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<switchboard_rules::RulesError> for Failure {
    fn from(error: switchboard_rules::RulesError) -> Self {
        Failure::new(error)
    }
}
