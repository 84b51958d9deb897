use super::*;

fn error(text: &str) -> String {
    match compile(text, None) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} not in:\n{message}");
    }
}

#[test]
fn the_documented_example_loads() {
    let set = compile(
        r#"
        name = "rules"
        shadow = false
        read_only = false
        on_parse_error = "deny"
        max_label_values = 10000

        [[rule]]
        name = "no-ddl-in-business-hours"
        kind = "time_window"
        classes = ["ddl"]
        days = ["mon","tue","wed","thu","fri"]
        from = "08:00"
        to = "18:00"

        [[rule]]
        name = "no-unbounded-delete"
        kind = "require_where"

        [[rule]]
        name = "acme-no-payroll"
        kind = "deny_tables"
        tables = ["payroll", "hr.salaries"]
        when = { tenant = ["acme", "globex"] }

        [[rule]]
        kind = "deny_class"
        classes = ["role"]

        [[rule]]
        kind = "rate_limit"
        label = "tenant"
        per_second = 100.0
        burst = 200

        [[rule]]
        kind = "max_concurrent"
        label = "tenant"
        max = 4

        [[rule]]
        kind = "max_length"
        max_bytes = 10000
        shadow = true
        "#,
        None,
    )
    .expect("valid");
    assert_eq!(set.len(), 7);
    assert_eq!(set.statics.len(), 5);
    assert_eq!(set.limits.len(), 2);
    let names: Vec<&str> = set.statics.iter().map(|r| &*r.name).collect();
    assert_eq!(
        names,
        [
            "no-ddl-in-business-hours",
            "no-unbounded-delete",
            "acme-no-payroll",
            "rule 4 (deny_class)",
            "rule 7 (max_length)"
        ]
    );
    assert!(set.statics[4].shadow && !set.statics[0].shadow);
    assert_eq!(&*set.limits[1].name, "rule 6 (max_concurrent)");
}

#[test]
fn an_empty_file_is_an_empty_rule_set_with_defaults() {
    let set = compile("", None).expect("valid");
    assert_eq!(set.len(), 0);
    assert_eq!(&*set.name, "rules");
    assert!(!set.shadow && !set.read_only);
    assert_eq!(set.on_parse_error, OnParseError::Deny);
}

#[test]
fn an_unknown_field_names_its_line_and_the_field() {
    let message = error("[[rule]]\nkind = \"time_window\"\nfrm = \"08:00\"\nto = \"18:00\"\n");
    assert_mentions(
        &message,
        &[
            "invalid rules file",
            "line 3",
            "unknown field `frm`",
            "`from`",
        ],
    );
    let message = error("shadowed = true\n");
    assert_mentions(&message, &["line 1", "unknown field `shadowed`"]);
}

#[test]
fn a_missing_kind_an_unknown_kind_class_or_day_are_named() {
    assert_mentions(
        &error("[[rule]]\nname = \"x\"\n"),
        &["line 1", "missing field `kind`"],
    );
    assert_mentions(
        &error("\n[[rule]]\nkind = \"deny_clas\"\n"),
        &["line 3", "unknown variant `deny_clas`", "`deny_class`"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"deny_class\"\nclasses = [\"dll\"]\n"),
        &["line 3", "unknown variant `dll`", "`ddl`"],
    );
    assert_mentions(
        &error(
            "[[rule]]\nkind = \"time_window\"\nfrom = \"08:00\"\nto = \"18:00\"\ndays = [\"mon\", \"thurs\"]\n",
        ),
        &["line 5", "unknown variant `thurs`", "`thu`"],
    );
    assert_mentions(
        &error("on_parse_error = \"ignore\"\n"),
        &["line 1", "unknown variant `ignore`", "`allow`"],
    );
}

#[test]
fn a_value_of_the_wrong_type_names_its_line() {
    assert_mentions(
        &error("[[rule]]\nkind = \"rate_limit\"\nlabel = \"tenant\"\nper_second = \"fast\"\n"),
        &["line 4", "per_second", "expected f64"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"max_concurrent\"\nlabel = \"t\"\nmax = -1\n"),
        &["line 4", "max = -1"],
    );
}

#[test]
fn a_bad_time_names_the_rule_its_position_line_and_field() {
    let message = error(
        "[[rule]]\nkind = \"require_where\"\n\n[[rule]]\nname = \"night\"\nkind = \"time_window\"\nfrom = \"25:00\"\nto = \"06:00\"\n",
    );
    assert_eq!(
        message,
        "invalid rules file: rule \"night\" (the 2nd [[rule]]) at line 7: field `from`: \"25:00\" is not a time of day; write HH:MM from 00:00 to 23:59 (UTC)"
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"time_window\"\nfrom = \"08:00\"\nto = \"8pm\"\n"),
        &[
            "the 1st [[rule]] at line 4",
            "field `to`",
            "\"8pm\" is not a time of day",
            "24:00",
        ],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"time_window\"\nfrom = \"08:00\"\nto = \"08:00\"\n"),
        &["line 4", "field `to`", "equals `from`"],
    );
}

#[test]
fn empty_lists_are_refused() {
    assert_mentions(
        &error("[[rule]]\nkind = \"deny_class\"\nclasses = []\n"),
        &["the 1st [[rule]] at line 3", "field `classes`", "is empty"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"deny_tables\"\ntables = []\n"),
        &["line 3", "field `tables`", "is empty"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"require_where\"\nclasses = []\n"),
        &["line 3", "field `classes`", "leave it out for every class"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"time_window\"\nfrom = \"08:00\"\nto = \"09:00\"\ndays = []\n"),
        &["line 5", "field `days`", "is empty"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"require_where\"\nwhen = { tenant = [] }\n"),
        &["line 3", "field `when`", "label `tenant` lists no values"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"deny_tables\"\ntables = [\"hr.\"]\n"),
        &["line 3", "field `tables`", "\"hr.\" is not a table name"],
    );
    // Quotes would be compared literally and never match a reported table.
    assert_mentions(
        &error("[[rule]]\nkind = \"deny_tables\"\ntables = ['\"Payroll\"']\n"),
        &[
            "line 3",
            "field `tables`",
            "is quoted; write names without quotes",
        ],
    );
}

#[test]
fn limits_must_be_positive() {
    let rate = |v: &str| {
        error(&format!(
            "[[rule]]\nkind = \"rate_limit\"\nlabel = \"t\"\n{v}\n"
        ))
    };
    assert_mentions(
        &rate("per_second = 0.0"),
        &["line 4", "field `per_second`", "above 0"],
    );
    assert_mentions(
        &rate("per_second = -2"),
        &["line 4", "field `per_second`", "above 0"],
    );
    assert_mentions(
        &rate("per_second = nan"),
        &["field `per_second`", "above 0"],
    );
    assert_mentions(
        &rate("per_second = 1.0\nburst = 0"),
        &["line 5", "field `burst`", "at least 1"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"max_concurrent\"\nlabel = \"t\"\nmax = 0\n"),
        &["line 4", "field `max`", "at least 1"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"max_length\"\nmax_bytes = 0\n"),
        &["line 3", "field `max_bytes`", "at least 1"],
    );
    assert_mentions(
        &error("\nmax_label_values = 0\n"),
        &["line 2", "field `max_label_values`"],
    );
}

#[test]
fn a_missing_required_field_names_the_rule_header() {
    assert_mentions(
        &error("name = \"g\"\n\n[[rule]]\nname = \"pay\"\nkind = \"deny_tables\"\n"),
        &[
            "rule \"pay\" (the 1st [[rule]]) at line 3",
            "field `tables`: missing",
        ],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"rate_limit\"\nper_second = 3.0\n"),
        &["line 1", "field `label`: missing"],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"deny_class\"\n"),
        &["field `classes`: missing"],
    );
}

#[test]
fn a_field_of_another_kind_is_refused() {
    assert_mentions(
        &error("[[rule]]\nkind = \"deny_tables\"\ntables = [\"t\"]\nfrom = \"08:00\"\n"),
        &[
            "line 4",
            "field `from`",
            "a deny_tables rule does not take it",
            "`tables`",
        ],
    );
    assert_mentions(
        &error("[[rule]]\nkind = \"require_where\"\nmax = 3\n"),
        &[
            "line 3",
            "field `max`",
            "require_where rule does not take it",
        ],
    );
}

#[test]
fn rule_names_are_unique_and_not_reserved() {
    let message = error(
        "[[rule]]\nname = \"a\"\nkind = \"require_where\"\n\n[[rule]]\nname = \"a\"\nkind = \"max_length\"\nmax_bytes = 3\n",
    );
    assert_mentions(
        &message,
        &[
            "rule \"a\" (the 2nd [[rule]]) at line 6",
            "field `name`",
            "also the name of the 1st [[rule]] (line 2)",
        ],
    );
    assert_mentions(
        &error(
            "[[rule]]\nkind = \"require_where\"\n\n[[rule]]\nname = \"rule 1 (require_where)\"\nkind = \"require_where\"\n",
        ),
        &[
            "the 2nd [[rule]]",
            "also the name of the 1st [[rule]] (line 1)",
        ],
    );
    assert_mentions(
        &error("[[rule]]\nname = \"read_only\"\nkind = \"require_where\"\n"),
        &["line 2", "field `name`", "reserved"],
    );
    assert_mentions(
        &error("name = \"  \"\n"),
        &["line 1", "field `name`", "is empty"],
    );
}

#[test]
fn when_takes_one_value_or_a_list() {
    let set = compile(
        "[[rule]]\nkind = \"require_where\"\nwhen = { tenant = \"acme\", env = [\"prod\", \"staging\"] }\n",
        None,
    )
    .expect("valid");
    let labels: switchboard_core::Labels = [("tenant", "acme"), ("env", "staging")]
        .into_iter()
        .collect();
    assert!(set.statics[0].when.matches(&labels));
    assert_mentions(
        &error("[[rule]]\nkind = \"require_where\"\nwhen = { tenant = 3 }\n"),
        &["line 3", "a label value or a list of label values"],
    );
}

#[test]
fn line_numbers_count_from_one() {
    assert_eq!(line_of("a\nb\nc", 0), 1);
    assert_eq!(line_of("a\nb\nc", 2), 2);
    assert_eq!(line_of("a\nb\nc", 4), 3);
    assert_eq!(line_of("a", 99), 1);
}
