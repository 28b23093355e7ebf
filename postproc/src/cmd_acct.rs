//! `energy-assess acct`: sacct's queries, with energy and impact columns.

use anyhow::Result;
use ea_query::acct::{self, AcctOptions};
use ea_query::session::Session;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(
    about = "Query jobs the way sacct does, with energy and environmental impact columns",
    long_about = "Query stored jobs with sacct's options, with energy (measured, split or \
        estimated), use-phase and embodied GWP, PE and ADPe and their ranges as extra columns. \
        `-e` lists every column. Users who are not admins see only their own jobs.\n\n\
        Examples:\n  \
        energy-assess acct -u alice -S 2026-11-01 -E 2026-12-01 -X -o JobID,Elapsed,Energy,EnergySource,GWP\n  \
        energy-assess acct -j 1234 --json\n  \
        energy-assess acct -A physics -S now-7days -P -n -o JobID,EnergyRaw,GWPUse,GWPEmbodied"
)]
pub struct Args {
    /// Jobs: a comma-separated list of ids (123, 123_4, 123+1, 123.batch); an array's id
    /// selects all its tasks, a het leader's all its components.
    #[arg(short = 'j', long = "jobs", value_name = "LIST")]
    pub jobs: Option<String>,
    /// Users, by name or uid, comma-separated.
    #[arg(short = 'u', long = "user", visible_alias = "uid", value_name = "LIST")]
    pub users: Option<String>,
    /// Accounts, comma-separated.
    #[arg(short = 'A', long = "accounts", value_name = "LIST")]
    pub accounts: Option<String>,
    /// Partitions, comma-separated.
    #[arg(short = 'r', long = "partition", value_name = "LIST")]
    pub partitions: Option<String>,
    /// States (CD, F, TO... or COMPLETED, FAILED...), comma-separated.
    #[arg(short = 's', long = "state", value_name = "LIST")]
    pub states: Option<String>,
    /// Start of the window, as sacct takes it (2026-11-01, 11/01, now-7days, midnight...).
    #[arg(short = 'S', long = "starttime", value_name = "TIME")]
    pub starttime: Option<String>,
    /// End of the window [default: now].
    #[arg(short = 'E', long = "endtime", value_name = "TIME")]
    pub endtime: Option<String>,
    /// Jobs that ran on any of these nodes (a hostlist: n[1-4],gpu01).
    #[arg(short = 'N', long = "nodelist", value_name = "HOSTLIST")]
    pub nodelist: Option<String>,
    /// Jobs with any of these names, comma-separated, in any case (as sacct's --name).
    #[arg(long = "name", value_name = "LIST")]
    pub names: Option<String>,
    /// Job allocations only, no steps.
    #[arg(short = 'X', long = "allocations")]
    pub allocations: bool,
    /// Columns: Name or Name%width (%-width left-justifies), comma-separated; see -e.
    #[arg(
        short = 'o',
        long = "format",
        visible_alias = "fields",
        value_name = "LIST"
    )]
    pub format: Option<String>,
    /// `|`-separated output, no delimiter at the end of lines.
    #[arg(short = 'P', long = "parsable2")]
    pub parsable2: bool,
    /// `|`-separated output with a delimiter at the end of lines.
    #[arg(short = 'p', long = "parsable")]
    pub parsable: bool,
    /// No header line.
    #[arg(short = 'n', long = "noheader")]
    pub noheader: bool,
    /// Delimiter for -p/-P.
    #[arg(long, value_name = "TEXT")]
    pub delimiter: Option<String>,
    /// JSON in sacct --json's layout (Slurm 22.05), the figures under each job's
    /// "energy_assess"; -o is checked but, as with sacct, changes nothing.
    #[arg(long)]
    pub json: bool,
    /// Energy unit of the table: J or Wh (the unit that fits each figure), a fixed unit (kJ,
    /// MJ, GJ, kWh, MWh), or sacct's K, M, G, T, P (applied to ConsumedEnergy and ReqMem too, as
    /// sacct does).
    #[arg(long, value_name = "UNIT")]
    pub units: Option<String>,
    /// List the columns and what they mean.
    #[arg(short = 'e', long = "helpformat")]
    pub helpformat: bool,
    /// All users' jobs (what admins see anyway; others see only their own, as with PrivateData=jobs).
    #[arg(short = 'a', long = "allusers")]
    pub allusers: bool,
    /// Time zone for times shown and read [default: the config's site.timezone, else the system's].
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
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.helpformat {
        acct::helpformat(&mut out)?;
        out.flush()?;
        return Ok(());
    }
    let session = Session::open(
        args.config.as_deref(),
        args.db.as_deref(),
        args.timezone.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    for w in &session.warnings {
        eprintln!("energy-assess: warning: {w}");
    }
    let opts = AcctOptions {
        jobs: args.jobs,
        users: args.users,
        accounts: args.accounts,
        partitions: args.partitions,
        states: args.states,
        starttime: args.starttime,
        endtime: args.endtime,
        nodelist: args.nodelist,
        names: args.names,
        allocations: args.allocations,
        format: args.format,
        parsable2: args.parsable2,
        parsable: args.parsable,
        noheader: args.noheader,
        delimiter: args.delimiter,
        json: args.json,
        units: args.units,
    };
    acct::run(
        &session.store.conn,
        &opts,
        &session.who,
        &session.clock,
        &session.figure_context(),
        &mut out,
    )?;
    out.flush()?;
    Ok(())
}
