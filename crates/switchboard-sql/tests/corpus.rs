//! The classification corpus: every statement in `tests/corpus/<dialect>.jsonl`
//! classifies exactly as its line says (class, operation, tables, missing
//! WHERE), or is unparsable for the reason it says.
//!
//! Each line is one JSON object: `sql`, then either `class` (`read`,
//! `write`, `ddl`, `role`, `misc`) with `operation`, `tables` and
//! `missing_where`, or `class = "unparsable"` with `why`: `model` when the
//! classifier refuses what it cannot model with certainty, `parser` when
//! sqlparser cannot parse it. An optional `note` says why a line is there.
//!
//! The integration suite runs the same statements on PostgreSQL and
//! MariaDB in read-only transactions (integration/classifier_corpus.rs).
//!
//! To record the classifier's current answers after a deliberate change,
//! run with `SWITCHBOARD_BLESS=1` and review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use switchboard_sql::{Dialect, classify};

/// One line of a corpus file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    sql: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    #[serde(default)]
    class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tables: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    missing_where: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

impl Entry {
    /// What the classifier says about `sql` now, in the corpus's terms.
    fn observe(sql: &str, note: Option<String>, dialect: Dialect) -> Self {
        let sql = sql.to_owned();
        match classify(&sql, dialect) {
            Ok(c) => Entry {
                sql,
                note,
                class: c.class.as_str().to_owned(),
                operation: Some(c.operation),
                tables: Some(c.tables),
                missing_where: Some(c.missing_where),
                why: None,
            },
            Err(e) => Entry {
                sql,
                note,
                class: "unparsable".to_owned(),
                operation: None,
                tables: None,
                missing_where: None,
                why: Some(
                    if e.message.starts_with("cannot be classified with certainty") {
                        "model"
                    } else {
                        "parser"
                    }
                    .to_owned(),
                ),
            },
        }
    }
}

const DIALECTS: [(&str, Dialect); 3] = [
    ("postgres", Dialect::Postgres),
    ("mysql", Dialect::Mysql),
    ("sqlite", Dialect::Sqlite),
];

fn corpus_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/corpus/{name}.jsonl"))
}

fn read(name: &str) -> Vec<Entry> {
    let path = corpus_file(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

#[test]
fn every_corpus_statement_classifies_as_recorded() {
    let bless = std::env::var_os("SWITCHBOARD_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for (name, dialect) in DIALECTS {
        let entries = read(name);
        let observed: Vec<Entry> = entries
            .iter()
            .map(|entry| Entry::observe(&entry.sql, entry.note.clone(), dialect))
            .collect();
        if bless {
            let lines: Vec<String> = observed
                .iter()
                .map(|entry| serde_json::to_string(entry).expect("an entry serializes"))
                .collect();
            std::fs::write(corpus_file(name), lines.join("\n") + "\n")
                .expect("corpus file writable");
            continue;
        }
        for (line, (recorded, now)) in entries.iter().zip(&observed).enumerate() {
            if recorded != now {
                failures.push(format!(
                    "{name}.jsonl:{}: {:?}\n    recorded {recorded:?}\n    now      {now:?}",
                    line + 1,
                    recorded.sql
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus statements classify differently (rerun with SWITCHBOARD_BLESS=1 if intended):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn each_dialect_has_at_least_300_distinct_statements_of_every_class() {
    for (name, _) in DIALECTS {
        let entries = read(name);
        assert!(entries.len() >= 300, "{name}: {} statements", entries.len());
        let mut distinct: Vec<&str> = entries.iter().map(|e| e.sql.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            entries.len(),
            "{name}: duplicate statements"
        );

        let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
        for entry in &entries {
            *per_class.entry(entry.class.as_str()).or_default() += 1;
        }
        let expected: &[&str] = match name {
            // SQLite has no roles.
            "sqlite" => &["read", "write", "ddl", "misc", "unparsable"],
            _ => &["read", "write", "ddl", "role", "misc", "unparsable"],
        };
        for class in expected {
            assert!(
                per_class.get(class).is_some_and(|n| *n >= 5),
                "{name}: {per_class:?}"
            );
        }
        assert!(
            entries.iter().any(|e| e.why.as_deref() == Some("model")),
            "{name}: no statement refused by the model"
        );
    }
}
