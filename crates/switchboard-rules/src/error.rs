//! What can be wrong with a rules file, and where.

use std::fmt;
use std::path::PathBuf;

/// `Result` with [`RulesError`].
pub type Result<T, E = RulesError> = std::result::Result<T, E>;

/// A rules file that cannot be used. The rules in force (if any) stay in
/// force; fix the file and load it again.
///
/// Every message names the place: toml's own errors give the line, the
/// column and the field (`unknown field `frm``, `missing field `kind``);
/// the checks made after parsing name the rule, its position, the line and
/// the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file could not be read.
    #[error("cannot read rules file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, or not the shape of a rules file (an unknown or missing
    /// field, a value of the wrong type, an unknown `kind`, class or day).
    #[error("invalid rules file: {0}")]
    Syntax(#[source] toml::de::Error),
    /// Well-formed, but a value is not acceptable (an empty list, a bad
    /// time of day, a limit of 0, a field the rule's kind does not take, a
    /// name used twice).
    #[error("invalid rules file: {location}: field `{field}`: {message}")]
    Invalid {
        /// Where the value is.
        location: Location,
        /// The field, as written in the file.
        field: &'static str,
        /// What is wrong, and what would be right.
        message: String,
    },
    /// A reload named the guard differently. Pools know a guard by the
    /// name it had when it was registered, so the name cannot change while
    /// the engine runs.
    #[error(
        "the rules file renames the guard from \"{was}\" to \"{now}\"; a guard's name cannot change on reload (restart to rename it, or keep `name = \"{was}\"`)"
    )]
    Renamed {
        /// The name in force.
        was: String,
        /// The name in the new file.
        now: String,
    },
    /// An error in a named file.
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        error: Box<RulesError>,
    },
}

impl RulesError {
    /// The same error, said to be in `path`.
    pub(crate) fn in_file(self, path: impl Into<PathBuf>) -> Self {
        match self {
            RulesError::Read { .. } => self,
            error => RulesError::InFile {
                path: path.into(),
                error: Box::new(error),
            },
        }
    }
}

/// Where a value is in a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Location {
    /// The `[[rule]]` the value belongs to; `None` for a top-level field.
    pub rule: Option<RuleRef>,
    /// The 1-based line of the value (of the `[[rule]]` header when the
    /// field is missing); `None` when unknown.
    pub line: Option<usize>,
}

/// A `[[rule]]` of a rules file, as error messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleRef {
    /// The rule's `name`, when the file gives one.
    pub name: Option<String>,
    /// Its 1-based position among the `[[rule]]` tables.
    pub position: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(rule) => {
                if let Some(name) = &rule.name {
                    write!(f, "rule \"{name}\" (")?;
                }
                write!(f, "the {} [[rule]]", Ordinal(rule.position))?;
                if rule.name.is_some() {
                    f.write_str(")")?;
                }
                if let Some(line) = self.line {
                    write!(f, " at line {line}")?;
                }
                Ok(())
            }
            None => match self.line {
                Some(line) => write!(f, "line {line}"),
                None => f.write_str("top level"),
            },
        }
    }
}

/// `1st`, `2nd`, `3rd`, `11th`, `22nd`, ...
pub(crate) struct Ordinal(pub usize);

impl fmt::Display for Ordinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let suffix = match (n % 10, n % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        write!(f, "{n}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111]
            .iter()
            .map(|&n| Ordinal(n).to_string())
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd",
                "101st", "111th"
            ]
        );
    }

    #[test]
    fn locations_name_the_rule_its_position_and_line() {
        let named = Location {
            rule: Some(RuleRef {
                name: Some("no-ddl".into()),
                position: 2,
            }),
            line: Some(9),
        };
        assert_eq!(
            named.to_string(),
            "rule \"no-ddl\" (the 2nd [[rule]]) at line 9"
        );
        let unnamed = Location {
            rule: Some(RuleRef {
                name: None,
                position: 1,
            }),
            line: None,
        };
        assert_eq!(unnamed.to_string(), "the 1st [[rule]]");
        let top = Location {
            rule: None,
            line: Some(3),
        };
        assert_eq!(top.to_string(), "line 3");
    }
}
