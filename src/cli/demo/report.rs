//! The demo's read side: reopening (from the snapshot, then by a full replay of the log),
//! verification, a few queries, and the summary table.

use crate::cli::output::{self, bytes, count, duration, rate, secs_json, Table};
use fvstore::codec::hex;
use fvstore::{Query, Stats, Store, Value};
use serde_json::{json, Value as Json};
use std::time::{Duration, Instant};

/// A timed phase: what, how many operations, how long.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub ops: u64,
    pub took: Duration,
}

impl Phase {
    /// A finished phase; says so on a terminal.
    pub fn new(name: impl Into<String>, ops: u64, took: Duration) -> Phase {
        let p = Phase { name: name.into(), ops, took };
        output::note(&format!("✓ {} ({})", p.name, duration(p.took)));
        p
    }
}

/// A timed query and what it found.
#[derive(Debug, Clone)]
pub struct Answer {
    pub what: String,
    pub found: u64,
    pub took: Duration,
}

fn timed<T>(f: impl FnOnce() -> fvstore::Result<T>) -> Result<(T, Duration), String> {
    let t = Instant::now();
    let out = f().map_err(|e| e.message())?;
    Ok((out, t.elapsed()))
}

/// Runs the demo's queries as alice (who reads every space of the lab). `mid` is an event in
/// the middle of the bulk phase, for the as-of query.
pub fn queries(store: &Store, mid: u64) -> Result<Vec<Answer>, String> {
    let alice = store.as_user("alice").map_err(|e| e.message())?;
    let mut out = Vec::new();
    let mut ask = |what: &str, f: &dyn Fn() -> fvstore::Result<u64>| -> Result<(), String> {
        let (found, took) = timed(f).map_err(|e| format!("query {what}: {e}"))?;
        out.push(Answer { what: what.to_string(), found, took });
        Ok(())
    };
    let fever = || Query::new().filter("feature", "temperature").filter("value__gte", 37.5).filter("value__lt", 38.5);
    ask("temperature in [37.5, 38.5)", &|| Ok(alice.count(&fever())? as u64))?;
    ask("params with value__lr = 0.001", &|| {
        Ok(alice.count(&Query::new().filter("feature", "params").filter("value__lr", 0.001))? as u64)
    })?;
    ask("instrument with value__settings__gain = 3", &|| {
        Ok(alice.count(&Query::new().filter("feature", "instrument").filter("value__settings__gain", 3))? as u64)
    })?;
    ask("top 10 cell_count, ordered by -value", &|| {
        Ok(alice.filter(&Query::new().filter("feature", "cell_count").order_by("-value").limit(10))?.len() as u64)
    })?;
    ask("artifacts with temperature > 38.5", &|| {
        Ok(alice.filter_artifacts(&[("temperature__gt".to_string(), Value::Float(38.5))])?.len() as u64)
    })?;
    ask("runs with a params value, optimizer adam", &|| {
        Ok(alice.filter_runs(&[("params__optimizer".to_string(), Value::from("adam"))])?.len() as u64)
    })?;
    ask(&format!("as of event {}: temperature in [37.5, 38.5)", count(mid)), &|| {
        let past = store.as_of(mid)?;
        Ok(past.as_user("alice")?.count(&fever())? as u64)
    })?;
    Ok(out)
}

/// Everything the summary shows.
pub struct Summary {
    pub db: String,
    pub values: u64,
    pub seed: u64,
    pub threads: usize,
    pub submitted: u64,
    pub created: u64,
    pub nulls: u64,
    pub phases: Vec<Phase>,
    pub durable: Vec<Phase>,
    pub reopen: Vec<Phase>,
    pub answers: Vec<Answer>,
    pub stats: Stats,
    pub state_hash: [u8; 32],
    pub total: Duration,
}

impl Summary {
    fn hits(&self) -> u64 {
        self.submitted.saturating_sub(self.created + self.nulls)
    }

    fn pct(&self, n: u64) -> String {
        if self.submitted == 0 {
            return "-".into();
        }
        format!("{:.1}%", 100.0 * n as f64 / self.submitted as f64)
    }

    pub fn text(&self) -> String {
        let mut s = format!(
            "fvstore demo summary: {} values submitted with seed {} on {} thread{} into {}\n\n",
            count(self.values),
            self.seed,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.db
        );
        let mut t = Table::new(&["phase", ">ops", ">time", ">ops/s"]);
        for p in self.phases.iter().chain(&self.durable).chain(&self.reopen) {
            let (ops, per_second) =
                if p.ops == 0 { (String::new(), "-".to_string()) } else { (count(p.ops), rate(p.ops, p.took)) };
            t.row(vec![p.name.clone(), ops, duration(p.took), per_second]);
        }
        s.push_str(&t.render());
        s.push('\n');
        let mut t = Table::new(&["values submitted", ">count", ">share"]);
        t.row(vec!["created (get_or_create misses)".into(), count(self.created), self.pct(self.created)]);
        t.row(vec!["hits (existing value returned)".into(), count(self.hits()), self.pct(self.hits())]);
        t.row(vec!["nulls skipped (add_values)".into(), count(self.nulls), self.pct(self.nulls)]);
        t.row(vec!["total".into(), count(self.submitted), self.pct(self.submitted)]);
        s.push_str(&t.render());
        s.push('\n');
        s.push_str(&crate::cli::admin::registry_table(&self.stats).render());
        s.push('\n');
        let mut t = Table::new(&["query", ">found", ">time"]);
        for a in &self.answers {
            t.row(vec![a.what.clone(), count(a.found), duration(a.took)]);
        }
        s.push_str(&t.render());
        s.push('\n');
        let per_value = if self.stats.values == 0 { 0 } else { self.stats.disk_bytes / self.stats.values as u64 };
        let mut t = Table::new(&["store", ">value"]);
        t.row(vec!["events in the log".into(), count(self.stats.events)]);
        t.row(vec!["disk size".into(), bytes(self.stats.disk_bytes)]);
        t.row(vec!["bytes per value".into(), count(per_value)]);
        t.row(vec!["state hash".into(), hex(&self.state_hash)]);
        t.row(vec!["demo wall time".into(), duration(self.total)]);
        s.push_str(&t.render());
        s
    }

    pub fn json(&self) -> Json {
        let phase = |p: &Phase| {
            json!({"phase": p.name, "ops": p.ops, "seconds": secs_json(p.took),
                   "ops_per_second": if p.took.is_zero() { 0.0 } else { (p.ops as f64 / p.took.as_secs_f64()).round() }})
        };
        let st = &self.stats;
        json!({
            "db": self.db, "values": self.values, "seed": self.seed, "threads": self.threads,
            "submitted": self.submitted, "created": self.created, "hits": self.hits(), "nulls": self.nulls,
            "phases": self.phases.iter().map(phase).collect::<Vec<_>>(),
            "durable": self.durable.iter().map(phase).collect::<Vec<_>>(),
            "reopen": self.reopen.iter().map(phase).collect::<Vec<_>>(),
            "queries": self.answers.iter().map(|a| json!({"query": a.what, "found": a.found, "seconds": secs_json(a.took)})).collect::<Vec<_>>(),
            "counts": {"users": st.users, "spaces": st.spaces, "branches": st.branches, "runs": st.runs,
                       "features": st.features, "artifacts": st.artifacts, "values": st.values, "links": st.links},
            "values_by_branch": st.values_by_branch.iter().map(|(b, n)| (b.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "events": st.events, "disk_bytes": st.disk_bytes,
            "bytes_per_value": if st.values == 0 { 0 } else { st.disk_bytes / st.values as u64 },
            "state_hash": hex(&self.state_hash), "seconds": secs_json(self.total),
        })
    }
}

/// What reopening and checking found.
pub struct Checked {
    pub phases: Vec<Phase>,
    pub answers: Vec<Answer>,
    pub stats: Stats,
    pub state_hash: [u8; 32],
}

/// Reopens the closed store from its snapshot, replays the whole log, verifies, and queries.
pub fn reopen_and_check(db: &std::path::Path, mid: u64) -> Result<Checked, String> {
    let mut phases = Vec::new();
    let sp = output::spinner("reopening from the snapshot");
    let (store, took) = timed(|| Store::open_existing(db, fvstore::Options::default()))?;
    sp.finish_and_clear();
    output::warn_all(&store);
    let (events, _) = store.head();
    phases.push(Phase::new("reopen from snapshot (events)", events, took));
    let live = store.state_hash();
    let sp = output::spinner(format!("replaying {} events from the log", count(events)));
    let ((_, replayed), took) = timed(|| store.replay_log(None))?;
    sp.finish_and_clear();
    if replayed != live {
        return Err(format!(
            "the full replay ({}) differs from the state opened from the snapshot ({})",
            hex(&replayed),
            hex(&live)
        ));
    }
    phases.push(Phase::new("full replay of the log (events)", events, took));
    let sp = output::spinner(format!("verifying {} events", count(events)));
    let (v, took) = timed(|| store.verify())?;
    sp.finish_and_clear();
    phases.push(Phase::new("verify: chain + replay + snapshot (events)", v.events, took));
    let sp = output::spinner("querying");
    let answers = queries(&store, mid);
    sp.finish_and_clear();
    let stats = store.stats();
    Ok(Checked { phases, answers: answers?, stats, state_hash: live })
}
