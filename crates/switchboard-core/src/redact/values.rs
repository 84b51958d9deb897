//! Keeping bind values and row values out of a server's error messages.
//!
//! Servers quote the data a statement failed on: PostgreSQL's
//! `invalid input syntax for type integer: "<value>"` and its DETAIL
//! `Key (k)=(<value>) already exists`, MySQL's
//! `Duplicate entry '<value>' for key 'k'`. With bind values redacted (the
//! default), those messages must not carry them into errors, events, audit
//! records, status or logs. [`scrub_values`] takes them out twice over:
//! by value, for the values the statement bound, and by shape, for the
//! places in the servers' message templates where a value sits, which
//! also covers values it does not know (a closure's statements, a value
//! the server cut short, another column of the row).

use super::REDACTED;

/// Where diesel's DETAIL and HINT start in an error message, as
/// `diesel_error` appends them: `message (detail: …) (hint: …)`.
const DETAIL: &str = " (detail: ";
const HINT: &str = " (hint: ";

/// `message` with the bind values and row values a server quoted in it
/// replaced by `***`, for a pool whose parameters are redacted
/// (`ParamPolicy::Redacted`).
///
/// How to call it: on the text of every error a statement produced, before
/// the error is returned, published (`ExecuteFailed`), recorded or logged,
/// usually through [`Error::without_values`](crate::Error::without_values):
///
/// - `values`: the statement's bind values, each rendered as the server
///   would show it (a text value as it is, without quotes; a number in
///   decimal), e.g. `BindValue::text` in the `switchboard` crate. Pass `&[]`
///   where they are unknown (a `Transaction` or `Interact` closure's
///   statements): the message's shapes are still scrubbed.
/// - Under `ParamPolicy::Plain` do not call it: values are shown there.
///
/// What it does:
/// 1. every occurrence of a value is replaced, where it is not part of a
///    longer word (a value `abcd` leaves `abcd_key` alone); a value of up to
///    three characters only where it fills quotes or brackets (`'7'`,
///    `(7)`), as a value `1` would otherwise take every `1` of the message;
/// 2. the DETAIL part (`Key (k)=(…)`, `Failing row contains (…)`) becomes
///    `(detail: ***)`; the HINT stays;
/// 3. values in the servers' known message shapes are replaced whatever
///    they are: after `: "` or `: '` (PostgreSQL's `invalid input syntax
///    for type integer: "…"`, MySQL's `Incorrect integer value: '…' for
///    column`), PostgreSQL's `"…" is out of range` and `invalid value "…"
///    for`, MySQL's `Duplicate entry '…' for key`. A value's end is its last
///    closing quote in the message, so a quote inside the value cannot end
///    it early; one without a closing quote is cut to the end of the
///    message.
///
/// SQLSTATE, error number and kind are not in the message, and stay.
pub fn scrub_values<S: AsRef<str>>(message: &str, values: &[S]) -> String {
    let mut out = replace_values(message, values);
    out = cut_detail(&out);
    scrub_shapes(&out)
}

/// Values this short (in characters) are replaced only where they fill a
/// quoted or bracketed span (`'7'`, `"ab"`, `(1)`): standing alone they are
/// mostly the message's own words and numbers (`at row 1`, `varchar(64)`).
const SHORT: usize = 3;

/// Step 1: every known value, as a whole token, becomes `***`; longer
/// values first, so that a value inside another does not split it.
fn replace_values<S: AsRef<str>>(message: &str, values: &[S]) -> String {
    let mut values: Vec<&str> = values
        .iter()
        .map(AsRef::as_ref)
        .filter(|v| !v.trim().is_empty() && *v != REDACTED)
        .collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    let mut out = message.to_owned();
    for value in values {
        if value.chars().count() > SHORT {
            out = replace_token(&out, value);
        } else {
            for (open, close) in [("'", "'"), ("\"", "\""), ("`", "`"), ("(", ")")] {
                let quoted = format!("{open}{value}{close}");
                out = out.replace(&quoted, &format!("{open}{REDACTED}{close}"));
            }
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `text` with `value` replaced where it stands alone: the characters
/// around it do not continue a word the value starts or ends.
fn replace_token(text: &str, value: &str) -> String {
    let starts_word = value.chars().next().is_some_and(is_word);
    let ends_word = value.chars().next_back().is_some_and(is_word);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(value) {
        let before = rest[..i].chars().next_back().or(out.chars().next_back());
        let after = rest[i + value.len()..].chars().next();
        let joined = (starts_word && before.is_some_and(is_word))
            || (ends_word && after.is_some_and(is_word));
        out.push_str(&rest[..i]);
        if !joined {
            out.push_str(REDACTED);
            rest = &rest[i + value.len()..];
        } else {
            // Not this one: keep its first character and look further on.
            let first = value.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[i..i + first]);
            rest = &rest[i + first..];
        }
    }
    out.push_str(rest);
    out
}

/// Step 2: the DETAIL (from its start to the HINT after it, or to the end)
/// becomes `***`. A value holding the words ` (detail: ` only makes more of
/// the message go.
fn cut_detail(message: &str) -> String {
    let Some(start) = message.find(DETAIL) else {
        return message.to_owned();
    };
    let hint = last_hint(message)
        .filter(|&h| h > start)
        .map_or("", |h| &message[h..]);
    format!("{}{DETAIL}{REDACTED}){hint}", &message[..start])
}

/// Where the primary message ends: at the DETAIL, else at the HINT.
fn primary_end(message: &str) -> usize {
    message
        .find(DETAIL)
        .or_else(|| last_hint(message))
        .unwrap_or(message.len())
}

/// Where the HINT starts: the last ` (hint: `, in a message that ends with
/// the `)` closing it (else the words are part of a value).
fn last_hint(message: &str) -> Option<usize> {
    message
        .ends_with(')')
        .then(|| message.rfind(HINT))
        .flatten()
}

/// A value's opening in a message template, and what may follow its
/// closing quote.
struct Shape {
    open: &'static str,
    quote: char,
    /// Text that follows the closing quote; `""` means the end of the
    /// primary message.
    then: &'static [&'static str],
}

const SHAPES: &[Shape] = &[
    Shape {
        open: "Duplicate entry '",
        quote: '\'',
        then: &[" for key "],
    },
    Shape {
        open: ": '",
        quote: '\'',
        then: &["", " for column ", " at row "],
    },
    Shape {
        open: ": \"",
        quote: '"',
        then: &[""],
    },
    Shape {
        open: "invalid value \"",
        quote: '"',
        then: &[" for \""],
    },
];

/// Messages whose quoted text is the statement's SQL, not data: SQLite's
/// tokenizer (`unrecognized token: "'abc"`).
const SQL_TEXT: &[&str] = &["unrecognized token"];

/// Step 3: the values sitting in known shapes of the primary message.
fn scrub_shapes(message: &str) -> String {
    if SQL_TEXT.iter().any(|m| message.starts_with(m)) {
        return message.to_owned();
    }
    let mut out = message.to_owned();
    let mut from = 0;
    loop {
        let end = primary_end(&out);
        let found = SHAPES
            .iter()
            .filter_map(|s| out[from..end].find(s.open).map(|i| (from + i, s)))
            .min_by_key(|(i, _)| *i);
        let Some((at, shape)) = found else {
            break;
        };
        let value_start = at + shape.open.len();
        match closing_quote(&out[value_start..end], shape) {
            Some(len) => {
                out.replace_range(value_start..value_start + len, REDACTED);
                from = value_start + REDACTED.len() + 1;
            }
            None => {
                // No closing quote where the template puts one: the value
                // may run on into the rest, so all of it goes.
                out.replace_range(value_start.., REDACTED);
                out.push(shape.quote);
                break;
            }
        }
    }
    scrub_out_of_range(&out)
}

/// The length of the value at the start of `rest` (the primary message
/// after an opening quote): up to the last closing quote followed by what
/// the shape allows.
fn closing_quote(rest: &str, shape: &Shape) -> Option<usize> {
    rest.char_indices()
        .rev()
        .filter(|&(_, c)| c == shape.quote)
        .map(|(i, _)| i)
        .find(|&i| {
            let after = &rest[i + 1..];
            shape.then.iter().any(|t| {
                if t.is_empty() {
                    after.is_empty()
                } else {
                    after.starts_with(t)
                }
            })
        })
}

/// PostgreSQL's `"…" is out of range for type …` (and `value "…" is out of
/// range`): the quoted value before it.
fn scrub_out_of_range(message: &str) -> String {
    const TAIL: &str = "\" is out of range";
    let end = primary_end(message);
    let Some(tail) = message[..end].rfind(TAIL) else {
        return message.to_owned();
    };
    // The value opens at the first quote of the message before the tail
    // (`value "`, or the message's start): quotes inside it cannot split it.
    let Some(open) = message[..tail].find('"') else {
        return message.to_owned();
    };
    format!("{}{REDACTED}{}", &message[..=open], &message[tail..])
}

#[cfg(test)]
mod tests;
