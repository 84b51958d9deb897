//! The rules file as serde reads it: every field of every kind of rule,
//! with its span so that later checks can name the line. A typo is an error
//! (`deny_unknown_fields`); which fields a kind takes is checked in
//! [`compile`](crate::compile).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use switchboard_core::StatementClass;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RulesFile {
    /// The guard's name (default `"rules"`).
    pub name: Option<Spanned<String>>,
    /// Every rule reports instead of denying.
    #[serde(default)]
    pub shadow: bool,
    /// Read-only mode when the engine is created.
    #[serde(default)]
    pub read_only: bool,
    /// What to do with a statement sqlparser cannot parse.
    #[serde(default)]
    pub on_parse_error: OnParseError,
    /// How many values of its label one stateful rule tracks.
    pub max_label_values: Option<Spanned<usize>>,
    /// The rules, in file order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Spanned<RuleSpec>>,
}

/// What to do with a statement the parser could not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnParseError {
    /// Deny it, with the parse error as the reason (the default: rules
    /// that cannot see a statement cannot vouch for it).
    #[default]
    Deny,
    /// Let it through to the rules; those that need the parse (classes,
    /// tables, missing `WHERE`) do not match it.
    Allow,
}

/// One `[[rule]]`, with the fields of every kind; [`compile`](crate::compile)
/// rejects those its kind does not take.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    pub kind: RuleKind,
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub shadow: bool,
    pub when: Option<Spanned<BTreeMap<String, Values>>>,
    pub classes: Option<Spanned<Vec<StatementClass>>>,
    pub tables: Option<Spanned<Vec<String>>>,
    pub days: Option<Spanned<Vec<Day>>>,
    pub from: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub label: Option<Spanned<String>>,
    pub per_second: Option<Spanned<f64>>,
    pub burst: Option<Spanned<u32>>,
    pub max: Option<Spanned<u32>>,
    pub max_bytes: Option<Spanned<usize>>,
}

/// The kinds of rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RuleKind {
    DenyClass,
    DenyTables,
    RequireWhere,
    TimeWindow,
    MaxLength,
    RateLimit,
    MaxConcurrent,
}

impl RuleKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RuleKind::DenyClass => "deny_class",
            RuleKind::DenyTables => "deny_tables",
            RuleKind::RequireWhere => "require_where",
            RuleKind::TimeWindow => "time_window",
            RuleKind::MaxLength => "max_length",
            RuleKind::RateLimit => "rate_limit",
            RuleKind::MaxConcurrent => "max_concurrent",
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A day of the week, as `days` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum Day {
    #[serde(rename = "mon", alias = "monday")]
    Mon,
    #[serde(rename = "tue", alias = "tuesday")]
    Tue,
    #[serde(rename = "wed", alias = "wednesday")]
    Wed,
    #[serde(rename = "thu", alias = "thursday")]
    Thu,
    #[serde(rename = "fri", alias = "friday")]
    Fri,
    #[serde(rename = "sat", alias = "saturday")]
    Sat,
    #[serde(rename = "sun", alias = "sunday")]
    Sun,
}

/// The values a `when` condition accepts for one label: one string or a
/// list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Values(pub Vec<String>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> Visitor<'de> for OneOrMany {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label value or a list of label values")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Values, E> {
                Ok(Values(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<String>()? {
                    values.push(v);
                }
                Ok(Values(values))
            }
        }
        d.deserialize_any(OneOrMany)
    }
}
