//! Comments and quoted runs as byte ranges, how the scanners find them
//! quickly, and how two readings are compared.
//!
//! Texts can be large (a 64 MiB literal is a test case), so the scanners
//! jump with `str::find`, which searches with `memchr`, rather than stepping
//! byte by byte, and readings are compared as short lists of ranges, not
//! byte by byte.

/// What a range of the text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// A comment.
    Comment,
    /// The inside and quotes of a string, a quoted name or a dollar-quoted
    /// body (a prefix such as `E` or `N` is code).
    Quoted,
}

/// A comment or quoted run, `start..end` in bytes. Whatever no region
/// covers is code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) part: Part,
}

/// Bytes the servers treat as spaces between tokens.
pub(crate) fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// A scanner's text and the regions it has found, in text order.
pub(crate) struct Scan<'a> {
    pub(crate) sql: &'a str,
    pub(crate) bytes: &'a [u8],
    pub(crate) regions: Vec<Region>,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(sql: &'a str) -> Self {
        Scan {
            sql,
            bytes: sql.as_bytes(),
            regions: Vec::new(),
        }
    }

    /// Records `start..end` (clamped to the text) as `part`; returns `end`.
    pub(crate) fn mark(&mut self, start: usize, end: usize, part: Part) -> usize {
        let end = end.min(self.bytes.len());
        if start < end {
            self.regions.push(Region { start, end, part });
        }
        end
    }

    /// The first `byte` (ASCII) at or after `from`, before `limit`; `limit`
    /// when there is none.
    pub(crate) fn find(&self, from: usize, limit: usize, byte: u8) -> usize {
        let limit = limit.min(self.bytes.len());
        if from >= limit {
            return limit;
        }
        match self.sql.get(from..limit) {
            Some(text) => text.find(char::from(byte)).map_or(limit, |at| from + at),
            None => self.bytes[from..limit]
                .iter()
                .position(|&b| b == byte)
                .map_or(limit, |at| from + at),
        }
    }

    /// The first `needle` at or after `from`, or the end of the text.
    pub(crate) fn find_str(&self, from: usize, needle: &str) -> usize {
        let len = self.bytes.len();
        match self.sql.get(from.min(len)..) {
            Some(text) => text.find(needle).map_or(len, |at| from + at),
            None => self.bytes[from.min(len)..]
                .windows(needle.len())
                .position(|window| window == needle.as_bytes())
                .map_or(len, |at| from + at),
        }
    }

    /// The first of `stops` at or after `from`, or the end of the text.
    pub(crate) fn find_any(&self, from: usize, stops: &[u8]) -> usize {
        let mut limit = self.bytes.len();
        for &stop in stops {
            limit = self.find(from, limit, stop);
        }
        limit
    }

    /// The end (exclusive) of a quoted run that starts with `quote` at
    /// `start`, where a doubled quote stands for one and, if `backslash`,
    /// a backslash escapes the next character. Unterminated: the end of the
    /// text.
    pub(crate) fn quoted_end(&self, start: usize, quote: u8, backslash: bool) -> usize {
        let len = self.bytes.len();
        let mut at = start + 1;
        loop {
            let close = self.find(at, len, quote);
            if backslash {
                let escape = self.find(at, close, b'\\');
                if escape < close {
                    let escaped = self
                        .sql
                        .get(escape + 1..)
                        .and_then(|rest| rest.chars().next());
                    at = escape + 1 + escaped.map_or(1, char::len_utf8);
                    continue;
                }
            }
            if close >= len {
                return len;
            }
            if self.bytes.get(close + 1) == Some(&quote) {
                at = close + 2;
            } else {
                return close + 1;
            }
        }
    }

    /// The end of a run of bytes for which `keep` holds, from `from`.
    pub(crate) fn run(&self, from: usize, keep: impl Fn(u8) -> bool) -> usize {
        self.bytes[from.min(self.bytes.len())..]
            .iter()
            .position(|&b| !keep(b))
            .map_or(self.bytes.len(), |at| from + at)
    }
}

/// Regions with blank ends trimmed, blank ones dropped, and neighbours of
/// the same part merged when only blanks separate them, so that two
/// readings compare equal exactly when they agree on every non-blank byte.
pub(crate) fn normalized(sql: &str, regions: Vec<Region>) -> Vec<Region> {
    let bytes = sql.as_bytes();
    let mut out: Vec<Region> = Vec::with_capacity(regions.len());
    for mut region in regions {
        region.end = region.end.min(bytes.len());
        while region.start < region.end && is_space(bytes[region.start]) {
            region.start += 1;
        }
        while region.end > region.start && is_space(bytes[region.end - 1]) {
            region.end -= 1;
        }
        if region.start >= region.end {
            continue;
        }
        match out.last_mut() {
            Some(last)
                if last.part == region.part
                    && last.end <= region.start
                    && bytes[last.end..region.start].iter().all(|&b| is_space(b)) =>
            {
                last.end = region.end;
            }
            _ => out.push(region),
        }
    }
    out
}

/// Where two normalized readings first differ.
pub(crate) fn first_difference(a: &[Region], b: &[Region]) -> Option<usize> {
    for index in 0..a.len().max(b.len()) {
        match (a.get(index), b.get(index)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => return Some(x.start.min(y.start)),
            (Some(only), None) | (None, Some(only)) => return Some(only.start),
            (None, None) => return None,
        }
    }
    None
}
