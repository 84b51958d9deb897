use chrono::Duration;
use switchboard_core::guard::Check;
use switchboard_core::{Backend, Guard, Verdict};

use super::*;
use crate::testing::{check, check_on, friday_10};

fn engine(text: &str) -> RuleEngine {
    RuleEngine::from_toml(text).expect("valid rules")
}

/// `Ok(shadow reports)` when allowed, `Err(reason)` when denied.
fn judge(engine: &RuleEngine, check: &Check) -> Result<Vec<String>, String> {
    let ruling = engine.check(check);
    match ruling.verdict {
        Verdict::Allow => Ok(ruling.shadow),
        Verdict::Deny { reason } => Err(reason),
        other => panic!("unexpected verdict {other:?}"),
    }
}

fn allowed(engine: &RuleEngine, sql: &str, labels: &[(&str, &str)]) -> bool {
    judge(engine, &check(sql, labels)).is_ok()
}

fn denial(engine: &RuleEngine, sql: &str, labels: &[(&str, &str)]) -> String {
    judge(engine, &check(sql, labels)).expect_err(sql)
}

#[test]
fn no_rules_allow_everything_parseable() {
    let e = engine("");
    assert!(allowed(&e, "DROP TABLE users", &[]));
    assert_eq!(judge(&e, &check("SELECT 1", &[])), Ok(vec![]));
}

#[test]
fn connects_are_allowed() {
    let e = engine(
        "read_only = true\n[[rule]]\nkind = \"deny_class\"\nclasses = [\"read\", \"write\", \"ddl\", \"role\", \"misc\"]\n",
    );
    let connect = Check::connect(
        "app".into(),
        Backend::Postgres,
        1,
        "postgres://db".into(),
        1,
    );
    assert_eq!(e.check(&connect).verdict, Verdict::Allow);
}

#[test]
fn deny_class() {
    let e = engine("[[rule]]\nname = \"no-roles\"\nkind = \"deny_class\"\nclasses = [\"role\"]\n");
    assert!(allowed(&e, "SELECT * FROM t", &[]));
    assert!(allowed(&e, "CREATE TABLE t (id int)", &[]));
    assert_eq!(
        denial(&e, "GRANT SELECT ON t TO bob", &[]),
        "rule \"no-roles\": role statements are denied (GRANT)"
    );
}

#[test]
fn deny_tables() {
    let e = engine(
        "[[rule]]\nname = \"pay\"\nkind = \"deny_tables\"\ntables = [\"payroll\", \"hr.salaries\"]\n",
    );
    assert!(allowed(&e, "SELECT * FROM orders", &[]));
    assert!(allowed(&e, "SELECT * FROM salaries", &[]));
    assert_eq!(
        denial(
            &e,
            "SELECT * FROM orders o JOIN HR.Salaries s ON s.id = o.id",
            &[]
        ),
        "rule \"pay\": table hr.salaries is denied"
    );
    assert_eq!(
        denial(&e, "UPDATE finance.payroll SET x = 1 WHERE id = 2", &[]),
        "rule \"pay\": table finance.payroll is denied"
    );
    assert!(!allowed(
        &e,
        "WITH p AS (SELECT * FROM payroll) SELECT * FROM p",
        &[]
    ));
}

#[test]
fn when_conditions_scope_a_rule_and_name_the_labels() {
    let e = engine(
        "[[rule]]\nname = \"acme-no-payroll\"\nkind = \"deny_tables\"\ntables = [\"hr.salaries\"]\nwhen = { tenant = [\"acme\", \"globex\"] }\n",
    );
    let sql = "SELECT * FROM hr.salaries";
    assert_eq!(
        denial(&e, sql, &[("tenant", "acme")]),
        "rule \"acme-no-payroll\": table hr.salaries is denied for tenant=acme"
    );
    assert!(!allowed(&e, sql, &[("tenant", "globex"), ("user", "x")]));
    assert!(allowed(&e, sql, &[("tenant", "initech")]));
    assert!(
        allowed(&e, sql, &[]),
        "no tenant label: the rule does not apply"
    );
}

#[test]
fn require_where() {
    let e = engine("[[rule]]\nname = \"no-unbounded-delete\"\nkind = \"require_where\"\n");
    assert_eq!(
        denial(&e, "DELETE FROM t", &[]),
        "rule \"no-unbounded-delete\": DELETE without WHERE"
    );
    assert_eq!(
        denial(&e, "UPDATE t SET a = 1", &[]),
        "rule \"no-unbounded-delete\": UPDATE without WHERE"
    );
    assert_eq!(
        denial(&e, "BEGIN; DELETE FROM t; COMMIT", &[]),
        "rule \"no-unbounded-delete\": UPDATE or DELETE without WHERE"
    );
    assert!(allowed(&e, "DELETE FROM t WHERE id = $1", &[]));
    assert!(allowed(&e, "SELECT * FROM t", &[]));
}

#[test]
fn time_window_with_classes_and_days() {
    let e = engine(
        "[[rule]]\nname = \"no-ddl-in-business-hours\"\nkind = \"time_window\"\nclasses = [\"ddl\"]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nfrom = \"08:00\"\nto = \"18:00\"\n",
    );
    let ddl = "CREATE TABLE t (id int)";
    let at = |c: Check, hours: i64| c.at(friday_10() + Duration::hours(hours));
    assert_eq!(
        judge(&e, &check(ddl, &[])),
        Err("rule \"no-ddl-in-business-hours\": ddl statements are denied 08:00-18:00 UTC on mon, tue, wed, thu, fri (CREATE TABLE)".into())
    );
    assert!(judge(&e, &check("SELECT 1", &[])).is_ok(), "not ddl");
    assert!(judge(&e, &at(check(ddl, &[]), 8)).is_ok(), "friday 18:00");
    assert!(judge(&e, &at(check(ddl, &[]), -3)).is_ok(), "friday 07:00");
    assert!(
        judge(&e, &at(check(ddl, &[]), 24)).is_ok(),
        "saturday 10:00"
    );
    assert!(judge(&e, &at(check(ddl, &[]), 72)).is_err(), "monday 10:00");
}

#[test]
fn time_window_wrapping_midnight() {
    let e = engine(
        "[[rule]]\nname = \"night\"\nkind = \"time_window\"\nfrom = \"22:00\"\nto = \"02:00\"\n",
    );
    let at = |hours: i64| check("SELECT 1", &[]).at(friday_10() + Duration::hours(hours));
    assert!(judge(&e, &at(0)).is_ok(), "10:00");
    assert!(judge(&e, &at(12)).is_err(), "22:00");
    assert!(judge(&e, &at(15)).is_err(), "01:00");
    assert!(judge(&e, &at(16)).is_ok(), "02:00");
}

#[test]
fn max_length() {
    let e = engine("[[rule]]\nname = \"short\"\nkind = \"max_length\"\nmax_bytes = 20\n");
    assert!(allowed(&e, "SELECT 1", &[]));
    assert_eq!(
        denial(&e, "SELECT * FROM some_long_table", &[]),
        "rule \"short\": statement is 29 bytes long, over the limit of 20"
    );
}

#[test]
fn rate_limit_per_label_value_refilled_by_check_time() {
    let e = engine(
        "[[rule]]\nname = \"rate\"\nkind = \"rate_limit\"\nlabel = \"tenant\"\nper_second = 1.0\nburst = 2\n",
    );
    let acme = || check("SELECT 1", &[("tenant", "acme")]);
    assert!(judge(&e, &acme()).is_ok());
    assert!(judge(&e, &acme()).is_ok());
    assert_eq!(
        judge(&e, &acme()),
        Err("rule \"rate\": more than 1 statements per second (burst 2) for tenant=acme".into())
    );
    assert!(
        allowed(&e, "SELECT 1", &[("tenant", "globex")]),
        "another value"
    );
    assert!(allowed(&e, "SELECT 1", &[]), "no label: not limited");
    assert!(
        judge(&e, &acme().at(friday_10() + Duration::seconds(1))).is_ok(),
        "refilled"
    );
    assert!(judge(&e, &acme().at(friday_10() + Duration::seconds(1))).is_err());
    assert!(
        judge(&e, &acme().at(friday_10())).is_err(),
        "going back in time refills nothing"
    );
}

#[test]
fn a_statement_denied_by_a_static_rule_takes_no_token() {
    let e = engine(
        "[[rule]]\nkind = \"require_where\"\n\n[[rule]]\nkind = \"rate_limit\"\nlabel = \"tenant\"\nper_second = 1.0\nburst = 1\n",
    );
    let acme = [("tenant", "acme")];
    assert!(!allowed(&e, "DELETE FROM t", &acme));
    assert!(!allowed(&e, "DELETE FROM t", &acme));
    assert!(allowed(&e, "SELECT 1", &acme), "the bucket is still full");
    assert!(!allowed(&e, "SELECT 1", &acme));
}

#[test]
fn a_later_stateful_denial_gives_back_earlier_tokens() {
    let e = engine(
        "[[rule]]\nname = \"rate\"\nkind = \"rate_limit\"\nlabel = \"tenant\"\nper_second = 1.0\nburst = 1\n\n[[rule]]\nname = \"one\"\nkind = \"max_concurrent\"\nlabel = \"user\"\nmax = 1\n",
    );
    let bob = check("SELECT 1", &[("tenant", "acme"), ("user", "bob")]);
    let held = e.check(&bob);
    assert_eq!(held.verdict, Verdict::Allow);
    let ann = check("SELECT 1", &[("tenant", "acme"), ("user", "ann")]);
    let bob_again =
        judge(&e, &bob).expect_err("bob has a statement in flight... or acme is out of tokens");
    assert!(bob_again.starts_with("rule \"rate\""), "{bob_again}");
    drop(held);
    // acme's token is spent by bob's first statement; refill one second later.
    let later = |c: &Check| c.clone().at(friday_10() + Duration::seconds(1));
    let first = e.check(&later(&ann));
    assert_eq!(first.verdict, Verdict::Allow);
    let second = judge(&e, &later(&bob).at(friday_10() + Duration::seconds(2)));
    assert!(second.is_ok(), "{second:?}");
    // ann still holds her place: her next statement is refused by "one", and
    // the token "rate" took for it is given back.
    let refused = judge(&e, &later(&ann).at(friday_10() + Duration::seconds(3)));
    assert_eq!(
        refused,
        Err("rule \"one\": 1 statements already in flight, the most allowed for user=ann".into())
    );
    drop(first);
    assert!(
        judge(&e, &later(&ann).at(friday_10() + Duration::seconds(3))).is_ok(),
        "token was given back"
    );
}

#[test]
fn a_later_denial_gives_back_the_tokens_of_every_earlier_rate_rule_however_many() {
    // 70 rate rules: more than the 64 the judge notes in a bit set.
    let mut text = String::new();
    for i in 0..70 {
        text.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\nkind = \"rate_limit\"\nlabel = \"tenant\"\nper_second = 0.001\nburst = 2\n\n"
        ));
    }
    text.push_str(
        "[[rule]]\nname = \"one\"\nkind = \"max_concurrent\"\nlabel = \"user\"\nmax = 1\n",
    );
    let e = engine(&text);
    let bob = check("SELECT 1", &[("tenant", "acme"), ("user", "bob")]);
    let held = e.check(&bob);
    assert_eq!(held.verdict, Verdict::Allow);
    // Every rate rule takes acme's second token, then "one" refuses.
    let refused = judge(&e, &bob).expect_err("bob has a statement in flight");
    assert!(refused.starts_with("rule \"one\""), "{refused}");
    drop(held);
    assert_eq!(judge(&e, &bob), Ok(vec![]), "every token was given back");
}

#[test]
fn max_concurrent_permits_release_on_drop() {
    let e = engine(
        "[[rule]]\nname = \"two\"\nkind = \"max_concurrent\"\nlabel = \"tenant\"\nmax = 2\n",
    );
    let acme = check("SELECT 1", &[("tenant", "acme")]);
    let a = e.check(&acme);
    let b = e.check(&acme);
    assert!(a.permit.is_some() && b.permit.is_some());
    assert_eq!(
        judge(&e, &acme),
        Err(
            "rule \"two\": 2 statements already in flight, the most allowed for tenant=acme".into()
        )
    );
    assert!(allowed(&e, "SELECT 1", &[("tenant", "globex")]));
    drop(a);
    let c = e.check(&acme);
    assert_eq!(c.verdict, Verdict::Allow);
    drop((b, c));
    let (x, y) = (e.check(&acme), e.check(&acme));
    assert_eq!((x.verdict, y.verdict), (Verdict::Allow, Verdict::Allow));
}

#[test]
fn a_shadowed_rule_reports_and_allows() {
    let e = engine(
        "[[rule]]\nname = \"try\"\nkind = \"require_where\"\nshadow = true\n\n[[rule]]\nname = \"roles\"\nkind = \"deny_class\"\nclasses = [\"role\"]\n",
    );
    assert_eq!(
        judge(&e, &check("DELETE FROM t", &[])),
        Ok(vec!["rule \"try\": DELETE without WHERE".to_owned()])
    );
    assert!(denial(&e, "GRANT SELECT ON t TO bob", &[]).starts_with("rule \"roles\""));
}

#[test]
fn shadow_reports_before_an_enforced_denial_are_kept() {
    let e = engine(
        "[[rule]]\nname = \"long\"\nkind = \"max_length\"\nmax_bytes = 5\nshadow = true\n\n[[rule]]\nname = \"where\"\nkind = \"require_where\"\n",
    );
    let ruling = e.check(&check("DELETE FROM t", &[]));
    assert!(matches!(ruling.verdict, Verdict::Deny { .. }));
    assert_eq!(ruling.shadow.len(), 1);
    assert!(ruling.shadow[0].starts_with("rule \"long\""));
    let explained = e.explain(&check("DELETE FROM t", &[]));
    assert_eq!(explained.decided_by, Some(Decider::Rule("where".into())));
    assert_eq!(explained.shadow[0].rule, Decider::Rule("long".into()));
}

#[test]
fn a_shadowed_set_never_denies() {
    let e = engine(
        "shadow = true\nread_only = true\n[[rule]]\nname = \"where\"\nkind = \"require_where\"\n\n[[rule]]\nname = \"one\"\nkind = \"max_concurrent\"\nlabel = \"t\"\nmax = 1\n",
    );
    let reports = judge(&e, &check("DELETE FROM t", &[])).expect("allowed");
    assert_eq!(
        reports,
        [
            "read-only mode: write statements are refused",
            "rule \"where\": DELETE without WHERE"
        ]
    );
    let reports = judge(&e, &check("SELECT FROM WHERE", &[])).expect("allowed");
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(
        reports[1].starts_with("statement could not be parsed: "),
        "{reports:?}"
    );
}

#[test]
fn a_shadowed_concurrency_rule_counts_reports_and_does_not_leak() {
    let e = engine(
        "[[rule]]\nname = \"one\"\nkind = \"max_concurrent\"\nlabel = \"t\"\nmax = 1\nshadow = true\n",
    );
    let c = check("SELECT 1", &[("t", "a")]);
    let first = e.check(&c);
    assert!(first.shadow.is_empty() && first.permit.is_some());
    let second = e.check(&c);
    assert_eq!(second.verdict, Verdict::Allow);
    assert_eq!(
        second.shadow,
        ["rule \"one\": 1 statements already in flight, the most allowed for t=a"]
    );
    assert!(
        second.permit.is_some(),
        "the shadowed statement still counts"
    );
    drop((first, second));
    let third = e.check(&c);
    assert!(
        third.shadow.is_empty(),
        "both places were released: {:?}",
        third.shadow
    );
}

#[test]
fn parse_errors_are_denied_by_default_or_allowed() {
    let deny = engine("");
    let reason = denial(&deny, "SELEC 1", &[]);
    assert!(
        reason.starts_with("statement could not be parsed: "),
        "{reason}"
    );
    assert!(reason.contains("SELEC"), "{reason}");
    assert_eq!(
        deny.explain(&check("SELEC 1", &[])).decided_by,
        Some(Decider::ParseError)
    );

    let allow = engine(
        "on_parse_error = \"allow\"\n[[rule]]\nkind = \"require_where\"\n[[rule]]\nkind = \"deny_class\"\nclasses = [\"misc\"]\nwhen = { app = \"legacy\" }\n",
    );
    assert!(
        allowed(&allow, "SELEC 1", &[]),
        "rules needing the parse do not match"
    );
    assert_eq!(
        denial(&allow, "SELEC 1", &[("app", "legacy")]),
        "rule \"rule 2 (deny_class)\": misc statements are denied (an unparsed statement) for app=legacy"
    );
}

mod runtime;
