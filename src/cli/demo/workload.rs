//! The bulk phase: epochs of runs. Each epoch starts a few runs per group, creates the
//! artifacts they produce, then worker threads submit that epoch's share of the values under
//! those runs — direct `get_or_create` calls and `add_values` onto artifacts and runs — and the
//! epoch ends by finishing its runs.

use super::lab::Group;
use fvstore::{Context, Host, Ref, Store, Value};
use indicatif::ProgressBar;

/// The sizes of the bulk phase.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub values: u64,
    pub runs: u64,
    pub artifacts: u64,
    pub epochs: u64,
    pub threads: usize,
    pub seed: u64,
}

/// What the workers did.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Values submitted (each get_or_create call and each entry of an add_values call).
    pub submitted: u64,
    /// Null entries of add_values, skipped by the store.
    pub nulls: u64,
    pub get_or_create_calls: u64,
    pub add_values_calls: u64,
    /// get_or_create calls that created (the rest were hits).
    pub direct_creates: u64,
    /// Runs started and finished, artifacts created.
    pub runs: u64,
    pub artifacts: u64,
    /// Values created by a direct get_or_create, per group: candidates for the edits.
    pub candidates: Vec<Vec<u64>>,
    /// The log's head after each epoch.
    pub epoch_heads: Vec<u64>,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.submitted += o.submitted;
        self.nulls += o.nulls;
        self.get_or_create_calls += o.get_or_create_calls;
        self.add_values_calls += o.add_values_calls;
        self.direct_creates += o.direct_creates;
        for (mine, theirs) in self.candidates.iter_mut().zip(o.candidates) {
            mine.extend(theirs);
        }
    }
}

/// Most candidates kept per worker and group (the edits need a few thousand at most).
const KEEP_CANDIDATES: usize = 4000;

/// Runs the bulk phase. `pb` counts submitted values.
pub fn run(store: &Store, groups: &mut [Group], plan: Plan, pb: &ProgressBar) -> Result<Tally, String> {
    let mut total = Tally { candidates: vec![Vec::new(); groups.len()], ..Tally::default() };
    let mut done = 0;
    for epoch in 0..plan.epochs {
        let quota = if epoch + 1 == plan.epochs { plan.values - done } else { plan.values / plan.epochs };
        done += quota;
        let epoch_runs = start_epoch(store, groups, plan, epoch, &mut total)?;
        let groups_now: &[Group] = groups;
        let results: Vec<Result<Tally, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..plan.threads)
                .map(|w| {
                    let share = quota / plan.threads as u64 + u64::from((w as u64) < quota % plan.threads as u64);
                    let seed = plan.seed ^ (epoch << 32) ^ (w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    let runs = &epoch_runs;
                    scope.spawn(move || worker(store, groups_now, runs, share, seed, pb))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a worker thread panicked".into()))).collect()
        });
        for r in results {
            total.add(r?);
        }
        for (g, runs) in groups.iter().zip(&epoch_runs) {
            for (run, owner) in runs {
                session(store, *owner, g.space, None)
                    .finish_run(*run)
                    .map_err(|e| format!("finishing run {run}: {}", e.message()))?;
            }
        }
        total.epoch_heads.push(store.head().0);
    }
    Ok(total)
}

fn session(store: &Store, user: u64, space: u64, run: Option<u64>) -> fvstore::Session {
    store.with_context(Context { user, run, branch: 1, space })
}

/// Starts the epoch's runs and creates the artifacts they produce. Returns the runs per group.
fn start_epoch(
    store: &Store,
    groups: &mut [Group],
    plan: Plan,
    epoch: u64,
    total: &mut Tally,
) -> Result<Vec<Vec<(u64, u64)>>, String> {
    let mut out = Vec::new();
    for g in groups.iter_mut() {
        let runs_here = (plan.runs * u64::from(g.share) / 100 / plan.epochs).max(1);
        let artifacts_here = (plan.artifacts * u64::from(g.share) / 100 / plan.epochs).max(runs_here);
        let mut runs = Vec::new();
        for i in 0..runs_here {
            let owner = g.writers[i as usize % g.writers.len()];
            let name = format!("{}-e{epoch:02}-r{i:03}", g.name);
            let run = session(store, owner, g.space, None)
                .start_run(&name)
                .map_err(|e| format!("starting run {name}: {}", e.message()))?;
            runs.push((run.id, owner));
        }
        for k in 0..artifacts_here {
            let (run, owner) = runs[k as usize % runs.len()];
            let key = format!("{}/run{run}/sample_{k:05}.h5ad", g.name);
            let a = session(store, owner, g.space, Some(run))
                .create_artifact(&key)
                .map_err(|e| format!("creating artifact {key}: {}", e.message()))?;
            g.artifacts.push(a.id);
        }
        total.runs += runs_here;
        total.artifacts += artifacts_here;
        g.runs.extend(runs.iter().copied());
        out.push(runs);
    }
    Ok(out)
}

/// One worker: submits `quota` values under the epoch's runs.
fn worker(
    store: &Store,
    groups: &[Group],
    runs: &[Vec<(u64, u64)>],
    quota: u64,
    seed: u64,
    pb: &ProgressBar,
) -> Result<Tally, String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut t = Tally { candidates: vec![Vec::new(); groups.len()], ..Tally::default() };
    let mut unreported = 0;
    while t.submitted < quota {
        let pick = rng.u32(0..100);
        let mut gi = 0;
        let mut acc = 0;
        for (i, g) in groups.iter().enumerate() {
            acc += g.share;
            gi = i;
            if pick < acc {
                break;
            }
        }
        let g = &groups[gi];
        let (run, owner) = runs[gi][rng.usize(0..runs[gi].len())];
        let me = session(store, owner, g.space, Some(run));
        let left = quota - t.submitted;
        let kind = rng.u8(0..100);
        let n = if kind < 35 || left < 3 {
            // A direct get_or_create of one value.
            let def = &g.features[g.pick(&mut rng)];
            let mut value = def.gen.draw(&mut rng);
            while matches!(value, Value::Null) {
                value = def.gen.draw(&mut rng);
            }
            let (rec, existed) = me
                .get_or_create(Some(Ref::Id(def.id as i64)), value)
                .map_err(|e| format!("get_or_create of '{}' as user {owner}: {}", def.name, e.message()))?;
            t.get_or_create_calls += 1;
            if !existed {
                t.direct_creates += 1;
                if t.candidates[gi].len() < KEEP_CANDIDATES {
                    t.candidates[gi].push(rec.id);
                }
            }
            1
        } else {
            // add_values onto an artifact (most) or onto the run itself.
            let (host, want) = if kind < 85 {
                (Host::Artifact(g.artifacts[rng.usize(0..g.artifacts.len())]), 3 + rng.u64(0..3))
            } else {
                (Host::Run(run), 2 + rng.u64(0..2))
            };
            let want = want.min(left).min(g.features.len() as u64) as usize;
            let values: Vec<(String, Value)> = g
                .pick_distinct(&mut rng, want)
                .iter()
                .map(|i| (g.features[*i].name.to_string(), g.features[*i].gen.draw(&mut rng)))
                .collect();
            t.nulls += values.iter().filter(|(_, v)| matches!(v, Value::Null)).count() as u64;
            me.add_values(host, &values)
                .map_err(|e| format!("add_values on {host:?} as user {owner}: {}", e.message()))?;
            t.add_values_calls += 1;
            want as u64
        };
        t.submitted += n;
        unreported += n;
        if unreported >= 256 {
            pb.inc(unreported);
            unreported = 0;
        }
    }
    pb.inc(unreported);
    Ok(t)
}
