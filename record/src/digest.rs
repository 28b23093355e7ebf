//! SHA-256 in lower-case hex, the one digest of the project: it identifies exactly which
//! inventory, factor table or carbon-intensity series a result was computed from (`ea-impact`),
//! and binds a collector batch's body to its MUNGE credential ([`crate::batch::body_digest`]).
//! The `sha2` crate computes it; the standard test vectors below pin the hex form down.

use sha2::{Digest, Sha256};

/// The SHA-256 digest of `data` as 64 lower-case hex digits.
pub fn sha256_hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sha256_hex;

    /// FIPS 180-4's vectors: the digests the hand-written SHA-256 of `ea-impact` gave before
    /// it was replaced by `sha2`, so stored inventory and factor hashes do not change.
    #[test]
    fn fips_180_test_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            sha256_hex(&vec![b'a'; 1_000_000]),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }
}
