//! `energy-assess report` as its readers get it: what it flags (estimated jobs, jobs without
//! impacts and why, jobs that never ran, oversubscribed nodes) in every format, `--units`,
//! `--from`/`--to`, and the HTML page in a real browser (headless Chromium): its size on a
//! 1366-pixel laptop screen, its charts, and a layout that never scrolls sideways.
//!
//! `EA_REPORT_EXAMPLE=docs/report-example.png cargo test -p energy-assess --test report`
//! also writes the page's top as the screenshot the docs show.

use ea_synth::{self as synth, Params};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;
use common::{ea, ok};

fn tmp(tag: &str) -> PathBuf {
    common::tmp("report-cli", tag)
}

/// The error `energy-assess` gives for `args`, which must fail.
fn refused(args: &[&str]) -> String {
    let o = ea(args);
    assert!(!o.status.success(), "energy-assess {args:?} succeeded");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A config for a store in `dir`, with the synthetic machine's inventory.
fn config(dir: &Path) -> PathBuf {
    let p = Params::default();
    std::fs::write(dir.join("inventory.toml"), synth::inventory_toml(&p)).unwrap();
    let config = dir.join("postproc.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{0}/store.sqlite\"\n[site]\ncluster = \"synth\"\ntimezone = \"UTC\"\ninventory = \"{0}/inventory.toml\"\n",
            dir.display()
        ),
    )
    .unwrap();
    config
}

fn ingest(config: &Path, dumps: &[PathBuf], spool: Option<&Path>) {
    let mut args = vec!["ingest", "--config", config.to_str().unwrap(), "-q"];
    for d in dumps {
        args.extend(["--sacct", d.to_str().unwrap()]);
    }
    if let Some(s) = spool {
        args.extend(["--spool", s.to_str().unwrap()]);
    }
    ok(&args);
}

/// An allocation line of a dump in `synth::COLUMNS`' order.
fn line(
    id: u32,
    state: &str,
    (start, end): (&str, &str),
    elapsed: &str,
    (nodes, cpus): (u32, u32),
    list: &str,
) -> String {
    let mem = u64::from(cpus) * 4096;
    // A job that never started is given its end as its submission.
    let submit = if start == "None" { end } else { start };
    format!(
        "{id}|{id}|synth|j{id}|alice|1001|alice|1001|physics|cpu|normal|{state}|0:0|{submit}|{submit}|{start}|{end}|\
         {elapsed}|04:00:00|{nodes}|{cpus}||{list}|{mem}M|billing={cpus},cpu={cpus},mem={mem}M,node={nodes}|00:30:00||"
    )
}

/// A November a reader must be warned about, and a job in October: two jobs whose shares of
/// c0001 sum to 1.5 for two hours, one on a node outside the inventory, one without a node
/// list, one that never ran, one with a node in the inventory and one outside.
fn flagged_month(dir: &Path) -> PathBuf {
    let config = config(dir);
    let ok = "COMPLETED";
    // (id, state, day, start hour, end hour, elapsed, nodes, CPUs, node list)
    let jobs = [
        (1990, ok, "10-15", "00", "01", "01:00:00", 1, 8, "c0003"),
        (2001, ok, "11-10", "00", "04", "04:00:00", 1, 96, "c0001"),
        (2002, ok, "11-10", "02", "06", "04:00:00", 1, 96, "c0001"),
        (2003, ok, "11-11", "00", "01", "01:00:00", 1, 8, "x001"),
        (
            2004,
            ok,
            "11-11",
            "00",
            "01",
            "01:00:00",
            1,
            8,
            "None assigned",
        ),
        (
            2005,
            "CANCELLED by 0",
            "11-12",
            "",
            "00",
            "00:00:00",
            1,
            8,
            "None assigned",
        ),
        (
            2006,
            ok,
            "11-13",
            "00",
            "01",
            "01:00:00",
            2,
            256,
            "c0002,x002",
        ),
    ];
    let lines: Vec<String> = jobs
        .iter()
        .map(|&(id, state, day, a, b, elapsed, nodes, cpus, list)| {
            let at = |h: &str| format!("2026-{day}T{h}:00:00");
            let start = if a.is_empty() { "None".into() } else { at(a) };
            line(id, state, (&start, &at(b)), elapsed, (nodes, cpus), list)
        })
        .collect();
    let dump = dir.join("sacct.txt");
    std::fs::write(&dump, format!("{}\n{}\n", synth::COLUMNS, lines.join("\n"))).unwrap();
    ingest(&config, &[dump], None);
    config
}

/// The figure in `column` of the CSV row whose section and key are given.
fn csv_cell(csv: &str, section: &str, key: &str, column: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    let row = lines
        .find(|l| l.starts_with(&format!("{section},{key},")))
        .unwrap_or_else(|| panic!("no row {section},{key}:\n{csv}"));
    row.split(',').nth(at).unwrap().to_string()
}

#[test]
fn every_format_flags_what_a_reader_must_know() {
    let dir = tmp("flags");
    let config = flagged_month(&dir);
    let c = config.to_str().unwrap();
    let report = |format: &str| {
        ok(&[
            "report", "--config", c, "--month", "2026-11", "--format", format,
        ])
    };
    let sentences = [
        "6 of 6 jobs (100.0 %) are estimated from their accounting, not measured",
        "Without impacts: 2 jobs (1 no node list in the accounting; 1 none of their nodes is in the inventory)",
        "Impacts for part of their nodes only: 1 job",
        "Never ran: 1 job (cancelled before they started), counted with zero figures.",
        "Oversubscribed nodes in synth/cpu: 2 jobs held 6.00 node-hours on nodes whose shares summed \
         above 1; the engine scaled them to the nodes' capacity and charged 5.00 (1.00 node-hours \
         beyond capacity were not charged).",
    ];
    for format in ["table", "md", "html"] {
        let text = report(format);
        for s in sentences {
            assert!(text.contains(s), "{format} lacks `{s}`:\n{text}");
        }
        // October had a job: each headline figure says how it changed.
        assert!(
            text.contains("+500.0 % on 2026-10"),
            "{format}: the jobs' change:\n{text}"
        );
    }
    check_csv_flags(&report("csv"));
    check_json_flags(&serde_json::from_str(&report("json")).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The flags of [`flagged_month`] as CSV columns.
fn check_csv_flags(csv: &str) {
    for (column, want) in [
        ("jobs", "6"),
        ("jobs_estimated", "6"),
        ("jobs_never_ran", "1"),
        ("jobs_without_impacts", "2"),
        ("jobs_without_impacts_no_node_list", "1"),
        ("jobs_without_impacts_nodes_not_in_inventory", "1"),
        ("jobs_partial_impacts", "1"),
    ] {
        assert_eq!(csv_cell(csv, "all", "all", column), want, "{column}");
    }
    for (column, want) in [
        ("oversubscribed_jobs", "2"),
        ("oversubscribed_held_node_hours", "6"),
        ("oversubscribed_charged_node_hours", "5"),
    ] {
        assert_eq!(
            csv_cell(csv, "partition", "synth/cpu", column),
            want,
            "{column}"
        );
    }
    assert_eq!(csv_cell(csv, "previous", "2026-10", "jobs"), "1");
}

/// The flags of [`flagged_month`] as JSON keys.
fn check_json_flags(json: &serde_json::Value) {
    let all = &json["all"];
    assert_eq!(all["jobs_without_impacts_by_reason"]["no_node_list"], 1);
    assert_eq!(
        all["jobs_without_impacts_by_reason"]["nodes_not_in_inventory"],
        1
    );
    assert_eq!(
        (
            all["jobs_never_ran"].as_u64(),
            all["jobs_partial_impacts"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let cpu = &json["by_partition"][0];
    assert_eq!(cpu["key"], "synth/cpu");
    assert_eq!(
        cpu["oversubscribed"]["excess_node_hours"].as_f64(),
        Some(1.0)
    );
    assert_eq!(json["previous"]["title"], "2026-10");
}

#[test]
fn units_and_months_are_asked_for_by_flags_and_refused_with_the_choices() {
    let dir = tmp("flags-cli");
    let config = flagged_month(&dir);
    let c = config.to_str().unwrap();
    let month = ["report", "--config", c, "--month", "2026-11"];
    let kwh = ok(&[&month[..], &["--units", "kWh"]].concat());
    assert!(kwh.contains("Energy: ") && kwh.contains(" kWh ("), "{kwh}");
    let joules = ok(&month);
    assert!(
        joules.contains(" MJ (") && !joules.contains("kWh"),
        "{joules}"
    );
    let e = refused(&[&month[..], &["--units", "furlongs"]].concat());
    assert!(
        e.contains("--units furlongs") && e.contains(ea_units::EnergyUnits::CHOICES),
        "{e}"
    );
    // A trend of months: every format lists them.
    let range = [
        "report", "--config", c, "--from", "2026-10", "--to", "2026-11", "--format",
    ];
    let table = ok(&[&range[..], &["table"]].concat());
    assert!(
        table.contains("\nMonths\n")
            && table.contains("\n2026-10 ")
            && table.contains("\n2026-11 "),
        "{table}"
    );
    let md = ok(&[&range[..], &["md"]].concat());
    assert!(md.contains("## Months") && md.contains("| 2026-10 |") && md.contains("| 2026-11 |"));
    let csv = ok(&[&range[..], &["csv"]].concat());
    assert_eq!(csv_cell(&csv, "month", "2026-10", "jobs"), "1");
    assert_eq!(csv_cell(&csv, "month", "2026-11", "jobs"), "6");
    assert_eq!(csv_cell(&csv, "all", "all", "jobs"), "7");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&[&range[..], &["json"]].concat())).unwrap();
    assert_eq!(json["trend"].as_array().unwrap().len(), 2);
    assert_eq!(json["title"], "2026-10 to 2026-11");
    let html = ok(&[&range[..], &["html"]].concat());
    assert_eq!(html.matches("<svg id=\"chart-trend\"").count(), 1);
    let e = refused(&[
        "report", "--config", c, "--from", "2026-11", "--to", "2026-10",
    ]);
    assert!(
        e.contains("--from/--to") && e.contains("before the first month (2026-11)"),
        "{e}"
    );
    let e = refused(&["report", "--config", c, "--from", "2026-11"]);
    assert!(e.contains("--to"), "{e}");
    let e = refused(&[
        "report", "--config", c, "--month", "2026-11", "--from", "2026-10", "--to", "2026-11",
    ]);
    assert!(e.contains("cannot be used with"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two synthetic months of `n` jobs each, October and November 2026, with their records.
fn two_months(dir: &Path, n: u64) -> PathBuf {
    let config = config(dir);
    let nov = Params {
        jobs: n,
        assessed: 0.2,
        seed: 21,
        ..Default::default()
    };
    let oct = Params {
        month_start: nov.month_start - 31 * 86_400,
        month_days: 31,
        seed: 22,
        ..nov.clone()
    };
    let spool = dir.join("spool");
    let mut dumps = Vec::new();
    for (p, offset, name) in [(&oct, 500_000, "oct.txt"), (&nov, 0, "nov.txt")] {
        let mut jobs = synth::jobs(p);
        // October's jobs get ids of their own.
        jobs.iter_mut().for_each(|j| j.id += offset);
        let path = dir.join(name);
        synth::write_dump(p, &jobs, &mut std::fs::File::create(&path).unwrap()).unwrap();
        synth::write_records(p, &jobs, &spool).unwrap();
        dumps.push(path);
    }
    ingest(&config, &dumps, Some(&spool));
    config
}

/// Debian's Chromium, or a failure saying how to install it: a browser test never passes by
/// not running.
fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "this test renders the HTML report in headless Chromium, which is not installed: \
                 run tests/install-deps.sh (as root) first"
            )
        })
}

/// The flags every Chromium of these tests starts with, its profile in `profile`.
fn browser_args(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// The width and height a PNG's header gives.
fn png_size(path: &Path) -> (u32, u32) {
    let mut head = [0u8; 24];
    std::fs::File::open(path)
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert_eq!(
        &head[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&head[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&head[16..20]), be(&head[20..24]))
}

/// Chromium's screenshot of `url` in a window of `size`.
fn screenshot(browser: &str, dir: &Path, url: &str, size: (u32, u32), out: &Path) {
    let o = Command::new(browser)
        .args(browser_args(&dir.join("profile-shot")))
        .arg(format!("--screenshot={}", out.display()))
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        o.status.success() && out.exists(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The page as the browser parsed it.
fn dump_dom(browser: &str, dir: &Path, url: &str) -> String {
    let o = Command::new(browser)
        .args(browser_args(&dir.join("profile-dom")))
        .args(["--dump-dom", url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Chromium driven over its DevTools pipe (file descriptors 3 and 4, here standard input and
/// output through `sh`), to measure the page's layout from outside it: the page itself has no
/// script.
struct DevTools {
    child: Child,
    input: ChildStdin,
    replies: mpsc::Receiver<serde_json::Value>,
    stash: Vec<serde_json::Value>,
    next: u64,
}

impl DevTools {
    fn start(browser: &str, profile: &Path) -> Self {
        let mut child = Command::new("sh")
            .args([
                "-c",
                "exec \"$0\" \"$@\" 3<&0 4>&1 0</dev/null 1>/dev/null",
                browser,
            ])
            .args(browser_args(profile))
            .args(["--remote-debugging-pipe", "about:blank"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let mut output = child.stdout.take().unwrap();
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65_536];
            while let Ok(n) = output.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice(&msg[..end]) {
                        let _ = tx.send(v);
                    }
                }
            }
        });
        Self {
            child,
            input,
            replies,
            stash: Vec::new(),
            next: 0,
        }
    }

    fn receive(&mut self) -> serde_json::Value {
        self.replies
            .recv_timeout(Duration::from_secs(60))
            .expect("Chromium answers its DevTools pipe within a minute")
    }

    /// Calls `method` (in `session`, or on the browser) and returns its result.
    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        self.next += 1;
        let mut msg = serde_json::json!({"id": self.next, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.input.write_all(&bytes).unwrap();
        loop {
            let v = self.receive();
            if v["id"] == self.next {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
            self.stash.push(v);
        }
    }

    /// Waits for the event `method`, which may have come already.
    fn event(&mut self, method: &str) {
        if let Some(i) = self.stash.iter().position(|v| v["method"] == method) {
            self.stash.remove(i);
            return;
        }
        while self.receive()["method"] != method {}
    }

    /// A tab showing `url` at `width` × `height` CSS pixels for `media`: its session.
    fn open(&mut self, url: &str, (width, height): (u32, u32), media: &str) -> String {
        let target = self.call(
            None,
            "Target.createTarget",
            serde_json::json!({"url": "about:blank"}),
        );
        let attached = self.call(
            None,
            "Target.attachToTarget",
            serde_json::json!({"targetId": target["targetId"], "flatten": true}),
        );
        let s = attached["sessionId"].as_str().unwrap().to_string();
        let size = serde_json::json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false});
        self.call(Some(&s), "Emulation.setDeviceMetricsOverride", size);
        self.call(
            Some(&s),
            "Emulation.setEmulatedMedia",
            serde_json::json!({"media": media}),
        );
        self.call(Some(&s), "Page.enable", serde_json::json!({}));
        self.call(Some(&s), "Page.navigate", serde_json::json!({"url": url}));
        self.event("Page.loadEventFired");
        s
    }

    /// What `expression` (returning JSON text) gives in `session`.
    fn evaluate(&mut self, session: &str, expression: &str) -> serde_json::Value {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            serde_json::json!({"expression": expression, "returnByValue": true}),
        );
        serde_json::from_str(r["result"]["value"].as_str().expect("a JSON text")).unwrap()
    }
}

impl Drop for DevTools {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The page's width against the window's, the elements that stick out of it (those inside a
/// box that scrolls on its own aside), and each chart's box.
const LAYOUT: &str = "JSON.stringify((() => {
  const d = document.documentElement, w = d.clientWidth;
  const out = [...document.querySelectorAll('body *')]
    .filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > w + 0.5)
    .map(e => e.tagName + (e.id ? '#' + e.id : '')).slice(0, 20);
  const charts = [...document.querySelectorAll('svg.chart')].map(s => {
    const r = s.getBoundingClientRect();
    return {id: s.id, width: r.width, height: r.height, right: r.right};
  });
  return {scrollWidth: d.scrollWidth, clientWidth: w, outside: out, charts};
})())";

/// Checks the layout of `url` at `width` for `media`: nothing wider than the window, and
/// every chart drawn inside it. Returns the charts' ids.
fn check_layout(tools: &mut DevTools, url: &str, width: u32, media: &str) -> Vec<String> {
    let s = tools.open(url, (width, 900), media);
    let l = tools.evaluate(&s, LAYOUT);
    let (scroll, client) = (
        l["scrollWidth"].as_f64().unwrap(),
        l["clientWidth"].as_f64().unwrap(),
    );
    // The window less its vertical scrollbar.
    assert!(
        client <= f64::from(width) && client > f64::from(width) - 30.0,
        "{media}: {l}"
    );
    assert!(
        scroll <= client,
        "{media} at {width} px scrolls sideways: {l}"
    );
    assert_eq!(l["outside"].as_array().unwrap().len(), 0, "{media}: {l}");
    let charts = l["charts"].as_array().unwrap();
    for c in charts {
        let (w, h, right) = (
            c["width"].as_f64().unwrap(),
            c["height"].as_f64().unwrap(),
            c["right"].as_f64().unwrap(),
        );
        assert!(
            w > 200.0 && h > 50.0 && right <= client,
            "{media}: chart {c}"
        );
    }
    charts
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The drawn marks of the SVG with id `id` in `dom`: its bars, lines, bands and dots (the
/// white background aside).
fn marks(dom: &str, id: &str) -> usize {
    let at = dom
        .find(&format!("<svg id=\"{id}\""))
        .unwrap_or_else(|| panic!("the browser's DOM has no chart {id}"));
    let svg = &dom[at..at + dom[at..].find("</svg>").unwrap()];
    let rects = svg.matches("<rect").count() - svg.matches("fill=\"#FFFFFF\"").count();
    rects
        + svg.matches("<polyline").count()
        + svg.matches("<polygon").count()
        + svg.matches("<circle").count()
}

/// The charts of a month's page, in its order.
const MONTH_CHARTS: [&str; 7] = [
    "chart-timeline-energy",
    "chart-timeline-gwp",
    "chart-partition-impacts",
    "chart-account-impacts",
    "chart-top-users",
    "chart-ranges",
    "chart-measured-share",
];

/// The HTML report of the period `period` asks for (`--month ...`), written in `dir` as `name`.
fn html_report(config: &Path, period: &[&str], dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let c = config.to_str().unwrap();
    let html = ["--format", "html", "-o", out.to_str().unwrap()];
    ok(&[&["report", "--config", c][..], period, &html].concat());
    out
}

#[test]
fn the_html_report_reads_well_in_a_browser_at_1366_pixels_and_in_print() {
    let browser = chromium();
    let dir = tmp("browser");
    let config = two_months(&dir, 1200);
    let month = html_report(&config, &["--month", "2026-11"], &dir, "2026-11.html");
    let range = ["--from", "2026-10", "--to", "2026-11"];
    let months = html_report(&config, &range, &dir, "trend.html");
    let url = |p: &Path| format!("file://{}", p.display());
    // A laptop's screen: the screenshot is the window's size.
    let shot = dir.join("shot.png");
    screenshot(browser, &dir, &url(&month), (1366, 900), &shot);
    assert_eq!(png_size(&shot), (1366, 900));
    if let Some(example) = std::env::var_os("EA_REPORT_EXAMPLE") {
        screenshot(
            browser,
            &dir,
            &url(&month),
            (1366, 2250),
            Path::new(&example),
        );
    }
    // Every chart as the browser parsed it, with marks drawn.
    let dom = dump_dom(browser, &dir, &url(&month));
    for id in MONTH_CHARTS {
        assert!(marks(&dom, id) >= 3, "{id} has nothing drawn");
    }
    assert!(
        dom.contains("on 2026-10"),
        "the headline compares with October"
    );
    assert!(marks(&dump_dom(browser, &dir, &url(&months)), "chart-trend") >= 4);
    // The layout, measured by the browser: nothing wider than a 1366-pixel window, nor than
    // an A4 landscape page's printable width (297 − 2 × 12 mm at 96 px per inch).
    let mut tools = DevTools::start(browser, &dir.join("profile-tools"));
    let on_screen = check_layout(&mut tools, &url(&month), 1366, "screen");
    assert_eq!(
        on_screen,
        MONTH_CHARTS.map(String::from),
        "the charts, in order"
    );
    check_layout(&mut tools, &url(&month), 1032, "print");
    check_layout(&mut tools, &url(&months), 1366, "screen");
    drop(tools);
    let _ = std::fs::remove_dir_all(&dir);
}
