//! Searching bytes eight at a time: newlines and delimiters in a month's dump (hundreds of
//! megabytes) are found this way rather than one byte per loop turn. Safe code only: each
//! eight-byte word is tested for a byte equal to the one sought with the exact zero-byte test
//! of Hacker's Delight §6.1 (no false positives, unlike the shorter `haszero` form).

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// A word with the high bit set in each byte of `word` that equals `b`, and nothing else.
#[inline]
fn matches(word: u64, b: u8) -> u64 {
    let x = word ^ (u64::from(b) * 0x0101_0101_0101_0101);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// Eight bytes as one little-endian word (`chunk` is eight bytes long).
#[inline]
pub fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// The index of the first `b` in `hay`.
pub fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let m = matches(word(c), b);
        if m != 0 {
            return Some(at + (m.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&x| x == b)
        .map(|i| at + i)
}

/// The index of the last `b` in `hay`.
pub fn rfind_byte(hay: &[u8], b: u8) -> Option<usize> {
    let mut chunks = hay.rchunks_exact(8);
    let mut end = hay.len();
    for c in &mut chunks {
        let m = matches(word(c), b);
        end -= 8;
        if m != 0 {
            return Some(end + 7 - (m.leading_zeros() / 8) as usize);
        }
    }
    chunks.remainder().iter().rposition(|&x| x == b)
}

/// How many times `b` occurs in `hay`.
pub fn count_byte(hay: &[u8], b: u8) -> usize {
    let mut chunks = hay.chunks_exact(8);
    let mut n = 0;
    for c in &mut chunks {
        n += matches(word(c), b).count_ones() as usize;
    }
    n + chunks.remainder().iter().filter(|&&x| x == b).count()
}

/// The pieces of `hay` between occurrences of `b`, like `hay.split(|x| *x == b)`.
pub fn split_byte(hay: &[u8], b: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(hay);
    std::iter::from_fn(move || {
        let r = rest?;
        match find_byte(r, b) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_obvious_loops() {
        // Every byte value next to the one sought (0x0a and 0x7c, with 0x80+ bytes that
        // fool the short zero-byte test), at every position and length.
        let mut seed = 12345u64;
        for len in 0..70 {
            for round in 0..40 {
                let hay: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        [b'\n', b'|', 0x0b, 0x8a, 0xfc, 0x09, b'a', 0x00]
                            [(seed >> 33) as usize % (2 + round % 7)]
                    })
                    .collect();
                for b in [b'\n', b'|', 0x00] {
                    assert_eq!(
                        find_byte(&hay, b),
                        hay.iter().position(|&x| x == b),
                        "{hay:?} {b}"
                    );
                    assert_eq!(
                        rfind_byte(&hay, b),
                        hay.iter().rposition(|&x| x == b),
                        "{hay:?} {b}"
                    );
                    assert_eq!(count_byte(&hay, b), hay.iter().filter(|&&x| x == b).count());
                    let ours: Vec<&[u8]> = split_byte(&hay, b).collect();
                    let std: Vec<&[u8]> = hay.split(|&x| x == b).collect();
                    assert_eq!(ours, std);
                }
            }
        }
    }
}
