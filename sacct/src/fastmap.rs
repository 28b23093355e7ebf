//! Hash maps keyed by job ids and node names, with a fast hasher: a month's ingest looks up
//! millions of them. SipHash, the standard default, resists adversarial keys, which Slurm ids
//! and node names written by the site's own daemons are not, and costs several times more.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The multiply-rotate hash of [`crate::rowhash::Fnv`], as a [`Hasher`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FastHasher(crate::rowhash::Fnv);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.bytes(bytes);
    }
    fn write_u32(&mut self, i: u32) {
        self.0.int(Some(i64::from(i)));
    }
    fn write_u64(&mut self, i: u64) {
        self.0.int(Some(i as i64));
    }
    fn write_usize(&mut self, i: usize) {
        self.0.int(Some(i as i64));
    }
    fn finish(&self) -> u64 {
        // The multiply only carries low bits upwards, and hash tables index by the low bits:
        // mix the high ones down (MurmurHash3's finaliser), or ids that differ only in their
        // last digits all land in the same few buckets.
        let mut h = self.0.finish() as u64;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// A `HashMap` hashed with [`FastHasher`]: for the integer and short-string keys of a month of jobs.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` hashed with [`FastHasher`] (see [`FastMap`]).
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// Strings (cluster, user, account names...) numbered in the order first seen, so that a
/// million jobs carry small numbers instead of strings.
#[derive(Debug, Default)]
pub struct Interner {
    ids: FastMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    /// The number of `s`, given one if new.
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.ids.insert(s.to_string(), i);
        self.names.push(s.to_string());
        i
    }

    /// The number of `s`, if it has one.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string numbered `i`.
    ///
    /// # Panics
    /// If `i` was never given out.
    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    /// Every name, in the order of their numbers.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many strings are numbered.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no string is numbered yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_told_apart() {
        let mut m: FastMap<String, u32> = FastMap::default();
        for i in 0..10_000u32 {
            m.insert(format!("c{i:04}"), i);
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m["c0042"], 42);
        let s: FastSet<(u32, u64)> = [(1, 2), (2, 1), (1, 2)].into_iter().collect();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn ids_that_differ_in_their_last_digits_spread_over_buckets() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<FastHasher>::default();
        let mut low: HashSet<u64> = HashSet::new();
        for i in 1_000_000..1_004_096u32 {
            low.insert(build.hash_one(i.to_string()) & 0xfff);
        }
        // 4096 keys into 4096 buckets: a good hash fills about 63 % of them.
        assert!(low.len() > 2000, "{}", low.len());
    }
}
