//! What the plugin does in each callback, written against [`SpankHost`] so that it runs in
//! tests without Slurm. Nothing here may panic on bad input, block for long, or return an
//! error to Slurm because of the plugin's own trouble: a failed job_prolog drains the node.

use crate::config::{self, Config};
use crate::host::{Context, Level, SpankHost};
use crate::mode::{self, Decision};
use crate::summary;
use ea_record::spool::{self, HeldOnNode, Spool};
use ea_record::{
    JobExit, JobNodeRecord, NodeAllocation, RecordFlag, RecordState, SCHEMA_VERSION, UnixMicros,
    hostlist,
};
use std::time::Instant;

/// The plugin's own version, recorded in every record.
pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The step id Slurm gives a job's extern step (`SLURM_EXTERN_CONT`).
pub const EXTERN_STEP_ID: u32 = 0xFFFF_FFFC;

/// `major.minor.micro` of the Slurm headers the plugin was built against.
pub fn slurm_version() -> String {
    let (a, b, c) = slurm_sys::slurm_version();
    format!("{a}.{b:02}.{c}")
}

/// Whether `--energy-assess=MODE` is accepted. Only the submitting side (sbatch, srun,
/// salloc: `remote == false`) refuses a bad MODE, saying why; slurmstepd never does.
pub fn option_accepted(host: &dyn SpankHost, value: Option<&str>, remote: bool) -> bool {
    let value = value.filter(|v| !v.is_empty() && *v != "(null)");
    match mode::parse_mode(value) {
        Ok(_) => true,
        Err(e) if !remote => {
            host.log(Level::Error, &e.to_string());
            false
        }
        Err(_) => true,
    }
}

/// `slurm_spank_job_prolog`: root, once per node, before the job's first step (at allocation
/// with `PrologFlags=Alloc`). Writes this node's *started* record.
pub fn job_prolog(host: &dyn SpankHost, args: &[String]) {
    let t0 = Instant::now();
    let (config, config_failed) = load_config(host, args);
    let (decision, note) = mode::decide(&host.option(), &config);
    if let Some(note) = note {
        host.log(Level::Info, &note);
    }
    let Decision::Assess(mode) = decision else {
        if let Decision::Skip(why) = decision {
            host.log(Level::Debug, &format!("job not assessed: {why}"));
        }
        return;
    };
    let Some(mut record) = identity(host, mode, config_failed) else {
        return;
    };
    record.start = Some(UnixMicros::now());

    let spool = Spool::new(&config.spool);
    if !prepare_spool(host, &spool, record.job_id, &record.node) {
        return;
    }
    let job = job_on_node(&spool, &record);
    let started = ea_meters::start_job(&config.meters.node_config(&record.node), &job);
    for note in &started.notes {
        host.log(Level::Info, &format!("job {}: {note}", record.job_id));
    }
    record.host = Some(started.host);
    record.absent_meters = started.absent_meters;
    let path = spool.started_path(record.job_id, &record.node);
    if let Err(e) = spool::write_record_atomic(&path, &record) {
        host.log(
            Level::Error,
            &format!("job {}: cannot record its start: {e}", record.job_id),
        );
        return;
    }
    salvage_others(
        host,
        &config.meters.node_config(&record.node),
        &spool,
        &record.node,
        record.job_id,
    );
    host.log(
        Level::Info,
        &format!(
            "job {}: assessed on {}, sampler started, in {:.1} ms",
            record.job_id,
            record.node,
            t0.elapsed().as_secs_f64() * 1e3
        ),
    );
}

/// `slurm_spank_job_epilog`: root, once per node, after the job ended there (completed,
/// failed or cancelled). Completes the record and moves it to `records/`.
pub fn job_epilog(host: &dyn SpankHost, args: &[String]) {
    let t0 = Instant::now();
    let (config, config_failed) = load_config(host, args);
    let spool = Spool::new(&config.spool);
    let Some(job_id) = job_id(host) else {
        host.log(
            Level::Error,
            "epilog: Slurm gave no job id; nothing recorded",
        );
        return;
    };
    let Some(node) = host.node_name() else {
        host.log(
            Level::Error,
            &format!("job {job_id}: SLURMD_NODENAME is not set; nothing recorded"),
        );
        return;
    };
    let final_path = spool.record_path(job_id, &node);
    let node_config = config.meters.node_config(&node);
    let Some(mut record) = epilog_record(host, &config, config_failed, &spool, job_id, &node)
    else {
        return;
    };
    stamp_end(host, &mut record);

    let job = job_on_node(&spool, &record);
    let measured = ea_meters::finish_job(&node_config, &job);
    let alloc_path = spool.running_path(job_id, &node, "alloc.json");
    let held = spool::read_json::<HeldOnNode>(&alloc_path).ok();
    for note in ea_meters::complete_record(&mut record, measured, held) {
        host.log(Level::Info, &format!("job {job_id}: {note}"));
    }

    if !prepare_spool(host, &spool, job_id, &node) {
        return;
    }
    if record.mode.summary {
        // Before the record, so that a summary file that could not be written is in it, for
        // `energy-assess job` to tell the user (the slurmd log is the admin's).
        record.summary_error = write_summary(host, &spool, &record).err();
    }
    if let Err(e) = spool::write_record_atomic(&final_path, &record) {
        keep_unwritten(host, &node_config, &job, &final_path, &record, &e);
        return;
    }
    tidy_after(host, &spool, &job, &record);
    salvage_others(host, &node_config, &spool, &node, job_id);
    forward(host, &config, &spool, job_id, &node);
    host.log(
        Level::Info,
        &format!(
            "job {job_id}: record written to {} in {:.1} ms",
            final_path.display(),
            t0.elapsed().as_secs_f64() * 1e3
        ),
    );
}

/// The record the epilog completes: the prolog's part when it left one (its decision stands,
/// even if the config changed since), else a new one decided now as the prolog would have.
/// `None`: nothing to record (not assessed, or the sampler salvaged it already).
fn epilog_record(
    host: &dyn SpankHost,
    config: &Config,
    config_failed: bool,
    spool: &Spool,
    job_id: u32,
    node: &str,
) -> Option<JobNodeRecord> {
    let started_path = spool.started_path(job_id, node);
    // A job that started before the per-node layout left its part in `running/` itself.
    let flat_started_path = spool.flat_started_path(job_id, node);
    let mut record = match spool::read_record(&started_path)
        .or_else(|e| spool::read_record(&flat_started_path).map_err(|_| e))
    {
        Ok(r) => r,
        Err(_)
            if spool.record_path(job_id, node).exists()
                || spool.flat_record_path(job_id, node).exists() =>
        {
            // Its sampler salvaged the record already (this epilog came very late).
            host.log(
                Level::Info,
                &format!("job {job_id}: its record was salvaged before this epilog; kept"),
            );
            return None;
        }
        Err(read_err) => {
            let (decision, _) = mode::decide(&host.option(), config);
            let Decision::Assess(mode) = decision else {
                return None;
            };
            let mut r = identity(host, mode, config_failed)?;
            if started_path.exists() {
                host.log(
                    Level::Error,
                    &format!("job {job_id}: {read_err}; writing a new record"),
                );
            }
            r.flags.push(RecordFlag::NoPrologState);
            r
        }
    };
    if config_failed && !record.flags.contains(&RecordFlag::ConfigError) {
        record.flags.push(RecordFlag::ConfigError);
    }
    Some(record)
}

/// The job's end time and exit, as Slurm gives them to the epilog.
fn stamp_end(host: &dyn SpankHost, record: &mut JobNodeRecord) {
    record.end = Some(UnixMicros::now());
    record.exit = host.getenv("SLURM_JOB_EXIT_CODE2").and_then(|code2| {
        let status = host
            .getenv("SLURM_JOB_EXIT_CODE")
            .and_then(|s| s.trim().parse().ok());
        JobExit::parse(&code2, status)
    });
}

/// A record the spool refused (`e`): a keeper writes it once the spool can be written, or
/// the parts under running/ stay for the next job on the node to salvage. Says which.
fn keep_unwritten(
    host: &dyn SpankHost,
    node_config: &ea_meters::NodeConfig,
    job: &ea_meters::JobOnNode,
    final_path: &std::path::Path,
    record: &JobNodeRecord,
    e: &spool::SpoolError,
) {
    let kept = spool::encode_record(record)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            ea_meters::keep_record(node_config, job, final_path, &bytes).map_err(|e| e.to_string())
        });
    let then = match kept {
        Ok(pid) => format!(
            "a keeper (pid {pid}) writes it as soon as the spool can be written, for up to {} h",
            ea_meters::keep::KEEP_FOR.as_secs() / 3600
        ),
        Err(why) => format!(
            "{why}; its prolog's part and the sampler's checkpoint stay under running/, and the \
             next job on this node salvages the record from them"
        ),
    };
    host.log(
        Level::Error,
        &format!("job {}: cannot write its record: {e}; {then}", job.job_id),
    );
}

/// After the record is written: the sampler's files, the prolog's part and the allocation go;
/// an array task's note lets `energy-assess job <array>_<task>` find it.
fn tidy_after(
    host: &dyn SpankHost,
    spool: &Spool,
    job: &ea_meters::JobOnNode,
    record: &JobNodeRecord,
) {
    let job_id = job.job_id;
    for note in ea_meters::cleanup_job(job) {
        host.log(Level::Info, &format!("job {job_id}: {note}"));
    }
    let done_with = [
        spool.started_path(job_id, &job.node),
        spool.flat_started_path(job_id, &job.node),
        spool.running_path(job_id, &job.node, "alloc.json"),
    ];
    for path in &done_with {
        if let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            host.log(
                Level::Error,
                &format!("job {job_id}: cannot remove {}: {e}", path.display()),
            );
        }
    }
    if let (Some(array), Some(task)) = (record.array_job_id, record.array_task_id)
        && let Err(e) = spool.note_array_task(array, task, job_id)
    {
        host.log(
            Level::Error,
            &format!(
                "job {job_id}: `energy-assess job {array}_{task}` will need the store to find it: {e}"
            ),
        );
    }
}

/// Queues the record for the collectors and starts the node's forwarder (`ea-forward`),
/// when the site names collectors. Never waits for it and never fails: a record that cannot
/// be queued stays in the spool (for `ingest --spool`), and a forwarder already running takes
/// the new entry on its next round (a second one exits at once on the outbox's lock).
fn forward(host: &dyn SpankHost, config: &Config, spool: &Spool, job_id: u32, node: &str) {
    if config.collector.is_empty() {
        return;
    }
    if let Err(e) = spool.enqueue(job_id, node) {
        host.log(
            Level::Error,
            &format!(
                "job {job_id}: its record stays in the spool, not queued for the collector: {e}"
            ),
        );
        return;
    }
    // For a forwarder already running with other collectors (it outlives an outage).
    if let Err(e) = spool.note_collectors(&config.collector) {
        host.log(
            Level::Error,
            &format!("job {job_id}: a forwarder already running keeps its collectors: {e}"),
        );
    }
    if let Err(e) = start_forwarder(config, spool) {
        host.log(
            Level::Error,
            &format!(
                "job {job_id}: record queued, but the forwarder {} cannot start: {e}; the next \
                 epilog on this node, or slurmd's next start, tries again",
                config.forwarder.display()
            ),
        );
    }
}

/// `slurm_spank_init` in slurmd (root, when slurmd starts: at boot, and after an upgrade or a
/// restart): records a forwarder left undelivered (the node rebooted, or the forwarder was
/// killed) would otherwise wait for the next job's epilog on this node, which on a drained or
/// idle node may never come. Costs one look at the outbox; logs only a failure to start.
pub fn slurmd_init(host: &dyn SpankHost, args: &[String]) {
    let (config, _) = config::load(args);
    let spool = Spool::new(&config.spool);
    if config.collector.is_empty() || !spool.outbox_has_entries() {
        return;
    }
    match start_forwarder(&config, &spool) {
        Ok(pid) => host.log(
            Level::Info,
            &format!(
                "records wait in {}: forwarder started (pid {pid})",
                spool.outbox_dir().display()
            ),
        ),
        Err(e) => host.log(
            Level::Error,
            &format!(
                "records wait in {}, but the forwarder {} cannot start: {e}; the next epilog \
                 on this node tries again",
                spool.outbox_dir().display(),
                config.forwarder.display()
            ),
        ),
    }
}

/// Starts the node's forwarder detached; returns its pid.
fn start_forwarder(config: &Config, spool: &Spool) -> std::io::Result<u32> {
    ea_meters::job::spawn_detached(&config.forwarder, &ea_forward_args(config, spool))
}

/// The forwarder's command line (`energy-assess-forwarder`, crate `ea-forward`, whose `Args`
/// reads it back): the host's short name, as the collector checks records against it.
///
/// Built here rather than by `ea_forward::Args::to_args`, so that the plugin, loaded into
/// slurmd, does not link the forwarder's HTTP and MUNGE code; a unit test checks that the
/// forwarder reads it.
fn ea_forward_args(config: &Config, spool: &Spool) -> Vec<String> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let short = hostname
        .trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut a = vec![
        "--spool".to_string(),
        spool.root().display().to_string(),
        "--host".into(),
        short,
        "--keep-delivered-s".into(),
        config.keep_delivered.as_secs().to_string(),
    ];
    for c in &config.collector {
        a.push("--collector".into());
        a.push(c.clone());
    }
    a
}

/// Records of earlier jobs on this node that their epilog could not write (see
/// `ea_meters::salvage`).
fn salvage_others(
    host: &dyn SpankHost,
    cfg: &ea_meters::NodeConfig,
    spool: &Spool,
    node: &str,
    job_id: u32,
) {
    for note in ea_meters::salvage_orphans(cfg, spool, node, job_id) {
        host.log(Level::Info, &note);
    }
}

/// The user's summary file, from the first node of the job only (one file per job), with
/// whatever records of the other nodes a shared spool already holds. Why it could not be
/// written, when it could not (logged too).
fn write_summary(
    host: &dyn SpankHost,
    spool: &Spool,
    record: &JobNodeRecord,
) -> Result<(), String> {
    let first = record
        .node_list
        .as_deref()
        .and_then(|l| hostlist::expand(l).ok())
        .and_then(|nodes| nodes.into_iter().next());
    if first.is_some_and(|f| f != record.node) {
        return Ok(());
    }
    let Some(dir) = host
        .getenv("SLURM_JOB_WORK_DIR")
        .filter(|d| d.starts_with('/'))
    else {
        let why = "Slurm gave no working directory for the job".to_string();
        host.log(
            Level::Info,
            &format!("job {}: no summary file: {why}", record.job_id),
        );
        return Err(why);
    };
    // The job's shard, and the flat records of its nodes that an older plugin wrote (a
    // rolling upgrade): each by its name, no directory but the shard listed.
    let nodes = record
        .node_list
        .as_deref()
        .and_then(|l| hostlist::expand(l).ok())
        .unwrap_or_default();
    let (mut records, _) = spool.job_records_on(record.job_id, &nodes);
    records.retain(|r| r.node != record.node);
    records.insert(0, record.clone());
    let text = summary::render(&records);
    let name = summary::file_name(record.job_id);
    host.write_as_user(
        std::path::Path::new(&dir),
        &name,
        text.as_bytes(),
        record.uid,
        record.gid,
    )
    .map_err(|e| {
        host.log(
            Level::Error,
            &format!("job {}: no summary file: {e}", record.job_id),
        );
        format!("{}/{name}: {e}", dir.trim_end_matches('/'))
    })
}

fn job_on_node(spool: &Spool, record: &JobNodeRecord) -> ea_meters::JobOnNode {
    ea_meters::JobOnNode {
        spool: spool.clone(),
        job_id: record.job_id,
        node: record.node.clone(),
        job_gpus: record
            .allocation
            .as_ref()
            .map(|a| a.gpus.clone())
            .unwrap_or_default(),
    }
}

/// What this step can tell the epilog (see [`HeldOnNode`]).
fn held_on_node(host: &dyn SpankHost) -> HeldOnNode {
    let (cores, memory_mb) = host.job_alloc();
    let cpus = cores
        .as_deref()
        .and_then(|c| hostlist::expand_numbers(c).ok())
        .map(|v| v.len() as u32);
    let array = host.job_array();
    HeldOnNode {
        allocation: NodeAllocation {
            cpus,
            cores,
            memory_mb,
            gpus: Vec::new(),
        },
        array_job_id: array.map(|a| a.array_job_id),
        array_task_id: array.map(|a| a.array_task_id),
        extern_step: host.step_id() == Some(EXTERN_STEP_ID),
    }
}

/// `slurm_spank_init` in slurmstepd (remote context, root), for every step of every job:
/// the one place where Slurm tells what the job holds on this node (cores, memory) and which
/// array task it is. For an assessed job (its prolog left a started record here), the first
/// step to run on the node writes that down for the epilog. Under `PrologFlags=Contain` that is the extern step, at
/// allocation; a later step adds the array task if the first did not know it. Costs one
/// `stat` for jobs that are not assessed and one small read for later steps of those that
/// are; logs nothing, because the prolog and epilog already report configuration problems.
pub fn remote_init(host: &dyn SpankHost, args: &[String]) {
    let (Some(job_id), Some(node)) = (host.job_id(), host.node_name()) else {
        return;
    };
    let (config, _) = config::load(args);
    let spool = Spool::new(&config.spool);
    if !spool.started_path(job_id, &node).exists() {
        return;
    }
    let path = spool.running_path(job_id, &node, "alloc.json");
    let held = match spool::read_json::<HeldOnNode>(&path) {
        // The extern step, first under PrologFlags=Contain, does not know the array task;
        // the batch step and the job's own steps do.
        Ok(mut noted) if noted.array_job_id.is_none() => match host.job_array() {
            Some(a) => {
                noted.array_job_id = Some(a.array_job_id);
                noted.array_task_id = Some(a.array_task_id);
                noted
            }
            None => return,
        },
        Ok(_) => return,
        Err(_) => held_on_node(host),
    };
    if held.extern_step {
        let marker = spool.extern_steps_marker(&node);
        if !marker.exists() {
            let _ = spool::write_atomic(&marker, b"");
        }
    }
    if let Err(e) = spool::write_json_atomic(&path, &held) {
        host.log(
            Level::Debug,
            &format!("job {job_id}: cannot note its allocation: {e}"),
        );
    }
}

/// The job's GPUs on this node, as the prolog and epilog environments give them
/// (`SLURM_JOB_GPUS`: indices, or UUIDs on some sites).
fn job_gpus(host: &dyn SpankHost) -> Vec<String> {
    ea_meters::job_gpus_from_env(|name| host.getenv(name))
}

/// Loads the config and logs its problems. The bool says whether anything was wrong, so that
/// records can carry the flag.
fn load_config(host: &dyn SpankHost, args: &[String]) -> (Config, bool) {
    let (config, problems) = config::load(args);
    for p in &problems {
        host.log(Level::Error, &p.0);
    }
    (config, !problems.is_empty())
}

fn prepare_spool(host: &dyn SpankHost, spool: &Spool, job_id: u32, node: &str) -> bool {
    match spool.ensure_node(node) {
        Ok(None) => true,
        Ok(Some(warning)) => {
            host.log(Level::Info, &warning);
            true
        }
        Err(e) => {
            host.log(
                Level::Error,
                &format!("job {job_id}: spool unusable, nothing recorded for this job: {e} (set spool= in plugstack.conf or the site config)"),
            );
            false
        }
    }
}

fn job_id(host: &dyn SpankHost) -> Option<u32> {
    host.job_id()
        .or_else(|| host.getenv("SLURM_JOB_ID")?.trim().parse().ok())
}

/// Everything about the job that the prolog and epilog environments tell, for a new record.
fn identity(
    host: &dyn SpankHost,
    mode: ea_record::AssessMode,
    config_failed: bool,
) -> Option<JobNodeRecord> {
    let Some(job_id) = job_id(host) else {
        host.log(Level::Error, "Slurm gave no job id; nothing recorded");
        return None;
    };
    let Some(node) = host.node_name() else {
        host.log(
            Level::Error,
            &format!("job {job_id}: SLURMD_NODENAME is not set; nothing recorded"),
        );
        return None;
    };
    let num = |name: &str| host.getenv(name).and_then(|v| v.trim().parse::<u32>().ok());
    let text = |name: &str| host.getenv(name).filter(|v| !v.is_empty());
    let node_list = text("SLURM_NODELIST").or_else(|| text("SLURM_JOB_NODELIST"));
    let cpus_on_node = cpus_on_node(host, &node, node_list.as_deref());
    if host.context() != Context::JobScript {
        host.log(Level::Debug, "identity read outside job_prolog/job_epilog");
    }
    Some(JobNodeRecord {
        schema_version: SCHEMA_VERSION,
        state: RecordState::Started,
        cluster: text("SLURM_CLUSTER_NAME"),
        job_id,
        // Neither job_prolog's Slurm items nor its environment tell an array task's place in
        // its array; the first step on the node does (`HeldOnNode`), and the store matches
        // records to sacct's jobs by the raw id, which is `job_id` here.
        array_job_id: None,
        array_task_id: None,
        uid: host
            .job_uid()
            .or_else(|| num("SLURM_JOB_UID"))
            .unwrap_or(u32::MAX),
        gid: host
            .job_gid()
            .or_else(|| num("SLURM_JOB_GID"))
            .unwrap_or(u32::MAX),
        user: text("SLURM_JOB_USER"),
        account: text("SLURM_JOB_ACCOUNT"),
        partition: text("SLURM_JOB_PARTITION"),
        node,
        node_list,
        num_nodes: num("SLURM_JOB_NUM_NODES"),
        cpus_on_node,
        allocation: Some(NodeAllocation {
            cpus: cpus_on_node,
            cores: None,
            memory_mb: None,
            gpus: job_gpus(host),
        }),
        start: None,
        end: None,
        exit: None,
        mode,
        plugin_version: PLUGIN_VERSION.to_string(),
        slurm_version: slurm_version(),
        host: None,
        meters: Vec::new(),
        absent_meters: Vec::new(),
        flags: if config_failed {
            vec![RecordFlag::ConfigError]
        } else {
            Vec::new()
        },
        summary_error: None,
    })
}

/// This node's CPUs: its entry in `SLURM_JOB_CPUS_PER_NODE`, found by its position in the
/// node list.
fn cpus_on_node(host: &dyn SpankHost, node: &str, node_list: Option<&str>) -> Option<u32> {
    let counts = host.getenv("SLURM_JOB_CPUS_PER_NODE")?;
    let position = match node_list {
        Some(list) => hostlist::expand(list)
            .ok()?
            .iter()
            .position(|n| n == node)?,
        None => 0,
    };
    match hostlist::count_at(&counts, position) {
        Ok(c) => c,
        Err(e) => {
            host.log(Level::Debug, &format!("SLURM_JOB_CPUS_PER_NODE: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarder_reads_the_command_line_the_plugin_writes() {
        let config = Config {
            collector: vec!["http://a:8080".into(), "http://b:8080".into()],
            keep_delivered: std::time::Duration::from_secs(3600),
            ..Config::default()
        };
        let spool = Spool::new("/var/spool/energy-assess");
        let args = ea_forward::Args::parse(ea_forward_args(&config, &spool)).unwrap();
        assert_eq!(args.spool, spool.root());
        assert_eq!(args.collectors, config.collector);
        assert_eq!(args.keep_delivered, config.keep_delivered);
        assert!(
            !args.host.is_empty() && !args.host.contains('.'),
            "{}",
            args.host
        );
    }
}
