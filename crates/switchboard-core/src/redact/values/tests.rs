//! Server messages as PostgreSQL 15 and MariaDB 10.11 sent them, with a
//! value in them; the value must go, the rest of the message stay.

use super::*;

const V: &str = "S3cr3t-B1nd-v4lue";

fn scrubbed(message: &str, values: &[&str]) -> String {
    let out = scrub_values(message, values);
    assert!(!out.contains(V), "{message:?} -> {out:?}");
    out
}

#[test]
fn postgresql_messages_lose_the_bound_value() {
    assert_eq!(
        scrubbed(
            &format!("invalid input syntax for type integer: \"{V}\""),
            &[V]
        ),
        "invalid input syntax for type integer: \"***\""
    );
    assert_eq!(
        scrubbed(
            &format!(
                "duplicate key value violates unique constraint \"t_name_key\" (detail: Key (name)=({V}) already exists.)"
            ),
            &[V]
        ),
        "duplicate key value violates unique constraint \"t_name_key\" (detail: ***)"
    );
}

/// A closure's statements: nothing is known of the values, the shapes of
/// the messages still give them away.
#[test]
fn postgresql_values_go_by_shape_when_unknown() {
    for (message, expected) in [
        (
            format!("invalid input syntax for type integer: \"{V}\""),
            "invalid input syntax for type integer: \"***\"",
        ),
        (
            format!("invalid input value for enum mood: \"{V}\""),
            "invalid input value for enum mood: \"***\"",
        ),
        (
            format!(
                "malformed array literal: \"{V}{{\" (detail: Array value must start with \"{{\" or dimension information.)"
            ),
            "malformed array literal: \"***\" (detail: ***)",
        ),
        (
            format!("value \"{V}\" is out of range for type integer"),
            "value \"***\" is out of range for type integer",
        ),
        (
            format!("\"{V}\" is out of range for type double precision"),
            "\"***\" is out of range for type double precision",
        ),
        (
            // to_date quotes only the first characters.
            format!(
                "invalid value \"{}\" for \"YYYY\" (detail: Value must be an integer.)",
                &V[..4]
            ),
            "invalid value \"***\" for \"YYYY\" (detail: ***)",
        ),
        (
            format!(
                "null value in column \"name\" of relation \"t\" violates not-null constraint (detail: Failing row contains (3, null, {V}).)"
            ),
            "null value in column \"name\" of relation \"t\" violates not-null constraint (detail: ***)",
        ),
        (
            format!("invalid input syntax for type json (detail: Token \"{V}\" is invalid.)"),
            "invalid input syntax for type json (detail: ***)",
        ),
    ] {
        assert_eq!(
            scrub_values(&message, &[] as &[&str]),
            expected,
            "{message}"
        );
    }
}

#[test]
fn mysql_messages_lose_the_value() {
    for (message, expected) in [
        (
            format!("Duplicate entry '{V}' for key 'name'"),
            "Duplicate entry '***' for key 'name'",
        ),
        (
            format!("Duplicate entry '{V}-7' for key 'PRIMARY'"),
            "Duplicate entry '***' for key 'PRIMARY'",
        ),
        (
            format!("Incorrect integer value: '{V}' for column `test`.`t`.`id` at row 1"),
            "Incorrect integer value: '***' for column `test`.`t`.`id` at row 1",
        ),
        (
            format!("Truncated incorrect DOUBLE value: '{V}'"),
            "Truncated incorrect DOUBLE value: '***'",
        ),
    ] {
        assert_eq!(
            scrub_values(&message, &[] as &[&str]),
            expected,
            "{message}"
        );
        assert_eq!(scrub_values(&message, &[V]), expected, "{message}");
    }
}

/// A quote inside the value does not end it early: its end is the last
/// quote the template allows.
#[test]
fn quotes_inside_a_value_do_not_end_it() {
    let v = format!("a\" b'c: \"{V}");
    let out = scrubbed(
        &format!("invalid input syntax for type integer: \"{v}\""),
        &[],
    );
    assert_eq!(out, "invalid input syntax for type integer: \"***\"");
    let v = format!("O'Brien' for key 'x {V}");
    let out = scrubbed(&format!("Duplicate entry '{v}' for key 'name'"), &[]);
    assert_eq!(out, "Duplicate entry '***' for key 'name'");
}

/// A value holding the markers of DETAIL or HINT cannot make part of itself
/// look like the end of the message.
#[test]
fn a_value_holding_the_detail_and_hint_markers_still_goes() {
    for v in [
        format!("x (detail: {V}"),
        format!("x (hint: {V}"),
        format!("x\" (hint: {V}"),
        format!("x\" (detail: {V}"),
    ] {
        scrubbed(
            &format!("invalid input syntax for type integer: \"{v}\""),
            &[],
        );
        scrubbed(
            &format!("invalid input syntax for type integer: \"{v}\" (hint: do it right)"),
            &[],
        );
    }
}

#[test]
fn the_hint_stays() {
    assert_eq!(
        scrub_values(
            "insert or update on table \"c\" violates foreign key constraint \"c_p_fkey\" (detail: Key (p)=(99) is not present in table \"p\".) (hint: check it)",
            &["99"]
        ),
        "insert or update on table \"c\" violates foreign key constraint \"c_p_fkey\" (detail: ***) (hint: check it)"
    );
}

/// Bound values are replaced only where they stand alone, longer first.
#[test]
fn values_are_replaced_as_whole_tokens() {
    assert_eq!(
        scrub_values("relation \"t777_key\" and 777x and 777 and x777", &["777x"]),
        "relation \"t777_key\" and *** and 777 and x777"
    );
    assert_eq!(
        scrub_values("Unknown thread id: 4242", &["42", "4242"]),
        "Unknown thread id: ***"
    );
    // Values starting or ending with punctuation need no boundary there.
    assert_eq!(scrub_values("got (ab) here", &["(ab)"]), "got *** here");
    // Blank values are not searched for.
    assert_eq!(scrub_values("a b", &["", " "]), "a b");
}

/// A value `1` must not take the `1` of `at row 1`; quoted, it goes.
#[test]
fn short_values_go_only_where_quoted() {
    assert_eq!(
        scrub_values(
            "Data too long for column 'name' at row 1 (got '1', \"1\", `1`)",
            &["1"]
        ),
        "Data too long for column 'name' at row 1 (got '***', \"***\", `***`)"
    );
    assert_eq!(scrub_values("Key (id)=(7) is", &["7"]), "Key (id)=(***) is");
    // Our own explanations keep their numbers.
    let message = "error encoding message to server: the SQL text contains a NUL character (\\0), or more than 65,535 bind values";
    let values: Vec<String> = (0..70_000).map(|i| i.to_string()).collect();
    assert_eq!(scrub_values(message, &values), message);
}

/// SQLite's tokenizer quotes the SQL, not data.
#[test]
fn sqlite_sql_text_is_not_taken_for_a_value() {
    assert_eq!(
        scrub_values("unrecognized token: \"'abc\"", &[] as &[&str]),
        "unrecognized token: \"'abc\""
    );
}

#[test]
fn messages_without_values_are_left_alone() {
    for message in [
        "syntax error at or near \"SELEC\"",
        "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'SELEC 1' at line 1",
        "relation \"nope\" does not exist",
        "Table 'test.nope' doesn't exist",
        "value too long for type character varying(5)",
        "Data too long for column 'name' at row 1",
        "UNIQUE constraint failed: t.name",
        "syntax error at or near \":\"",
    ] {
        assert_eq!(scrub_values(message, &[] as &[&str]), message);
    }
}
