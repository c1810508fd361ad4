//! Maintenance commands: `init`, `verify`, `snapshot`, `replay`, `stats`, `dump`.

use super::output::{self, bytes, count, duration, open, print, print_json, rate, secs_json, spinner, Table};
use super::{Fail, Outcome};
use fvstore::codec::hex;
use fvstore::{Options, Stats, Store};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// `fvstore init DIR`: creates an empty store; refuses a directory that already holds one.
pub fn init(dir: &Path, json: bool) -> Outcome {
    if dir.join("log").exists() {
        return Err(Fail::new(format!("{} already holds a store; `fvstore stats --db {0}` shows it", dir.display())));
    }
    let store = Store::open_with(dir, Options::default())?;
    let (seq, head) = store.head();
    drop(store);
    if json {
        print_json(&json!({"created": dir.display().to_string(), "head": {"seq": seq, "hash": hex(&head)}}))
    } else {
        print(&format!("created an empty store in {}\n", dir.display()))
    }
}

/// `fvstore verify`: the chain, a full replay, the newest snapshot and the live state agree.
pub fn verify(db: &Path, json: bool) -> Outcome {
    let store = open(db, Options::default())?;
    let (events, _) = store.head();
    let sp = spinner(format!("verifying {} events", count(events)));
    let t = Instant::now();
    let v = store.verify();
    sp.finish_and_clear();
    let v = v?;
    let took = t.elapsed();
    if json {
        return print_json(&json!({
            "ok": true, "events": v.events, "head": {"seq": v.head.0, "hash": hex(&v.head.1)},
            "state_hash": hex(&v.state_hash), "seconds": secs_json(took)}));
    }
    print(&format!(
        "ok: {} events verified in {} (chain, full replay, newest snapshot and live state agree)\n\
         head        event {}  {}\n\
         state hash  {}\n",
        count(v.events),
        duration(took),
        count(v.head.0),
        hex(&v.head.1),
        hex(&v.state_hash)
    ))
}

/// The file a snapshot at `seq` is written to (docs/FORMAT.md: `snapshots/snap-<seq>.bin`).
fn snapshot_path(db: &Path, seq: u64) -> PathBuf {
    db.join("snapshots").join(format!("snap-{seq:020}.bin"))
}

/// `fvstore snapshot`: writes a snapshot of the current state now.
pub fn snapshot(db: &Path, json: bool) -> Outcome {
    let store = open(db, Options::default())?;
    let sp = spinner("writing a snapshot");
    let seq = store.snapshot();
    sp.finish_and_clear();
    let seq = seq?;
    drop(store);
    let path = snapshot_path(db, seq);
    let size = std::fs::metadata(&path).map(|m| m.len()).ok();
    if json {
        return print_json(&json!({"seq": seq, "path": path.display().to_string(), "bytes": size}));
    }
    let size = size.map(|n| format!(", {}", bytes(n))).unwrap_or_default();
    print(&format!("snapshot written at event {} ({}{size})\n", count(seq), path.display()))
}

/// `fvstore replay`: rebuilds the state from the log alone.
pub fn replay(db: &Path, to: Option<u64>, json: bool) -> Outcome {
    let store = open(db, Options::default())?;
    let (head, _) = store.head();
    let sp = spinner(format!("replaying {} events", count(to.unwrap_or(head).min(head))));
    let t = Instant::now();
    let result = store.replay_log(to);
    sp.finish_and_clear();
    let (stats, hash) = result?;
    let took = t.elapsed();
    // A replay to the end must give the state the store opened with.
    let matches = (stats.events == head).then(|| store.state_hash() == hash);
    if matches == Some(false) {
        return Err(Fail {
            message: format!(
                "the replay of the log differs from the store's state (state hash {}); run `fvstore verify --db {}`",
                hex(&hash),
                db.display()
            ),
            code: 3,
        });
    }
    if json {
        return print_json(&json!({
            "events": stats.events, "state_hash": hex(&hash), "matches_live_state": matches,
            "seconds": secs_json(took), "counts": counts_json(&stats)}));
    }
    let mut out = format!(
        "replayed {} events from the log in {} ({} events/s)\nstate hash  {}{}\n\n",
        count(stats.events),
        duration(took),
        rate(stats.events, took).trim_end_matches("/s"),
        hex(&hash),
        if matches == Some(true) { "  (equals the live state)" } else { "" }
    );
    out.push_str(&registry_table(&stats).render());
    print(&out)
}

fn counts_json(s: &Stats) -> Json {
    json!({"users": s.users, "spaces": s.spaces, "branches": s.branches, "runs": s.runs,
           "features": s.features, "artifacts": s.artifacts, "values": s.values, "links": s.links})
}

/// Branch state codes and the names of their columns.
const STATES: [(i64, &str); 5] = [(1, "main"), (2, "locked"), (3, "template"), (0, "archive"), (-1, "trash")];

/// Counts per registry, and per branch state for features, artifacts and values; records on
/// user branches (id ≥ 4) are summed in the `drafts` column.
pub fn registry_table(s: &Stats) -> Table {
    let mut t = Table::new(&["registry", ">total", ">main", ">locked", ">template", ">archive", ">trash", ">drafts"]);
    let plain = |name: &str, n: usize| {
        let mut r = vec![name.to_string(), count(n as u64)];
        r.extend(std::iter::repeat_n(String::new(), 6));
        r
    };
    let by_state = |name: &str, n: usize, by: &BTreeMap<i64, usize>| {
        let mut r = vec![name.to_string(), count(n as u64)];
        for (code, _) in STATES {
            r.push(count(by.get(&code).copied().unwrap_or(0) as u64));
        }
        r.push(count(by.range(4..).map(|(_, n)| *n as u64).sum()));
        r
    };
    t.row(plain("users", s.users));
    t.row(plain("spaces", s.spaces));
    t.row(plain("branches", s.branches));
    t.row(plain("runs", s.runs));
    t.row(by_state("features", s.features, &s.features_by_branch));
    t.row(by_state("artifacts", s.artifacts, &s.artifacts_by_branch));
    t.row(by_state("values", s.values, &s.values_by_branch));
    t.row(plain("links", s.links));
    t
}

fn by_state_json(by: &BTreeMap<i64, usize>) -> Json {
    let mut m = serde_json::Map::new();
    for (code, name) in STATES {
        m.insert(name.to_string(), json!(by.get(&code).copied().unwrap_or(0)));
    }
    m.insert("drafts".to_string(), json!(by.range(4..).map(|(_, n)| *n).sum::<usize>()));
    Json::Object(m)
}

/// How long ago a file was written.
fn age(path: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    SystemTime::now().duration_since(modified).ok()
}

fn ago(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// `fvstore stats`.
pub fn stats(db: &Path, json: bool) -> Outcome {
    let store = open(db, Options::default())?;
    let s = store.stats();
    let (_, head) = store.head();
    drop(store);
    let snap_age = s.snapshot_seq.and_then(|seq| age(&snapshot_path(db, seq)));
    if json {
        return print_json(&json!({
            "store": db.display().to_string(),
            "events": s.events,
            "head": {"seq": s.events, "hash": hex(&head)},
            "snapshot": s.snapshot_seq.map(|seq| json!({
                "seq": seq, "events_behind": s.events.saturating_sub(seq),
                "age_seconds": snap_age.map(|d| d.as_secs())})),
            "disk_bytes": s.disk_bytes,
            "counts": counts_json(&s),
            "features_by_state": by_state_json(&s.features_by_branch),
            "artifacts_by_state": by_state_json(&s.artifacts_by_branch),
            "values_by_state": by_state_json(&s.values_by_branch),
        }));
    }
    let snapshot = match s.snapshot_seq {
        Some(seq) => format!(
            "at event {} ({} events behind{})",
            count(seq),
            count(s.events.saturating_sub(seq)),
            snap_age.map(|d| format!(", written {}", ago(d))).unwrap_or_default()
        ),
        None => "none".to_string(),
    };
    let mut out = format!(
        "store     {}\nevents    {}\nhead      {}\nsnapshot  {snapshot}\ndisk      {}\n\n",
        db.display(),
        count(s.events),
        hex(&head),
        bytes(s.disk_bytes)
    );
    out.push_str(&registry_table(&s).render());
    print(&out)
}

/// `fvstore dump`: sled's trees as they are, one record per line.
pub fn dump(db: &Path) -> Outcome {
    let store = open(db, Options::default())?;
    let mut w = output::PipeWriter::new(BufWriter::new(std::io::stdout().lock()), None);
    let result = store.dump(&mut w).and_then(|()| std::io::Write::flush(&mut w).map_err(fvstore::Error::from));
    result.map_err(|e| w.fail(e))
}
