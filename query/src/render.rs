//! Writing `acct` rows the ways sacct does: a fixed-width table (values longer than their
//! column end in `+`) and parsable lines (`-P`, `-p` with a closing delimiter, any
//! `--delimiter`). Rendering knows only columns and typed values, not where they came from, and its
//! output depends on nothing but them, so scripts can rely on it byte for byte.

use crate::columns::{CellFormat, Selected, Value, display};
use std::io::{self, Write};

/// One output row (a job or a step): its cells in column order.
pub struct OutRow {
    /// The line's values, one per selected column.
    pub cells: Vec<Value>,
}

/// How to write rows.
#[derive(Debug, Clone)]
pub enum Style {
    /// sacct's fixed-width table.
    Table {
        /// Whether the header and its rule are printed.
        header: bool,
    },
    /// `-p`/`-P`: one delimited line per row.
    Parsable {
        /// The separator.
        delimiter: String,
        /// Whether each line ends with a separator (`-p`).
        trailing: bool,
        /// Whether the header line is printed.
        header: bool,
    },
}

/// Writes rows in a style: the table for people (figures in the unit that fits, energies in
/// `energy` units), parsable lines for scripts (plain numbers in base units). `--json` is
/// sacct's document, written by `acct::sacct_json`.
///
/// # Errors
/// Write errors (a closed pipe included; callers treat that as success).
pub fn write(
    out: &mut dyn Write,
    sel: &[Selected],
    rows: &[OutRow],
    style: &Style,
    cells: &CellFormat<'_>,
) -> io::Result<()> {
    match style {
        Style::Table { header } => table(out, sel, rows, *header, cells),
        Style::Parsable {
            delimiter,
            trailing,
            header,
        } => {
            let cells = CellFormat {
                plain: true,
                ..*cells
            };
            parsable(out, sel, rows, delimiter, *trailing, *header, &cells)
        }
    }
}

fn fit(text: &str, width: usize, left: bool) -> String {
    let n = text.chars().count();
    let body: String = if n > width {
        let mut t: String = text.chars().take(width.saturating_sub(1)).collect();
        t.push('+');
        t
    } else {
        text.to_string()
    };
    let pad = width.saturating_sub(body.chars().count());
    if left {
        format!("{body}{}", " ".repeat(pad))
    } else {
        format!("{}{body}", " ".repeat(pad))
    }
}

fn table(
    out: &mut dyn Write,
    sel: &[Selected],
    rows: &[OutRow],
    header: bool,
    cells: &CellFormat<'_>,
) -> io::Result<()> {
    let mut line = String::new();
    if header {
        for s in sel {
            line.push_str(&fit(s.column.name, s.width, s.left));
            line.push(' ');
        }
        line.push('\n');
        for s in sel {
            line.push_str(&"-".repeat(s.width));
            line.push(' ');
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    for r in rows {
        line.clear();
        for (s, v) in sel.iter().zip(&r.cells) {
            line.push_str(&fit(&display(v, cells), s.width, s.left));
            line.push(' ');
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn parsable(
    out: &mut dyn Write,
    sel: &[Selected],
    rows: &[OutRow],
    delimiter: &str,
    trailing: bool,
    header: bool,
    cells: &CellFormat<'_>,
) -> io::Result<()> {
    let end = if trailing { delimiter } else { "" };
    if header {
        let names: Vec<&str> = sel.iter().map(|s| s.column.name).collect();
        writeln!(out, "{}{end}", names.join(delimiter))?;
    }
    let mut line = String::new();
    for r in rows {
        line.clear();
        for (i, v) in r.cells.iter().enumerate() {
            if i > 0 {
                line.push_str(delimiter);
            }
            line.push_str(&display(v, cells));
        }
        line.push_str(end);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::parse_format;
    use ea_sacct::timefmt::Clock;
    use jiff::tz::TimeZone;

    fn people(clock: &Clock) -> CellFormat<'_> {
        CellFormat {
            clock,
            energy: ea_units::EnergyUnits::Joules,
            plain: false,
        }
    }

    #[test]
    fn table_truncates_with_plus_and_justifies() {
        let sel = parse_format("JobID,JobName%6,Account%-6").unwrap();
        let rows = vec![OutRow {
            cells: vec![
                Value::Text("42".into()),
                Value::Text("verylongname".into()),
                Value::Text("ab".into()),
            ],
        }];
        let mut out = Vec::new();
        write(
            &mut out,
            &sel,
            &rows,
            &Style::Table { header: true },
            &people(&Clock::fixed(TimeZone::UTC, 0)),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "JobID        JobNa+ Accou+ \n------------ ------ ------ \n42           veryl+ ab     \n"
        );
    }

    #[test]
    fn parsable_lines_hold_plain_numbers() {
        let sel = parse_format("JobID,Elapsed,Energy").unwrap();
        let rows = vec![
            OutRow {
                cells: vec![
                    Value::Text("7".into()),
                    Value::Duration(65),
                    Value::Energy(1500.0),
                ],
            },
            OutRow {
                cells: vec![
                    Value::Text("7.batch".into()),
                    Value::Duration(64),
                    Value::Null,
                ],
            },
        ];
        let c = Clock::fixed(TimeZone::UTC, 0);
        let mut out = Vec::new();
        let style = Style::Parsable {
            delimiter: "|".into(),
            trailing: true,
            header: false,
        };
        write(&mut out, &sel, &rows, &style, &people(&c)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "7|00:01:05|1500|\n7.batch|00:01:04||\n"
        );
    }
}
