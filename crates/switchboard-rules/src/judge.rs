//! Judging one check against a rule set: read-only mode, parse errors, the
//! static rules in file order, then the stateful rules in file order.
//!
//! The first enforced denial ends the judgement; a shadowed one is noted
//! and judging goes on. Stateful rules are asked only when no static rule
//! denied, so a denied statement takes no token and no place; when a
//! stateful rule denies, the tokens and places the ones before it took are
//! given back.

use std::sync::Arc;

use switchboard_core::guard::{Check, Permit, Ruling};
use switchboard_core::{StatementClass, Verdict};
use switchboard_sql::Dialect;

use crate::compile::{PARSE_ERROR, READ_ONLY, RuleSet};
use crate::file::OnParseError;
use crate::limit::{Admission, Admit, Hold};
use crate::rule::{Limit, Rule};

/// What decided a verdict or made a shadow report: a rule, or one of the
/// set's own checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Decider {
    /// The `[[rule]]` of this name (`rule N (kind)` when it has none).
    Rule(Arc<str>),
    /// Read-only mode refused a statement that is not a read.
    ReadOnly,
    /// The statement could not be parsed (`on_parse_error = "deny"`).
    ParseError,
}

impl Decider {
    /// The rule's name, or `read_only` / `on_parse_error`: the names a
    /// rules file gives these checks, which no rule may take.
    pub fn name(&self) -> &str {
        match self {
            Decider::Rule(name) => name,
            Decider::ReadOnly => READ_ONLY,
            Decider::ParseError => PARSE_ERROR,
        }
    }
}

impl std::fmt::Display for Decider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether judging may change the stateful rules' counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A live check: take tokens, count statements in flight.
    Enforce,
    /// An explanation: change nothing.
    DryRun,
}

/// The result of judging.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub denied: Option<(Decider, String)>,
    pub shadow: Vec<(Decider, String)>,
    /// Statements counted in flight; released when dropped.
    pub holds: Holds,
}

/// The places a check took under concurrency rules. One rule is the common
/// case, and needs no list: judging an allowed statement makes nothing but
/// the permit that holds them.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    first: Option<Hold>,
    rest: Vec<Hold>,
}

impl Holds {
    fn extend(&mut self, hold: Option<Hold>) {
        match (&self.first, hold) {
            (_, None) => {}
            (None, hold) => self.first = hold,
            (Some(_), Some(hold)) => self.rest.push(hold),
        }
    }

    fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }

    /// A permit to hold while the statement runs; `None` when nothing was
    /// taken.
    pub(crate) fn into_permit(self) -> Option<Permit> {
        let first = self.first?;
        Some(if self.rest.is_empty() {
            Permit::new(first)
        } else {
            Permit::new((first, self.rest))
        })
    }
}

/// The rate rules that took a token, by position among the set's limits,
/// to give back if a later rule denies: a bit each for the first 64 (no
/// allocation), a list past them.
#[derive(Default)]
struct Taken {
    first: u64,
    rest: Vec<usize>,
}

impl Taken {
    fn note(&mut self, rule: usize) {
        match u32::try_from(rule).ok().and_then(|r| 1u64.checked_shl(r)) {
            Some(bit) => self.first |= bit,
            None => self.rest.push(rule),
        }
    }

    fn rules(&self) -> impl Iterator<Item = usize> + '_ {
        (0..64)
            .filter(|i| self.first & (1 << i) != 0)
            .chain(self.rest.iter().copied())
    }
}

impl Outcome {
    /// Records that `decider` would deny because `reason`; returns whether
    /// that is enforced (and judging ends).
    fn refuse(&mut self, shadow: bool, decider: Decider, reason: String) -> bool {
        if shadow {
            self.shadow.push((decider, reason));
            false
        } else {
            self.denied = Some((decider, reason));
            true
        }
    }

    pub(crate) fn into_ruling(self) -> Ruling {
        let mut ruling = match self.denied {
            Some((_, reason)) => Ruling::deny(reason),
            None => Ruling::allow(),
        };
        for (_, reason) in self.shadow {
            ruling = ruling.with_shadow(reason);
        }
        if let Some(permit) = self.holds.into_permit() {
            ruling = ruling.with_permit(permit);
        }
        ruling
    }

    pub(crate) fn verdict(&self) -> Verdict {
        match &self.denied {
            Some((_, reason)) => Verdict::Deny {
                reason: reason.clone(),
            },
            None => Verdict::Allow,
        }
    }
}

impl RuleSet {
    /// Judges `check`. Connects are always allowed: every rule is about
    /// statements.
    pub(crate) fn judge(&self, check: &Check, read_only: bool, mode: Mode) -> Outcome {
        let mut out = Outcome::default();
        let Some(statement) = check.as_statement() else {
            return out;
        };
        let parsed = statement.classified.as_ref().as_ref();
        let class = statement.class();
        let labels = &check.labels;

        if read_only
            && (parsed.is_err() || !matches!(class, StatementClass::Read | StatementClass::Misc))
        {
            let reason = match parsed {
                Ok(_) => format!("read-only mode: {class} statements are refused"),
                Err(_) => "read-only mode: statements that cannot be parsed are refused".to_owned(),
            };
            if out.refuse(self.shadow, Decider::ReadOnly, reason) {
                return out;
            }
        }
        if let Err(error) = parsed
            && self.on_parse_error == OnParseError::Deny
        {
            let reason = format!("statement could not be parsed: {}", error.message);
            if out.refuse(self.shadow, Decider::ParseError, reason) {
                return out;
            }
        }

        let parsed = parsed.ok();
        let dialect = Dialect::for_backend(check.backend);
        for rule in &self.statics {
            if !rule.applies(class, labels) {
                continue;
            }
            if let Some(reason) = rule.violation(statement, parsed, dialect, labels, check.at)
                && out.refuse(rule.shadow, Decider::Rule(rule.name.clone()), reason)
            {
                return out;
            }
        }

        if !self.limits.is_empty() {
            self.limit(check, class, mode, &mut out);
        }
        out
    }

    fn limit(&self, check: &Check, class: StatementClass, mode: Mode, out: &mut Outcome) {
        let labels = &check.labels;
        // Tokens taken, to give back if a later rule denies.
        let mut taken = Taken::default();
        for (position, rule) in self.limits.iter().enumerate() {
            if !rule.applies(class, labels) {
                continue;
            }
            let Some(value) = labels.get(rule.kind.label()) else {
                continue;
            };
            let refusal = match &rule.kind {
                Limit::Rate(rate) => {
                    let ok = match mode {
                        Mode::Enforce => rate.take(value, check.at),
                        Mode::DryRun => rate.peek(value, check.at),
                    };
                    if ok && mode == Mode::Enforce {
                        taken.note(position);
                    }
                    (!ok).then(|| {
                        limit_reason(
                            rule,
                            check,
                            format_args!(
                                "more than {} statements per second (burst {})",
                                rate.per_second, rate.burst
                            ),
                        )
                    })
                }
                Limit::Concurrent(limit) => {
                    let admit = match (mode, rule.shadow) {
                        (Mode::DryRun, _) => Admit::DryRun,
                        (Mode::Enforce, true) => Admit::Shadow,
                        (Mode::Enforce, false) => Admit::Enforce,
                    };
                    match limit.admit(value, admit) {
                        Admission::Room(hold) => {
                            out.holds.extend(hold);
                            None
                        }
                        Admission::Full(hold) => {
                            out.holds.extend(hold);
                            Some(limit_reason(
                                rule,
                                check,
                                format_args!(
                                    "{} statements already in flight, the most allowed",
                                    limit.max
                                ),
                            ))
                        }
                        Admission::Untracked => Some(limit_reason(
                            rule,
                            check,
                            format_args!(
                                "{} values of label `{}` already have statements in flight, the most tracked (max_label_values)",
                                limit.values, limit.label
                            ),
                        )),
                    }
                }
            };
            if let Some(reason) = refusal
                && out.refuse(rule.shadow, Decider::Rule(rule.name.clone()), reason)
            {
                for rule in taken.rules().map(|i| &self.limits[i]) {
                    if let (Limit::Rate(rate), Some(value)) =
                        (&rule.kind, labels.get(rule.kind.label()))
                    {
                        rate.give_back(value);
                    }
                }
                out.holds.clear();
                return;
            }
        }
    }
}

/// `rule "name": what for label=value`.
fn limit_reason(rule: &Rule<Limit>, check: &Check, what: std::fmt::Arguments<'_>) -> String {
    let mut reason = format!("rule \"{}\": {what}", rule.name);
    rule.when
        .describe(&check.labels, Some(rule.kind.label()), &mut reason);
    reason
}
