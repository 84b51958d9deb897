//! The bad-input catalogue: hostile or mistaken inputs, each with the error
//! it must produce.
//!
//! Every case is a row of a table: its input, the `Error` variant expected
//! (or success, where a backend accepts the input), and words its message
//! must contain. Each case is checked for the variant, a message that names
//! the problem, and a sentinel password (in every URL that can carry one)
//! absent from the error's `Display` and `Debug` and from every event a
//! lossless subscription saw. Failures are collected, so one run reports
//! every broken row.
//!
//! - [`connect`]: URLs given to `start()`;
//! - [`pool_config`]: pool bounds and timeouts, a pool too small or
//!   shutting down;
//! - [`statements`]: statements ([`statement_cases`]) sent to one healthy
//!   pool per backend, which still runs a statement after all of them;
//! - [`rules`]: rules files `RuleEngine` refuses;
//! - [`secrets`]: a sentinel password in URLs the drivers could misread, and
//!   a sentinel bind value in statements whose server error quotes it,
//!   looked for in every output ([`witness`]);
//! - [`regressions`]: bugs the catalogue found, each as the test that
//!   failed before its fix.

mod connect;
mod pool_config;
mod regressions;
mod rules;
mod secrets;
mod statement_cases;
mod statements;
mod witness;

use switchboard::{DbErrorKind, Error, Event};
use switchboard_core::ConnectErrorKind;

/// The password put in every URL that can carry one; it must never show.
pub const SENTINEL: &str = "Sentinel-Pw-b4d-1nput";

/// What a case must produce.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The backend accepts the input.
    Ok,
    /// This variant, with a message containing these words (ASCII case
    /// ignored).
    Err(Variant, &'static [&'static str]),
    /// Not run on this backend, for the reason given (e.g. tested on its
    /// own in [`regressions`]).
    Skip(&'static str),
}

/// An `Error` variant, with the parts of it a case pins down.
#[derive(Debug, Clone, Copy)]
pub enum Variant {
    InvalidUrl,
    UnsupportedScheme,
    Config,
    Connect(ConnectErrorKind),
    Unreachable,
    PoolTimeout,
    /// `None`: any kind (where the server's message does not pin it down).
    Database(Option<DbErrorKind>),
    BindMismatch {
        expected: usize,
        given: usize,
    },
    EmptyStatement,
    Timeout,
    ShuttingDown,
    Driver,
}

impl Variant {
    fn matches(self, e: &Error) -> bool {
        match (self, e) {
            (Variant::InvalidUrl, Error::InvalidUrl { .. })
            | (Variant::UnsupportedScheme, Error::UnsupportedScheme { .. })
            | (Variant::Config, Error::Config(_))
            | (Variant::Unreachable, Error::Unreachable { .. })
            | (Variant::PoolTimeout, Error::PoolTimeout { .. })
            | (Variant::EmptyStatement, Error::EmptyStatement)
            | (Variant::Timeout, Error::Timeout { .. })
            | (Variant::ShuttingDown, Error::ShuttingDown { .. })
            | (Variant::Driver, Error::Driver(_)) => true,
            (Variant::Connect(want), Error::Connect { kind, .. }) => want == *kind,
            (Variant::Database(want), Error::Database { kind, .. }) => {
                want.is_none_or(|w| w == *kind)
            }
            (
                Variant::BindMismatch { expected, given },
                Error::BindMismatch {
                    expected: e,
                    given: g,
                },
            ) => (expected, given) == (*e, *g),
            _ => false,
        }
    }
}

/// What is wrong with one outcome, if anything: the variant, the message,
/// and the sentinel in the error or in any of `events`.
pub fn check<T: std::fmt::Debug>(
    expect: Expect,
    outcome: &Result<T, Error>,
    events: &[Event],
) -> Vec<String> {
    let mut wrong = Vec::new();
    match (expect, outcome) {
        (Expect::Skip(_), _) | (Expect::Ok, Ok(_)) => {}
        (Expect::Ok, Err(e)) => wrong.push(format!("expected success, got {e:?}")),
        (Expect::Err(variant, _), Ok(v)) => {
            wrong.push(format!("expected {variant:?}, got success: {v:?}"))
        }
        (Expect::Err(variant, words), Err(e)) => {
            if !variant.matches(e) {
                wrong.push(format!("expected {variant:?}, got {e:?}"));
            }
            let shown = e.to_string();
            if shown.trim().is_empty() {
                wrong.push(format!("empty message for {e:?}"));
            }
            let lower = shown.to_ascii_lowercase();
            for word in words {
                if !lower.contains(&word.to_ascii_lowercase()) {
                    wrong.push(format!("message lacks {word:?}: {shown}"));
                }
            }
            if shown.contains(SENTINEL) || format!("{e:?}").contains(SENTINEL) {
                wrong.push(format!("the error shows the password: {e:?}"));
            }
        }
    }
    for event in events {
        let json = event.to_json();
        if json.contains(SENTINEL)
            || event.to_string().contains(SENTINEL)
            || format!("{event:?}").contains(SENTINEL)
        {
            wrong.push(format!("an event shows the password: {json}"));
        }
    }
    wrong
}

/// Collects the failures of a catalogue's cases and reports them together.
#[derive(Default)]
pub struct Failures {
    cases: usize,
    failed: Vec<String>,
}

impl Failures {
    /// Records one case's problems (none: it passed).
    pub fn record(&mut self, case: &str, wrong: Vec<String>) {
        self.cases += 1;
        if !wrong.is_empty() {
            self.failed
                .push(format!("- {case}:\n    {}", wrong.join("\n    ")));
        }
    }

    /// Panics with every failed case, if any.
    pub fn assert_none(self, catalogue: &str) {
        assert!(
            self.failed.is_empty(),
            "{catalogue}: {} of {} cases failed:\n{}",
            self.failed.len(),
            self.cases,
            self.failed.join("\n")
        );
    }
}
