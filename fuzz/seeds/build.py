#!/usr/bin/env python3
"""Rebuilds the committed seed corpus, fuzz/seeds/<target>/, from real data and the project's own
files. See fuzz/seeds/README.md for where each seed comes from.

    fuzz/seeds/build.py [REALDATA] [SYNTH]

REALDATA is shared/realdata (default: ../shared/realdata beside the repository). SYNTH is a
directory written by `ea-synth SYNTH --jobs 60 --assessed 0.5 --series-points 12 --seed 7`
(the store's synthetic month: a sacct dump, the plugin's records, an inventory and a config);
without it the seeds made from it are left as they are.

Seeds are small excerpts (a few kB), so that libFuzzer mutates inputs of the size it explores
well. Files in a seed directory whose name starts with `crash-` are minimised inputs of crashes
found by fuzzing; this script never removes them.
"""

import base64
import json
import os
import struct
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent.parent
REPO = FUZZ.parent
REAL = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "realdata"
SYNTH = Path(sys.argv[2]) if len(sys.argv) > 2 else None
SEEDS = FUZZ / "seeds"

written = {}


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    written.setdefault(target, []).append(name)


def head_lines(path, n, keep_header=True):
    lines = Path(path).read_bytes().splitlines(keepends=True)
    return b"".join(lines[:n])


def real(rel):
    return REAL / rel


def clean(target):
    d = SEEDS / target
    if d.exists():
        for f in d.iterdir():
            if not f.name.startswith("crash-"):
                f.unlink()


TARGETS = [
    "sacct_text", "sacct_json", "sacct_fields", "record", "hostlist", "inventory",
    "factors_series", "site_config", "node_inputs", "wattmeter",
]
for t in TARGETS:
    if t == "record" and SYNTH is None:
        continue
    clean(t)

# ---------------------------------------------------------------------------------------------
# sacct_text: dumps with a header as ingest reads them; header-less dumps behind the harness's
# `#columns LIST` line (the `--columns` of the command line).
XDMOD_COLUMNS = (REAL / "sacct/xdmod_ubccr/COLUMNS.txt").read_text().strip()
HABROK_COLUMNS = (REAL / "sacct/rug_habrok/sacct_columns.txt").read_text().strip()
PEREGRINE_COLUMNS = (REAL / "sacct/rug_peregrine/sacct_columns.txt").read_text().strip()
REPORTSEFF_ENERGY = "AdminComment,AllocCPUS,Elapsed,JobID,JobIDRaw,MaxRSS,NNodes,NTasks,ReqMem,State,TRESUsageOutTot,Timelimit,TotalCPU"
REPORTSEFF_16 = "AdminComment,AllocCPUS,Elapsed,JobID,JobIDRaw,MaxRSS,NNodes,NTasks,ReqMem,State,Timelimit,TotalCPU"
CEEMS_COLUMNS = "jobidraw,partition,qos,account,group,gid,user,uid,submit,start,end,elapsed,elapsedraw,exitcode,state,alloctres,nodelist,jobname,workdir"

for f in ["test-data1.csv", "test-data2.csv", "test-data3.csv"]:
    put("sacct_text", f"aalto-{f}", real(f"sacct/aalto_slurm2sql/{f}").read_bytes())
put("sacct_text", "cscs-santis-38113.txt", real("sacct/cscs_santis/sacct_38113_parsable2.txt").read_bytes())
for f in ["test_energy_reporting.psv", "test_issue_16.psv"]:
    put("sacct_text", f"princeton-{f}", real(f"sacct/princeton_reportseff/{f}").read_bytes())
put("sacct_text", "princeton-energy-raw.txt",
    f"#columns {REPORTSEFF_ENERGY}\n".encode() + real("sacct/princeton_reportseff/test_energy_reporting.raw.txt").read_bytes())
put("sacct_text", "princeton-issue16-raw.txt",
    f"#columns {REPORTSEFF_16}\n".encode() + head_lines(real("sacct/princeton_reportseff/test_issue_16.raw.txt"), 20))
put("sacct_text", "ga4hpc-raw.txt", real("sacct/ga4hpc_examples/example_sacctOutput_raw.txt").read_bytes())
for f in sorted((REAL / "sacct/xdmod_ubccr").glob("shredder_unit_*.log")) + [REAL / "sacct/xdmod_ubccr/robertson-filter-test.log"]:
    put("sacct_text", f"xdmod-{f.stem}.txt", f"#columns {XDMOD_COLUMNS}\n".encode() + head_lines(f, 20))
put("sacct_text", "xdmod-pozidriv-head.txt", f"#columns {XDMOD_COLUMNS}\n".encode() + head_lines(real("sacct/xdmod_ubccr/pozidriv.log"), 12))
put("sacct_text", "habrok-head.txt", f"#columns {HABROK_COLUMNS}\n".encode() + head_lines(real("sacct/rug_habrok/sacct.txt"), 10))
put("sacct_text", "peregrine-head.txt", f"#columns {PEREGRINE_COLUMNS}\n".encode() + head_lines(real("sacct/rug_peregrine/sacct.txt"), 12))
ceems = real("energy/ceems/sacct_fixture.sh").read_text()
ceems_rows = ceems.split('"""', 2)[1]
put("sacct_text", "ceems-fixture.txt", f"#columns {CEEMS_COLUMNS}\n{ceems_rows}")
if SYNTH:
    dump = (SYNTH / "sacct.txt").read_bytes().splitlines(keepends=True)
    put("sacct_text", "synth-head.txt", b"".join(dump[:24]))
    put("sacct_text", "synth-tail.txt", dump[0] + b"".join(dump[-18:]))

# ---------------------------------------------------------------------------------------------
# sacct_json: sacct --json of Slurm 21.08 (dbv0.0.37), slurmrestd 23.11 (v0.0.40), squeue
# --json; documents without jobs (sinfo, sdiag, shares) for the refusal's guesses. Long job
# lists are cut to their first jobs.


def trimmed(path, key, n):
    doc = json.loads(Path(path).read_text())
    if isinstance(doc.get(key), list):
        doc[key] = doc[key][:n]
    return json.dumps(doc, indent=1)


put("sacct_json", "cedar-sacct_1.json", real("sacct/mila_clockwork_cedar/sacct_1").read_bytes())
put("sacct_json", "cedar-sacct_2.json", real("sacct/mila_clockwork_cedar/sacct_2").read_bytes())
put("sacct_json", "talapas-jobs-v0040.json", trimmed(real("sacct/uoregon_talapas_slurmrestd/V0040OpenapiJobInfoResp.json"), "jobs", 1))
put("sacct_json", "talapas-nodes-v0040.json", trimmed(real("sacct/uoregon_talapas_slurmrestd/V0040OpenapiNodesResp.json"), "nodes", 1))
put("sacct_json", "talapas-partitions-v0040.json", trimmed(real("sacct/uoregon_talapas_slurmrestd/V0040OpenapiPartitionResp.json"), "partitions", 1))
put("sacct_json", "talapas-shares-v0040.json", trimmed(real("sacct/uoregon_talapas_slurmrestd/V0040OpenapiSharesResp.json"), "shares", 1))
put("sacct_json", "rivos-squeue.json", trimmed(real("sacct/rivos_exporter_fixtures/squeue_out.json"), "jobs", 3))
put("sacct_json", "rivos-sinfo.json", trimmed(real("sacct/rivos_exporter_fixtures/sinfo_out.json"), "nodes", 1))
put("sacct_json", "rivos-sdiag-2405.json", real("sacct/rivos_exporter_fixtures/sdiag_2405.json").read_bytes())
put("sacct_json", "xdmod-alloc-tres-gpu-count.json", real("sacct/xdmod_ubccr/alloc-tres-gpu-count.json").read_bytes())
# The document of store/src/sacct/json.rs's test a_bad_job_is_skipped_and_the_rest_kept.
put("sacct_json", "store-test-wrapped-numbers.json", """{"jobs": [{"job_id": 0}, {"job_id": 5, "state": {"current": ["COMPLETED"]},
    "time": {"start": 100, "end": 200, "elapsed": 100, "submission": 90,
             "total": {"seconds": 50, "microseconds": 500000}},
    "tres": {"allocated": [{"type": "cpu", "name": "", "id": 1, "count": 2},
                           {"type": "gres", "name": "gpu", "id": 1001, "count": 1}]},
    "steps": [{"step": {"id": "5.batch", "name": "batch"}, "state": ["COMPLETED"],
               "time": {"start": {"set": true, "infinite": false, "number": 100}, "end": 200,
                        "elapsed": 100, "total": {"seconds": 50, "microseconds": 0}},
               "statistics": {"energy": {"consumed": {"set": true, "infinite": false, "number": 3300}}},
               "tres": {"allocated": [{"type": "cpu", "name": "", "count": 2}]}}]}],
 "meta": {"slurm": {"release": "23.02.7"}}}
""")

# ---------------------------------------------------------------------------------------------
# sacct_fields: one field value per seed, as real dumps and the unit tests write them.
FIELDS = {
    "jobid-plain": "1000000", "jobid-step": "37403870_1.batch", "jobid-array-pending": "4103947_[1-3,7]",
    "jobid-het": "123+1.0", "jobid-extern": "38113.extern",
    "state-cancelled-by": "CANCELLED by 1300204", "state-short": "CD", "state-oom": "OUT_OF_MEMORY",
    "size-k": "2252800K", "size-g": "199G", "size-t": "1.50T", "reqmem-per-cpu": "6760Mc",
    "reqmem-per-node": "250Gn", "energy-raw": "20543125", "energy-m": "20.54M",
    "tres-habrok": "billing=18,cpu=18,gres/gpu:a100=1,gres/gpu=1,mem=120G,node=1",
    "tres-energy": "energy=33,fs/disk=0", "tres-santis": "billing=1152,cpu=1152,energy=20543125,gres/gpu=16,mem=3840G,node=4",
    "time-iso": "2024-03-15T20:24:16", "time-offset": "2022-02-21T14:37:02+0100",
    "time-slashes": "2024/03/15-20:24:16", "time-frac-z": "2022-04-01 17:24:48.540647Z",
    "time-unknown": "Unknown", "dur-days": "4-00:16:00", "dur-cpu": "00:47.734",
    "dur-unlimited": "UNLIMITED", "dur-partition-limit": "Partition_Limit",
    "arg-now": "now-7days", "arg-today": "today", "arg-mmdd": "0315", "arg-slash": "03/15/24-10:00",
    "arg-ampm": "10:30PM", "arg-iso": "2026-11-01T00:00", "arg-teatime": "teatime",
    "month": "2026-11", "columns": "JobID,JobName%30,User|Account Start",
}
for name, value in FIELDS.items():
    put("sacct_fields", f"{name}.txt", value)

# ---------------------------------------------------------------------------------------------
# record: the plugin's records (synthetic month, a real H100 node, the documented examples), each
# also in the layouts of schema 2 (series in the meters, base64) and schema 1 (series in the
# meters, JSON arrays, pretty-printed), as docs/record-format.md describes them.


def to_schema_2(rec):
    r = json.loads(json.dumps(rec))
    series = r.pop("series", {})
    for m in r.get("meters", []):
        if m["id"] in series:
            m["series_b64"] = series[m["id"]]
    r.pop("schema_version", None)
    return json.dumps({"schema_version": 2, **r}, separators=(",", ":"))


def to_schema_1(rec):
    r = json.loads(json.dumps(rec))
    series = r.pop("series", {})
    for m in r.get("meters", []):
        if m["id"] in series:
            s = dict(series[m["id"]])
            raw = base64.b64decode(s["watts"])
            s["watts"] = [struct.unpack("<f", raw[i:i + 4])[0] for i in range(0, len(raw), 4)]
            m["series"] = s
    r.pop("schema_version", None)
    return json.dumps({"schema_version": 1, **r}, indent=2)


records = []
if SYNTH:
    files = sorted((SYNTH / "spool/records").glob("*.json"), key=lambda p: p.stat().st_size)
    # The smallest and largest CPU and GPU records, and a few between.
    picks = files[:2] + files[len(files) // 2:len(files) // 2 + 2] + files[-2:]
    records += [(f"synth-{p.stem}", p.read_text()) for p in picks]
    records.append(("h100-job-run1", (REPO / "tests/gpu/results/h100-job-run1/record.json").read_text()))
    doc = (REPO / "docs/record-format.md").read_text()
    example = doc.split("## Example (no meters on the node)")[1].split("```json")[1].split("```")[0]
    records.append(("docs-no-meters", json.dumps(json.loads(example), separators=(",", ":"))))
    meter_part = doc.split("## Example of a meter and its series")[1].split("```json")
    meter = json.loads(meter_part[1].split("```")[0])
    series_text = meter_part[2].split("```")[0].strip()
    series = json.loads(series_text.split('"series":', 1)[1][:-1])
    with_meter = json.loads(example)
    with_meter["meters"] = [meter]
    with_meter["series"] = series
    records.append(("docs-bmc-series", json.dumps(with_meter, separators=(",", ":"))))
    for name, text in records:
        rec = json.loads(text)
        put("record", f"{name}.v3.json", text if text.endswith("\n") else text + "\n")
        put("record", f"{name}.v2.json", to_schema_2(rec))
        put("record", f"{name}.v1.json", to_schema_1(rec))
    # What the plugin writes under running/ at the prolog: a started record.
    started = json.loads(example)
    started.update(state="started", end=None, exit=None)
    put("record", "docs-started.v3.json", json.dumps(started, separators=(",", ":")))

# ---------------------------------------------------------------------------------------------
# hostlist: node lists as Slurm and the unit tests write them, count lists, core lists, node
# names (also the spool's escaped names).
HOSTLISTS = {
    "plain": "c0488", "range": "n[1-3]", "padded": "gpu[001-040,044]", "two-sets": "rack[1-2]-node[01-02]",
    "mixed": "a[1-2],b3", "habrok": "a100gpu[1-6],v100v2gpu[1-3]", "santis": "nid[001184-001187]",
    "g5k": "gemini-1.lyon.grid5000.fr", "g5k-range": "chifflot-[1-8]", "suffix": "n[1-2]-ib",
    "wide": "m[099-100,001]", "counts": "2(x3),1", "counts-slurm": "72(x2),36", "cores": "0-3,8,10-11",
    "bad-open": "n[1-2", "too-big": "n[0-1000000]", "spool-escaped": "node%2Ea", "unicode": "nœud[1-2]",
}
for name, value in HOSTLISTS.items():
    put("hostlist", f"{name}.txt", value)

# ---------------------------------------------------------------------------------------------
# inventory: the example inventories of real clusters, the synthetic month's, a real H100 node's.
for p in sorted((REPO / "configs/inventory").glob("*.toml")):
    put("inventory", f"configs-{p.name}", p.read_bytes())
put("inventory", "h100-job-run1.toml", (REPO / "tests/gpu/results/h100-job-run1/inventory.toml").read_bytes())
if SYNTH:
    put("inventory", "synth.toml", (SYNTH / "inventory.toml").read_bytes())

# ---------------------------------------------------------------------------------------------
# factors_series: the example series, and the same hours in its other documented forms.
example = (REPO / "configs/factors/hourly-series-example.csv").read_text()
put("factors_series", "configs-hourly-series-example.csv", example)
put("factors_series", "unix-seconds-all-columns.csv",
    "zone,start,gwp_kg_per_kwh,pe_mj_per_kwh,adpe_kgsbeq_per_kwh\n"
    "FR,1768435200,0.035,11.3,4.9e-8\nFR,1768438800,0.033,,\nDE,1768435200,0.38,16.2,8.8e-8\n")
put("factors_series", "space-separated-time.csv",
    "# two zones, a gap\nstart,zone,gwp_kg_per_kwh\n2026-01-15 00:00:00,FR,0.035\n2026-01-15 03:00:00,FR,0.04\n2026-01-15 00:00:00,PL,0.71\n")

# ---------------------------------------------------------------------------------------------
# site_config: the post-processor's and the plugin's files: configs/, the documented examples
# (module docs of store/src/config.rs and spank-plugin/src/config.rs), the e2e tests' site
# config, the synthetic month's and the H100 run's.


def doc_toml(path):
    lines = Path(path).read_text().splitlines()
    out, on = [], False
    for line in lines:
        if line.startswith("//! ```toml"):
            on = True
            continue
        if on and line.startswith("//! ```"):
            break
        if on:
            out.append(line[4:] if line.startswith("//! ") else "")
    return "\n".join(out) + "\n"


put("site_config", "configs-postproc.toml", (REPO / "configs/postproc.toml").read_bytes())
put("site_config", "doc-postproc.toml", doc_toml(REPO / "store/src/config.rs"))
put("site_config", "doc-plugin.toml", doc_toml(REPO / "spank-plugin/src/config.rs"))
put("site_config", "h100-job-run1-postproc.toml", (REPO / "tests/gpu/results/h100-job-run1/postproc.toml").read_bytes())
put("site_config", "e2e-plugin.toml", """# written by the e2e tests
spool = "/var/spool/energy-assess"

[meters]
sysroot = "/var/lib/energy-assess-testbed/sim/%n"
interval = "1s"
nvml_library = "/work/main/target/debug/libnvidia_ml_fake.so"
ipmi_command = ["/work/main/tests/sim/fake-ipmitool", "dcmi", "power", "reading"]
""")
put("site_config", "plugin-numbers.toml", 'default = "always"\nallow_opt_out = false\n[meters]\ninterval = 2.5\nstop_timeout = 1\nsources = ["rapl", "ipmi"]\n')
if SYNTH:
    put("site_config", "synth-postproc.toml", (SYNTH / "postproc.toml").read_bytes())

# ---------------------------------------------------------------------------------------------
# node_inputs: BMC captures, ipmitool sdr listings, sysfs values and names, lscpu, GPU lists,
# and the plugin's inputs from Slurm (MODE, exit codes, plugstack arguments).
for tool, f in [("ipmitool", "openipmi/ipmitool.out.txt"), ("freeipmi", "freeipmi/ipmi-dcmi.out.txt"),
                ("ipmiutil", "ipmiutils/ipmiutil.out.txt"), ("capmc", "capmc/capmc.out.txt")]:
    put("node_inputs", f"dcmi-{tool}.txt", real(f"energy/ceems/ipmi/{f}").read_bytes())
put("node_inputs", "dcmi-inactive.txt",
    real("energy/ceems/ipmi/openipmi/ipmitool.out.txt").read_text().replace("activated", "deactivated"))
for node in ["holy7c18208", "holygpu8a29304", "holygpu2c0923"]:
    text = real(f"energy/fasrc_ipmi_sdr/raw/{node}-first2samples.txt").read_bytes()
    put("node_inputs", f"sdr-{node}.txt", b"".join(text.splitlines(keepends=True)[:70]))
rapl = real("energy/node_exporter_sysfs/tree/sys/class/powercap")
lines = []
for zone in sorted(rapl.iterdir()):
    lines.append(zone.name)
    for attr in ["name", "energy_uj", "max_energy_range_uj"]:
        f = zone / attr
        if f.is_file():
            lines.append(f.read_text().strip())
put("node_inputs", "sysfs-powercap.txt", "\n".join(lines + ["intel-rapl:a", "intel-rapl-mmio:0", "power1_average", "energy1_input", "power2_input", "temp1_input"]) + "\n")
put("node_inputs", "lscpu-vm.txt", (REPO / "postproc/tests/fixtures/inventory-collect/vm/lscpu.txt").read_bytes())
put("node_inputs", "cpuinfo.txt", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n\nprocessor\t: 1\n")
smi = real("energy/ceems/nvidia-smi").read_text()
gpu_lines = [l.strip() for l in smi.splitlines() if l.strip().startswith("GPU ") and "UUID" in l][:4]
uuids = [l.split("UUID: ")[1].rstrip(")") for l in gpu_lines if "UUID: " in l]
put("node_inputs", "gpus-nvidia-smi-L.txt", "\n".join(gpu_lines + [",".join(uuids), uuids[0][:12] if uuids else "GPU-5e6d8e2a"]) + "\n")
put("node_inputs", "gpus-slurm.txt", "0,2\n1\nNoDevFiles\nGPU-5e6d8e2a-0b9f-4c1e-9a3b-6f1d2c3b4a50\nGPU-5e6d8e2a\nMIG-4c2a7f6e-2b1d-5c3e-8f9a-0d1e2f3a4b5c\n")
put("node_inputs", "slurm-mode-exit.txt", "summary\non,summary\noff\nOFF , Summary\n0:0\n0:15\n3:0\n255:9\n")
put("node_inputs", "plugstack-args.txt", "spool=/var/spool/energy-assess\ndefault=always\nallow_opt_out=no\nsummary=yes\nsysroot=/var/lib/energy-assess-testbed/sim/%n\ninterval=500ms\nstop_timeout=2s\nsources=rapl,nvml,ipmi\nipmi_command=ipmitool,dcmi,power,reading\nnvml_library=/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1\nsampler=/usr/local/libexec/energy-assess/energy-assess-sampler\n")

# ---------------------------------------------------------------------------------------------
# wattmeter: kwollect exports of Grid'5000's gemini-1 (wattmeter and BMC), Harvard FASRC's IPMI
# power readings, the store's unit test file, a file without a node column.
for f in ["kwollect-powerapi_powerapi.csv", "kwollect-scaphandre_scaphandre.csv"]:
    put("wattmeter", f"g5k-gemini-{f}", head_lines(real(f"energy/g5k_gemini_powermeter_comparison/{f}"), 30))
put("wattmeter", "fasrc-power-readings.csv", head_lines(real("energy/fasrc_ipmi_sdr/power_readings_2025-06-03_sample.csv"), 40))
put("wattmeter", "g5k-scaphandre-host.csv", head_lines(real("energy/g5k_gemini_powermeter_comparison/scaphandre-host_scaphandre.csv"), 12))
put("wattmeter", "store-test-kwollect.csv",
    ",timestamp,device_id,metric_id,value,labels._device_orig\n"
    "0,2022-04-01 17:24:46.000000,gemini-1,wattmetre_power_watt,1172.738,\"['p6', 'p7']\"\n"
    "1,2022-04-01 17:24:47.000000,gemini-1,wattmetre_power_watt,1172.834,\"['p6', 'p7']\"\n"
    "3,2022-04-01 17:24:48.540647,gemini-1,bmc_node_power_watt,1044.0,\n"
    "4,2022-04-01 17:24:48.500000,gemini-1.lyon.grid5000.fr,wattmetre_power_watt,x,\n")
put("wattmeter", "plain-epoch.csv", "node,time,watts\nc1,1711985086.5,412.5\nc1,1711985096.5,398\nc2,1711985086,120\n")

total = 0
for t in TARGETS:
    d = SEEDS / t
    files = sorted(d.iterdir()) if d.exists() else []
    size = sum(f.stat().st_size for f in files)
    total += size
    print(f"{t:15} {len(files):3} seeds {size:8} bytes")
print(f"{'total':15}     {total:8} bytes")
