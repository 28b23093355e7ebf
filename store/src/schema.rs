//! The schema, as a list of migrations. `PRAGMA user_version` holds how many have run; each
//! runs once, in order, inside the transaction that opens the store for writing. Never edit a
//! migration that has shipped: add the next one.

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: jobs (with their steps), node records, sources, calibration.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

    -- One row per job allocation (sacct's allocation line). Times are UTC epoch seconds.
    CREATE TABLE jobs (
        id              INTEGER PRIMARY KEY,
        cluster         TEXT NOT NULL,
        job_id          TEXT NOT NULL,      -- JobID without the step: 123, 123_4, 123+1
        job_id_raw      INTEGER,
        array_job_id    INTEGER,
        array_task      TEXT,
        name            TEXT,
        user            TEXT,
        uid             INTEGER,
        grp             TEXT,
        gid             INTEGER,
        account         TEXT,
        partition       TEXT,
        qos             TEXT,
        state           TEXT NOT NULL,
        state_raw       TEXT NOT NULL,
        exit_code       TEXT,
        submit          INTEGER,
        eligible        INTEGER,
        start           INTEGER,
        end             INTEGER,
        elapsed_s       INTEGER,
        timelimit_s     INTEGER,
        nnodes          INTEGER,
        ncpus           INTEGER,
        node_list       TEXT,
        req_mem_mb      REAL,
        alloc_tres      TEXT,
        gpus            INTEGER,
        total_cpu_s     REAL,
        cpu_time_s      REAL,
        consumed_energy_j REAL,
        work_dir        TEXT,
        -- The job's steps (batch, extern, 0...), a JSON array of arrays: one row per job keeps
        -- a month of a large centre to a million rows instead of four million.
        steps           TEXT,
        final           INTEGER NOT NULL,   -- 0 while running or completing (CG)
        row_hash        INTEGER NOT NULL,   -- of the fields above: unchanged rows are not rewritten
        source_id       INTEGER,
        UNIQUE (cluster, job_id)
    );
    -- One user's month is the query that must be fast; windows over all users scan the
    -- table, which is what a report does anyway.
    CREATE INDEX jobs_user_end ON jobs (user, end);

    -- What each input was, so that an unchanged file is not read twice.
    CREATE TABLE sources (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,          -- sacct-text, sacct-json, sacct-live, wattmeter
        name        TEXT NOT NULL,          -- absolute path, or the command run
        size        INTEGER,
        mtime_ns    INTEGER,
        ingested_at INTEGER NOT NULL,
        rows        INTEGER NOT NULL,
        errors      INTEGER NOT NULL,
        UNIQUE (kind, name)
    );

    -- Spool files already read, by directory and name, with what they were then.
    CREATE TABLE spool_files (
        dir      TEXT NOT NULL,
        name     TEXT NOT NULL,
        size     INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        PRIMARY KEY (dir, name)
    ) WITHOUT ROWID;

    -- One job on one node, from the plugin's record. Energies in joules per meter scope;
    -- `meters` keeps every meter's raw first/last counter readings (a compact JSON array per
    -- meter, series dropped) so that energies can be recomputed. A rowid table: its rows are
    -- too long for WITHOUT ROWID, which would give each its own overflow page.
    CREATE TABLE node_records (
        cluster          TEXT NOT NULL,
        job_id           TEXT NOT NULL,
        node             TEXT NOT NULL,
        job_id_raw       INTEGER NOT NULL,
        complete         INTEGER NOT NULL,  -- 0: only the prolog's part (job not ended there)
        start            REAL,              -- epoch seconds
        end              REAL,
        uid              INTEGER,
        user             TEXT,
        account          TEXT,
        partition        TEXT,
        cpus_on_node     INTEGER,
        gpus_on_node     INTEGER,
        node_list        TEXT,              -- the job's whole node list, as the record says
        num_nodes        INTEGER,
        exit_code        TEXT,
        e_cpu_package_j  REAL,
        e_core_j         REAL,
        e_uncore_j       REAL,
        e_dram_j         REAL,
        e_platform_j     REAL,
        e_gpu_board_j    REAL,              -- the job's own GPUs
        e_node_bmc_j     REAL,
        e_node_wattmeter_j REAL,
        e_other_j        REAL,
        flags            TEXT NOT NULL,     -- record and meter flags, comma-separated
        meters           TEXT NOT NULL,
        record_hash      INTEGER NOT NULL,
        UNIQUE (cluster, job_id, node)
    );

    -- A measured job's energy, derived from its node records and the jobs sharing its nodes.
    CREATE TABLE job_measured (
        cluster         TEXT NOT NULL,
        job_id          TEXT NOT NULL,
        nodes_recorded  INTEGER NOT NULL,
        nodes_expected  INTEGER,
        energy_j        REAL NOT NULL,      -- the job's share, best scope per node
        energy_min_j    REAL NOT NULL,
        energy_max_j    REAL NOT NULL,
        split           INTEGER NOT NULL,   -- 1 if some node was shared and its energy split
        e_cpu_package_j REAL, e_dram_j REAL, e_gpu_board_j REAL, e_node_bmc_j REAL,
        e_node_wattmeter_j REAL, e_platform_j REAL, e_other_j REAL,
        scope           TEXT NOT NULL,      -- the scope the total rests on
        flags           TEXT NOT NULL,
        PRIMARY KEY (cluster, job_id)
    ) WITHOUT ROWID;

    -- External wattmeter series (node, time, watts), and what it gave each job.
    CREATE INDEX node_records_end ON node_records (end);

    CREATE TABLE power_samples (
        node    TEXT NOT NULL,
        t       REAL NOT NULL,
        watts   REAL NOT NULL,
        PRIMARY KEY (node, t)
    ) WITHOUT ROWID;

    -- Per partition (node group): measured / Green-Algorithms-estimated energy of measured jobs.
    CREATE TABLE calibration (
        grp         TEXT PRIMARY KEY,
        factor      REAL NOT NULL,
        low         REAL NOT NULL,
        high        REAL NOT NULL,
        n_jobs      INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: one rule splits a shared node's energy, the impact engine's (ea_impact::allocate:
    // the inventory's share rule, time overlap, Jay's rule for GPUs). Node records keep what it
    // needs (the GPUs the job did not hold, the memory it held) and no longer their meters' raw
    // readings (the spool files have them); measured energies are derived again by the next
    // ingest.
    r#"
    ALTER TABLE node_records ADD COLUMN memory_mb INTEGER;
    ALTER TABLE node_records ADD COLUMN e_gpu_others_j REAL;   -- GPUs of the node the job did not hold
    ALTER TABLE node_records ADD COLUMN e_gpu_unknown_j REAL;  -- GPUs whose holder is not said (in e_gpu_board_j)
    UPDATE node_records SET
        e_gpu_others_j = (SELECT sum(json_extract(m.value, '$[3]')) FROM json_each(node_records.meters) m
            WHERE json_extract(m.value, '$[1]') = 'gpu-board' AND json_extract(m.value, '$[11]') = 0),
        e_gpu_unknown_j = (SELECT sum(json_extract(m.value, '$[3]')) FROM json_each(node_records.meters) m
            WHERE json_extract(m.value, '$[1]') = 'gpu-board' AND json_extract(m.value, '$[11]') IS NULL);
    ALTER TABLE node_records DROP COLUMN meters;
    DELETE FROM job_measured;
    DELETE FROM calibration;
    DELETE FROM meta WHERE key = 'split';
    "#,
    // 3: estimates are calibrated with two terms, a multiplier of Green Algorithms and the
    // static power per allocated CPU it leaves out (estimate.rs); calibrations are refitted by
    // the next ingest.
    r#"
    ALTER TABLE calibration ADD COLUMN static_w_per_cpu REAL NOT NULL DEFAULT 0;
    DELETE FROM calibration;
    "#,
    // 4: the spool files an ingest read, one row per directory and run (a JSON array of
    // [name, size, mtime_ns]) instead of one row per file: a month of a large centre is
    // hundreds of thousands of files, and a row each cost a third of a second of the single
    // writer's time. A later run's entry for a file replaces an earlier one.
    r#"
    CREATE TABLE spool_reads (
        id      INTEGER PRIMARY KEY,
        dir     TEXT NOT NULL,
        files   TEXT NOT NULL
    );
    CREATE INDEX spool_reads_dir ON spool_reads (dir, id);
    INSERT INTO spool_reads (dir, files)
        SELECT dir, json_group_array(json_array(name, size, mtime_ns)) FROM spool_files
        GROUP BY dir ORDER BY dir;
    DROP TABLE spool_files;
    "#,
    // 5: a node record is the record of one raw job id (Slurm's unique id, the plugin's
    // `job_id`) on one node; `job_id` holds sacct's JobID for it (`48_52` for array task 52 of
    // array 48, `123+1` for a het component), resolved by the raw id when the record itself
    // does not say. Before, records were keyed by that text, and an array task's record that
    // did not name its array became a second job. `jobs_aliases` finds the jobs whose JobID is
    // not their raw id (array tasks, het components) by raw id; it holds only those.
    r#"
    CREATE TABLE node_records_new (
        cluster          TEXT NOT NULL,
        job_id           TEXT NOT NULL,
        node             TEXT NOT NULL,
        job_id_raw       INTEGER NOT NULL,
        complete         INTEGER NOT NULL,
        start            REAL,
        end              REAL,
        uid              INTEGER,
        user             TEXT,
        account          TEXT,
        partition        TEXT,
        cpus_on_node     INTEGER,
        gpus_on_node     INTEGER,
        node_list        TEXT,
        num_nodes        INTEGER,
        exit_code        TEXT,
        e_cpu_package_j  REAL,
        e_core_j         REAL,
        e_uncore_j       REAL,
        e_dram_j         REAL,
        e_platform_j     REAL,
        e_gpu_board_j    REAL,
        e_node_bmc_j     REAL,
        e_node_wattmeter_j REAL,
        e_other_j        REAL,
        flags            TEXT NOT NULL,
        record_hash      INTEGER NOT NULL,
        memory_mb        INTEGER,
        e_gpu_others_j   REAL,
        e_gpu_unknown_j  REAL,
        UNIQUE (cluster, job_id_raw, node)
    );
    INSERT OR REPLACE INTO node_records_new SELECT cluster, job_id, node, job_id_raw, complete,
        start, end, uid, user, account, partition, cpus_on_node, gpus_on_node, node_list,
        num_nodes, exit_code, e_cpu_package_j, e_core_j, e_uncore_j, e_dram_j, e_platform_j,
        e_gpu_board_j, e_node_bmc_j, e_node_wattmeter_j, e_other_j, flags, record_hash,
        memory_mb, e_gpu_others_j, e_gpu_unknown_j
        FROM node_records ORDER BY complete, rowid;
    DROP TABLE node_records;
    ALTER TABLE node_records_new RENAME TO node_records;
    CREATE INDEX node_records_end ON node_records (end);
    CREATE INDEX jobs_aliases ON jobs (cluster, job_id_raw)
        WHERE job_id != CAST(job_id_raw AS TEXT);
    -- What version 4 stored under a raw id that sacct names otherwise moves to sacct's JobID;
    -- jobs made from records that no record names any more go, with what was measured for
    -- them; a job known only from records is UNKNOWN until sacct says how it ended; every
    -- measured energy is derived again by the next ingest.
    UPDATE node_records SET job_id = (SELECT j.job_id FROM jobs j
            WHERE j.cluster = node_records.cluster AND j.job_id_raw = node_records.job_id_raw
              AND j.job_id != CAST(j.job_id_raw AS TEXT)
              AND j.state_raw NOT LIKE '% (from node records)')
        WHERE job_id = CAST(job_id_raw AS TEXT) AND EXISTS (SELECT 1 FROM jobs j
            WHERE j.cluster = node_records.cluster AND j.job_id_raw = node_records.job_id_raw
              AND j.job_id != CAST(j.job_id_raw AS TEXT)
              AND j.state_raw NOT LIKE '% (from node records)');
    CREATE INDEX migration_5_records ON node_records (cluster, job_id);
    DELETE FROM jobs WHERE state_raw LIKE '% (from node records)' AND NOT EXISTS (
        SELECT 1 FROM node_records r WHERE r.cluster = jobs.cluster AND r.job_id = jobs.job_id);
    DROP INDEX migration_5_records;
    UPDATE jobs SET state = 'UNKNOWN'
        WHERE state_raw LIKE '% (from node records)' AND state != 'RUNNING';
    DELETE FROM job_measured;
    DELETE FROM calibration;
    DELETE FROM meta WHERE key = 'split';
    "#,
    // 6: each job's embodied allocation, computed at ingest over every job that shared its
    // nodes (ingest/allocate.rs) and read by every query, so that a job's figure does not
    // depend on the question asked. `months` holds its part in each accounting month when it
    // ran in more than one (NULL: all of it in the month of its start). `jobs_start` finds
    // the jobs around a late one (for the allocation and the split of measured energy),
    // `jobs_running` the jobs still running however long ago they started. The next ingest allocates every job (no `allocation` in meta).
    r#"
    CREATE TABLE job_embodied (
        job         INTEGER PRIMARY KEY,   -- jobs.id
        start       INTEGER NOT NULL,   -- the interval allocated, epoch seconds
        end         INTEGER NOT NULL,
        inside      INTEGER NOT NULL,   -- its nodes in the inventory
        outside     INTEGER NOT NULL,   -- and outside it
        grp         TEXT,               -- the inventory group of all its nodes, if one
        held_h      REAL NOT NULL,      -- share x hours, before any scaling
        charged_h   REAL NOT NULL,      -- node-hours charged
        gwp REAL, gwp_min REAL, gwp_max REAL,
        adpe REAL, adpe_min REAL, adpe_max REAL,
        pe REAL, pe_min REAL, pe_max REAL,
        flags       INTEGER NOT NULL,   -- ea_impact::Flags bits
        months      TEXT
    );
    CREATE INDEX jobs_start ON jobs (start);
    CREATE INDEX jobs_running ON jobs (start) WHERE end IS NULL;
    DELETE FROM meta WHERE key = 'allocation';
    "#,
    // 7: the jobs around a late one are found by start *and* end, both in the index: the
    // rows of the jobs that started in the window but ended before it are not read (a late
    // job's affected neighbours, 4,536 rows of a busy month, in 28 ms instead of 313).
    r#"
    DROP INDEX IF EXISTS jobs_start;
    CREATE INDEX jobs_start_end ON jobs (start, end);
    "#,
];
