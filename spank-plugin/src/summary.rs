//! The summary file a user asks for with `--energy-assess=summary`: `energy-assess-<jobid>.txt`
//! in the job's working directory, written by the first node of the job at its epilog, as the
//! job's user. Its text is `energy-assess job`'s ([`ea_record::summary`]), without the
//! footprint: the nodes have no inventory, so the file says how to get it.
//!
//! Each node only knows its own record at epilog time, unless the spool is shared, in which
//! case the records of the nodes that finished first are there too. The file says how many
//! of the job's nodes it covers.

use ea_record::JobNodeRecord;
use ea_record::summary::{JobSummary, write_text};

/// The file name in the job's working directory.
pub fn file_name(job_id: u32) -> String {
    format!("energy-assess-{job_id}.txt")
}

/// Renders the summary from the records at hand (this node's first).
pub fn render(records: &[JobNodeRecord]) -> String {
    let Some(first) = records.first() else {
        return String::new();
    };
    let summary = JobSummary::from_records(first.job_id, records, &[], Vec::new());
    let mut text = write_text(&summary, ea_units::EnergyUnits::default());
    text.push('\n');
    if !summary.is_complete() {
        text.push_str(&format!(
            "This file covers {} of the job's {} node(s), those finished when it was written.\n",
            summary.nodes.len(),
            summary.nodes_expected()
        ));
    }
    text.push_str(&format!(
        "For every node, and the job's environmental impact (GWP, PE, ADPe, use phase and \
         embodied), run: energy-assess job {}\n",
        summary.job
    ));
    text
}
