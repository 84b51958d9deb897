//! Keeping passwords out of everything a user or a subscriber can see.
//!
//! A [`DatabaseUrl`] holds the real URL for the driver and shows only a
//! redacted form in `Debug`, `Display`, events and errors. [`Scrubber`] removes
//! the password from text that came back from a driver, in case a driver ever
//! echoes it. [`scrub_values`] removes bind values and row values from a
//! server's error message.

mod forms;
mod values;

use std::fmt;

use url::Url;

use crate::error::{Error, Result};
pub use values::scrub_values;

/// What replaces a password wherever a URL is shown.
pub const REDACTED: &str = "***";

/// Query parameters that carry secrets in some drivers' URLs.
const SECRET_PARAMS: [&str; 4] = ["password", "pass", "pwd", "sslpassword"];

/// A database URL whose password never leaves it except to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    redacted: String,
    secrets: Vec<String>,
}

impl DatabaseUrl {
    /// Parses a URL, keeping the password out of every error it may give.
    ///
    /// Refused with [`Error::InvalidUrl`], without showing the password:
    /// - a URL whose user name or password holds an unencoded `@`, `#`, `/`
    ///   or `?` (`postgres://app:#pw@db/app`): the PostgreSQL driver reads
    ///   the user info up to the first `@`, the URL parser redaction uses
    ///   (and the MySQL driver) up to the end of the authority, so the two
    ///   would disagree on where the password is. Percent-encode them
    ///   (`%23` for `#`);
    /// - a libpq keyword/value string (`host=db user=app password=…`): the
    ///   PostgreSQL driver takes it, Switchboard takes URLs only, so that
    ///   one grammar decides where the password is and which backend runs.
    ///   The error shows its keywords, not their values.
    pub fn parse(raw: &str) -> Result<Self> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::InvalidUrl {
                url: String::new(),
                reason: "the URL is empty; expected e.g. postgres://user@host/db, \
                         mysql://user@host/db, sqlite://file.db or sqlite::memory:"
                    .into(),
            });
        }
        // `sqlite::memory:` and `sqlite:path` are not hierarchical URLs.
        if trimmed.starts_with("sqlite:") {
            return Ok(DatabaseUrl {
                raw: trimmed.to_owned(),
                redacted: trimmed.to_owned(),
                secrets: Vec::new(),
            });
        }
        if forms::is_keyword_value(trimmed) {
            return Err(Error::InvalidUrl {
                url: forms::keywords_only(trimmed),
                reason: "a keyword/value connection string is not taken, only a URL: \
                         postgres://user:password@host:port/dbname?sslmode=... \
                         (percent-encode @ # / ? : in the user name and password)"
                    .into(),
            });
        }
        let parsed = Url::parse(trimmed).map_err(|e| Error::InvalidUrl {
            url: redact_unparsed(trimmed),
            reason: e.to_string(),
        })?;
        // `postgres:user:pw@host/db` parses, as a URL with no host at all:
        // the password would sit in its path, where nothing redacts it.
        // (Other schemes are refused later, as unsupported.)
        let server = ["postgres", "postgresql", "mysql", "mariadb"].contains(&parsed.scheme());
        if server && (parsed.cannot_be_a_base() || !parsed.has_host()) {
            return Err(Error::InvalidUrl {
                url: redact_unparsed(trimmed),
                reason: format!(
                    "no host: expected {}://user@host/database (is the // missing?)",
                    parsed.scheme()
                ),
            });
        }
        if server
            && let Some(reason) =
                forms::misread_user_info(trimmed, parsed.scheme().starts_with("postgres"))
        {
            return Err(Error::InvalidUrl {
                url: redact_unparsed(trimmed),
                reason,
            });
        }
        let mut secrets = Vec::new();
        let mut shown = parsed.clone();
        if let Some(password) = parsed.password() {
            secrets.push(password.to_owned());
            if let Ok(decoded) = percent_decode(password) {
                secrets.push(decoded);
            }
            // Setting a password can only fail on URLs without a host, which
            // `parsed.password()` being `Some` rules out.
            let _ = shown.set_password(Some(REDACTED));
        }
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) {
                    secrets.push(v.to_string());
                    (k.into_owned(), REDACTED.to_owned())
                } else {
                    (k.into_owned(), v.into_owned())
                }
            })
            .collect();
        if !pairs.is_empty() {
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        secrets.retain(|s| !s.is_empty());
        Ok(DatabaseUrl {
            raw: trimmed.to_owned(),
            redacted: shown.to_string(),
            secrets,
        })
    }

    /// The URL with its secrets, for the driver only.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The URL with every secret replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The scheme (`postgres`, `mysql`, `sqlite`, ...).
    pub fn scheme(&self) -> &str {
        self.raw.split(':').next().unwrap_or_default()
    }

    /// A scrubber that removes this URL's secrets from any text.
    pub fn scrubber(&self) -> Scrubber {
        Scrubber {
            secrets: self.secrets.clone(),
            raw: self.raw.clone(),
            redacted: self.redacted.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.redacted).finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// Removes known secrets from text (driver error messages, SQL echoed back).
#[derive(Clone, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
    raw: String,
    redacted: String,
}

impl Scrubber {
    /// `text` with the full URL and every secret replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = if self.raw.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.raw, &self.redacted)
        };
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// Best effort for text that is not a usable URL: hide the value of every
/// secret query parameter, then what sits between the first `:` of the
/// authority (after `//`, or after the scheme when the `//` is missing) and
/// the last `@`. Parameters go first: a `@` in a password parameter's value
/// would otherwise be taken for the end of the user info, and the rest of
/// the value shown.
fn redact_unparsed(raw: &str) -> String {
    let raw = redact_params(raw);
    let start = match raw.find("://") {
        Some(i) => i + 3,
        None => raw.find(':').map_or(0, |i| i + 1),
    };
    match raw[start..].rfind('@').map(|i| i + start) {
        Some(at) => match raw[start..at].find(':') {
            Some(colon) => format!("{}{}{}", &raw[..start + colon + 1], REDACTED, &raw[at..]),
            None => raw,
        },
        None => raw,
    }
}

/// `text` with the value of every `password=`-like parameter hidden.
fn redact_params(text: &str) -> String {
    let Some(query) = text.find('?') else {
        return text.to_owned();
    };
    let params = text[query + 1..]
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_PARAMS.contains(&key.to_ascii_lowercase().as_str()) => {
                format!("{key}={REDACTED}")
            }
            _ => pair.to_owned(),
        });
    format!(
        "{}?{}",
        &text[..query],
        params.collect::<Vec<_>>().join("&")
    )
}

fn percent_decode(s: &str) -> std::result::Result<String, std::str::Utf8Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])?;
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|e| e.utf8_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTINEL: &str = "S3ntinel-pw-9f2c";

    #[test]
    fn password_is_hidden_everywhere_but_expose() {
        let url = DatabaseUrl::parse(&format!("postgres://app:{SENTINEL}@db:5432/test")).unwrap();
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/test");
        assert!(!format!("{url:?}").contains(SENTINEL));
        assert!(!url.to_string().contains(SENTINEL));
        assert!(url.expose().contains(SENTINEL));
    }

    #[test]
    fn password_in_query_is_hidden() {
        let url =
            DatabaseUrl::parse(&format!("mysql://db/test?user=a&password={SENTINEL}")).unwrap();
        assert!(!url.redacted().contains(SENTINEL), "{}", url.redacted());
    }

    #[test]
    fn scrubber_removes_plain_and_percent_decoded_passwords() {
        let url = DatabaseUrl::parse("postgres://app:p%40ss%2Fw0rd@db/test").unwrap();
        let s = url.scrubber();
        assert_eq!(s.scrub("bad p@ss/w0rd here"), "bad *** here");
        assert_eq!(s.scrub("bad p%40ss%2Fw0rd"), "bad ***");
    }

    #[test]
    fn unparsable_url_error_hides_password() {
        let err =
            DatabaseUrl::parse(&format!("postgres://app:{SENTINEL}@db:notaport/test")).unwrap_err();
        assert!(!err.to_string().contains(SENTINEL), "{err}");
        assert!(!format!("{err:?}").contains(SENTINEL));
    }

    #[test]
    fn unparsable_url_error_hides_a_password_parameter() {
        let err = DatabaseUrl::parse(&format!(
            "postgres://db:notaport/app?user=a&PassWord={SENTINEL}&x=1"
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(!text.contains(SENTINEL), "{text}");
        assert!(text.contains("PassWord=***&x=1"), "{text}");
    }

    #[test]
    fn url_without_slashes_is_refused_without_its_password() {
        let err =
            DatabaseUrl::parse(&format!("postgres:app:{SENTINEL}@127.0.0.1:1/app")).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
        assert!(
            !text.contains(SENTINEL) && !format!("{err:?}").contains(SENTINEL),
            "{text}"
        );
        assert!(text.contains("//"), "{text}");
    }

    /// tokio-postgres takes the user info up to the first `@`; the `url`
    /// crate saw host `app` and no password, and showed the password.
    #[test]
    fn user_info_the_drivers_would_misread_is_refused_without_its_password() {
        for raw in [
            format!("postgres://app:#{SENTINEL}@db/app"),
            format!("postgres://app:/{SENTINEL}@db/app"),
            format!("postgres://app:?{SENTINEL}@db/app"),
            format!("postgresql://app:{SENTINEL}@x@db/app"),
            format!("mysql://root:#{SENTINEL}@db/test"),
            format!("mariadb://root:/{SENTINEL}@db/test"),
            format!("mysql://root:?{SENTINEL}@db/test"),
            format!("postgres://db:5432/app?password=a@{SENTINEL}"),
        ] {
            let err = DatabaseUrl::parse(&raw).unwrap_err();
            assert!(matches!(err, Error::InvalidUrl { .. }), "{raw}: {err:?}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(SENTINEL), "{shown}");
        }
        let err = DatabaseUrl::parse("postgres://app:#pw@db/app").unwrap_err();
        assert!(err.to_string().contains("%23"), "{err}");
    }

    #[test]
    fn percent_encoded_user_info_is_taken() {
        let url = DatabaseUrl::parse(&format!("postgres://app:%23{SENTINEL}%40@db/app")).unwrap();
        assert_eq!(url.redacted(), "postgres://app:***@db/app");
        let s = url.scrubber();
        assert_eq!(s.scrub(&format!("#{SENTINEL}@ was wrong")), "*** was wrong");
    }

    #[test]
    fn keyword_value_strings_are_refused_showing_keywords_only() {
        let raw = format!("host=db user=app password='{SENTINEL} x' dbname=app");
        let err = DatabaseUrl::parse(&raw).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(SENTINEL), "{shown}");
        assert!(
            matches!(&err, Error::InvalidUrl { url, .. } if url == "host=… user=… password=… dbname=…"),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("postgres://user:password@host"),
            "{err}"
        );
    }

    #[test]
    fn sqlite_urls_pass_through() {
        let url = DatabaseUrl::parse("sqlite::memory:").unwrap();
        assert_eq!(url.scheme(), "sqlite");
        assert_eq!(url.redacted(), "sqlite::memory:");
    }
}
