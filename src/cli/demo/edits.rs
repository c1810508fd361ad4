//! After the bulk phase: curation (locks, archives, trash, restores, permanent deletes), a draft
//! branch that is worked on and merged, and the durable phase that shows group commit.

use super::lab::Group;
use crate::cli::output;
use fvstore::{Context, Host, Options, RecordRef, RecordType, Ref, Session, Store, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// How many edits of each kind were made.
#[derive(Debug, Default, Clone, Copy)]
pub struct Edits {
    pub locked: u64,
    pub archived: u64,
    pub trashed: u64,
    pub restored: u64,
    pub deleted: u64,
    /// Candidates found linked (a later add_values hit them), kept in trash.
    pub kept_linked: u64,
}

impl Edits {
    pub fn total(&self) -> u64 {
        self.locked + self.archived + self.trashed + self.restored + self.deleted
    }
}

fn session(store: &Store, user: u64, space: u64) -> Session {
    store.with_context(Context { user, space, ..Context::default() })
}

fn value(id: u64) -> RecordRef {
    RecordRef { kind: RecordType::Value, id }
}

fn why(what: &str, id: u64, e: fvstore::Error) -> String {
    format!("{what} value {id}: {}", e.message())
}

/// Curates up to `budget` values among the candidates (values created by a direct
/// get_or_create): admins lock and archive, writers trash; some trashed values are restored and
/// some, when nothing links them, deleted for good.
pub fn curate(
    store: &Store,
    groups: &[Group],
    candidates: &mut [Vec<u64>],
    budget: u64,
    rng: &mut fastrand::Rng,
) -> Result<Edits, String> {
    let mut n = Edits::default();
    let pb = output::bar(budget, "curating values");
    for (g, cands) in groups.iter().zip(candidates.iter_mut()) {
        rng.shuffle(cands);
        let mine = (budget * u64::from(g.share) / 100) as usize;
        let admin = session(store, g.admin, g.space);
        let writer = session(store, g.writers[0], g.space);
        let take: Vec<u64> = cands.drain(..mine.min(cands.len())).collect();
        for (i, id) in take.into_iter().enumerate() {
            match i % 10 {
                0 | 1 => {
                    admin.set_branch(value(id), Ref::Id(2)).map_err(|e| why("locking", id, e))?;
                    n.locked += 1;
                }
                2 => {
                    admin.set_branch(value(id), Ref::Id(0)).map_err(|e| why("archiving", id, e))?;
                    n.archived += 1;
                }
                _ => {
                    writer.delete(value(id), false).map_err(|e| why("trashing", id, e))?;
                    n.trashed += 1;
                    match i % 10 {
                        3 | 4 => {
                            writer.restore(value(id)).map_err(|e| why("restoring", id, e))?;
                            n.restored += 1;
                        }
                        5..=7 => {
                            let rec = writer.get(id).map_err(|e| why("reading", id, e))?;
                            if rec.artifact_ids.is_empty() && rec.run_ids.is_empty() {
                                writer.delete(value(id), true).map_err(|e| why("deleting", id, e))?;
                                n.deleted += 1;
                            } else {
                                n.kept_linked += 1;
                            }
                        }
                        _ => {}
                    }
                }
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(n)
}

/// What happened on the draft branch.
#[derive(Debug, Default, Clone, Copy)]
pub struct Draft {
    pub ops: u64,
    pub artifacts: u64,
    pub moved_in: u64,
    pub merged: u64,
}

/// alice opens a draft branch in imaging, adds a feature and annotated artifacts under a run,
/// moves a few main values into it, and merges it.
pub fn draft(
    store: &Store,
    imaging: &Group,
    candidates: &[u64],
    size: u64,
    rng: &mut fastrand::Rng,
) -> Result<Draft, String> {
    let fail = |what: &str, e: fvstore::Error| format!("draft branch: {what}: {}", e.message());
    let alice = session(store, imaging.admin, imaging.space);
    let branch = alice.create_branch("relabel-2026").map_err(|e| fail("creating it", e))?;
    let run = alice.start_run("segmentation relabel").map_err(|e| fail("starting its run", e))?;
    let on = alice.clone().on_branch(branch.id).with_run(run.id);
    let mut d = Draft { ops: 3, ..Draft::default() };
    on.create_feature(&fvstore::FeatureSpec::new("segmentation_model", "str")).map_err(|e| fail("feature", e))?;
    let temperature = imaging.features.iter().find(|f| f.name == "temperature");
    let pb = output::bar(size, "draft branch");
    for k in 0..size {
        let a = on.create_artifact(&format!("imaging/relabel/mask_{k:04}.zarr")).map_err(|e| fail("artifact", e))?;
        let mut values = vec![("segmentation_model".to_string(), Value::Str(format!("cellpose-v{}", k % 5)))];
        if let Some(t) = temperature {
            values.push(("temperature".to_string(), t.gen.draw(rng)));
        }
        on.add_values(Host::Artifact(a.id), &values).map_err(|e| fail("add_values", e))?;
        d.artifacts += 1;
        d.ops += 2;
        pb.inc(1);
    }
    pb.finish_and_clear();
    for id in candidates.iter().take(10) {
        // Only values still on main can move into the draft.
        if on.get(*id).is_ok_and(|v| v.branch_id == 1) {
            on.set_branch(value(*id), Ref::Id(branch.id)).map_err(|e| fail("moving a value in", e))?;
            d.moved_in += 1;
            d.ops += 1;
        }
    }
    d.merged = alice.merge_branch(Ref::Id(branch.id)).map_err(|e| fail("merging", e))? as u64;
    alice.finish_run(run.id).map_err(|e| fail("finishing its run", e))?;
    d.ops += 2;
    Ok(d)
}

/// One setting of the durable phase.
#[derive(Debug, Clone, Copy)]
pub struct Durable {
    pub threads: usize,
    pub ops: u64,
    pub took: Duration,
}

/// Reopens the store durable (each call returns after fdatasync) and creates `ops` new values
/// with 1, 4 and 16 threads: concurrent writers share flushes (group commit).
pub fn durable(db: &Path, writers: &[u64], ops: u64) -> Result<Vec<Durable>, String> {
    let fail = |e: fvstore::Error| format!("durable phase: {}", e.message());
    let store = Store::open_with(db, Options::default()).map_err(fail)?;
    store.session().create_feature(&fvstore::FeatureSpec::new("barcode", "str")).map_err(fail)?;
    let mut out = Vec::new();
    for threads in [1usize, 4, 16] {
        let pb = output::bar(ops, format!("durable, {threads} thread{}", if threads == 1 { "" } else { "s" }));
        let t = Instant::now();
        let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|w| {
                    let me = session(&store, writers[w % writers.len()], 1);
                    let share = ops / threads as u64 + u64::from((w as u64) < ops % threads as u64);
                    let pb = &pb;
                    scope.spawn(move || {
                        for i in 0..share {
                            me.get_or_create(Some(Ref::from("barcode")), format!("BC-{threads:02}-{w:02}-{i:06}"))
                                .map_err(fail)?;
                            pb.inc(1);
                        }
                        Ok(())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a worker thread panicked".into()))).collect()
        });
        let took = t.elapsed();
        pb.finish_and_clear();
        for r in results {
            r?;
        }
        out.push(Durable { threads, ops, took });
    }
    Ok(out)
}
