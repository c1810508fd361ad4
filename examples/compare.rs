//! fvstore against SQLite on the same LaminDB-shaped workloads (see docs/BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release --example compare -- --values 1000000 \
//!     --json docs/bench-results.json --svg docs/bench-chart.svg
//! cargo run --release --example compare -- --quick      # 20,000 values, short windows
//! ```
//!
//! Workloads (each a row: fvstore, SQLite, and how many times better fvstore is):
//! W1 get_or_create hits on a store of N ints (1 and 2 threads); W2 creates, buffered /
//! synchronous=NORMAL; W3 durable creates from 1, 4 and 16 writer threads / one transaction per
//! create with synchronous=FULL; W4 add_values of 1,000 values per call, durable; W5 a range
//! filter returning ~100 values and a dict key-path equality filter; W6 opening a store of N
//! values; and memory and disk per stored int value.
//!
//! Fixtures are built, and memory and open times are measured, in child processes (the same
//! binary re-run with `--child ...`), so that one measurement's allocations never pollute the
//! next one's RSS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "compare/disk.rs"]
mod disk;
#[path = "compare/fv.rs"]
mod fv;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/sq.rs"]
mod sq;

use report::{Report, Row};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What one run measures, from the command line.
#[derive(Debug, Clone)]
pub struct Args {
    /// Int values in the big fixtures.
    pub values: u64,
    /// Dict values added to the fixtures for the key-path query (N / 20).
    pub dicts: u64,
    /// The measuring window of each throughput cell.
    pub window: Duration,
    pub json: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    /// Where the stores live (a temporary directory by default).
    pub dir: Option<PathBuf>,
    pub quick: bool,
    /// Keep the stores after the run (to profile them).
    pub keep: bool,
    /// Internal: run one child job and print its JSON.
    pub child: Option<String>,
    pub child_path: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        values: 1_000_000,
        dicts: 0,
        window: Duration::from_secs(3),
        json: None,
        svg: None,
        dir: None,
        quick: false,
        keep: false,
        child: None,
        child_path: None,
    };
    let mut values_given = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--values" => {
                a.values = val()?.replace('_', "").parse().map_err(|e| format!("--values: {e}"))?;
                values_given = true;
            }
            "--seconds" => {
                a.window = Duration::from_secs_f64(val()?.parse().map_err(|e| format!("--seconds: {e}"))?);
            }
            "--json" => a.json = Some(PathBuf::from(val()?)),
            "--svg" => a.svg = Some(PathBuf::from(val()?)),
            "--dir" => a.dir = Some(PathBuf::from(val()?)),
            "--quick" => a.quick = true,
            "--keep" => a.keep = true,
            "--child" => a.child = Some(val()?),
            "--child-path" => a.child_path = Some(PathBuf::from(val()?)),
            "--bench" => {} // passed by `cargo bench`-style runners; ignored
            "-h" | "--help" => {
                println!(
                    "usage: compare [--values N] [--quick] [--seconds S] [--json FILE] [--svg FILE] [--dir DIR]\n\
                     --values N   int values in the big fixtures (default 1,000,000; --quick: 20,000)\n\
                     --seconds S  measuring window of each throughput cell (default 3; --quick: 0.5)\n\
                     --json FILE  write the results as JSON\n\
                     --svg FILE   draw durable creates/s against writer threads\n\
                     --dir DIR    where the stores are built (default: a temporary directory)\n\
                     --keep       keep the stores afterwards (for profiling: --child fv-open|fv-hits|fv-creates|fv-range|fv-keypath --child-path DIR/fvstore;\n\
                     fv-durable-1|fv-durable-4|fv-durable-16|fv-add-values --child-path NEW_DIR)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}; try --help")),
        }
    }
    if a.quick {
        if !values_given {
            a.values = 20_000;
        }
        a.window = a.window.min(Duration::from_millis(500));
    }
    a.dicts = (a.values / 20).max(100);
    Ok(a)
}

/// VmRSS of this process, in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

/// (busy, total) jiffies of the whole machine, from /proc/stat.
fn machine_jiffies() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<f64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: f64 = cpu.iter().sum();
    let idle = cpu.get(3).copied().unwrap_or(0.0) + cpu.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

/// One measured cell: how busy this process and the machine were while it ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cell {
    pub label: String,
    pub threads: usize,
    pub ops: u64,
    pub wall_s: f64,
    pub per_s: f64,
    /// Cores this process kept busy on average.
    pub own_cores: f64,
    /// Cores the whole machine kept busy on average (ours included).
    pub machine_cores: f64,
}

/// Every cell measured so far, for the JSON and the noise summary.
pub fn cells() -> &'static std::sync::Mutex<Vec<Cell>> {
    static CELLS: std::sync::OnceLock<std::sync::Mutex<Vec<Cell>>> = std::sync::OnceLock::new();
    CELLS.get_or_init(Default::default)
}

/// Runs `op` on `threads` threads until `window` has passed; `op(thread, i)` does one unit of
/// work and returns how many operations it counted. Returns operations per second.
pub fn rate<F>(label: &str, threads: usize, window: Duration, op: F) -> f64
where
    F: Fn(usize, u64) -> u64 + Sync,
{
    let cpu0 = cpu_seconds();
    let (busy0, total0) = machine_jiffies();
    let start = Instant::now();
    let deadline = start + window;
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let op = &op;
                scope.spawn(move || {
                    let mut n = 0u64;
                    let mut i = 0u64;
                    loop {
                        n += op(t, i);
                        i += 1;
                        // Check the clock every few calls only: a hit costs well under a µs.
                        if i.is_multiple_of(16) && Instant::now() >= deadline {
                            break;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let wall = start.elapsed().as_secs_f64();
    let (busy1, total1) = machine_jiffies();
    let ncpu = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let cell = Cell {
        label: label.to_string(),
        threads,
        ops: total,
        wall_s: wall,
        per_s: total as f64 / wall,
        own_cores: (cpu_seconds() - cpu0) / wall,
        machine_cores: if total1 > total0 { ncpu * (busy1 - busy0) / (total1 - total0) } else { f64::NAN },
    };
    say(format!(
        "  {label}: {} /s ({} ops in {:.2} s; this process {:.2} cores, machine {:.2} cores busy)",
        report::num(cell.per_s),
        total,
        wall,
        cell.own_cores,
        cell.machine_cores
    ));
    let per_s = cell.per_s;
    cells().lock().map(|mut c| c.push(cell)).unwrap_or(());
    per_s
}

/// Runs a child job of this same binary and parses the one JSON object it prints last.
pub fn child(job: &str, path: &Path, args: &Args) -> serde_json::Value {
    child_env(job, path, args, &[])
}

/// glibc's malloc asks for transparent huge pages (glibc 2.35 and later): the setting a
/// deployment can choose, shown beside the default.
const HUGE_PAGES: (&str, &str) = ("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1");

/// `child`, with extra environment variables.
pub fn child_env(job: &str, path: &Path, args: &Args, env: &[(&str, &str)]) -> serde_json::Value {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .envs(env.iter().copied())
        .args(["--child", job, "--child-path"])
        .arg(path)
        .args(["--values", &args.values.to_string()])
        .args(["--seconds", &args.window.as_secs_f64().to_string()])
        .output()
        .expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!("child {job} failed: {}\n{}", String::from_utf8_lossy(&out.stderr), stdout);
    }
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or("{}");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("child {job} printed bad JSON ({e}): {line}"))
}

/// Prints a progress line to stderr (the table goes to stdout).
pub fn say(msg: impl AsRef<str>) {
    eprintln!("[{:>7.1}s] {}", started().elapsed().as_secs_f64(), msg.as_ref());
}

fn started() -> &'static Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now)
}

fn f(v: &serde_json::Value, key: &str) -> f64 {
    v.get(key).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    started();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Some(job) = args.child.clone() {
        let path = args.child_path.clone().expect("--child-path");
        let out = match job.as_str() {
            "fv-build" => fv::build(&path, &args),
            "fv-open" => fv::open(&path),
            "sq-build" => sq::build(&path, &args),
            "sq-open" => sq::open(&path),
            "fv-hits" => fv::profile(&path, &args, "hits"),
            "fv-creates" => fv::profile(&path, &args, "creates"),
            "fv-range" => fv::profile(&path, &args, "range"),
            "fv-keypath" => fv::profile(&path, &args, "keypath"),
            "fv-durable-1" => serde_json::json!({ "per_s": fv::durable_creates(&path, 1, &args) }),
            "fv-durable-4" => serde_json::json!({ "per_s": fv::durable_creates(&path, 4, &args) }),
            "fv-durable-16" => serde_json::json!({ "per_s": fv::durable_creates(&path, 16, &args) }),
            "fv-add-values" => serde_json::json!({ "per_s": fv::add_values_durable(&path, &args) }),
            other => panic!("unknown child job {other}"),
        };
        println!("{out}");
        // Skip destructors: an opened store would write a snapshot on close, which no
        // measurement wants to wait for.
        std::process::exit(0);
    }

    let tmp = tempfile::Builder::new()
        .prefix("fvstore-compare-")
        .tempdir_in(args.dir.clone().unwrap_or_else(std::env::temp_dir))
        .expect("temp dir");
    let root = tmp.path().to_path_buf();
    let fv_dir = root.join("fvstore");
    let sq_path = root.join("sqlite.db");
    let mut rep = Report::new(&args);
    say(format!(
        "N = {} int values (+ {} dicts), window {:?}, in {}",
        args.values,
        args.dicts,
        args.window,
        root.display()
    ));

    // Fixtures, memory, disk.
    say("building the fvstore fixture (child process)");
    let fb = child("fv-build", &fv_dir, &args);
    say(format!("  {fb}"));
    say("building the SQLite fixture (child process)");
    let sb = child("sq-build", &sq_path, &args);
    say(format!("  {sb}"));
    let n = args.values as f64;
    rep.push(
        Row::new(
            "load",
            "bulk load of N ints, one thread (fixture build)",
            "values/s",
            n / f(&fb, "load_ints_s"),
            n / f(&sb, "load_ints_s"),
            true,
        )
        .note(
            "fvstore: get_or_create per value, buffered; SQLite: plain INSERTs, 100k per transaction (no dedup SELECT)",
        ),
    );
    rep.push(
        Row::new(
            "mem",
            "RSS growth per int value, second half of the load",
            "bytes",
            (f(&fb, "rss_after_ints") - f(&fb, "rss_half_ints")) / (n / 2.0),
            (f(&sb, "rss_after_ints") - f(&sb, "rss_half_ints")) / (n / 2.0),
            false,
        )
        .note("the marginal cost: RSS growth while loading values N/2..N, divided by N/2"),
    );
    rep.push(
        Row::new(
            "mem",
            "RSS growth per stored int value",
            "bytes",
            (f(&fb, "rss_after_ints") - f(&fb, "rss_before")) / n,
            (f(&sb, "rss_after_ints") - f(&sb, "rss_before")) / n,
            false,
        )
        .note("measured in a fresh process around loading N ints; SQLite with its default page cache"),
    );
    rep.push(Row::new("disk", "disk bytes per stored int value", "bytes", f(&fb, "disk_bytes_ints") / n, f(&sb, "disk_bytes_ints") / n, false)
        .note(format!(
            "fvstore: Store::stats().disk_bytes after flush + snapshot (sled {} B, snapshots {} B; encoded events {} B = {:.1} B/event in format 1, the hashed form, and {} B = {:.1} B/event in log format {}, as stored: disk = {:.2}x / {:.2}x); SQLite: db + wal after a checkpoint",
            fb["sled_bytes_ints"], fb["snapshot_bytes_ints"], fb["encoded_event_bytes_ints"],
            f(&fb, "encoded_event_bytes_ints") / f(&fb, "events_ints"),
            fb["stored_event_bytes_ints"],
            f(&fb, "stored_event_bytes_ints") / f(&fb, "events_ints"),
            fvstore::codec::FORMAT_VERSION,
            f(&fb, "disk_bytes_ints") / f(&fb, "encoded_event_bytes_ints"),
            f(&fb, "disk_bytes_ints") / f(&fb, "stored_event_bytes_ints"),
        )));
    rep.extra("fvstore_build", fb.clone());
    rep.extra("sqlite_build", sb.clone());

    // W6: open.
    say(
        "W6 open: fvstore from snapshot x3 (and x1 with glibc huge pages), full replay x1, SQLite x3 (child processes)",
    );
    let snaps: Vec<serde_json::Value> = (0..3).map(|_| child("fv-open", &fv_dir, &args)).collect();
    let huge_open = child_env("fv-open", &fv_dir, &args, &[HUGE_PAGES]);
    let aside = root.join("snapshots-aside");
    std::fs::rename(fv_dir.join("snapshots"), &aside).expect("move snapshots aside");
    let full = child("fv-open", &fv_dir, &args);
    let _ = std::fs::remove_dir_all(fv_dir.join("snapshots"));
    std::fs::rename(&aside, fv_dir.join("snapshots")).expect("move snapshots back");
    let sqo: Vec<serde_json::Value> = (0..3).map(|_| child("sq-open", &sq_path, &args)).collect();
    let snap_s = median(snaps.iter().map(|v| f(v, "open_s")).collect());
    let sq_open_s = median(sqo.iter().map(|v| f(v, "open_s")).collect());
    let events = f(&full, "events");
    rep.push(Row::new("W6", "open from snapshot (SQLite: open + count)", "s", snap_s, sq_open_s, false).note(format!(
        "median of 3; {} events; RSS after open {:.0} B per value; with {}={}: {:.3} s",
        full["events"],
        f(&snaps[0], "rss_growth") / f(&snaps[0], "values"),
        HUGE_PAGES.0,
        HUGE_PAGES.1,
        f(&huge_open, "open_s")
    )));
    rep.push(
        Row::new("W6", "open by full replay (SQLite: open + count)", "s", f(&full, "open_s"), sq_open_s, false)
            .note(format!("{:.0} events/s", events / f(&full, "open_s"))),
    );
    rep.extra("fvstore_open_snapshot", serde_json::Value::Array(snaps));
    rep.extra("fvstore_open_replay", full);
    rep.extra("fvstore_open_snapshot_huge_pages", huge_open);
    rep.extra("sqlite_open", serde_json::Value::Array(sqo));

    // W1, W5, W2 on the big fixtures.
    // Before W2 grows the fixture.
    say("W1 on fvstore with glibc huge pages (child process)");
    let huge_hits = child_env("fv-hits", &fv_dir, &args, &[HUGE_PAGES]);
    say("W1/W5/W2 on fvstore");
    let fw = fv::on_fixture(&fv_dir, &args);
    say("W1 on a small fvstore, all in cache (a reference for W1's target)");
    let cached_hits = fv::hits_in_cache(&root.join("w1-small"), &args);
    say("W1/W5/W2 on SQLite");
    let sw = sq::on_fixture(&sq_path, &args);
    rep.push(Row::new("W1", "get_or_create hit, 1 thread", "hits/s", fw.hit1, sw.hit1, true).note(format!(
        "with {}={} (a child process): {:.0} hits/s; on a store of {} ints, all in cache: {:.0} hits/s",
        HUGE_PAGES.0,
        HUGE_PAGES.1,
        f(&huge_hits, "per_s"),
        fv::SMALL,
        cached_hits
    )));
    rep.extra("fvstore_hits_in_cache_per_s", serde_json::json!(cached_hits));
    rep.push(Row::new("W1", "get_or_create hit, 2 threads", "hits/s", fw.hit2, sw.hit2, true));
    rep.push(Row::new("W2", "create, buffered, 1 thread", "creates/s", fw.create, sw.create, true)
        .note("fvstore: one commit per get_or_create, buffered, default snapshot_every; SQLite: SELECT + INSERT, 1,000 per transaction, synchronous=NORMAL"));
    rep.push(
        Row::new("W5", "range filter returning ~100 of N", "queries/s", fw.range, sw.range, true)
            .note("feature = n AND value >= x AND value < x + 100; SQLite: index (feature_id, value_num)"),
    );
    rep.push(Row::new("W5", "dict key-path equality (value__batch)", "queries/s", fw.keypath, sw.keypath, true).note(
        format!(
            "feature = params ({} dicts) AND value.batch = x; fvstore's first such query, which builds the path's \
             index, took {:.1} ms; SQLite: json_extract on a TEXT column; with an expression index on \
             (feature_id, json_extract(value, '$.batch')), built in {:.2} s after the other cells: {:.0} queries/s \
             (fvstore {:.2}x)",
            args.dicts,
            fw.keypath_first_s * 1e3,
            sw.expr_index_s,
            sw.keypath_indexed,
            fw.keypath / sw.keypath_indexed
        ),
    ));
    rep.extra("sqlite_keypath_expression_index_per_s", serde_json::json!(sw.keypath_indexed));
    rep.extra("fvstore_keypath_first_query_s", serde_json::json!(fw.keypath_first_s));

    // W3: durable creates against writer threads.
    let mut curve = Vec::new();
    for threads in [1usize, 4, 16] {
        say(format!("W3 durable creates, {threads} writers"));
        let fvr = fv::durable_creates(&root.join(format!("w3-fv-{threads}")), threads, &args);
        let sqr = sq::durable_creates(&root.join(format!("w3-sq-{threads}.db")), threads, &args);
        rep.push(Row::new(
            "W3",
            &format!("create, durable, {threads} writer{}", if threads == 1 { "" } else { "s" }),
            "creates/s",
            fvr,
            sqr,
            true,
        ));
        curve.push((threads, fvr, sqr));
    }
    rep.curve = curve;

    // W4: add_values durable.
    say("W4 add_values of 1,000 values per call, durable");
    let probe = disk::append_sync(&root, Duration::from_secs(1));
    say(format!("  the disk alone, append + fdatasync: {probe}"));
    let fv4 = fv::add_values_durable(&root.join("w4-fv"), &args);
    let sq4 = sq::add_values_durable(&root.join("w4-sq.db"), &args);
    rep.push(Row::new("W4", "add_values, 1,000 new values per call, durable", "values/s", fv4, sq4, true).note(
        format!(
            "one new artifact per call, 10 int features; SQLite: SELECT + INSERT + link INSERT per value, one \
         transaction per call, synchronous=FULL; the disk alone just before (a {} KiB append + fdatasync, what \
         sled writes for a call): median {:.3} ms, p90 {:.3} ms",
            disk::CALL_BYTES / 1024,
            f(&probe, "median_ms"),
            f(&probe, "p90_ms")
        ),
    ));
    rep.extra("disk_append_sync_before_w4", probe);

    rep.elapsed = started().elapsed();
    let measured = cells().lock().map(|c| c.clone()).unwrap_or_default();
    rep.extra("cells", serde_json::to_value(&measured).unwrap_or_default());
    println!("{}", rep.table());
    if let Some(p) = &args.json {
        std::fs::write(p, rep.json()).expect("write json");
        say(format!("wrote {}", p.display()));
    }
    if let Some(p) = &args.svg {
        std::fs::write(p, report::svg(&rep.curve)).expect("write svg");
        say(format!("wrote {}", p.display()));
    }
    say(format!("done in {:.1} s", rep.elapsed.as_secs_f64()));
    if args.keep {
        let kept = tmp.keep();
        say(format!("kept the stores in {}", kept.display()));
    }
}
