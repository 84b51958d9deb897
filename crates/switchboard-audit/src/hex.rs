//! Lowercase hex: the only spelling the log writes and the only one it
//! accepts. The same hash in upper case is other bytes on disk, so a record
//! or checkpoint that spells one that way was edited.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lowercase hex of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
}

/// The lowercase hex of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    encode_into(bytes, &mut out);
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Parses exactly `2 * N` lowercase hex digits.
pub(crate) fn decode<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_round_trips() {
        let bytes = [0x00, 0xab, 0x7f, 0xff];
        assert_eq!(encode(&bytes), "00ab7fff");
        assert_eq!(decode::<4>(b"00ab7fff"), Some(bytes));
        assert_eq!(decode::<4>(b"00AB7FFF"), None);
        assert_eq!(decode::<4>(b"00ab7ff"), None);
        assert_eq!(decode::<4>(b"00ab7fff0"), None);
        assert_eq!(decode::<1>(b"g0"), None);
    }
}
