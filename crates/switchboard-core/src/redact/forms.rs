//! Connection strings the drivers would read differently from the URL
//! parser that redaction relies on, refused before they are used.
//!
//! Redaction finds the password with the `url` crate (WHATWG parsing), and
//! so does mysql_async. tokio-postgres has its own, libpq-like parser
//! (`tokio-postgres` 0.7, `config.rs`, `UrlParser::parse_credentials`): it
//! takes everything before the *first* `@` of the whole string as
//! `user:password`, where the `url` crate ends the authority at the first
//! `/`, `?` or `#` and splits it at its *last* `@`. So
//! `postgres://app:#pw@db/app` connects as `app` with password `#pw`,
//! while the `url` crate sees host `app`, no password, and a fragment
//! `pw@db/app`, which would be shown. Wherever the two could disagree, the
//! URL is refused: redaction and the driver must never disagree.

/// Why `raw` (a `postgres://` or `mysql://` URL with `//`) must be refused
/// because its user info could be misread; `None` when every parser reads
/// it alike.
pub(super) fn misread_user_info(raw: &str, postgres: bool) -> Option<String> {
    let start = raw.find("://")? + 3;
    let end = raw[start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| start + i);
    let in_authority = raw[start..end].matches('@').count();
    let after = raw[end..].contains('@');
    // No `@` in the authority, one after it: a user name or password with a
    // `/`, `?` or `#` in it. tokio-postgres reads the user info up to that
    // `@`; the `url` crate sees none, and would show the password as part of
    // the path, query or fragment (mysql_async would not send it at all).
    // Several in the authority: the `url` crate (and mysql_async) split at
    // the last, tokio-postgres at the first.
    let misread = (in_authority == 0 && after) || (postgres && in_authority > 1);
    misread.then(|| {
        "the user name or password holds a character the URL must percent-encode \
         (@ as %40, # as %23, / as %2F, ? as %3F, : as %3A); as written, the driver \
         and Switchboard's redaction would read a different user, password and host"
            .to_owned()
    })
}

/// Whether `raw` is a libpq keyword/value connection string
/// (`host=db user=app password=… dbname=app`), which the PostgreSQL driver
/// accepts but Switchboard does not: it takes URLs only, so that one grammar
/// decides where the password is (for redaction) and which backend runs.
pub(super) fn is_keyword_value(raw: &str) -> bool {
    if raw.contains("://") {
        return false;
    }
    let keyword_end = raw
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(raw.len());
    keyword_end > 0 && raw[keyword_end..].trim_start().starts_with('=')
}

/// The keywords of a keyword/value string with every value hidden
/// (`host=… user=… password=…`), parsed as tokio-postgres does (values may
/// be single-quoted, `\` escapes the next character); what cannot be
/// parsed is left out, as `…`.
pub(super) fn keywords_only(raw: &str) -> String {
    let mut shown = Vec::new();
    let mut rest = raw.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else {
            shown.push("…".to_owned());
            break;
        };
        let keyword = rest[..eq].trim();
        if keyword.is_empty() || keyword.contains(char::is_whitespace) {
            shown.push("…".to_owned());
            break;
        }
        shown.push(format!("{keyword}=…"));
        let value = rest[eq + 1..].trim_start();
        let Some(len) = value_len(value) else {
            break;
        };
        rest = value[len..].trim_start();
    }
    shown.join(" ")
}

/// The length of the value at the start of `s`: single-quoted up to the
/// closing quote, else up to whitespace; `\` escapes the next character.
/// `None` if a quoted value is never closed.
fn value_len(s: &str) -> Option<usize> {
    let quoted = s.starts_with('\'');
    let mut chars = s.char_indices().skip(usize::from(quoted));
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '\'' if quoted => return Some(i + 1),
            c if !quoted && c.is_whitespace() => return Some(i),
            _ => {}
        }
    }
    (!quoted).then_some(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_every_parser_reads_alike_passes() {
        for url in [
            "postgres://app:pw@db:5432/app",
            "postgres://app:p%40ss%23%2F%3F@db/app",
            "postgres://app@db/app?sslmode=disable",
            "postgres://db/app",
            "postgres://app:a:b@db/app",
            "mysql://root:x@db/test",
            "mysql://root:p@ss@db/test",
        ] {
            let postgres = url.starts_with("postgres");
            assert_eq!(misread_user_info(url, postgres), None, "{url}");
        }
    }

    #[test]
    fn user_info_a_parser_would_misread_is_refused() {
        for url in [
            "postgres://app:#pw@db/app",
            "postgres://app:/pw@db/app",
            "postgres://app:?pw@db/app",
            "postgres://app:p@ss@db/app",
            "postgres://db/app?application_name=a@b",
            "mysql://root:#pw@db/test",
            "mysql://root:/pw@db/test",
            "mysql://root:?pw@db/test",
        ] {
            let postgres = url.starts_with("postgres");
            assert!(misread_user_info(url, postgres).is_some(), "{url}");
        }
    }

    #[test]
    fn keyword_value_strings_are_told_from_urls() {
        assert!(is_keyword_value("host=db user=app password=x dbname=app"));
        assert!(is_keyword_value("password = 'a b' host=db"));
        assert!(!is_keyword_value("postgres://app@db/app?sslmode=require"));
        assert!(!is_keyword_value("the app database"));
        assert!(!is_keyword_value("=x"));
    }

    #[test]
    fn keyword_value_strings_show_their_keywords_only() {
        assert_eq!(
            keywords_only("host=db user=app password=s3cret dbname=app"),
            "host=… user=… password=… dbname=…"
        );
        assert_eq!(
            keywords_only("password = 'a \\' b=c' host=db"),
            "password=… host=…"
        );
        assert_eq!(
            keywords_only("host=db password='never closed"),
            "host=… password=…"
        );
        assert_eq!(keywords_only("host=db junk"), "host=… …");
    }
}
