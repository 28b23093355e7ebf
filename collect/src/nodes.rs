//! What the collector knows of each node: when its last record arrived. Kept in
//! `nodes.json` in the state directory, so that `energy-assess collect --status` can list the
//! nodes whose records are late without asking the running service, and the knowledge
//! survives a restart.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file in the state directory.
pub const FILE: &str = "nodes.json";

/// One node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// Unix time the collector last acknowledged a record of it.
    pub last_received_s: i64,
    /// The end time (Unix seconds) of the latest job among its records.
    pub last_job_end_s: Option<f64>,
    /// Records acknowledged since the book was started.
    pub records: u64,
}

/// Every node seen, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeBook {
    /// By node name.
    pub nodes: BTreeMap<String, Seen>,
}

/// A node whose records are late, or never came.
#[derive(Debug, Clone, PartialEq)]
pub struct Late {
    /// The node.
    pub node: String,
    /// Seconds since its last record arrived; `None`: never.
    pub age_s: Option<i64>,
}

impl NodeBook {
    /// The book in `dir`, empty when there is none yet.
    ///
    /// # Errors
    /// A file that exists but cannot be read as a book.
    pub fn load(dir: &Path) -> Result<Self, ea_record::spool::ReadError> {
        let path = dir.join(FILE);
        if !path.exists() {
            return Ok(Self::default());
        }
        ea_record::spool::read_json(&path)
    }

    /// Writes the book atomically into `dir`.
    ///
    /// # Errors
    /// The directory cannot be written.
    pub fn save(&self, dir: &Path) -> Result<(), ea_record::spool::SpoolError> {
        ea_record::spool::write_json_atomic(&dir.join(FILE), self)
    }

    /// Notes a record of `node` acknowledged at `now_s`, of a job that ended at `end_s`.
    pub fn saw(&mut self, node: &str, now_s: i64, end_s: Option<f64>) {
        let seen = self.nodes.entry(node.to_string()).or_default();
        seen.last_received_s = seen.last_received_s.max(now_s);
        seen.last_job_end_s = match (seen.last_job_end_s, end_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        seen.records += 1;
    }

    /// The nodes whose last record arrived more than `after_s` before `now_s`, and those of
    /// `expected` never seen, oldest first.
    pub fn late(&self, now_s: i64, after_s: u64, expected: &[String]) -> Vec<Late> {
        let mut late: Vec<Late> = self
            .nodes
            .iter()
            .map(|(node, seen)| (node, now_s - seen.last_received_s))
            .filter(|(_, age)| *age > after_s as i64)
            .map(|(node, age)| Late {
                node: node.clone(),
                age_s: Some(age),
            })
            .collect();
        late.extend(
            expected
                .iter()
                .filter(|n| !self.nodes.contains_key(*n))
                .map(|n| Late {
                    node: n.clone(),
                    age_s: None,
                }),
        );
        late.sort_by(|a, b| {
            b.age_s
                .unwrap_or(i64::MAX)
                .cmp(&a.age_s.unwrap_or(i64::MAX))
                .then(a.node.cmp(&b.node))
        });
        late
    }
}

/// The state directory: the configured one, else the store's directory.
pub fn state_dir(configured: Option<&Path>, store: &Path) -> PathBuf {
    configured.map(Path::to_path_buf).unwrap_or_else(|| {
        store
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_nodes_are_the_old_and_the_never_seen() {
        let mut b = NodeBook::default();
        b.saw("n1", 1000, Some(990.0));
        b.saw("n2", 5000, None);
        b.saw("n2", 4000, Some(3000.0));
        assert_eq!(b.nodes["n2"].last_received_s, 5000);
        assert_eq!(b.nodes["n2"].records, 2);
        let late = b.late(6000, 3600, &["n1".into(), "n2".into(), "n3".into()]);
        assert_eq!(
            late,
            [
                Late {
                    node: "n3".into(),
                    age_s: None
                },
                Late {
                    node: "n1".into(),
                    age_s: Some(5000)
                }
            ]
        );
    }

    #[test]
    fn the_book_survives_a_save_and_load() {
        let dir = std::env::temp_dir().join(format!("ea-nodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(NodeBook::load(&dir).unwrap(), NodeBook::default());
        let mut b = NodeBook::default();
        b.saw("gpu[1]", 7, Some(6.5));
        b.save(&dir).unwrap();
        assert_eq!(NodeBook::load(&dir).unwrap(), b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
