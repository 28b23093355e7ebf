//! `energy-assess report`: a month's (or any period's) figures per cluster, partition, account
//! and user.

use anyhow::{Context, Result, anyhow, bail};
use ea_query::report::render::{Format, Style};
use ea_query::report::{self, Request};
use ea_query::session::Session;
use ea_sacct::timefmt::{Clock, parse_time_arg};
use ea_units::EnergyUnits;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(
    about = "Report a month's jobs per cluster, partition, account and user: energy and impacts",
    long_about = "Report every job of a month (or of --start..--end, or of the months --from..--to) \
        per cluster, partition, account and user: jobs, node-hours, GPU-hours, energy (measured \
        and estimated apart), use-phase and embodied GWP, PE and ADPe with ranges, the change \
        from the previous period, the top jobs, what to know before trusting the figures \
        (estimated jobs, jobs without impacts and why, oversubscribed nodes), the embodied \
        impact of node-hours no job used, and a reconciliation against node meters where \
        there are any. --from..--to adds each month's totals as a trend. Formats: a terminal \
        table, CSV, JSON, Markdown, or an HTML page with charts. Users who are not admins get \
        a report of their own jobs.\n\n\
        Examples:\n  \
        energy-assess report --month 2026-11\n  \
        energy-assess report --month 2026-11 --format html --output 2026-11.html\n  \
        energy-assess report --from 2026-01 --to 2026-11 --format html -o 2026.html\n  \
        energy-assess report --month 2026-11 --units kWh\n  \
        energy-assess report --start 2026-11-01 --end 2026-11-08 --format csv"
)]
pub struct Args {
    /// The month, YYYY-MM, in the site's time zone (compared with the month before).
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["start", "end", "from", "to"])]
    pub month: Option<String>,
    /// Start of the period (sacct's time syntax).
    #[arg(long, value_name = "TIME", requires = "end", conflicts_with_all = ["from", "to"])]
    pub start: Option<String>,
    /// End of the period (excluded).
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// First month of a report over several, YYYY-MM (each month's totals make a trend).
    #[arg(long, value_name = "YYYY-MM", requires = "to")]
    pub from: Option<String>,
    /// Last month of a report over several, YYYY-MM (included).
    #[arg(long, value_name = "YYYY-MM", requires = "from")]
    pub to: Option<String>,
    /// table, csv, json, md or html.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
    /// Energies in table, md and html: J or Wh (the unit that fits), or a fixed unit (kWh...).
    /// CSV and JSON always give joules.
    #[arg(long, value_name = "UNIT", default_value = "J")]
    pub units: String,
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

/// The periods the arguments ask for.
fn request(args: &Args, clock: &Clock) -> Result<Request> {
    match (&args.month, &args.start, &args.end, &args.from, &args.to) {
        (Some(m), ..) => Request::for_month(clock, m).map_err(|e| anyhow!("--month {e}")),
        (None, Some(s), Some(e), ..) => {
            let a = parse_time_arg(s, clock).map_err(|e| anyhow!("--start {e}"))?;
            let b = parse_time_arg(e, clock).map_err(|e| anyhow!("--end {e}"))?;
            if b <= a {
                bail!("--end is not after --start; give a period that ends after it starts");
            }
            Ok(Request::for_span(clock, a, b))
        }
        (.., Some(from), Some(to)) => {
            Request::for_months(clock, from, to).map_err(|e| anyhow!("--from/--to {e}"))
        }
        _ => bail!(
            "say which period: --month YYYY-MM, --start TIME --end TIME, or --from YYYY-MM --to YYYY-MM"
        ),
    }
}

pub fn run(args: Args) -> Result<()> {
    let Some(format) = Format::parse(&args.format) else {
        bail!(
            "--format {}: choose table, csv, json, md or html",
            args.format
        );
    };
    let Some(energy) = EnergyUnits::parse(&args.units) else {
        bail!("--units {}: choose {}", args.units, EnergyUnits::CHOICES);
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
    let request = request(&args, clock)?;
    let r = report::build_request(
        &session.store.conn,
        &request,
        &session.who,
        clock,
        &session.figure_context(),
    )
    .with_context(|| format!("cannot read {}", session.store.path.display()))?;
    let text = report::render::render(&r, format, Style { energy }, clock)?;
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
