//! The writer's way to a line's bytes: the same JSON as [`Line`]'s
//! `Serialize` (the tests hold them to the same bytes), written straight
//! into the batch's buffer. Member names are written as they are, numbers
//! without `fmt`, and only text that may need it is escaped: a record is
//! made for every event, on the bus's subscriber thread.

use serde::Serialize;
use switchboard_core::{Backend, Kind, Origin, StatementClass};

use super::{Line, LineParams, rfc3339};
use crate::record::Outcome;

/// The JSON of each variant of the enums a line carries, made once with
/// serde (so renames are serde's), looked up per record.
pub(crate) struct Names {
    kinds: Vec<(Kind, Box<[u8]>)>,
    classes: Vec<(StatementClass, Box<[u8]>)>,
    backends: Vec<(Backend, Box<[u8]>)>,
    origins: Vec<(Origin, Box<[u8]>)>,
    outcomes: Vec<(Outcome, Box<[u8]>)>,
}

fn names<T: Serialize + Copy>(all: &[T]) -> Vec<(T, Box<[u8]>)> {
    all.iter()
        .filter_map(|v| Some((*v, serde_json::to_vec(v).ok()?.into_boxed_slice())))
        .collect()
}

impl Default for Names {
    fn default() -> Self {
        Names {
            kinds: names(&Kind::ALL),
            classes: names(&StatementClass::ALL),
            backends: names(&[Backend::Postgres, Backend::Mysql, Backend::Sqlite]),
            origins: names(&[Origin::Execute, Origin::Load, Origin::Closure]),
            outcomes: names(&[Outcome::Executed, Outcome::Failed, Outcome::Denied]),
        }
    }
}

/// A buffer being appended to.
struct Json<'a>(&'a mut Vec<u8>);

impl Json<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Two digits at a time, as `itoa` (and so serde_json) does.
    fn u64(&mut self, mut n: u64) {
        const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
            2021222324252627282930313233343536373839\
            4041424344454647484950515253545556575859\
            6061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899";
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        while n >= 100 {
            // Below 100: a pair's index.
            let pair = (n % 100) as usize * 2;
            n /= 100;
            at -= 2;
            buf[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        }
        if n >= 10 {
            let pair = n as usize * 2;
            at -= 2;
            buf[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        } else {
            at -= 1;
            // A digit: below 10.
            buf[at] = b'0' + n as u8;
        }
        self.raw(&buf[at..]);
    }

    /// A JSON string, escaped as serde_json escapes it.
    fn str(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let out = &mut *self.0;
        out.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escaped: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0x00..=0x1f => &[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ],
                _ => continue,
            };
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(escaped);
            start = i + 1;
        }
        out.extend_from_slice(&bytes[start..]);
        out.push(b'"');
    }

    /// Anything else, through serde.
    fn serde(&mut self, value: &impl Serialize) -> serde_json::Result<()> {
        serde_json::to_writer(&mut *self.0, value)
    }

    /// An enum value: its JSON from `names`, or from serde for a variant
    /// added since.
    fn name<T: Serialize + Copy + PartialEq>(
        &mut self,
        names: &[(T, Box<[u8]>)],
        value: T,
    ) -> serde_json::Result<()> {
        match names.iter().find(|(v, _)| *v == value) {
            Some((_, json)) => {
                self.raw(json);
                Ok(())
            }
            None => self.serde(&value),
        }
    }
}

impl Line<'_> {
    /// Appends the line's JSON to `out`: the bytes `Serialize` gives.
    pub(crate) fn write(&self, out: &mut Vec<u8>, names: &Names) -> serde_json::Result<()> {
        let mut w = Json(out);
        w.raw(b"{\"n\":");
        w.u64(self.n);
        w.raw(b",\"prev\":\"");
        self.prev.write_hex(w.0);
        w.raw(b"\",\"id\":");
        w.u64(self.id);
        w.raw(b",\"at\":");
        match rfc3339(self.at, &mut [0; 30]) {
            Some(at) => {
                w.raw(b"\"");
                w.raw(at.as_bytes());
                w.raw(b"\"");
            }
            None => w.serde(self.at)?,
        }
        w.raw(b",\"kind\":");
        w.name(&names.kinds, self.kind)?;
        w.raw(b",\"pool\":");
        w.str(self.pool);
        w.raw(b",\"backend\":");
        w.name(&names.backends, self.backend)?;
        if let Some(connection) = self.connection {
            w.raw(b",\"connection\":");
            w.u64(connection);
        }
        w.raw(b",\"seq\":");
        w.u64(self.seq);
        if !self.labels.is_empty() {
            w.raw(b",\"labels\":{");
            for (i, (key, value)) in self.labels.iter().enumerate() {
                if i > 0 {
                    w.raw(b",");
                }
                w.str(key);
                w.raw(b":");
                w.str(value);
            }
            w.raw(b"}");
        }
        if let Some(query_id) = self.query_id {
            w.raw(b",\"query_id\":");
            w.u64(query_id);
        }
        if let Some(class) = self.class {
            w.raw(b",\"class\":");
            w.name(&names.classes, class)?;
        }
        if let Some(operation) = self.operation {
            w.raw(b",\"operation\":");
            w.str(operation);
        }
        if let Some(tables) = self.tables {
            w.raw(b",\"tables\":[");
            for (i, table) in tables.iter().enumerate() {
                if i > 0 {
                    w.raw(b",");
                }
                w.str(table);
            }
            w.raw(b"]");
        }
        if let Some(sql) = self.sql {
            w.raw(b",\"sql\":");
            w.str(sql);
        }
        match &self.params {
            Some(LineParams::Bound(params, render)) => {
                w.raw(b",\"params\":[");
                for (i, param) in params.iter().enumerate() {
                    if i > 0 {
                        w.raw(b",");
                    }
                    write_param(&mut w, &render.param(param, &mut [0; 64]));
                }
                w.raw(b"]");
            }
            Some(params @ LineParams::Recorded(_)) => {
                w.raw(b",\"params\":");
                w.serde(params)?;
            }
            None => {}
        }
        if let Some(origin) = self.origin {
            w.raw(b",\"origin\":");
            w.name(&names.origins, origin)?;
        }
        if let Some(outcome) = self.outcome {
            w.raw(b",\"outcome\":");
            w.name(&names.outcomes, outcome)?;
        }
        if let Some(took_ns) = self.took_ns {
            w.raw(b",\"took_ns\":");
            w.u64(took_ns);
        }
        if let Some(rows) = self.rows {
            w.raw(b",\"rows\":");
            w.u64(rows);
        }
        if let Some(error) = self.error {
            w.raw(b",\"error\":");
            w.serde(error)?;
        }
        if let Some(guard) = self.guard {
            w.raw(b",\"guard\":");
            w.str(guard);
        }
        if let Some(reason) = self.reason {
            w.raw(b",\"reason\":");
            w.str(reason);
        }
        if let Some(detail) = self.detail {
            w.raw(b",\"detail\":");
            w.serde(detail)?;
        }
        w.raw(b"}");
        Ok(())
    }
}

/// One element of `params`, as `ParamLine`'s `Serialize` writes it.
fn write_param(w: &mut Json<'_>, param: &super::ParamLine<'_>) {
    w.raw(b"{\"type\":");
    w.str(param.sql_type);
    if let Some(hmac) = param.hmac {
        w.raw(b",\"hmac\":");
        w.str(hmac);
    }
    if let Some(value) = param.value {
        w.raw(b",\"value\":");
        w.str(value);
    }
    w.raw(b"}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é ü \u{2028} 😀 \u{7f}");
        for s in [all.as_str(), "", "plain", "a\"b\\c\nd\te\r\u{8}\u{c}\u{1}"] {
            let mut out = Vec::new();
            Json(&mut out).str(s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        let mut numbers = vec![u64::from(u32::MAX), u64::MAX, u64::MAX - 1];
        numbers.extend(0..1_000);
        numbers.extend((0..64).map(|shift| 1u64 << shift));
        numbers.extend((1..20).map(|digits| 10u64.pow(digits) - 1));
        numbers.extend((1..20).map(|digits| 10u64.pow(digits)));
        for n in numbers {
            let mut out = Vec::new();
            Json(&mut out).u64(n);
            assert_eq!(out, serde_json::to_vec(&n).unwrap());
        }
    }
}
