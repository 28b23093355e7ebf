//! Hash maps keyed by job ids and node names, with a fast hasher: a month's ingest looks up
//! millions of them. SipHash, the standard default, resists adversarial keys, which Slurm ids
//! and node names written by the site's own daemons are not, and costs several times more.
//! The hasher is `rustc-hash`'s FxHash, as in the impact engine's maps (`ea-impact`): one fast
//! hasher in the workspace. It is not stored anywhere (the stored row hash is
//! [`crate::rowhash::Fnv`]), so it may change with the crate's version.

use rustc_hash::FxBuildHasher;
use std::collections::{HashMap, HashSet};

/// A `HashMap` hashed with FxHash: for the integer and short-string keys of a month of jobs.
pub type FastMap<K, V> = HashMap<K, V, FxBuildHasher>;
/// A `HashSet` hashed with FxHash (see [`FastMap`]).
pub type FastSet<K> = HashSet<K, FxBuildHasher>;

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
        let build = FxBuildHasher;
        let mut low: HashSet<u64> = HashSet::new();
        for i in 1_000_000..1_004_096u32 {
            low.insert(build.hash_one(i.to_string()) & 0xfff);
        }
        // 4096 keys into 4096 buckets: a good hash fills about 63 % of them.
        assert!(low.len() > 2000, "{}", low.len());
    }
}
