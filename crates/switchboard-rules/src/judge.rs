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

use crate::compile::{PARSE_ERROR, READ_ONLY, RuleSet};
use crate::file::OnParseError;
use crate::limit::{Admission, Admit, Hold, RateLimit};
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
    pub holds: Vec<Hold>,
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
        if !self.holds.is_empty() {
            ruling = ruling.with_permit(Permit::new(self.holds));
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
        for rule in &self.statics {
            if !rule.applies(class, labels) {
                continue;
            }
            if let Some(reason) = rule.violation(statement, parsed, labels, check.at)
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
        let mut taken: Vec<(&RateLimit, &str)> = Vec::new();
        for rule in &self.limits {
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
                        taken.push((rate, value));
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
                for (rate, value) in taken {
                    rate.give_back(value);
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
