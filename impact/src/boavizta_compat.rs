//! Two small pieces of boaviztapi's arithmetic that its results depend on, reproduced so that
//! our central values match it to the last digit that matters:
//!
//! - [`round_to_sigfig`]: boaviztapi rounds completed CPU die sizes to 3 significant figures
//!   (`utils/roundit.py::to_precision`), so a die of 1393.125 mm² becomes 1390 mm²;
//! - [`token_set_ratio`] and [`NameMatcher`]: boaviztapi finds a CPU or GPU by name with
//!   rapidfuzz's `fuzz.token_set_ratio` on lower-cased names, keeping the first row with the
//!   best score if that score is above 80 (`utils/fuzzymatch.py`, threshold in
//!   `utils/config.py`). Which row matches decides the die size, so the match must be the same.
//!
//! Both are written from the published behaviour of those functions (and checked against
//! rapidfuzz's own scores in `tests/boavizta/vectors.json`), not copied.

/// Rounds `x` to `digits` significant figures, halves away from zero, as boaviztapi does.
pub(crate) fn round_to_sigfig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let sign = x.signum();
    let x = x.abs();
    let pow10 = |k: i32| 10f64.powf(f64::from(k));
    // Truncation toward zero, like Python's int(math.log10(x)).
    let mut exponent = x.log10() as i32;
    let mut tens = pow10(exponent - digits + 1);
    let mut mantissa = (x / tens).floor();
    if mantissa < pow10(digits - 1) {
        exponent -= 1;
        tens = pow10(exponent - digits + 1);
        mantissa = (x / tens).floor();
    }
    if ((mantissa + 1.0) * tens - x).abs() <= (mantissa * tens - x).abs() {
        mantissa += 1.0;
    }
    if mantissa >= pow10(digits) {
        mantissa /= 10.0;
        exponent += 1;
    }
    // boaviztapi builds the decimal text and parses it: do the same so that the nearest double
    // to the decimal value comes out, not mantissa * tens with its own rounding error.
    let text = format!("{}e{}", mantissa as i64, exponent - digits + 1);
    sign * text
        .parse::<f64>()
        .expect("a formatted integer with an exponent always parses")
}

/// The lower-cased, whitespace-split, sorted, de-duplicated words of a name.
pub(crate) fn words(name: &str) -> Vec<String> {
    let mut w: Vec<String> = name
        .to_lowercase()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    w.sort();
    w.dedup();
    w
}

/// rapidfuzz's `token_set_ratio` on two word sets made by [`words`], from 0 to 100.
///
/// 100 when one set contains the other (and they share a word); otherwise the best Indel
/// similarity among (the words only in a) vs (only in b), and the shared words with and without
/// each side's own words.
pub(crate) fn token_set_ratio(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut shared, mut only_a, mut only_b) = (Vec::new(), Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                shared.push(x.as_str());
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                only_a.push(x.as_str());
                i += 1;
            }
            (Some(_), Some(y)) => {
                only_b.push(y.as_str());
                j += 1;
            }
            (Some(x), None) => {
                only_a.push(x.as_str());
                i += 1;
            }
            (None, Some(y)) => {
                only_b.push(y.as_str());
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    if !shared.is_empty() && (only_a.is_empty() || only_b.is_empty()) {
        return 100.0;
    }
    let joined_a = only_a.join(" ");
    let joined_b = only_b.join(" ");
    let len_a = joined_a.chars().count();
    let len_b = joined_b.chars().count();
    let shared_len = if shared.is_empty() {
        0
    } else {
        shared.iter().map(|w| w.chars().count()).sum::<usize>() + shared.len() - 1
    };
    let sep = usize::from(shared_len != 0);
    let shared_a_len = shared_len + sep + len_a;
    let shared_b_len = shared_len + sep + len_b;

    let score = |distance: usize, total: usize| -> f64 {
        if total == 0 {
            100.0
        } else {
            100.0 - 100.0 * distance as f64 / total as f64
        }
    };
    let result = score(
        indel_distance(&joined_a, &joined_b),
        shared_a_len + shared_b_len,
    );
    if shared_len == 0 {
        return result;
    }
    let with_a = score(sep + len_a, shared_len + shared_a_len);
    let with_b = score(sep + len_b, shared_len + shared_b_len);
    result.max(with_a).max(with_b)
}

/// Insertions plus deletions that turn `a` into `b` (Levenshtein with substitution cost 2),
/// counted in characters.
fn indel_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Longest common subsequence, one row at a time.
    let mut row = vec![0usize; b.len() + 1];
    for &ca in &a {
        let mut diagonal = 0;
        for (k, &cb) in b.iter().enumerate() {
            let above = row[k + 1];
            row[k + 1] = if ca == cb {
                diagonal + 1
            } else {
                above.max(row[k])
            };
            diagonal = above;
        }
    }
    a.len() + b.len() - 2 * row[b.len()]
}

/// A table column of names prepared for repeated fuzzy look-ups.
#[derive(Debug)]
pub(crate) struct NameMatcher {
    rows: Vec<Vec<String>>,
}

impl NameMatcher {
    pub(crate) fn new<'a>(names: impl Iterator<Item = &'a str>) -> Self {
        Self {
            rows: names.map(words).collect(),
        }
    }

    /// The first row with the best score, if that score is above `threshold` (boaviztapi: 80).
    pub(crate) fn best(&self, query: &str, threshold: f64) -> Option<(usize, f64)> {
        let q = words(query);
        let mut best: Option<(usize, f64)> = None;
        for (index, row) in self.rows.iter().enumerate() {
            let s = token_set_ratio(row, &q);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((index, s));
                if s >= 100.0 {
                    break; // nothing later can beat it, and the first best row wins
                }
            }
        }
        best.filter(|&(_, s)| s > threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigfig_rounding_matches_boaviztapi_examples() {
        // Values observed in boaviztapi 2.5.0 runs (methodology §2.2 and vectors.json).
        assert_eq!(round_to_sigfig(1393.125, 3), 1390.0);
        assert_eq!(round_to_sigfig(834.0108108108109, 3), 834.0);
        assert_eq!(round_to_sigfig(522.951197368421, 3), 523.0);
        assert_eq!(round_to_sigfig(41.2, 3), 41.2);
        assert_eq!(round_to_sigfig(3640.0, 3), 3640.0);
        assert_eq!(round_to_sigfig(0.0012345, 3), 0.00123);
        assert_eq!(round_to_sigfig(1395.0, 3), 1400.0);
        assert_eq!(round_to_sigfig(-2.5, 1), -3.0);
        assert_eq!(round_to_sigfig(0.0, 3), 0.0);
    }

    fn ratio(a: &str, b: &str) -> f64 {
        token_set_ratio(&words(a), &words(b))
    }

    #[test]
    fn token_set_ratio_examples_from_rapidfuzz_docs() {
        assert_eq!(ratio("fuzzy was a bear", "fuzzy fuzzy was a bear"), 100.0);
        assert_eq!(
            ratio("fuzzy was a bear but not a dog", "fuzzy was a bear"),
            100.0
        );
        let r = ratio(
            "fuzzy was a bear but not a dog",
            "fuzzy was a bear but not a cat",
        );
        assert!((r - 92.3076923076923).abs() < 1e-9, "{r}");
        assert_eq!(ratio("", "x"), 0.0);
        assert_eq!(ratio("Intel Xeon", "intel xeon gold 6130"), 100.0);
    }

    #[test]
    fn indel_distance_counts_insertions_and_deletions() {
        assert_eq!(indel_distance("lewenstein", "levenshtein"), 3);
        assert_eq!(indel_distance("", "abc"), 3);
        assert_eq!(indel_distance("abc", "abc"), 0);
    }

    #[test]
    fn matcher_keeps_the_first_best_row_above_the_threshold() {
        let m = NameMatcher::new(
            ["AMD EPYC 7232P", "AMD EPYC 7543", "Intel Xeon Gold 6130"].into_iter(),
        );
        assert_eq!(m.best("AMD EPYC", 80.0).map(|b| b.0), Some(0));
        assert_eq!(m.best("amd epyc 7543", 80.0).map(|b| b.0), Some(1));
        assert_eq!(m.best("Mystery Processor", 80.0), None);
    }

    #[test]
    fn scores_equal_rapidfuzz_on_the_committed_vectors() {
        // tests/boavizta/vectors.json holds rapidfuzz's own scores for ~1500 pairs of names.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/boavizta/vectors.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let pairs = v["fuzzy_scores"].as_array().unwrap();
        assert!(pairs.len() > 1000);
        for p in pairs {
            let (a, b, expected) = (
                p[0].as_str().unwrap(),
                p[1].as_str().unwrap(),
                p[2].as_f64().unwrap(),
            );
            let got = ratio(a, b);
            assert!(
                (got - expected).abs() < 1e-9,
                "token_set_ratio({a:?}, {b:?}) = {got}, rapidfuzz {expected}"
            );
        }
    }
}
