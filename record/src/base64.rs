//! Base64 (RFC 4648, standard alphabet, with padding) for the records' power series.
//!
//! Written here rather than taken from a crate: it is forty lines, and the plugin's dependency
//! tree is kept to what it must have (see `spank-plugin/tests/dependencies.rs`).

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes bytes, padding the last group with `=`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Why a text is not base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The byte offset of the first character that cannot be there.
    pub at: usize,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not base64 at character {}", self.at)
    }
}

fn value_of(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes padded base64 (what [`encode`] writes).
///
/// # Errors
/// A length that is not a multiple of four, a character outside the alphabet, or padding
/// anywhere but at the end of the last group.
pub fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(DecodeError {
            at: bytes.len() - bytes.len() % 4,
        });
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (g, group) in bytes.chunks_exact(4).enumerate() {
        let last = (g + 1) * 4 == bytes.len();
        let pad = if last {
            group.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return Err(DecodeError {
                at: g * 4 + 4 - pad,
            });
        }
        let mut n = 0u32;
        for (k, &c) in group[..4 - pad].iter().enumerate() {
            n = n << 6 | value_of(c).ok_or(DecodeError { at: g * 4 + k })?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4648_test_vectors() {
        // RFC 4648, section 10.
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn round_trips_every_byte_value() {
        let all: Vec<u8> = (0..=255).chain((0..=255).rev()).collect();
        for n in 0..all.len() {
            assert_eq!(decode(&encode(&all[..n])).unwrap(), &all[..n]);
        }
    }

    #[test]
    fn refuses_what_is_not_base64() {
        assert_eq!(decode("Zm9").unwrap_err().at, 0);
        assert_eq!(decode("Zm9v!m9v").unwrap_err().at, 4);
        assert_eq!(decode("Zg==Zg==").unwrap_err().at, 2);
        assert_eq!(decode("Z===").unwrap_err().at, 1);
        assert!(decode("Zm 9").is_err());
    }
}
