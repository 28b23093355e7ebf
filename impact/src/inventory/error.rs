//! Inventory errors: each names the file, the line, the key, what is wrong and how to fix it.

use std::fmt;
use std::path::PathBuf;

/// One problem in an inventory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    /// The inventory file.
    pub path: PathBuf,
    /// 1-based line of the offending value; `None` when the file could not be read at all.
    pub line: Option<usize>,
    /// Where in the file, as a path of keys: `group "gemini".cpu.sockets`.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
    /// What to write instead.
    pub fix: String,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.problem)?;
        if !self.fix.is_empty() {
            write!(f, " (fix: {})", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for InventoryError {}

/// Every problem found in one pass, so that a site fixes its file in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryErrors(pub Vec<InventoryError>);

impl fmt::Display for InventoryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InventoryErrors {}
