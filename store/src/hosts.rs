//! Node lists of a month of jobs, walked without building a list per job: nine jobs in ten of
//! a large centre run on one node, whose list is its name, and most of the others on one range
//! (`c[0001-0512]`), whose names are written one by one into one buffer.

use ea_record::hostlist;
use std::fmt::Write as _;

/// Calls `f` with each node of a Slurm node list (`n1`, `n[01-04]`, `a[1-2],b3`), in order.
/// A list that does not read as a hostlist gives no node.
pub fn for_each_node(list: &str, mut f: impl FnMut(&str)) {
    let list = list.trim();
    if list.is_empty() {
        return;
    }
    // One name: what `hostlist::expand` would give for it (a stray `]` or a blank inside is
    // no name; found by fuzzing).
    if !list.contains(['[', ']', ',']) && !list.contains(char::is_whitespace) {
        f(list);
        return;
    }
    if let Some(set) = OneSet::read(list) {
        set.for_each(f);
        return;
    }
    for n in hostlist::expand(list).unwrap_or_default() {
        f(&n);
    }
}

/// A list of the form `prefix[set]suffix` whose set is numbers and ranges
/// (`c[0001-0004,0010]`), read as [`hostlist::expand`] reads it: a range's names are as wide as
/// its lower bound when that has a leading zero, a single number's as wide as it is written.
struct OneSet<'a> {
    prefix: &'a str,
    suffix: &'a str,
    /// (first, last, width) of each item.
    ranges: Vec<(u64, u64, usize)>,
}

impl<'a> OneSet<'a> {
    /// `None` for any other list, and for anything [`hostlist::expand`] would refuse, which is
    /// then left to it.
    fn read(list: &'a str) -> Option<Self> {
        let open = list.find('[')?;
        let close = open + list[open..].find(']')?;
        let (prefix, set, suffix) = (&list[..open], &list[open + 1..close], &list[close + 1..]);
        let plain = |s: &str| !s.contains(['[', ']', ',']) && !s.contains(char::is_whitespace);
        if !plain(prefix) || !plain(suffix) || set.is_empty() {
            return None;
        }
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let mut ranges = Vec::new();
        let mut count = 0u64;
        for item in set.split(',') {
            let range = match item.split_once('-') {
                None => {
                    let v = number(item)?;
                    (v, v, item.len())
                }
                Some((lo, hi)) => {
                    let (a, b) = (number(lo)?, number(hi)?);
                    let width = if lo.starts_with('0') { lo.len() } else { 1 };
                    if b < a || (b - a) as usize >= hostlist::MAX_HOSTS {
                        return None;
                    }
                    (a, b, width)
                }
            };
            count += range.1 - range.0 + 1;
            ranges.push(range);
        }
        (count as usize <= hostlist::MAX_HOSTS).then_some(Self {
            prefix,
            suffix,
            ranges,
        })
    }

    fn for_each(&self, mut f: impl FnMut(&str)) {
        let mut name = String::with_capacity(self.prefix.len() + self.suffix.len() + 8);
        name.push_str(self.prefix);
        for &(first, last, width) in &self.ranges {
            for v in first..=last {
                name.truncate(self.prefix.len());
                let _ = write!(name, "{v:0width$}");
                name.push_str(self.suffix);
                f(&name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(list: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_node(list, |n| v.push(n.to_string()));
        v
    }

    #[test]
    fn every_list_gives_what_hostlist_expands() {
        let lists = [
            "c0488",
            "g[001-003]",
            "a[1-2],b3",
            "m[099-100,001]",
            " n7 ",
            "bad[",
            "c[0001-0002,5599-5600]",
            "n[1-10]",
            "n[07]",
            "n[7]",
            "n[01-3]",
            "n[1-03]",
            "n[5-3]",
            "n[]",
            "n[1,,2]",
            "n[ 1-2]",
            "n[1-2]x",
            "n[1-2]-ib",
            "n[1-2]y[3-4]",
            "[1-3]",
            "n[a-b]",
            "n[1-2",
            "n]1[",
            "n[99999999999999999999]",
            "n[0-1000000]",
            "n[0-999999]",
            "n[1-2],",
            "n[1-2]]",
            // From fuzzing: a stray `]`, a blank inside a name.
            "n\u{8}\0\09-2]-i\t",
            "n9-2]",
            "n 7",
        ];
        for list in lists {
            let theirs = hostlist::expand(list.trim()).unwrap_or_default();
            assert_eq!(ours(list), theirs, "{list}");
        }
        let mut none = 0;
        for_each_node("", |_| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn generated_ranges_give_what_hostlist_expands() {
        let mut rng = crate::synth::Rng::new(7);
        for _ in 0..2000 {
            let items: Vec<String> = (0..1 + rng.below(3))
                .map(|_| {
                    let width = rng.below(5) as usize;
                    let a = rng.below(200);
                    let b = a + rng.below(30);
                    match rng.below(3) {
                        0 => format!("{a:0width$}"),
                        1 => format!("{a:0width$}-{b}"),
                        _ => format!("{a}-{b:0width$}"),
                    }
                })
                .collect();
            let list = format!("x{}[{}]", rng.below(9), items.join(","));
            assert_eq!(
                ours(&list),
                hostlist::expand(&list).unwrap_or_default(),
                "{list}"
            );
        }
    }
}
