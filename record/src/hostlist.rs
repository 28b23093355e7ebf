//! Slurm hostlist expressions and count lists.
//!
//! A hostlist is a comma-separated list of host expressions; an expression is literal text
//! with bracketed range sets, each set a comma-separated list of numbers or `lo-hi` ranges:
//! `n[1-3]`, `gpu[001-040,044]`, `rack[1-2]-node[01-02]`. A range keeps the zero padding of
//! its lower bound, as Slurm does (`[001-010]` gives `001` ... `010`). Several bracket sets in
//! one expression give every combination, leftmost varying slowest.
//!
//! A count list is how Slurm compresses per-node numbers, as in `SLURM_JOB_CPUS_PER_NODE`:
//! `2(x3),1` means 2, 2, 2, 1.

use std::fmt;
use std::fmt::Write as _;

/// The most hosts one expression may expand to; a guard against a typo such as
/// `n[1-100000000]` exhausting memory.
pub const MAX_HOSTS: usize = 1_000_000;

/// Why a hostlist or count list could not be read. `offset` is the byte offset in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostlistError {
    /// The whole list as given.
    pub input: String,
    /// Where in it the problem is.
    pub offset: usize,
    /// What is wrong there.
    pub problem: String,
}

impl fmt::Display for HostlistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad hostlist `{}` at character {}: {}",
            self.input,
            self.offset + 1,
            self.problem
        )
    }
}

impl std::error::Error for HostlistError {}

/// One piece of a host expression: literal text, or a set of numbers written with a width.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    /// (value, zero-padded width) pairs in the order written.
    Numbers(Vec<(u64, usize)>),
}

/// Expands a hostlist into host names, in the order written; duplicates are kept.
///
/// # Errors
/// Unbalanced or nested brackets, an empty range set, a range whose end is below its start,
/// a non-numeric bound, an empty host name, or more than [`MAX_HOSTS`] names.
pub fn expand(input: &str) -> Result<Vec<String>, HostlistError> {
    let err = |offset: usize, problem: &str| HostlistError {
        input: input.to_string(),
        offset,
        problem: problem.to_string(),
    };
    let mut hosts = Vec::new();
    for (start, expr) in split_top_level(input).map_err(|o| err(o, "unbalanced `[` or `]`"))? {
        let expr_trimmed = expr.trim();
        if expr_trimmed.is_empty() {
            return Err(err(
                start,
                "empty host name (two commas in a row, or a trailing comma?)",
            ));
        }
        let pieces = parse_expression(expr, start).map_err(|(o, p)| err(o, &p))?;
        let count = pieces.iter().try_fold(1usize, |acc, p| match p {
            Piece::Text(_) => Some(acc),
            Piece::Numbers(n) => acc.checked_mul(n.len()),
        });
        match count {
            Some(n) if hosts.len() + n <= MAX_HOSTS => {}
            _ => {
                return Err(err(
                    start,
                    &format!("expands to more than {MAX_HOSTS} hosts"),
                ));
            }
        }
        let mut names = vec![String::new()];
        for piece in &pieces {
            names = match piece {
                Piece::Text(t) => names.into_iter().map(|n| n + t).collect(),
                Piece::Numbers(nums) => names
                    .iter()
                    .flat_map(|n| nums.iter().map(move |(v, w)| format!("{n}{v:0w$}", w = *w)))
                    .collect(),
            };
        }
        hosts.extend(names);
    }
    Ok(hosts)
}

/// Splits at commas that are outside brackets, returning each part with its byte offset.
/// `Err(offset)` on an unbalanced or nested bracket.
fn split_top_level(input: &str) -> Result<Vec<(usize, &str)>, usize> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in input.char_indices() {
        match c {
            '[' if depth == 0 => depth = 1,
            '[' => return Err(i),
            ']' if depth == 1 => depth = 0,
            ']' => return Err(i),
            ',' if depth == 0 => {
                parts.push((start, &input[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(input.len());
    }
    parts.push((start, &input[start..]));
    Ok(parts)
}

fn parse_expression(expr: &str, base: usize) -> Result<Vec<Piece>, (usize, String)> {
    let mut pieces = Vec::new();
    let mut rest = expr;
    let mut offset = base;
    while !rest.is_empty() {
        match rest.find('[') {
            None => {
                pieces.push(Piece::Text(rest.to_string()));
                break;
            }
            Some(open) => {
                if open > 0 {
                    pieces.push(Piece::Text(rest[..open].to_string()));
                }
                let close = rest[open..]
                    .find(']')
                    .map(|c| open + c)
                    .ok_or((offset + open, "unbalanced `[`".to_string()))?;
                let set = &rest[open + 1..close];
                pieces.push(Piece::Numbers(parse_range_set(set, offset + open + 1)?));
                offset += close + 1;
                rest = &rest[close + 1..];
            }
        }
    }
    if pieces
        .iter()
        .any(|p| matches!(p, Piece::Text(t) if t.chars().any(char::is_whitespace)))
    {
        return Err((base, "host names cannot contain spaces".to_string()));
    }
    Ok(pieces)
}

fn parse_range_set(set: &str, base: usize) -> Result<Vec<(u64, usize)>, (usize, String)> {
    if set.trim().is_empty() {
        return Err((base, "empty `[]`".to_string()));
    }
    let mut out = Vec::new();
    let mut offset = base;
    for item in set.split(',') {
        let parse = |s: &str, at: usize| -> Result<(u64, usize), (usize, String)> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err((at, format!("`{s}` is not a number")));
            }
            let v = s
                .parse::<u64>()
                .map_err(|_| (at, format!("`{s}` is too large")))?;
            Ok((v, s.len()))
        };
        match item.split_once('-') {
            None => out.push(parse(item, offset)?),
            Some((lo, hi)) => {
                let (lo_v, width) = parse(lo, offset)?;
                let (hi_v, _) = parse(hi, offset + lo.len() + 1)?;
                if hi_v < lo_v {
                    return Err((offset, format!("range `{item}` ends below its start")));
                }
                if (hi_v - lo_v) as usize >= MAX_HOSTS {
                    return Err((
                        offset,
                        format!("range `{item}` has more than {MAX_HOSTS} hosts"),
                    ));
                }
                // A range like `1-10` has no padding: its width is that of the lower bound
                // only when the lower bound has a leading zero.
                let width = if lo.trim().starts_with('0') { width } else { 1 };
                out.extend((lo_v..=hi_v).map(|v| (v, width)));
            }
        }
        offset += item.len() + 1;
    }
    // A single bound with a leading zero (`[07]`) keeps its width; one without needs none.
    Ok(out)
}

/// Expands a bare range list such as a core list `0-3,8` into its numbers.
///
/// # Errors
/// As for a bracketed set in [`expand`].
pub fn expand_numbers(list: &str) -> Result<Vec<u64>, HostlistError> {
    parse_range_set(list, 0)
        .map(|v| v.into_iter().map(|(n, _)| n).collect())
        .map_err(|(offset, problem)| HostlistError {
            input: list.to_string(),
            offset,
            problem,
        })
}

/// Expands a Slurm count list such as `2(x3),1` into one number per node.
///
/// # Errors
/// An entry that is not `N` or `N(xK)`.
pub fn expand_counts(input: &str) -> Result<Vec<u32>, HostlistError> {
    let err = |offset: usize, problem: String| HostlistError {
        input: input.to_string(),
        offset,
        problem,
    };
    let mut out = Vec::new();
    let mut offset = 0usize;
    for item in input.split(',') {
        let trimmed = item.trim();
        let (value, repeat) = match trimmed.split_once("(x") {
            Some((v, r)) => {
                let r = r
                    .strip_suffix(')')
                    .ok_or_else(|| err(offset, format!("`{trimmed}` lacks a closing `)`")))?;
                (v, r)
            }
            None => (trimmed, "1"),
        };
        let value: u32 = value
            .parse()
            .map_err(|_| err(offset, format!("`{value}` is not a count")))?;
        let repeat: usize = repeat
            .parse()
            .map_err(|_| err(offset, format!("`{repeat}` is not a repeat count")))?;
        if out.len() + repeat > MAX_HOSTS {
            return Err(err(offset, format!("more than {MAX_HOSTS} entries")));
        }
        out.extend(std::iter::repeat_n(value, repeat));
        offset += item.len() + 1;
    }
    Ok(out)
}

/// The number at `index` of a count list, e.g. this node's CPUs from `SLURM_JOB_CPUS_PER_NODE`
/// and its position in `SLURM_NODELIST`.
pub fn count_at(counts: &str, index: usize) -> Result<Option<u32>, HostlistError> {
    Ok(expand_counts(counts)?.get(index).copied())
}

/// Calls `f` with each node of a Slurm node list, as [`expand`] gives them, without a `Vec`
/// or a `String` per node: what the post-processor walks a month of jobs' node lists with.
/// Nine jobs in ten of a large centre run on one node, whose list is its name, and most of the
/// others on one range (`c[0001-0512]`), whose names are written one by one into one buffer;
/// any other list goes through [`expand`]. A list that does not read as a hostlist gives no
/// node.
pub fn for_each_node(list: &str, mut f: impl FnMut(&str)) {
    let list = list.trim();
    if list.is_empty() {
        return;
    }
    // One name: what `expand` would give for it (a stray `]` or a blank inside is
    // no name; found by fuzzing).
    if !list.contains(['[', ']', ',']) && !list.contains(char::is_whitespace) {
        f(list);
        return;
    }
    if let Some(set) = OneSet::read(list) {
        set.for_each(f);
        return;
    }
    for n in expand(list).unwrap_or_default() {
        f(&n);
    }
}

/// A list of the form `prefix[set]suffix` whose set is numbers and ranges
/// (`c[0001-0004,0010]`), read as [`expand`] reads it: a range's names are as wide as
/// its lower bound when that has a leading zero, a single number's as wide as it is written.
struct OneSet<'a> {
    prefix: &'a str,
    suffix: &'a str,
    /// (first, last, width) of each item.
    ranges: Vec<(u64, u64, usize)>,
}

impl<'a> OneSet<'a> {
    /// `None` for any other list, and for anything [`expand`] would refuse, which is
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
                    if b < a || (b - a) as usize >= MAX_HOSTS {
                        return None;
                    }
                    (a, b, width)
                }
            };
            count += range.1 - range.0 + 1;
            ranges.push(range);
        }
        (count as usize <= MAX_HOSTS).then_some(Self {
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

    fn ex(s: &str) -> Vec<String> {
        expand(s).unwrap()
    }

    #[test]
    fn plain_and_ranges() {
        assert_eq!(ex("n1"), ["n1"]);
        assert_eq!(ex("n[1-3]"), ["n1", "n2", "n3"]);
        assert_eq!(ex("n[1-3],m5"), ["n1", "n2", "n3", "m5"]);
        assert_eq!(
            ex("gpu[001-003,044]"),
            ["gpu001", "gpu002", "gpu003", "gpu044"]
        );
        assert_eq!(ex("n[8-11]"), ["n8", "n9", "n10", "n11"]);
        assert_eq!(
            ex("cn[0998-1001]"),
            ["cn0998", "cn0999", "cn1000", "cn1001"]
        );
    }

    #[test]
    fn several_bracket_sets_and_suffixes() {
        assert_eq!(ex("r[1-2]n[1-2]"), ["r1n1", "r1n2", "r2n1", "r2n2"]);
        assert_eq!(ex("n[1-2]-ib"), ["n1-ib", "n2-ib"]);
    }

    #[test]
    fn large_expansion_is_counted_not_materialised_first() {
        assert_eq!(expand("cn[0001-1200]").unwrap().len(), 1200);
        let e = expand("n[1-2000000]").unwrap_err();
        assert!(e.problem.contains("more than"), "{e}");
    }

    #[test]
    fn errors_name_the_place() {
        let e = expand("n[1-3").unwrap_err();
        assert!(e.to_string().contains("unbalanced"), "{e}");
        let e = expand("n[3-1]").unwrap_err();
        assert!(e.problem.contains("ends below"), "{e}");
        let e = expand("n[a-b]").unwrap_err();
        assert!(e.problem.contains("not a number"), "{e}");
        let e = expand("n1,,n2").unwrap_err();
        assert!(e.problem.contains("empty host"), "{e}");
        assert!(expand("n[]").is_err());
        assert!(expand("n[[1]]").is_err());
        assert!(expand("n1 n2").is_err());
    }

    #[test]
    fn number_lists() {
        assert_eq!(expand_numbers("0-3,8").unwrap(), [0, 1, 2, 3, 8]);
        assert_eq!(expand_numbers("5").unwrap(), [5]);
        assert!(expand_numbers("").is_err());
        assert!(expand_numbers("3-1").is_err());
    }

    #[test]
    fn count_lists() {
        assert_eq!(expand_counts("2(x3),1").unwrap(), [2, 2, 2, 1]);
        assert_eq!(expand_counts("1(x2)").unwrap(), [1, 1]);
        assert_eq!(expand_counts("64").unwrap(), [64]);
        assert_eq!(count_at("2(x3),1", 3).unwrap(), Some(1));
        assert_eq!(count_at("2(x3),1", 4).unwrap(), None);
        assert!(expand_counts("2(x3").is_err());
        assert!(expand_counts("two").is_err());
    }

    /// The generator the tests draw lists from (splitmix64).
    struct SplitMix(u64);

    impl SplitMix {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % n.max(1)
        }
    }

    fn for_each(list: &str) -> Vec<String> {
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
            let theirs = expand(list.trim()).unwrap_or_default();
            assert_eq!(for_each(list), theirs, "{list}");
        }
        let mut none = 0;
        for_each_node("", |_| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn generated_ranges_give_what_hostlist_expands() {
        let mut rng = SplitMix(7 ^ 0x9E37_79B9_7F4A_7C15);
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
            assert_eq!(for_each(&list), expand(&list).unwrap_or_default(), "{list}");
        }
    }
}
