//! The `switchboard` binary, run as a user runs it: on files, reading its
//! output and exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_core::{
    Backend, ErrorInfo, ErrorKind, Labels, Origin, Params, Payload, StatementClass,
};
use tempfile::TempDir;

const RULES: &str = r#"
[[rule]]
name = "no-unbounded-delete"
kind = "require_where"

[[rule]]
name = "acme-no-payroll"
kind = "deny_tables"
tables = ["payroll", "hr.salaries"]
when = { tenant = ["acme", "globex"] }

[[rule]]
name = "no-ddl-in-business-hours"
kind = "time_window"
classes = ["ddl"]
days = ["mon", "tue", "wed", "thu", "fri"]
from = "08:00"
to = "18:00"

[[rule]]
name = "long"
kind = "max_length"
max_bytes = 40
shadow = true
"#;

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn switchboard(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .expect("the binary runs");
    Run {
        status: status.code().expect("exited"),
        stdout: String::from_utf8(stdout).expect("UTF-8"),
        stderr: String::from_utf8(stderr).expect("UTF-8"),
    }
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn check(rules: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["rules", "check", s(rules)];
    args.extend_from_slice(extra);
    switchboard(&args)
}

#[test]
fn an_allowed_statement_exits_0() {
    let dir = TempDir::new().expect("temp dir");
    let rules = write(&dir, "rules.toml", RULES);
    let run = check(&rules, &["--sql", "SELECT * FROM orders WHERE id = $1"]);
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("verdict:   allow\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("statement: SELECT (read), tables: orders"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_denied_statement_names_the_rule_and_exits_1() {
    let dir = TempDir::new().expect("temp dir");
    let rules = write(&dir, "rules.toml", RULES);
    let run = check(&rules, &["--sql", "DELETE FROM orders"]);
    assert_eq!(run.status, 1);
    assert_eq!(
        run.stdout,
        "verdict:   deny\nrule:      no-unbounded-delete\nreason:    rule \"no-unbounded-delete\": DELETE without WHERE\nstatement: DELETE (write), tables: orders, no WHERE\n"
    );
}

#[test]
fn labels_time_and_backend_are_taken_into_account() {
    let dir = TempDir::new().expect("temp dir");
    let rules = write(&dir, "rules.toml", RULES);
    let payroll = [
        "--sql",
        "SELECT * FROM `hr`.`payroll`",
        "--backend",
        "mysql",
    ];
    let acme = check(
        &rules,
        &[&payroll[..], &["--label", "tenant=acme"]].concat(),
    );
    assert_eq!(acme.status, 1);
    assert!(
        acme.stdout
            .contains("table hr.payroll is denied for tenant=acme"),
        "{}",
        acme.stdout
    );
    assert_eq!(
        check(
            &rules,
            &[&payroll[..], &["--label", "tenant=initech"]].concat()
        )
        .status,
        0
    );
    let postgres = check(
        &rules,
        &[
            "--sql",
            "SELECT * FROM `hr`.`payroll`",
            "--label",
            "tenant=initech",
        ],
    );
    assert_eq!(postgres.status, 1, "backticks do not parse as PostgreSQL");
    assert!(
        postgres.stdout.contains("rule:      on_parse_error"),
        "{}",
        postgres.stdout
    );

    let ddl = ["--sql", "CREATE TABLE t (id int)"];
    let friday = check(
        &rules,
        &[&ddl[..], &["--at", "2026-11-27T10:00:00Z"]].concat(),
    );
    assert_eq!(friday.status, 1);
    assert!(
        friday
            .stdout
            .contains("rule:      no-ddl-in-business-hours"),
        "{}",
        friday.stdout
    );
    let saturday = check(
        &rules,
        &[&ddl[..], &["--at", "2026-11-28T10:00:00+00:00"]].concat(),
    );
    assert_eq!(saturday.status, 0, "{}", saturday.stdout);
}

#[test]
fn shadow_reports_are_printed_and_do_not_deny() {
    let dir = TempDir::new().expect("temp dir");
    let rules = write(&dir, "rules.toml", RULES);
    let run = check(
        &rules,
        &[
            "--sql",
            "SELECT id, name, email FROM customers WHERE id = 1",
        ],
    );
    assert_eq!(run.status, 0);
    assert!(
        run.stdout
            .contains("shadow:    rule \"long\": statement is 50 bytes long, over the limit of 40"),
        "{}",
        run.stdout
    );
}

#[test]
fn read_only_mode_can_be_tried() {
    let dir = TempDir::new().expect("temp dir");
    let rules = write(&dir, "rules.toml", "");
    let run = check(
        &rules,
        &["--sql", "INSERT INTO t VALUES (1)", "--read-only"],
    );
    assert_eq!(run.status, 1);
    assert!(
        run.stdout
            .contains("read-only mode: write statements are refused"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_broken_rules_file_names_the_line_and_field_and_exits_2() {
    let dir = TempDir::new().expect("temp dir");
    let typo = write(
        &dir,
        "typo.toml",
        "[[rule]]\nkind = \"time_window\"\nfrm = \"08:00\"\nto = \"18:00\"\n",
    );
    let run = check(&typo, &["--sql", "SELECT 1"]);
    assert_eq!(run.status, 2);
    assert!(run.stdout.is_empty());
    for part in [s(&typo), "line 3", "unknown field `frm`"] {
        assert!(run.stderr.contains(part), "{part:?} not in {}", run.stderr);
    }

    let bad_time = write(
        &dir,
        "time.toml",
        "[[rule]]\nname = \"night\"\nkind = \"time_window\"\nfrom = \"22:00\"\nto = \"25:00\"\n",
    );
    let run = check(&bad_time, &["--sql", "SELECT 1"]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("rule \"night\" (the 1st [[rule]]) at line 5: field `to`: \"25:00\" is not a time of day"),
        "{}",
        run.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new().expect("temp dir");
    let rules = write(&dir, "rules.toml", RULES);
    assert_eq!(check(&rules, &[]).status, 2, "--sql is required");
    assert_eq!(
        check(&rules, &["--sql", "SELECT 1", "--label", "tenant"]).status,
        2
    );
    assert_eq!(
        check(&rules, &["--sql", "SELECT 1", "--at", "yesterday"]).status,
        2
    );
    assert_eq!(
        check(&rules, &["--sql", "SELECT 1", "--backend", "oracle"]).status,
        2
    );
    let missing = check(&dir.path().join("missing.toml"), &["--sql", "SELECT 1"]);
    assert_eq!(missing.status, 2);
    assert!(
        missing.stderr.contains("cannot read rules file"),
        "{}",
        missing.stderr
    );
}

/// One event line: a core payload with the metadata an emitter stamps.
fn event(id: u64, at: &str, backend: Backend, labels: &[(&str, &str)], kind: Payload) -> String {
    let mut line = serde_json::to_value(&kind).expect("payload serializes");
    let meta = json!({
        "id": id,
        "at": at,
        "pool": "app",
        "connection": 1,
        "seq": id,
        "backend": backend,
        "labels": labels.iter().copied().collect::<Labels>(),
    });
    if let (Value::Object(line), Value::Object(meta)) = (&mut line, meta) {
        line.extend(meta);
    }
    line.to_string()
}

fn executing(query_id: u64, sql: &str) -> Payload {
    Payload::Executing {
        query_id,
        sql: sql.into(),
        params: Params::none(),
        class: StatementClass::Write,
        origin: Origin::Execute,
    }
}

#[test]
fn replay_lists_what_would_be_denied_and_sums_up() {
    let dir = TempDir::new().expect("temp dir");
    let rules = write(&dir, "rules.toml", RULES);
    let acme = [("tenant", "acme")];
    let lines = [
        event(
            1,
            "2026-11-28T09:00:00Z",
            Backend::Postgres,
            &acme,
            executing(1, "SELECT 1"),
        ),
        event(
            2,
            "2026-11-28T09:00:01Z",
            Backend::Postgres,
            &acme,
            Payload::Executed {
                query_id: 1,
                took: Duration::from_millis(2),
                rows: Some(1),
            },
        ),
        event(
            3,
            "2026-11-28T09:00:02Z",
            Backend::Postgres,
            &acme,
            executing(2, "DELETE\n  FROM orders"),
        ),
        String::new(),
        "{not an event}".to_owned(),
        event(
            4,
            "2026-11-28T09:00:03Z",
            Backend::Mysql,
            &acme,
            executing(3, "SELECT * FROM `hr`.`salaries` WHERE id = 1"),
        ),
        event(
            5,
            "2026-11-28T09:00:04Z",
            Backend::Mysql,
            &acme,
            Payload::ExecuteFailed {
                query_id: 3,
                took: Duration::from_millis(1),
                error: ErrorInfo::new(ErrorKind::Database, None, "denied"),
            },
        ),
        event(
            7,
            "2026-11-28T09:00:05Z",
            Backend::Postgres,
            &[("tenant", "globex")],
            executing(5, "SELECT id, name, email FROM customers WHERE id = 1"),
        ),
        event(
            6,
            "2026-11-27T09:00:00Z",
            Backend::Sqlite,
            &[],
            executing(4, "DROP TABLE old"),
        ),
    ];
    let events = write(&dir, "events.jsonl", &lines.join("\n"));
    let run = switchboard(&["rules", "replay", s(&rules), s(&events)]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let expected = [
        "would deny:",
        "  2026-11-28T09:00:02Z  #3  tenant=acme  DELETE FROM orders",
        "      no-unbounded-delete: DELETE without WHERE",
        "  2026-11-28T09:00:03Z  #4  tenant=acme  SELECT * FROM `hr`.`salaries` WHERE id = 1",
        "      acme-no-payroll: table hr.salaries is denied for tenant=acme",
        "  2026-11-27T09:00:00Z  #6  -  DROP TABLE old",
        "      no-ddl-in-business-hours: ddl statements are denied 08:00-18:00 UTC on mon, tue, wed, thu, fri (DROP TABLE)",
        "shadow reports:",
        "  2026-11-28T09:00:05Z  #7  tenant=globex  SELECT id, name, email FROM customers WHERE id = 1",
        "      long: statement is 50 bytes long, over the limit of 40",
        "malformed lines:",
        "  line 5: ",
    ];
    let mut rest = run.stdout.as_str();
    for part in expected {
        let at = rest
            .find(part)
            .unwrap_or_else(|| panic!("{part:?} not in order in:\n{}", run.stdout));
        rest = &rest[at + part.len()..];
    }
    assert!(
        run.stdout
            .contains("5 statements, 3 would be denied, 1 shadow reports, 1 malformed lines\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  acme-no-payroll           1 denied, 0 shadow\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  no-unbounded-delete       1 denied, 0 shadow\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  long                      0 denied, 1 shadow\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn replay_of_a_missing_file_exits_2() {
    let dir = TempDir::new().expect("temp dir");
    let rules = write(&dir, "rules.toml", RULES);
    let run = switchboard(&[
        "rules",
        "replay",
        s(&rules),
        s(&dir.path().join("none.jsonl")),
    ]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("cannot read events"), "{}", run.stderr);
}

#[test]
fn the_hardened_classifier_decides_the_verdict() {
    let dir = TempDir::new().expect("temp dir");
    let rules = write(&dir, "rules.toml", RULES);
    let denied = |args: &[&str], expected: &[&str]| {
        let run = check(&rules, args);
        assert_eq!(run.status, 1, "{}", run.stdout);
        for text in expected {
            assert!(run.stdout.contains(text), "{text:?} in {}", run.stdout);
        }
    };
    // ANALYSE runs the DELETE: a write without WHERE.
    denied(
        &["--sql", "EXPLAIN (ANALYSE) DELETE FROM orders"],
        &[
            "rule:      no-unbounded-delete\n",
            "statement: EXPLAIN (write), tables: orders, no WHERE",
        ],
    );
    // A CTE named like the table does not hide it; names are folded.
    let sql = "WITH payroll AS (SELECT 1) DELETE FROM PAYROLL WHERE id = 1";
    denied(
        &["--sql", sql, "--label", "tenant=acme"],
        &["table payroll is denied for tenant=acme"],
    );
    // An executable comment is unparsable, so denied.
    let sql = "SELECT 1 /*!50000 , (SELECT * FROM payroll) */";
    denied(
        &["--sql", sql, "--backend", "mysql"],
        &[
            "rule:      on_parse_error\n",
            "cannot be classified with certainty: executable comment",
        ],
    );
    // Read-only mode refuses a read that may write.
    let sql = "SELECT nextval('orders_id_seq')";
    denied(
        &["--sql", sql, "--read-only"],
        &["rule:      read_only\n", "statement: SELECT (write)"],
    );
}
