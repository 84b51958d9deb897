//! The hash chain: how a record line is sealed, and how a seal is checked.
//!
//! A sealed line is a JSON object whose last member is its own hash:
//!
//! ```text
//! {"n":7,"prev":"<hash of record 6>",...,"hash":"<SHA-256 of every byte before ,"hash">"}
//! ```
//!
//! `hash` covers every other byte of the line, `prev` included, so editing
//! any byte of a record changes its hash; and since the next record's `prev`
//! is that hash, records cannot be removed, inserted or reordered without
//! breaking the link after them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// What precedes the hash at the end of a sealed line.
const SEAL_PREFIX: &[u8] = b",\"hash\":\"";
/// Bytes a seal adds after the sealed content: `,"hash":"` + 64 hex + `"}`.
pub(crate) const SEAL_LEN: usize = SEAL_PREFIX.len() + 64 + 2;

/// A SHA-256 digest, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest256(pub [u8; 32]);

impl Digest256 {
    /// The `prev` of the first record of a chain: 64 zeros.
    pub const GENESIS: Digest256 = Digest256([0; 32]);

    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest256(Sha256::digest(bytes).into())
    }

    /// Parses 64 lowercase hex digits, the only spelling the log writes:
    /// `None` for anything else, upper case included.
    pub fn from_hex(hex: &str) -> Option<Self> {
        crate::hex::decode(hex.as_bytes()).map(Digest256)
    }

    /// Appends the 64 lowercase hex digits to `out`.
    pub(crate) fn write_hex(&self, out: &mut Vec<u8>) {
        crate::hex::encode_into(&self.0, out);
    }
}

/// Lowercase hex of a 32-byte digest, written into `buf` (no allocation:
/// every record carries two of them).
pub(crate) fn hex_into<'b>(bytes: &[u8; 32], buf: &'b mut [u8; 64]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in buf.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    // Hex digits are ASCII.
    std::str::from_utf8(buf).unwrap_or_default()
}

impl fmt::Display for Digest256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex_into(&self.0, &mut [0; 64]))
    }
}

impl fmt::Debug for Digest256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest256({self})")
    }
}

impl Serialize for Digest256 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(hex_into(&self.0, &mut [0; 64]))
    }
}

impl<'de> Deserialize<'de> for Digest256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Digest256::from_hex(&s).ok_or_else(|| {
            serde::de::Error::custom("expected 64 lowercase hex digits of a SHA-256")
        })
    }
}

/// Where a chain stands: what the next record must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The next record's `n`: how many records the chain holds.
    pub next: u64,
    /// The next record's `prev`: the last record's hash.
    pub prev: Digest256,
}

impl Head {
    /// The head of a chain with no record yet.
    pub const GENESIS: Head = Head {
        next: 0,
        prev: Digest256::GENESIS,
    };

    /// The head after a record with this hash was appended.
    pub(crate) fn advance(&mut self, hash: Digest256) {
        self.next += 1;
        self.prev = hash;
    }
}

/// Seals the JSON object that `buf[start..]` holds: replaces its closing
/// brace with `,"hash":"<SHA-256 of buf[start..brace]>"}` and a newline.
/// Returns the hash.
pub(crate) fn seal(buf: &mut Vec<u8>, start: usize) -> Digest256 {
    debug_assert_eq!(buf.last(), Some(&b'}'));
    buf.pop();
    let hash = Digest256::of(&buf[start..]);
    buf.extend_from_slice(SEAL_PREFIX);
    hash.write_hex(buf);
    buf.extend_from_slice(b"\"}\n");
    hash
}

/// What is wrong with a line's seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SealError {
    /// The line does not end with a `"hash"` member of 64 hex digits.
    Missing,
    /// The hash is spelled in something else than lowercase hex: the
    /// line was edited (the log writes only lowercase).
    NotCanonical,
    /// The recorded hash is not the hash of the content.
    Mismatch {
        recorded: Digest256,
        computed: Digest256,
    },
}

/// Checks a line's seal (without its newline); returns its hash.
pub(crate) fn unseal(line: &[u8]) -> Result<Digest256, SealError> {
    let Some(content_len) = line.len().checked_sub(SEAL_LEN) else {
        return Err(SealError::Missing);
    };
    let (content, seal) = line.split_at(content_len);
    let hex = seal
        .strip_prefix(SEAL_PREFIX)
        .and_then(|rest| rest.strip_suffix(b"\"}"))
        .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        .ok_or(SealError::Missing)?;
    let recorded = crate::hex::decode(hex)
        .map(Digest256)
        .ok_or(SealError::NotCanonical)?;
    let computed = Digest256::of(content);
    if recorded == computed {
        Ok(computed)
    } else {
        Err(SealError::Mismatch { recorded, computed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(json: &str) -> (Vec<u8>, Digest256) {
        let mut buf = json.as_bytes().to_vec();
        let hash = seal(&mut buf, 0);
        (buf, hash)
    }

    #[test]
    fn a_sealed_line_unseals_to_its_hash() {
        let (line, hash) = sealed(r#"{"n":0,"prev":"00"}"#);
        assert_eq!(line.last(), Some(&b'\n'));
        let line = &line[..line.len() - 1];
        assert_eq!(unseal(line), Ok(hash));
        let parsed: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(parsed["hash"], hash.to_string());
        assert_eq!(hash, Digest256::of(br#"{"n":0,"prev":"00""#));
    }

    #[test]
    fn any_edited_byte_breaks_the_seal() {
        let (line, _) = sealed(r#"{"n":1,"sql":"SELECT 1"}"#);
        let line = &line[..line.len() - 1];
        for i in 0..line.len() {
            let mut edited = line.to_vec();
            edited[i] ^= 0x01;
            assert!(unseal(&edited).is_err(), "edit at byte {i} went unnoticed");
        }
    }

    #[test]
    fn an_upper_case_hash_is_not_canonical() {
        let (line, _) = sealed(r#"{"n":1,"sql":"SELECT 1"}"#);
        let text = String::from_utf8(line[..line.len() - 1].to_vec()).unwrap();
        let at = text.rfind(":\"").unwrap() + 2;
        let upper = format!("{}{}", &text[..at], text[at..].to_uppercase());
        assert_ne!(upper, text);
        assert_eq!(unseal(upper.as_bytes()), Err(SealError::NotCanonical));
    }

    #[test]
    fn hex_round_trips() {
        let d = Digest256::of(b"abc");
        assert_eq!(
            d.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest256::from_hex(&d.to_string()), Some(d));
        assert_eq!(Digest256::from_hex(&d.to_string().to_uppercase()), None);
        assert_eq!(Digest256::from_hex("xyz"), None);
        assert_eq!(Digest256::GENESIS.to_string(), "0".repeat(64));
    }
}
