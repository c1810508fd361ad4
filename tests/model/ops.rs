//! The operations, as small self-contained indices (so that proptest shrinks them freely and
//! each one means something in any state), and their generator.

use super::values::days;
use fvstore::{Host, RecordRef, RecordType, Ref, Role, Value};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Features the test creates: name, dtype, nullable, coerce. `bad__x` and `` are refused names.
pub const FEATURES: &[(&str, &str, bool, bool)] = &[
    ("fi", "int", true, false),
    ("ff", "float", true, false),
    ("fn", "num", true, false),
    ("fs", "str", true, false),
    ("fb", "bool", true, false),
    ("fd", "date", true, false),
    ("fdict", "dict", true, false),
    ("fl", "list[int]", true, false),
    ("fo", "object", true, false),
    ("fic", "int", true, true),
    ("ffc", "float", true, true),
    ("fsr", "str", false, false),
    ("fbc", "bool", true, true),
    ("fnc", "num", true, true),
    ("bad__x", "object", true, false),
    ("", "object", true, false),
];

/// Feature names used as references; the last one never exists.
pub fn feature_name(i: usize) -> &'static str {
    const N: usize = 14;
    if i < N {
        FEATURES[i].0
    } else {
        "nope"
    }
}

/// 150 characters (300 bytes) is a legal name; 151 characters is not.
const LONGEST: &str = "éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé";
const TOO_LONG: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

pub const HANDLES: &[&str] = &["alice", "bob", "carol", "Alice", "anonymous", "", LONGEST, TOO_LONG];
pub const SPACES: &[&str] = &["lab", "proj", "LAB", "all", "", LONGEST, TOO_LONG];
pub const BRANCHES: &[&str] = &["dev", "feat", "DEV", "all", "Main", ""];
pub const RUNS: &[&str] = &["r1", "r2", ""];
pub const KEYS: &[&str] = &["k1", "k2", ""];

fn dict(pairs: &[(&str, Value)]) -> Value {
    Value::Dict(pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect::<BTreeMap<_, _>>())
}

fn date(y: i64, m: u32, d: u32) -> Value {
    Value::Date(days(y, m, d).expect("a real day"))
}

/// The value domain: small, so that get_or_create hits are frequent, with typed near-twins
/// (`3`, `3.0`, `"3"`), dates and date strings, dicts, lists, and invalid values.
pub fn value(i: usize) -> Value {
    match i {
        0 => Value::Int(0),
        1 => Value::Int(1),
        2 => Value::Int(2),
        3 => Value::Int(3),
        4 => Value::Int(4),
        5 => Value::Float(1.0),
        6 => Value::Float(2.5),
        7 => Value::Float(3.0),
        8 => Value::Float(-0.0),
        9 => Value::Float(0.0),
        10 => Value::Str("a".into()),
        11 => Value::Str("b".into()),
        12 => Value::Str("3".into()),
        13 => Value::Str("2024-01-02".into()),
        14 => Value::Bool(true),
        15 => Value::Bool(false),
        16 => date(2024, 1, 2),
        17 => date(2023, 12, 31),
        18 => dict(&[("a", Value::Int(1))]),
        19 => dict(&[("b", dict(&[("c", Value::Bool(true))])), ("a", Value::Int(1))]),
        20 => dict(&[("a", Value::Float(1.0))]),
        21 => Value::List(vec![Value::Int(1), Value::Int(2)]),
        22 => Value::List(vec![Value::Int(1)]),
        23 => Value::List(vec![Value::Str("a".into())]),
        24 => Value::List(vec![Value::Int(1), Value::Float(2.0)]),
        25 => Value::Null,
        26 => Value::Float(f64::NAN),
        27 => Value::Float(f64::INFINITY),
        28 => Value::List(vec![Value::Int(1), Value::Float(f64::NAN)]),
        29 => (0..65).fold(Value::Int(1), |v, _| Value::List(vec![v])),
        30 => Value::Str("TRUE".into()),
        31 => Value::Str("2.5".into()),
        32 => Value::DateTime(i64::from(days(2024, 1, 2).expect("day")) * 86_400_000_000),
        33 => Value::Str("2024-02-30".into()),
        34 => Value::List(vec![]),
        35 => dict(&[]),
        36 => dict(&[("a", Value::Float(-0.0))]),
        37 => Value::List(vec![Value::Int(1), Value::Null]),
        // 2^53 + 1 has no exact float; 2^53 has one.
        38 => Value::Int(9_007_199_254_740_993),
        39 => Value::Float(9_007_199_254_740_992.0),
        // The deepest legal value (64 levels) and a string whose encoding is one byte over 1 MiB.
        40 => (0..64).fold(Value::Int(1), |v, _| Value::List(vec![v])),
        _ => Value::Str("x".repeat((1 << 20) - 4)),
    }
}
pub const N_VALUES: usize = 42;

/// The acting context of a step, before it is mapped onto the users that exist.
#[derive(Debug, Clone)]
pub struct CtxGen {
    pub run: Option<u64>,
    pub branch: i64,
    pub space: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    CreateUser(usize),
    CreateSpace(usize),
    Grant {
        space: Ref,
        user: Ref,
        role: Option<Role>,
    },
    CreateBranch(usize),
    MergeBranch(Ref),
    StartRun(usize),
    FinishRun(u64),
    /// `dtype`: 0 the table's, 1 another valid one, 2 an invalid one.
    CreateFeature {
        name: usize,
        dtype: usize,
    },
    CreateArtifact(usize),
    GetOrCreate {
        feature: Option<Ref>,
        value: usize,
    },
    Delete {
        target: RecordRef,
        permanent: bool,
    },
    Restore(RecordRef),
    /// Restore the n-th record of the kind that is off main (trash, archive, locked,
    /// template), by the model's state when the step runs; a plain `Restore` if there is none.
    RestoreOffMain(RecordType, usize),
    SetBranch(RecordRef, Ref),
    MoveSpace(RecordRef, Ref),
    Link(u64, Host),
    Unlink(u64, Host),
    AddValues(Host, Vec<(usize, usize)>),
    SetValues(Host, Vec<(usize, usize)>),
    RemoveValues(Host, Ref),
    DeleteFeature(Ref, bool),
    DeleteArtifact(u64, bool),
    DeleteRun(u64, bool),
    /// Drop the store and open its directory again.
    Reopen,
    /// A simulated crash: the commits after the last sync are lost (the model goes back to
    /// the step the reopened log ends at), no closing snapshot; then open again.
    Crash,
    /// `Store::flush`: everything so far survives a crash.
    Flush,
    /// Write a snapshot now (Store::snapshot).
    Snapshot,
    /// Compare a read-only view as of an earlier step (Store::as_of) with the model then.
    AsOf(usize),
}

#[derive(Debug, Clone)]
pub struct Step {
    /// Index into the users that exist (by id), modulo their number.
    pub actor: usize,
    /// Name the actor by an upper-case handle (handles are case-insensitive).
    pub upper: bool,
    pub ctx: CtxGen,
    pub op: Op,
}

fn ctx_gen() -> impl Strategy<Value = CtxGen> {
    let odd = (
        prop_oneof![3 => Just(None), 1 => (1u64..=4).prop_map(Some)],
        prop_oneof![4 => Just(1i64), 3 => 4i64..=6, 1 => -1i64..=3, 1 => Just(9i64)],
        prop_oneof![3 => Just(1u64), 3 => 2u64..=4, 1 => Just(9u64)],
    )
        .prop_map(|(run, branch, space)| CtxGen { run, branch, space });
    prop_oneof![7 => Just(CtxGen { run: None, branch: 1, space: 1 }), 1 => odd]
}

fn feature_ref() -> impl Strategy<Value = Ref> {
    prop_oneof![
        6 => prop::sample::select(vec![0usize, 1, 2, 3, 5, 6, 8, 9]).prop_map(|i| Ref::Name(feature_name(i).into())),
        3 => (0usize..15).prop_map(|i| Ref::Name(feature_name(i).into())),
        1 => (1i64..=12).prop_map(Ref::Id),
    ]
}

fn value_idx() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..25, 2 => 0usize..N_VALUES]
}

/// Values a feature of the table's dtype accepts (or nearly: coercible ones), so that
/// get_or_create creates and hits often.
fn suited(feature: usize) -> Vec<usize> {
    match FEATURES.get(feature).map_or("object", |f| f.1) {
        "int" => vec![0, 1, 2, 3, 4, 7, 12, 38, 39],
        "float" => vec![5, 6, 7, 8, 9, 3, 31, 38, 39],
        "num" => vec![1, 2, 3, 6, 7, 8, 31, 38, 39],
        "str" => vec![10, 11, 12, 13, 30],
        "bool" => vec![14, 15, 30],
        "date" => vec![16, 17, 13, 33],
        "dict" => vec![18, 19, 20, 35, 36],
        "list[int]" => vec![21, 22, 24, 34],
        _ => vec![1, 3, 7, 8, 10, 12, 13, 16, 18, 19, 21, 24, 25, 32, 36, 37],
    }
}

/// A feature name index and a value index that mostly suits it.
fn feature_and_value() -> impl Strategy<Value = (usize, usize)> {
    (0usize..14).prop_flat_map(|f| (Just(f), prop_oneof![3 => prop::sample::select(suited(f)), 1 => value_idx()]))
}

fn value_id() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1u64..=6, 1 => 1u64..=16]
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        4 => (1u64..=3).prop_map(Host::Artifact),
        1 => (1u64..=5).prop_map(Host::Artifact),
        2 => (1u64..=2).prop_map(Host::Run),
        1 => (1u64..=4).prop_map(Host::Run),
    ]
}

fn record() -> impl Strategy<Value = RecordRef> {
    prop_oneof![
        6 => value_id().prop_map(|id| RecordRef { kind: RecordType::Value, id }),
        2 => (1u64..=10).prop_map(|id| RecordRef { kind: RecordType::Feature, id }),
        2 => (1u64..=5).prop_map(|id| RecordRef { kind: RecordType::Artifact, id }),
    ]
}

fn branch_ref() -> impl Strategy<Value = Ref> {
    prop_oneof![
        6 => (-1i64..=7).prop_map(Ref::Id),
        1 => (0usize..BRANCHES.len()).prop_map(|i| Ref::Name(BRANCHES[i].into())),
        1 => Just(Ref::Name("trash".into())),
    ]
}

fn space_ref() -> impl Strategy<Value = Ref> {
    prop_oneof![4 => (1i64..=5).prop_map(Ref::Id), 1 => (0usize..SPACES.len()).prop_map(|i| Ref::Name(SPACES[i].into()))]
}

fn user_ref() -> impl Strategy<Value = Ref> {
    prop_oneof![4 => (1i64..=6).prop_map(Ref::Id), 1 => (0usize..HANDLES.len()).prop_map(|i| Ref::Name(HANDLES[i].into()))]
}

fn role() -> impl Strategy<Value = Option<Role>> {
    prop_oneof![Just(None), Just(Some(Role::Read)), Just(Some(Role::Write)), Just(Some(Role::Admin))]
}

fn items() -> impl Strategy<Value = Vec<(usize, usize)>> {
    let name =
        prop_oneof![8 => prop::sample::select(vec![0usize, 1, 2, 3, 5, 6, 8, 9]), 4 => 0usize..14, 1 => Just(14usize)];
    let item = prop_oneof![1 => (name, value_idx()), 2 => feature_and_value()];
    proptest::collection::vec(item, 0..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0usize..HANDLES.len()).prop_map(Op::CreateUser),
        2 => (0usize..SPACES.len()).prop_map(Op::CreateSpace),
        4 => (space_ref(), user_ref(), role()).prop_map(|(space, user, role)| Op::Grant { space, user, role }),
        2 => (0usize..BRANCHES.len()).prop_map(Op::CreateBranch),
        2 => prop_oneof![3 => (4i64..=6).prop_map(Ref::Id), 1 => branch_ref()].prop_map(Op::MergeBranch),
        2 => (0usize..RUNS.len()).prop_map(Op::StartRun),
        1 => (1u64..=4).prop_map(Op::FinishRun),
        8 => (0usize..16, prop_oneof![8 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize)])
            .prop_map(|(name, dtype)| Op::CreateFeature { name, dtype }),
        4 => (0usize..KEYS.len()).prop_map(Op::CreateArtifact),
        10 => (prop_oneof![8 => feature_ref().prop_map(Some), 1 => Just(None)], value_idx())
            .prop_map(|(feature, value)| Op::GetOrCreate { feature, value }),
        10 => feature_and_value()
            .prop_map(|(f, value)| Op::GetOrCreate { feature: Some(Ref::Name(feature_name(f).into())), value }),
        6 => (record(), any::<bool>()).prop_map(|(target, permanent)| Op::Delete { target, permanent }),
        3 => record().prop_map(Op::Restore),
        3 => (prop::sample::select(vec![RecordType::Value, RecordType::Value, RecordType::Feature, RecordType::Artifact]), any::<usize>())
            .prop_map(|(k, n)| Op::RestoreOffMain(k, n)),
        5 => (record(), branch_ref()).prop_map(|(r, b)| Op::SetBranch(r, b)),
        3 => (record(), space_ref()).prop_map(|(r, s)| Op::MoveSpace(r, s)),
        6 => (value_id(), host()).prop_map(|(v, h)| Op::Link(v, h)),
        3 => (value_id(), host()).prop_map(|(v, h)| Op::Unlink(v, h)),
        8 => (host(), items()).prop_map(|(h, i)| Op::AddValues(h, i)),
        4 => (host(), items()).prop_map(|(h, i)| Op::SetValues(h, i)),
        2 => (host(), feature_ref()).prop_map(|(h, f)| Op::RemoveValues(h, f)),
        2 => (feature_ref(), any::<bool>()).prop_map(|(f, p)| Op::DeleteFeature(f, p)),
        2 => (1u64..=5, any::<bool>()).prop_map(|(a, p)| Op::DeleteArtifact(a, p)),
        1 => (1u64..=4, any::<bool>()).prop_map(|(r, p)| Op::DeleteRun(r, p)),
        2 => Just(Op::Reopen),
        2 => Just(Op::Crash),
        1 => Just(Op::Flush),
        2 => any::<usize>().prop_map(Op::AsOf),
        // postmortem: `Store::snapshot()` failed with `Io` ("No such file or directory") when a
        // periodic background snapshot of the same seq was written at the same moment (both
        // used one temporary file name). Fixed: temporary names are unique.
        1 => Just(Op::Snapshot),
    ]
}

/// Steps once excluded for engine bugs now always run, the bugs being fixed (postmortem:
/// remove_values/set_values unlinked values the actor may not read).
/// FVSTORE_MODEL_SKIP_FIXED=1 skips them again, to tell a regression there from one elsewhere.
pub fn skip_fixed() -> bool {
    std::env::var_os("FVSTORE_MODEL_SKIP_FIXED").is_some()
}

pub fn step() -> impl Strategy<Value = Step> {
    (0usize..6, proptest::bool::weighted(0.1), ctx_gen(), op()).prop_map(|(actor, upper, ctx, op)| Step {
        actor,
        upper,
        ctx,
        op,
    })
}

/// The same start for every case, so that random steps meet users, spaces with roles, a
/// draft branch, a run and a few features and artifacts early.
pub fn prelude() -> Vec<Step> {
    let as1 = |op| Step { actor: 0, upper: false, ctx: CtxGen { run: None, branch: 1, space: 1 }, op };
    let as_ = |actor, op| Step { actor, upper: false, ctx: CtxGen { run: None, branch: 1, space: 1 }, op };
    vec![
        as1(Op::CreateUser(0)),
        as1(Op::CreateUser(1)),
        as1(Op::CreateUser(2)),
        as_(1, Op::CreateSpace(0)),
        as_(1, Op::Grant { space: Ref::Id(2), user: Ref::Name("bob".into()), role: Some(Role::Write) }),
        as_(1, Op::Grant { space: Ref::Id(2), user: Ref::Id(4), role: Some(Role::Read) }),
        as_(2, Op::CreateBranch(0)),
        as_(2, Op::StartRun(0)),
        as1(Op::CreateFeature { name: 0, dtype: 0 }),
        as1(Op::CreateFeature { name: 1, dtype: 0 }),
        as1(Op::CreateFeature { name: 2, dtype: 0 }),
        as1(Op::CreateFeature { name: 3, dtype: 0 }),
        as1(Op::CreateFeature { name: 5, dtype: 0 }),
        as1(Op::CreateFeature { name: 6, dtype: 0 }),
        as1(Op::CreateFeature { name: 8, dtype: 0 }),
        as1(Op::CreateFeature { name: 9, dtype: 0 }),
        as1(Op::CreateArtifact(0)),
        Step { actor: 1, upper: false, ctx: CtxGen { run: None, branch: 1, space: 2 }, op: Op::CreateArtifact(1) },
        as_(2, Op::CreateArtifact(0)),
        as1(goc("fi", 1)),
        as1(goc("fo", 3)),
        as1(goc("ff", 6)),
        as1(goc("fo", 18)),
        as1(Op::GetOrCreate { feature: None, value: 10 }),
        Step { actor: 1, upper: false, ctx: CtxGen { run: None, branch: 1, space: 2 }, op: goc("fo", 7) },
        Step { actor: 1, upper: false, ctx: CtxGen { run: None, branch: 1, space: 2 }, op: goc("fi", 4) },
        Step { actor: 2, upper: false, ctx: CtxGen { run: Some(1), branch: 4, space: 1 }, op: goc("fn", 2) },
        as1(Op::AddValues(Host::Artifact(1), vec![(0, 2), (3, 10)])),
        as1(Op::Link(2, Host::Run(1))),
        // A value of space 2 linked to an artifact of space 1: user 1 cannot read it.
        as_(1, Op::Link(6, Host::Artifact(1))),
        as_(1, Op::Link(7, Host::Artifact(2))),
    ]
}

fn goc(feature: &str, value: usize) -> Op {
    Op::GetOrCreate { feature: Some(Ref::Name(feature.into())), value }
}

/// A dtype for `CreateFeature`: the table's, another valid one, or an invalid one.
pub fn dtype_for(name: usize, choice: usize) -> &'static str {
    let own = FEATURES[name].1;
    match choice {
        0 => own,
        1 if own == "str" => "int",
        1 => "str",
        _ => "integer",
    }
}

/// Steps chosen by raw bytes (for the fuzz target), through the same strategy: each 8-byte
/// chunk of `data` seeds the RNG that draws one step, so a mutation of a chunk changes that
/// step and the fuzzer can splice good steps between inputs. (Proptest's pass-through RNG is no
/// use here: every `prop_oneof!` hands half of the remaining bytes to a lazy branch, so a long
/// sequence soon reads zeros, which rand's uniform sampling rejects forever.)
pub fn steps_from_bytes(data: &[u8], max_steps: usize) -> Vec<Step> {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    data.chunks(8)
        .take(max_steps)
        .filter_map(|chunk| {
            let mut seed = [0u8; 32];
            seed[..chunk.len()].copy_from_slice(chunk);
            let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
            let mut runner = TestRunner::new_with_rng(Config::default(), rng);
            step().new_tree(&mut runner).ok().map(|tree| tree.current())
        })
        .collect()
}
