//! The demo's lab: who works there, in which spaces, on which features, and how the values of
//! each feature are drawn.
//!
//! The lab has three groups, one per space, so that every value of a feature is created in the
//! space its users can read (dedup is store-wide: a value created in a space another user
//! cannot read would be a `PermissionDenied` hit for them, as SPEC §3 says):
//! - `all` (space 1): sample metadata everyone writes;
//! - `imaging` (alice admin, bob write, carol read): microscopy measurements;
//! - `genomics` (carol admin, dave and erin write, alice read): sequencing and models.
//!
//! Values come from small or skewed domains, sized from the number of values the demo submits,
//! so that about half of the submissions are hits whatever `--values` is.

use fvstore::{Session, Value};
use std::collections::BTreeMap;

pub const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];

/// How the values of one feature are drawn. `n` is the size of the domain.
#[derive(Debug, Clone)]
pub enum Gen {
    /// `lo + k / 100`, k skewed in `0..n`.
    Centi {
        lo: i64,
        n: u64,
    },
    /// An int in `lo..lo+n`, skewed.
    Int {
        lo: i64,
        n: u64,
    },
    /// An int in `lo..lo+n` written as an int, a numeric string or an integral float (coerce).
    IntLoose {
        lo: i64,
        n: u64,
    },
    /// A float `k / 10` written sometimes as an int or a numeric string (coerce to float).
    FloatLoose {
        n: u64,
    },
    /// A number: an int or a float with one decimal (dtype `num`).
    Num {
        n: u64,
    },
    /// One of a few strings, skewed towards the first.
    Choice(&'static [&'static str]),
    /// `prefix` and a number in `0..n`.
    Tagged {
        prefix: &'static str,
        n: u64,
    },
    Bool,
    /// `"true"`/`"False"`… (coerce to bool).
    BoolLoose,
    /// A date in the `n` days from 2023-01-01.
    Date {
        n: u64,
    },
    /// A datetime on a 1-second grid of `n` seconds from 2024-03-01.
    DateTime {
        n: u64,
    },
    /// `{"lr", "batch_size", "optimizer", "epochs"}`.
    Params,
    /// `{"vendor", "model", "settings": {"gain", "exposure_ms"}}`.
    Instrument {
        n: u64,
    },
    /// A short list of small ints.
    IntList {
        n: u64,
    },
    /// A few genes out of a panel.
    GeneList,
    /// A few scores with two decimals.
    FloatList {
        n: u64,
    },
    /// A null now and then, otherwise a tagged string (a nullable feature).
    MaybeNull {
        prefix: &'static str,
        n: u64,
    },
}

/// A feature of the lab.
#[derive(Debug, Clone)]
pub struct FeatureDef {
    /// Set once the feature is created.
    pub id: u64,
    pub name: &'static str,
    pub dtype: &'static str,
    pub coerce: bool,
    pub weight: u32,
    pub gen: Gen,
}

/// One group: a space, its users and its features.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: &'static str,
    pub space: u64,
    /// Who may write here (and so runs work here).
    pub writers: Vec<u64>,
    /// An admin of the space (locks and archives need one).
    pub admin: u64,
    pub features: Vec<FeatureDef>,
    /// Share of the workload, in percent.
    pub share: u32,
    /// Runs and artifacts created so far: (run id, owner), artifact ids.
    pub runs: Vec<(u64, u64)>,
    pub artifacts: Vec<u64>,
}

const ORGANISMS: &[&str] =
    &["human", "mouse", "zebrafish", "yeast", "fly", "worm", "rat", "macaque", "arabidopsis", "e. coli"];
const TISSUES: &[&str] = &[
    "blood",
    "brain",
    "liver",
    "lung",
    "heart",
    "kidney",
    "skin",
    "bone marrow",
    "spleen",
    "pancreas",
    "colon",
    "retina",
    "muscle",
    "adipose",
    "thymus",
    "ovary",
    "testis",
    "stomach",
    "breast",
    "prostate",
];
const ASSAYS: &[&str] = &["scRNA-seq", "bulk RNA-seq", "ATAC-seq", "CITE-seq", "flow cytometry", "imaging", "WGS"];
const VENDORS: &[&str] = &["Zeiss", "Leica", "Nikon", "Olympus"];
const OPTIMIZERS: &[&str] = &["adam", "sgd", "adamw", "rmsprop"];
const GENES: &[&str] = &[
    "CD3E", "CD4", "CD8A", "CD19", "MS4A1", "NKG7", "GNLY", "LYZ", "CD14", "FCGR3A", "PPBP", "HBB", "EPCAM", "KRT18",
    "PTPRC", "COL1A1", "ACTA2", "PECAM1", "VWF", "MKI67",
];

/// A domain `factor` times the expected submissions of a feature (at least 50).
fn wide(subs: u64, factor: f64) -> u64 {
    ((subs as f64 * factor) as u64).max(50)
}

/// name, dtype, coerce, weight (how often it is drawn within its group), its generator given
/// the number of values it will be submitted.
type Spec = (&'static str, &'static str, bool, u32, fn(u64) -> Gen);

const ALL: &[Spec] = &[
    ("organism", "str", false, 1, |_| Gen::Choice(ORGANISMS)),
    ("tissue", "str", false, 1, |_| Gen::Choice(TISSUES)),
    ("assay", "str", false, 1, |_| Gen::Choice(ASSAYS)),
    ("qc_pass", "bool", false, 1, |_| Gen::Bool),
    ("experiment_date", "date", false, 1, |_| Gen::Date { n: 1200 }),
    ("replicate", "int", false, 1, |_| Gen::Int { lo: 1, n: 8 }),
    ("sample_id", "str", false, 3, |s| Gen::Tagged { prefix: "S", n: wide(s, 3.0) }),
    ("raw_path", "path", false, 3, |s| Gen::Tagged { prefix: "s3://lab-raw/run/", n: wide(s, 3.0) }),
    ("notes", "str", false, 2, |s| Gen::MaybeNull { prefix: "note ", n: wide(s, 3.0) }),
];

const IMAGING: &[Spec] = &[
    ("temperature", "float", false, 2, |s| Gen::Centi { lo: 3400, n: wide(s, 1.0).min(600) }),
    ("cell_count", "int", false, 3, |s| Gen::Int { lo: 100, n: wide(s, 3.0) }),
    ("concentration", "float", true, 3, |s| Gen::FloatLoose { n: wide(s, 3.0) }),
    ("acquired_at", "datetime", false, 3, |s| Gen::DateTime { n: wide(s, 3.0) }),
    ("instrument", "dict", false, 2, |s| Gen::Instrument { n: wide(s, 0.5) }),
    ("channels", "list[int]", false, 1, |_| Gen::IntList { n: 6 }),
];

const GENOMICS: &[Spec] = &[
    ("n_reads", "int", true, 3, |s| Gen::IntLoose { lo: 1_000_000, n: wide(s, 3.0) }),
    ("gene_panel", "list[str]", false, 1, |_| Gen::GeneList),
    ("params", "dict", false, 1, |_| Gen::Params),
    ("ph", "num", false, 1, |_| Gen::Num { n: 60 }),
    ("donor_age", "int", true, 1, |_| Gen::IntLoose { lo: 18, n: 80 }),
    ("qc_flag", "bool", true, 1, |_| Gen::BoolLoose),
    ("scores", "list[float]", false, 3, |s| Gen::FloatList { n: wide(s, 3.0) }),
];

/// The lab's groups with their features. Domains are sized from `values`, the number of values
/// the demo submits, so that the share of hits hardly depends on it: categorical features
/// (small domains) are nearly all hits, measurements (wide domains) mostly new.
pub fn groups(values: u64, users: &BTreeMap<&str, u64>) -> Vec<Group> {
    let u = |h: &str| users.get(h).copied().unwrap_or(1);
    let group = |name, writers: Vec<u64>, admin, share: u32, specs: &[Spec]| {
        let total: u32 = specs.iter().map(|s| s.3).sum();
        let features = specs
            .iter()
            .map(|(name, dtype, coerce, weight, make)| {
                let subs = values * u64::from(share) / 100 * u64::from(*weight) / u64::from(total.max(1));
                FeatureDef { id: 0, name, dtype, coerce: *coerce, weight: *weight, gen: make(subs) }
            })
            .collect();
        Group { name, space: 1, writers, admin, share, features, runs: Vec::new(), artifacts: Vec::new() }
    };
    vec![
        group("all", vec![u("erin"), u("frank"), u("bob")], 1, 34, ALL),
        group("imaging", vec![u("alice"), u("bob")], u("alice"), 33, IMAGING),
        group("genomics", vec![u("carol"), u("dave"), u("erin")], u("carol"), 33, GENOMICS),
    ]
}

impl Group {
    /// Draws a feature index by weight.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        let total: u32 = self.features.iter().map(|f| f.weight).sum();
        let mut x = rng.u32(0..total.max(1));
        for (i, f) in self.features.iter().enumerate() {
            if x < f.weight {
                return i;
            }
            x -= f.weight;
        }
        0
    }

    /// Draws `k` distinct feature indexes by weight.
    pub fn pick_distinct(&self, rng: &mut fastrand::Rng, k: usize) -> Vec<usize> {
        let k = k.min(self.features.len());
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let i = self.pick(rng);
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }
}

/// Creates the users; returns their ids by handle.
pub fn create_users(owner: &Session) -> fvstore::Result<BTreeMap<&'static str, u64>> {
    USERS.iter().map(|h| Ok((*h, owner.create_user(h)?.id))).collect()
}

/// Creates the spaces, roles and features of the groups, and records their ids. Returns the
/// number of commands issued.
pub fn create(owner: &Session, groups: &mut [Group], users: &BTreeMap<&str, u64>) -> fvstore::Result<u64> {
    use fvstore::Role;
    let store = owner.store();
    let u = |h: &str| users.get(h).copied().unwrap_or(1);
    let alice = store.as_user("alice")?;
    let carol = store.as_user("carol")?;
    let imaging = alice.create_space("imaging")?.id;
    let genomics = carol.create_space("genomics")?.id;
    alice.grant(imaging, u("bob"), Some(Role::Write))?;
    alice.grant(imaging, u("carol"), Some(Role::Read))?;
    carol.grant(genomics, u("dave"), Some(Role::Write))?;
    carol.grant(genomics, u("erin"), Some(Role::Write))?;
    carol.grant(genomics, u("alice"), Some(Role::Read))?;
    let mut ops = 7;
    for g in groups.iter_mut() {
        g.space = match g.name {
            "imaging" => imaging,
            "genomics" => genomics,
            _ => 1,
        };
        let admin = store.with_context(fvstore::Context { user: g.admin, space: g.space, ..Default::default() });
        for def in &mut g.features {
            def.id = admin.create_feature(&fvstore::FeatureSpec::new(def.name, def.dtype).coerce(def.coerce))?.id;
            ops += 1;
        }
    }
    Ok(ops)
}

/// Skewed index in `0..n`: small indexes are drawn more often (density ∝ 1/√k).
fn skewed(rng: &mut fastrand::Rng, n: u64) -> u64 {
    let u = rng.f64();
    ((u * u * n as f64) as u64).min(n.saturating_sub(1))
}

impl Gen {
    /// Draws a value as a client would send it (before any coercion).
    pub fn draw(&self, rng: &mut fastrand::Rng) -> Value {
        match self {
            Gen::Centi { lo, n } => Value::Float((lo + skewed(rng, *n) as i64) as f64 / 100.0),
            Gen::Int { lo, n } => Value::Int(lo + skewed(rng, *n) as i64),
            Gen::IntLoose { lo, n } => {
                let v = lo + skewed(rng, *n) as i64;
                match rng.u8(0..10) {
                    0 => Value::Str(v.to_string()),
                    1 => Value::Float(v as f64),
                    _ => Value::Int(v),
                }
            }
            Gen::FloatLoose { n } => {
                let k = skewed(rng, *n) as i64;
                match (k % 10, rng.u8(0..4)) {
                    (0, 0) => Value::Int(k / 10),
                    (_, 1) => Value::Str(format!("{}", k as f64 / 10.0)),
                    _ => Value::Float(k as f64 / 10.0),
                }
            }
            Gen::Num { n } => {
                let k = skewed(rng, *n) as i64;
                if rng.bool() {
                    Value::Int(k / 10 + 4)
                } else {
                    Value::Float((40 + k) as f64 / 10.0)
                }
            }
            Gen::Choice(options) => Value::Str(options[skewed(rng, options.len() as u64) as usize].to_string()),
            Gen::Tagged { prefix, n } => Value::Str(format!("{prefix}{:06}", rng.u64(0..*n))),
            Gen::Bool => Value::Bool(rng.u8(0..10) < 8),
            Gen::BoolLoose => {
                let b = rng.bool();
                match rng.u8(0..3) {
                    0 => Value::Str(if b { "True" } else { "false" }.to_string()),
                    _ => Value::Bool(b),
                }
            }
            Gen::Date { n } => Value::Date(19_358 + skewed(rng, *n) as i32),
            Gen::DateTime { n } => Value::DateTime(1_709_251_200_000_000 + rng.u64(0..*n) as i64 * 1_000_000),
            Gen::Params => {
                let lr = [0.1, 0.01, 0.003, 0.001, 0.0003, 0.0001][skewed(rng, 6) as usize];
                let mut m = BTreeMap::new();
                m.insert("lr".to_string(), Value::Float(lr));
                m.insert("batch_size".to_string(), Value::Int(16 << skewed(rng, 5)));
                m.insert("optimizer".to_string(), Value::Str(OPTIMIZERS[skewed(rng, 4) as usize].to_string()));
                m.insert("epochs".to_string(), Value::Int(10 * (1 + skewed(rng, 10) as i64)));
                Value::Dict(m)
            }
            Gen::Instrument { n } => {
                let k = skewed(rng, *n);
                let mut settings = BTreeMap::new();
                settings.insert("gain".to_string(), Value::Int((k % 16) as i64));
                settings.insert("exposure_ms".to_string(), Value::Int(10 * (k / 16) as i64 + 10));
                let mut m = BTreeMap::new();
                m.insert("vendor".to_string(), Value::Str(VENDORS[(k % 4) as usize].to_string()));
                m.insert("model".to_string(), Value::Str(format!("M{}", k % 7)));
                m.insert("settings".to_string(), Value::Dict(settings));
                Value::Dict(m)
            }
            Gen::IntList { n } => {
                let len = 1 + rng.usize(0..4);
                Value::List((0..len).map(|_| Value::Int(skewed(rng, *n) as i64)).collect())
            }
            Gen::GeneList => {
                let len = 2 + rng.usize(0..3);
                let mut genes: Vec<&str> = (0..len).map(|_| GENES[skewed(rng, GENES.len() as u64) as usize]).collect();
                genes.sort_unstable();
                genes.dedup();
                Value::List(genes.into_iter().map(Value::from).collect())
            }
            Gen::FloatList { n } => {
                let k = rng.u64(0..*n);
                Value::List(vec![Value::Float((k % 100) as f64 / 100.0), Value::Float((k / 100) as f64 / 100.0)])
            }
            Gen::MaybeNull { prefix, n } => {
                if rng.u8(0..20) == 0 {
                    Value::Null
                } else {
                    Value::Str(format!("{prefix}{}", rng.u64(0..*n)))
                }
            }
        }
    }
}
