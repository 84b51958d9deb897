//! What changes while the engine runs: read-only mode, `explain`,
//! reloads (text, files, messages), and the dialect it classifies by.

use super::*;

#[test]
fn read_only_mode_is_switched_at_runtime() {
    let e = engine("on_parse_error = \"allow\"\n");
    assert!(!e.is_read_only());
    assert!(allowed(&e, "INSERT INTO t VALUES (1)", &[]));
    e.set_read_only(true);
    assert!(e.is_read_only());
    assert_eq!(
        denial(&e, "INSERT INTO t VALUES (1)", &[]),
        "read-only mode: write statements are refused"
    );
    assert_eq!(
        denial(&e, "DROP TABLE t", &[]),
        "read-only mode: ddl statements are refused"
    );
    assert_eq!(
        denial(&e, "GRANT SELECT ON t TO bob", &[]),
        "read-only mode: role statements are refused"
    );
    assert_eq!(
        denial(&e, "SELEC 1", &[]),
        "read-only mode: statements that cannot be parsed are refused"
    );
    assert!(allowed(&e, "SELECT * FROM t", &[]));
    assert!(allowed(&e, "BEGIN", &[]));
    assert!(!allowed(
        &e,
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        &[]
    ));
    e.clone().set_read_only(false);
    assert!(
        allowed(&e, "INSERT INTO t VALUES (1)", &[]),
        "clones share the switch"
    );
}

#[test]
fn the_file_sets_the_initial_mode() {
    assert!(engine("read_only = true").is_read_only());
}

#[test]
fn explain_changes_no_counter() {
    let e = engine(
        "[[rule]]\nname = \"r\"\nkind = \"rate_limit\"\nlabel = \"t\"\nper_second = 1.0\nburst = 1\n[[rule]]\nname = \"c\"\nkind = \"max_concurrent\"\nlabel = \"t\"\nmax = 1\n",
    );
    let c = check("SELECT 1", &[("t", "a")]);
    for _ in 0..3 {
        let x = e.explain(&c);
        assert_eq!((x.verdict, x.decided_by), (Verdict::Allow, None));
    }
    let held = e.check(&c);
    assert_eq!(held.verdict, Verdict::Allow);
    let x = e.explain(&c);
    assert_eq!(x.decided_by, Some(Decider::Rule("r".into())));
    let x = e.explain(&c.clone().at(friday_10() + Duration::seconds(5)));
    assert_eq!(x.decided_by, Some(Decider::Rule("c".into())));
}

#[test]
fn a_bad_reload_keeps_the_old_rules_and_a_good_one_swaps() {
    let e = engine("[[rule]]\nkind = \"require_where\"\n");
    let clone = e.clone();
    assert_eq!(e.rules_len(), 1);
    let err = e
        .reload_toml("[[rule]]\nkind = \"deny_class\"\nclases = [\"ddl\"]\n")
        .expect_err("typo");
    assert!(err.to_string().contains("unknown field `clases`"), "{err}");
    assert_eq!(e.rules_len(), 1);
    assert!(!allowed(&e, "DELETE FROM t", &[]), "old rules in force");
    assert!(allowed(&e, "DROP TABLE t", &[]));

    e.reload_toml("[[rule]]\nkind = \"deny_class\"\nclasses = [\"ddl\"]\n[[rule]]\nkind = \"max_length\"\nmax_bytes = 100\n")
        .expect("valid");
    assert_eq!(clone.rules_len(), 2, "clones see the new rules");
    assert!(allowed(&clone, "DELETE FROM t", &[]));
    assert!(!allowed(&clone, "DROP TABLE t", &[]));
}

#[test]
fn a_reload_keeps_the_mode_and_may_not_rename_the_guard() {
    let e = engine("name = \"guard\"\n");
    e.set_read_only(true);
    e.reload_toml("name = \"guard\"\nread_only = false\n")
        .expect("valid");
    assert!(e.is_read_only(), "the runtime switch survives a reload");
    let err = e.reload_toml("name = \"other\"").expect_err("renamed");
    assert!(matches!(err, RulesError::Renamed { .. }), "{err}");
    assert_eq!(e.name(), "guard");
    assert_eq!(Guard::name(&e), "guard");
}

#[test]
fn a_reload_keeps_the_counters_of_an_unchanged_stateful_rule() {
    let rate = |label: &str| {
        format!(
            "[[rule]]\nname = \"rate\"\nkind = \"rate_limit\"\nlabel = \"{label}\"\nper_second = 1.0\nburst = 1\n[[rule]]\nname = \"conc\"\nkind = \"max_concurrent\"\nlabel = \"{label}\"\nmax = 5\n"
        )
    };
    let e = engine(&rate("t"));
    let c = check("SELECT 1", &[("t", "a")]);
    let held = e.check(&c);
    assert_eq!(held.verdict, Verdict::Allow);
    assert!(judge(&e, &c).is_err(), "bucket empty");
    e.reload_toml(&(rate("t") + "[[rule]]\nkind = \"require_where\"\n"))
        .expect("valid");
    assert!(
        judge(&e, &c).is_err(),
        "same name, kind and label: still empty"
    );
    e.reload_toml(&rate("t").replace("max = 5", "max = 1"))
        .expect("valid");
    let x = e.explain(&c.clone().at(friday_10() + Duration::seconds(9)));
    assert_eq!(
        x.decided_by,
        Some(Decider::Rule("conc".into())),
        "the held place still counts"
    );
    drop(held);
    e.reload_toml(&rate("tenant")).expect("valid");
    assert!(
        allowed(&e, "SELECT 1", &[("tenant", "a")]),
        "label changed: a fresh bucket"
    );
}

#[test]
fn files_load_and_reload_and_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, "[[rule]]\nkind = \"require_where\"\n").expect("write");
    let e = RuleEngine::from_file(&path).expect("valid");
    assert_eq!(e.rules_len(), 1);
    std::fs::write(&path, "[[rule]]\nkind = \"require_where\"\nwhere = true\n").expect("write");
    let err = e.reload_file(&path).expect_err("unknown field").to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    assert!(
        err.contains("line 3") && err.contains("unknown field `where`"),
        "{err}"
    );
    let missing = RuleEngine::from_file(dir.path().join("nope.toml")).expect_err("missing");
    assert!(
        missing.to_string().starts_with("cannot read rules file"),
        "{missing}"
    );
}

#[test]
fn dialects_decide_what_a_statement_touches() {
    let e = engine("[[rule]]\nname = \"pay\"\nkind = \"deny_tables\"\ntables = [\"payroll\"]\n");
    let mysql = check_on(Backend::Mysql, "SELECT * FROM `hr`.`payroll`", &[]);
    assert_eq!(
        judge(&e, &mysql),
        Err("rule \"pay\": table hr.payroll is denied".into())
    );
    let pg = check_on(Backend::Postgres, "SELECT * FROM \"hr\".\"Payroll\"", &[]);
    assert!(judge(&e, &pg).is_err());
}

#[actix_rt::test]
async fn messages_reload_and_switch_the_engine() {
    use actix::Actor;

    use crate::{Reload, ReloadFile, SetReadOnly};

    let e = engine("");
    let addr = e.clone().start();
    addr.send(SetReadOnly(true)).await.expect("running");
    assert!(e.is_read_only());
    addr.send(Reload("[[rule]]\nkind = \"require_where\"\n".into()))
        .await
        .expect("running")
        .expect("valid");
    assert_eq!(e.rules_len(), 1);
    let bad = addr
        .send(ReloadFile("/nonexistent/rules.toml".into()))
        .await
        .expect("running");
    assert!(matches!(bad, Err(RulesError::Read { .. })));
    assert_eq!(e.rules_len(), 1);
    let ruling = addr.send(check("SELECT 1", &[])).await.expect("running");
    assert_eq!(ruling.verdict, Verdict::Allow);
}
