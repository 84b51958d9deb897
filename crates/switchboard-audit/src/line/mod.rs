//! A record as it is written: the members of [`Record`](crate::Record) in
//! their order, borrowed. The writer fills a [`Line`] straight from an event
//! (no copy of its SQL, labels or parameter types, no intermediate JSON
//! value), and `Record`'s own `Serialize` goes through a `Line` too, so the
//! format is defined here; `json` writes the same bytes faster.

use chrono::{DateTime, Datelike, Timelike, Utc};
use hmac::{Hmac, Mac};
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use sha2::Sha256;
use switchboard_core::{
    Backend, ConnectionId, ErrorInfo, Kind, Labels, Meta, Origin, ParamValue, StatementClass,
};

use crate::chain::{Digest256, hex_into};
use crate::record::{AuditParam, Outcome};

mod json;

pub(crate) use json::Names;

/// One line of the log before its seal. See [`Record`](crate::Record) for
/// what each member means; members that do not apply are left out.
#[derive(Serialize)]
pub(crate) struct Line<'a> {
    pub(crate) n: u64,
    pub(crate) prev: Digest256,
    pub(crate) id: u64,
    #[serde(serialize_with = "timestamp")]
    pub(crate) at: &'a DateTime<Utc>,
    pub(crate) kind: Kind,
    pub(crate) pool: &'a str,
    pub(crate) backend: Backend,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connection: Option<ConnectionId>,
    pub(crate) seq: u64,
    #[serde(skip_serializing_if = "no_labels")]
    pub(crate) labels: &'a Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) query_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) class: Option<StatementClass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) operation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tables: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sql: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) params: Option<LineParams<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<Origin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) outcome: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) took_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<&'a ErrorInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) guard: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<&'a serde_json::Value>,
}

fn no_labels(labels: &&Labels) -> bool {
    labels.is_empty()
}

/// `at` exactly as chrono's `Serialize` writes it (RFC 3339 in UTC with a
/// `Z`, and 0, 3, 6 or 9 fraction digits, as few as show it exactly), but
/// from a buffer rather than character by character through `fmt`.
fn timestamp<S: Serializer>(at: &&DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    match rfc3339(at, &mut [0; 30]) {
        Some(text) => s.serialize_str(text),
        None => at.serialize(s),
    }
}

/// The text of [`timestamp`], written into `buf`; `None` for what chrono
/// writes its own way (years it writes with a sign, leap seconds).
fn rfc3339<'b>(at: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
    let naive = at.naive_utc();
    let (year, nano) = (naive.year(), naive.nanosecond());
    let (Ok(year @ 0..=9999), 0..=999_999_999) = (u32::try_from(year), nano) else {
        return None;
    };
    *buf = *b"0000-00-00T00:00:00.000000000Z";
    let mut digits = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            // A digit: below 10.
            buf[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    digits(0, 4, year);
    digits(5, 2, naive.month());
    digits(8, 2, naive.day());
    digits(11, 2, naive.hour());
    digits(14, 2, naive.minute());
    digits(17, 2, naive.second());
    let fraction = match nano {
        0 => 0,
        n if n % 1_000_000 == 0 => {
            digits(20, 3, n / 1_000_000);
            4
        }
        n if n % 1_000 == 0 => {
            digits(20, 6, n / 1_000);
            7
        }
        n => {
            digits(20, 9, n);
            10
        }
    };
    buf[19 + fraction] = b'Z';
    // Digits and punctuation: ASCII.
    std::str::from_utf8(&buf[..20 + fraction]).ok()
}

impl<'a> Line<'a> {
    /// The members every record has, from the event's metadata; the rest
    /// left out until set.
    pub(crate) fn new(
        n: u64,
        prev: Digest256,
        meta: &'a Meta,
        kind: Kind,
        class: Option<StatementClass>,
    ) -> Self {
        Line {
            n,
            prev,
            id: meta.id,
            at: &meta.at,
            kind,
            pool: &meta.pool,
            backend: meta.backend,
            connection: meta.connection,
            seq: meta.seq,
            labels: &meta.labels,
            query_id: None,
            class,
            operation: None,
            tables: None,
            sql: None,
            params: None,
            origin: None,
            outcome: None,
            took_ns: None,
            rows: None,
            error: None,
            guard: None,
            reason: None,
            detail: None,
        }
    }
}

/// How bind values are shown: the log's
/// [`ParamDisplay`](crate::ParamDisplay), ready to use.
pub(crate) enum Render {
    Redact,
    Hash(Box<Hmac<Sha256>>),
    Plain,
}

/// A record's `params`.
pub(crate) enum LineParams<'a> {
    /// As read back from a line.
    Recorded(&'a [AuditParam]),
    /// An event's bind parameters, shown as the log is configured.
    Bound(&'a [ParamValue], &'a Render),
}

/// One element of `params`.
#[derive(Serialize)]
pub(crate) struct ParamLine<'a> {
    #[serde(rename = "type")]
    pub(crate) sql_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hmac: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<&'a str>,
}

impl Render {
    /// `param` as recorded; an HMAC's hex is written into `hex`.
    fn param<'a>(&self, param: &'a ParamValue, hex: &'a mut [u8; 64]) -> ParamLine<'a> {
        let typed = |sql_type| ParamLine {
            sql_type,
            hmac: None,
            value: None,
        };
        match (param, self) {
            (ParamValue::Redacted { sql_type }, _)
            | (ParamValue::Plain { sql_type, .. }, Render::Redact) => typed(sql_type),
            (ParamValue::Plain { sql_type, value }, Render::Plain) => ParamLine {
                value: Some(value),
                ..typed(sql_type)
            },
            (ParamValue::Plain { sql_type, value }, Render::Hash(mac)) => {
                let mut mac = Hmac::clone(mac);
                mac.update(value.as_bytes());
                let digest: [u8; 32] = mac.finalize().into_bytes().into();
                ParamLine {
                    hmac: Some(hex_into(&digest, hex)),
                    ..typed(sql_type)
                }
            }
            _ => typed("unknown"),
        }
    }
}

impl Serialize for LineParams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LineParams::Recorded(params) => s.collect_seq(params.iter()),
            LineParams::Bound(params, render) => {
                let mut seq = s.serialize_seq(Some(params.len()))?;
                for param in *params {
                    seq.serialize_element(&render.param(param, &mut [0; 64]))?;
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        #[derive(Serialize)]
        struct At<'a>(#[serde(serialize_with = "timestamp")] &'a DateTime<Utc>);
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let mut times = Vec::new();
        for date in [
            day(2026, 11, 2),
            day(1970, 1, 1),
            day(9999, 12, 31),
            day(10000, 1, 1),
            day(-5, 3, 4),
            day(0, 2, 29),
        ] {
            for (h, m, s) in [(0, 0, 0), (10, 15, 3), (23, 59, 59)] {
                for nano in [
                    0,
                    7,
                    120_000_000,
                    120_456_000,
                    120_456_789,
                    999_999_999,
                    1_000_000_000,
                    1_500_000_000,
                ] {
                    if let Some(t) = date.and_hms_nano_opt(h, m, s, nano) {
                        times.push(Utc.from_utc_datetime(&t));
                    }
                }
            }
        }
        assert!(times.len() > 100);
        for t in &times {
            assert_eq!(
                serde_json::to_string(&At(t)).unwrap(),
                serde_json::to_string(t).unwrap()
            );
        }
    }
}
