//! The misreadings of issue 16, one test per class, each member on each
//! dialect that has it: what the classifier must report, or that it must
//! refuse the text as unparsable.

use switchboard_core::StatementClass;

use crate::Dialect;
use crate::classify;

mod names; // CTE scoping, TABLE bodies, name normalization
mod runs; // EXPLAIN, executable comments, lexing settings, may-write reads

/// What a statement must classify as.
enum Expect {
    /// Class, tables and missing WHERE.
    Is(StatementClass, &'static [&'static str], bool),
    /// Unparsable: denied under `on_parse_error = "deny"`.
    Unparsable,
}
use Expect::{Is, Unparsable};

#[track_caller]
fn check(cases: &[(&str, &[Dialect], Expect)]) {
    let mut failures = Vec::new();
    for (sql, dialects, expect) in cases {
        for &dialect in *dialects {
            let got = classify(sql, dialect);
            let ok = match (expect, &got) {
                (Is(class, tables, missing_where), Ok(c)) => {
                    c.class == *class && c.tables == *tables && c.missing_where == *missing_where
                }
                (Unparsable, Err(_)) => true,
                _ => false,
            };
            if !ok {
                failures.push(format!("{dialect} {sql:?}\n    got {got:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
