//! Slurm hostlists and count lists, and node names in spool paths:
//! `ea_record::hostlist::{expand, expand_numbers, expand_counts, count_at}`, the store's
//! single-range fast path `ea_record::hostlist::for_each_node`, and
//! `ea_record::spool::{escape_name, unescape_name, file_name, parse_file_name}`.
//!
//! Asserts:
//! - `expand` gives at most `MAX_HOSTS` names, none empty or with a space or comma;
//!   `expand_counts` at most `MAX_HOSTS` counts, and `count_at` agrees with it at every index;
//! - `for_each_node` visits exactly the names `expand` gives (none for a list it refuses), as
//!   the store's unit tests require of its fast path;
//! - a name (the input, as a node name) escapes to one safe path component that unescapes back
//!   to it, and a spool file name made from it reads back as the same job, node and suffix.
#![no_main]

use ea_record::hostlist::{MAX_HOSTS, count_at, expand, expand_counts, expand_numbers};
use ea_record::spool::{escape_name, file_name, parse_file_name, unescape_name};
use libfuzzer_sys::fuzz_target;

fn hostlists(s: &str) {
    let expanded = expand(s);
    if let Ok(hosts) = &expanded {
        assert!(hosts.len() <= MAX_HOSTS, "{} hosts from `{s}`", hosts.len());
        for h in hosts {
            assert!(!h.is_empty(), "an empty host name from `{s}`");
            assert!(
                !h.contains(char::is_whitespace) && !h.contains(['[', ']']),
                "host `{h}` from `{s}`"
            );
        }
    }
    // The store's reader trims the list first; so does its unit test's reference.
    let reference = expand(s.trim()).unwrap_or_default();
    let mut visited = Vec::new();
    ea_record::hostlist::for_each_node(s, |n| visited.push(n.to_string()));
    assert_eq!(
        visited, reference,
        "for_each_node and expand disagree on `{s}`"
    );

    let _ = expand_numbers(s);
    if let Ok(counts) = expand_counts(s) {
        assert!(
            counts.len() <= MAX_HOSTS,
            "{} counts from `{s}`",
            counts.len()
        );
        // The first indices, the last, and past the end (each call expands the list again).
        let n = counts.len();
        for i in (0..n.min(8)).chain([n.saturating_sub(1), n, n + 1]) {
            assert_eq!(
                count_at(s, i).ok(),
                Some(counts.get(i).copied()),
                "`{s}` at {i}"
            );
        }
    } else {
        assert!(
            count_at(s, 0).is_err(),
            "count_at reads `{s}`, expand_counts does not"
        );
    }
}

fn spool_names(s: &str) {
    let escaped = escape_name(s);
    assert!(
        !escaped.is_empty()
            && escaped != "."
            && escaped != ".."
            && !escaped.contains(['/', '\0', '.']),
        "`{s}` escapes to `{escaped}`"
    );
    assert_eq!(unescape_name(&escaped).as_deref(), Some(s), "`{escaped}`");
    for (job, suffix) in [(0, "json"), (u32::MAX, "start.json")] {
        let name = file_name(job, s, suffix);
        assert_eq!(
            parse_file_name(&name),
            Some((job, s.to_string(), suffix)),
            "`{name}`"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    hostlists(s);
    spool_names(s);
});
