//! `energy-assess report`: a month's (or any period's) figures per cluster, partition, account
//! and user.

use anyhow::{Context, Result, bail};
use ea_store::report::{self, render::Format};
use ea_store::session::Session;
use ea_store::timefmt::{parse_month, parse_time_arg};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(
    about = "Report a month's jobs per cluster, partition, account and user: energy and impacts",
    long_about = "Report every job of a month (or of --start..--end) per cluster, partition, \
        account and user: jobs, node-hours, GPU-hours, energy (measured and estimated apart), \
        use-phase and embodied GWP, PE and ADPe with ranges, the top jobs, the embodied impact \
        of node-hours no job used, and a reconciliation against node meters where there are \
        any. Formats: a terminal table, CSV, JSON, Markdown, or an HTML page with charts. \
        Users who are not admins get a report of their own jobs.\n\n\
        Examples:\n  \
        energy-assess report --month 2026-11\n  \
        energy-assess report --month 2026-11 --format html --output 2026-11.html\n  \
        energy-assess report --start 2026-11-01 --end 2026-11-08 --format csv"
)]
pub struct Args {
    /// The month, YYYY-MM, in the site's time zone.
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["start", "end"])]
    pub month: Option<String>,
    /// Start of the period (sacct's time syntax).
    #[arg(long, value_name = "TIME", requires = "end")]
    pub start: Option<String>,
    /// End of the period (excluded).
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// table, csv, json, md or html.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Time zone of the month and of times shown [default: the config's site.timezone, else the system's].
    #[arg(long, value_name = "IANA")]
    pub timezone: Option<String>,
    /// The store [default: the config's store.path].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Site configuration [default: /etc/energy-assess/postproc.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Some(format) = Format::parse(&args.format) else {
        bail!(
            "--format {}: choose table, csv, json, md or html",
            args.format
        );
    };
    let session = Session::open(
        args.config.as_deref(),
        args.db.as_deref(),
        args.timezone.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    for w in &session.warnings {
        eprintln!("energy-assess: warning: {w}");
    }
    let clock = &session.clock;
    let (title, start, end) = match (&args.month, &args.start, &args.end) {
        (Some(m), _, _) => {
            let (y, mo) = parse_month(m).map_err(|e| anyhow::anyhow!("--month {e}"))?;
            let (a, b) = clock
                .month_bounds(y, mo)
                .map_err(|e| anyhow::anyhow!("--month {e}"))?;
            (m.clone(), a, b)
        }
        (None, Some(s), Some(e)) => {
            let a = parse_time_arg(s, clock).map_err(|e| anyhow::anyhow!("--start {e}"))?;
            let b = parse_time_arg(e, clock).map_err(|e| anyhow::anyhow!("--end {e}"))?;
            if b <= a {
                bail!("--end is not after --start; give a period that ends after it starts");
            }
            (format!("{} to {}", clock.format(a), clock.format(b)), a, b)
        }
        _ => bail!("say which period: --month YYYY-MM, or --start TIME --end TIME"),
    };
    let r = report::build(
        &session.store.conn,
        &title,
        start,
        end,
        &session.who,
        clock,
        &session.figure_context(),
    )
    .with_context(|| format!("cannot read {}", session.store.path.display()))?;
    let text = report::render::render(&r, format, clock);
    match &args.output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}
