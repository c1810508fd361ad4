//! `fvstore demo`: a realistic lab played against a fresh store, then the store is closed,
//! reopened from its snapshot, replayed from its log, verified and queried, and a summary is
//! printed.
//!
//! The phases, in order:
//! 1. setup — users, spaces with roles, ~20 features of mixed dtypes (buffered store);
//! 2. bulk — epochs of runs: each starts runs, creates their artifacts, submits values under
//!    them from worker threads (`get_or_create` and `add_values`), finishes them (`workload`);
//! 3. a draft branch worked on and merged, then curation: lock, archive, trash, restore,
//!    delete for good (`edits`); flush and close (the close writes a snapshot);
//! 4. durable — the store reopened durable, new values from 1, 4 and 16 threads (group commit);
//! 5. checks — reopen from the snapshot, full replay, verify, queries (`report`).
//!
//! Everything is drawn from one seeded generator per worker, so the same seed submits the same
//! values; with more than one thread the ids they get depend on scheduling.

mod edits;
mod lab;
mod report;
mod workload;

use super::output::{self, count};
use super::{Fail, Format, Outcome};
use fvstore::{Durability, Options, Store};
use report::Phase;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// The store directory; an existing store there is replaced.
    #[arg(long, value_name = "DIR", default_value = "./fvstore-demo")]
    db: PathBuf,
    /// How many values to submit (get_or_create calls plus add_values entries).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    values: u64,
    /// Seed of the random lab.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Worker threads of the bulk phase (default: the number of cores, at most 4).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    format: Format,
}

/// Removes a previous demo store, refusing to touch a directory that is not a store.
fn clear(db: &Path) -> Outcome {
    if !db.exists() {
        return Ok(());
    }
    let is_store = db.join("log").join("db").is_file();
    let is_empty = std::fs::read_dir(db).map(|mut d| d.next().is_none()).unwrap_or(false);
    if !is_store && !is_empty {
        return Err(Fail::new(format!(
            "{} exists and is not an fvstore store; choose another --db or remove it yourself",
            db.display()
        )));
    }
    std::fs::remove_dir_all(db).map_err(|e| Fail::new(format!("cannot replace {}: {e}", db.display())))
}

pub fn run(a: &DemoArgs) -> Outcome {
    if a.values == 0 {
        return Err(Fail::new("--values must be at least 1"));
    }
    let started = Instant::now();
    clear(&a.db)?;
    let threads =
        a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()).min(4)).clamp(1, 64);
    let n = a.values;
    let plan = workload::Plan {
        values: n,
        runs: (n / 3000).clamp(12, 333),
        artifacts: (n / 330).clamp(30, 3000),
        epochs: (n / 2000).clamp(1, 10),
        threads,
        seed: a.seed,
    };
    let fail = |e: String| Fail::new(format!("demo: {e}"));
    let mut phases = Vec::new();

    // 1. Setup, buffered.
    let t = Instant::now();
    let buffered = Options { durability: Durability::Buffered, ..Options::default() };
    let store = Store::open_with(&a.db, buffered)?;
    let owner = store.session();
    let users = lab::create_users(&owner)?;
    let mut groups = lab::groups(n, &users);
    let ops = lab::create(&owner, &mut groups, &users)? + users.len() as u64;
    phases.push(Phase::new("setup: users, spaces, roles, features", ops, t.elapsed()));

    // 2. Bulk.
    let pb = output::bar(n, "bulk values (buffered)");
    let t = Instant::now();
    let before = store.stats().values as u64;
    let tally = workload::run(&store, &mut groups, plan, &pb).map_err(fail)?;
    let took = t.elapsed();
    pb.finish_and_clear();
    let created = store.stats().values as u64 - before;
    let calls = tally.get_or_create_calls + tally.add_values_calls;
    phases.push(Phase::new(
        format!(
            "bulk: {} runs, {} artifacts, {} calls, {threads} thread{}",
            count(tally.runs),
            count(tally.artifacts),
            count(calls),
            if threads == 1 { "" } else { "s" }
        ),
        tally.submitted,
        took,
    ));
    let mid = tally.epoch_heads.get(tally.epoch_heads.len() / 2).copied().unwrap_or(0);

    // 3. Draft branch, then curation; flush and close.
    let mut rng = fastrand::Rng::with_seed(a.seed ^ 0xD1CE);
    let mut candidates = tally.candidates.clone();
    let t = Instant::now();
    let imaging = groups.iter().find(|g| g.name == "imaging").ok_or_else(|| fail("no imaging group".into()))?;
    let empty = Vec::new();
    let imaging_candidates = groups.iter().position(|g| g.name == "imaging").map_or(&empty, |i| &candidates[i]);
    let d = edits::draft(&store, imaging, imaging_candidates, (n / 2000).clamp(5, 200), &mut rng).map_err(fail)?;
    phases.push(Phase::new(
        format!("draft branch: {} artifacts, {} records merged", count(d.artifacts), count(d.merged)),
        d.ops,
        t.elapsed(),
    ));
    let t = Instant::now();
    let e = edits::curate(&store, &groups, &mut candidates, (n / 200).clamp(50, 5000), &mut rng).map_err(fail)?;
    phases.push(Phase::new(
        format!(
            "curation: {} locked, {} archived, {} trashed, {} restored, {} deleted",
            count(e.locked),
            count(e.archived),
            count(e.trashed),
            count(e.restored),
            count(e.deleted)
        ),
        e.total(),
        t.elapsed(),
    ));
    let t = Instant::now();
    store.flush()?;
    drop(owner);
    drop(store);
    phases.push(Phase::new("flush and close (writes a snapshot)", 0, t.elapsed()));

    // 4. Durable, with group commit.
    let writers: Vec<u64> = ["erin", "frank", "bob"].iter().filter_map(|h| users.get(h).copied()).collect();
    let durable_ops = (n / 2000).clamp(64, 400);
    let durable = edits::durable(&a.db, &writers, durable_ops)
        .map_err(fail)?
        .into_iter()
        .map(|d| {
            let name = format!("durable get_or_create, {} thread{}", d.threads, if d.threads == 1 { "" } else { "s" });
            Phase::new(name, d.ops, d.took)
        })
        .collect();

    // 5. Reopen, replay, verify, query.
    let checked = report::reopen_and_check(&a.db, mid).map_err(fail)?;
    let summary = report::Summary {
        db: a.db.display().to_string(),
        values: n,
        seed: a.seed,
        threads,
        submitted: tally.submitted,
        created,
        nulls: tally.nulls,
        phases,
        durable,
        reopen: checked.phases,
        answers: checked.answers,
        stats: checked.stats,
        state_hash: checked.state_hash,
        total: started.elapsed(),
    };
    if a.format.json {
        output::print_json(&summary.json())
    } else {
        output::print(&summary.text())
    }
}
