//! Rules files `RuleEngine` refuses, each with a message that names the
//! line and the field.

use switchboard_rules::{RuleEngine, RulesError};

use super::Failures;

/// Which `RulesError` a file must give.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Not TOML, or not the shape of a rules file.
    Syntax,
    /// Well-formed, but a value is unacceptable.
    Invalid { field: &'static str },
}

struct Case {
    name: &'static str,
    text: &'static str,
    kind: Kind,
    /// Words the message must contain (the line, the field, the fix).
    words: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "not TOML",
        text: "deny everything on fridays [[[",
        kind: Kind::Syntax,
        words: &["line 1", "expected `=`"],
    },
    Case {
        name: "binary junk",
        text: "\0\u{1}\u{7f}rules",
        kind: Kind::Syntax,
        words: &["line 1"],
    },
    Case {
        name: "unknown field (a typo)",
        text: "[[rule]]\nname = \"x\"\nkind = \"deny_class\"\nclases = [\"ddl\"]\n",
        kind: Kind::Syntax,
        words: &["line 4", "unknown field `clases`", "`classes`"],
    },
    Case {
        name: "missing kind",
        text: "name = \"p\"\n\n[[rule]]\nname = \"x\"\n",
        kind: Kind::Syntax,
        words: &["line 3", "missing field `kind`"],
    },
    Case {
        name: "unknown kind",
        text: "[[rule]]\nkind = \"teleport\"\n",
        kind: Kind::Syntax,
        words: &["line 2", "unknown variant `teleport`", "`require_where`"],
    },
    Case {
        name: "unknown class",
        text: "[[rule]]\nkind = \"deny_class\"\nclasses = [\"nuclear\"]\n",
        kind: Kind::Syntax,
        words: &["line 3", "unknown variant `nuclear`"],
    },
    Case {
        name: "hour 25",
        text: "[[rule]]\nkind = \"time_window\"\nfrom = \"25:00\"\nto = \"18:00\"\n",
        kind: Kind::Invalid { field: "from" },
        words: &[
            "line 3",
            "field `from`",
            "\"25:00\" is not a time of day",
            "HH:MM",
        ],
    },
    Case {
        name: "empty time window",
        text: "[[rule]]\nname = \"never\"\nkind = \"time_window\"\nfrom = \"08:00\"\nto = \"08:00\"\n",
        kind: Kind::Invalid { field: "to" },
        words: &["rule \"never\"", "line 5", "field `to`", "empty"],
    },
    Case {
        name: "negative rate",
        text: "[[rule]]\nkind = \"rate_limit\"\nlabel = \"tenant\"\nper_second = -1.0\nburst = 1\n",
        kind: Kind::Invalid {
            field: "per_second",
        },
        words: &["line 4", "field `per_second`", "above 0"],
    },
    Case {
        name: "zero concurrency",
        text: "[[rule]]\nkind = \"max_concurrent\"\nlabel = \"tenant\"\nmax = 0\n",
        kind: Kind::Invalid { field: "max" },
        words: &["line 4", "field `max`", "at least 1"],
    },
    Case {
        name: "duplicate rule name",
        text: "[[rule]]\nname = \"a\"\nkind = \"require_where\"\n\n[[rule]]\nname = \"a\"\nkind = \"require_where\"\n",
        kind: Kind::Invalid { field: "name" },
        words: &["line 6", "field `name`", "line 2", "must be unique"],
    },
];

#[test]
fn rules_files() {
    let mut failures = Failures::default();
    for case in CASES {
        let mut wrong = Vec::new();
        match RuleEngine::from_toml(case.text) {
            Ok(_) => wrong.push(format!("expected {:?}, the file loaded", case.kind)),
            Err(e) => {
                match (case.kind, &e) {
                    (Kind::Syntax, RulesError::Syntax(_)) => {}
                    (Kind::Invalid { field }, RulesError::Invalid { field: f, .. })
                        if field == *f => {}
                    _ => wrong.push(format!("expected {:?}, got {e:?}", case.kind)),
                }
                let shown = e.to_string();
                for word in case.words {
                    if !shown.contains(word) {
                        wrong.push(format!("message lacks {word:?}: {shown}"));
                    }
                }
            }
        }
        failures.record(case.name, wrong);
    }
    failures.assert_none("rules files");
}
