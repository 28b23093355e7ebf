//! Node lists of a month of jobs, walked without building a list per job: nine jobs in ten of
//! a large centre run on one node, whose list is its name.

use ea_record::hostlist;

/// Calls `f` with each node of a Slurm node list (`n1`, `n[01-04]`, `a[1-2],b3`), in order.
/// A list that does not read as a hostlist gives no node.
pub fn for_each_node(list: &str, mut f: impl FnMut(&str)) {
    let list = list.trim();
    if list.is_empty() {
        return;
    }
    if !list.contains(['[', ',']) {
        f(list);
        return;
    }
    for n in hostlist::expand(list).unwrap_or_default() {
        f(&n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_and_ranges_give_what_hostlist_expands() {
        for list in ["c0488", "g[001-003]", "a[1-2],b3", "m[099-100,001]", " n7 ", "bad["] {
            let mut ours = Vec::new();
            for_each_node(list, |n| ours.push(n.to_string()));
            let theirs = hostlist::expand(list.trim()).unwrap_or_default();
            assert_eq!(ours, theirs, "{list}");
        }
        let mut none = 0;
        for_each_node("", |_| none += 1);
        assert_eq!(none, 0);
    }
}
