//! Running a query against the state: resolve names, pick the narrowest index as the candidate
//! source, check every condition on each candidate, order, limit.

use super::parse::{Allowed, BranchSel, Cond, Op, OrderBy};
use super::Query;
use crate::codec;
use crate::command::Session;
use crate::error::{err, Result};
use crate::event::Host;
use crate::state::{IdSet, KeyPathScope, State, ValueIndex, ValueRec, ValueRecord};
use crate::store::Context;
use crate::value::{cmp_loose, parse_date, parse_datetime, range_cmp, Value};
use std::cmp::Ordering;
use std::ops::Bound;

/// A value condition with its operand read for the feature's dtype where there is one.
pub(crate) struct ValueTest {
    pub path: Vec<String>,
    pub op: Op,
    pub operand: Value,
}

impl ValueTest {
    /// Whether a record's value passes: the part at the test's path (a dict's other parts are
    /// not decoded).
    pub fn accepts(&self, v: &ValueRec) -> bool {
        v.value_at(&self.path).is_some_and(|at| self.matches_at(&at))
    }

    /// Whether `v`, the value already found at the test's path, passes.
    fn matches_at(&self, v: &Value) -> bool {
        match self.op {
            Op::Eq => eq_match(v, &self.operand),
            Op::In => match &self.operand {
                Value::List(items) => items.iter().any(|o| eq_match(v, o)),
                _ => false,
            },
            Op::Gt => cmp(v, &self.operand) == Some(Ordering::Greater),
            Op::Gte => matches!(cmp(v, &self.operand), Some(Ordering::Greater | Ordering::Equal)),
            Op::Lt => cmp(v, &self.operand) == Some(Ordering::Less),
            Op::Lte => matches!(cmp(v, &self.operand), Some(Ordering::Less | Ordering::Equal)),
        }
    }
}

/// Typed equality, except that an ISO date (datetime) string equals a stored date (datetime).
fn eq_match(stored: &Value, operand: &Value) -> bool {
    match (stored, operand) {
        (Value::Date(d), Value::Str(s)) => parse_date(s) == Some(*d),
        (Value::DateTime(t), Value::Str(s)) => parse_datetime(s).ok() == Some(*t),
        _ => stored == operand,
    }
}

/// Range comparison; a date or datetime string operand compares chronologically with a stored
/// date or datetime.
fn cmp(stored: &Value, operand: &Value) -> Option<Ordering> {
    match (stored, operand) {
        (Value::Date(_) | Value::DateTime(_), Value::Str(s)) => {
            let o = parse_date(s).map(Value::Date).or_else(|| parse_datetime(s).ok().map(Value::DateTime))?;
            range_cmp(stored, &o)
        }
        _ => range_cmp(stored, operand),
    }
}

/// A query with every name resolved.
pub(crate) struct Plan {
    ids: Option<Vec<u64>>,
    hashes: Option<Vec<[u8; 32]>>,
    /// `None`: any feature. `Some(empty)`: nothing can match (unknown names only).
    features: Option<Vec<Option<u64>>>,
    tests: Vec<ValueTest>,
    branches: Allowed,
    spaces: Option<Vec<u64>>,
    creators: Option<Vec<u64>>,
    /// The runs values were created under (`None` in it: under no run), any of them.
    runs: Option<Vec<Option<u64>>>,
    artifacts: Vec<u64>,
    linked_runs: Vec<u64>,
    after: Option<i64>,
    before: Option<i64>,
    user: u64,
}

pub(crate) fn plan(s: &State, ctx: &Context, q: &Query) -> Result<Plan> {
    if let Some(e) = &q.error {
        return Err(e.clone());
    }
    let mut p = Plan {
        ids: None,
        hashes: None,
        features: None,
        tests: Vec::new(),
        branches: Allowed::All,
        spaces: None,
        creators: None,
        runs: None,
        artifacts: Vec::new(),
        linked_runs: Vec::new(),
        after: None,
        before: None,
        user: ctx.user,
    };
    let mut branch_sel: Option<&BranchSel> = None;
    let mut raw_tests = Vec::new();
    for c in &q.conds {
        match c {
            Cond::Id(v) => p.ids = Some(intersect(p.ids.take(), v.clone())),
            Cond::Hash(v) => {
                // A malformed hash names no value: it matches nothing rather than failing.
                let hs: Vec<[u8; 32]> = v.iter().filter_map(|h| codec::unhex(h)).collect();
                p.hashes = Some(match p.hashes.take() {
                    None => hs,
                    Some(prev) => prev.into_iter().filter(|h| hs.contains(h)).collect(),
                });
            }
            Cond::Feature(v) => {
                let mut fs: Vec<Option<u64>> = v
                    .iter()
                    .filter_map(|r| match r {
                        None => Some(None),
                        Some(r) => crate::command::resolve_feature(s, ctx.user, r).ok().map(|f| Some(f.id)),
                    })
                    .collect();
                // One feature named twice (or by name and by id) is still exactly one feature,
                // whose dtype reads the operands.
                fs.sort_unstable();
                fs.dedup();
                p.features = Some(match p.features.take() {
                    None => fs,
                    Some(prev) => prev.into_iter().filter(|f| fs.contains(f)).collect(),
                });
            }
            Cond::Value { path, op, operand } => raw_tests.push((path.clone(), *op, operand.clone())),
            Cond::Branch(sel) => branch_sel = Some(sel),
            Cond::Space(refs) => {
                let v = refs.iter().map(|r| crate::command::resolve_space(s, r)).collect::<Result<Vec<_>>>()?;
                p.spaces = Some(intersect(p.spaces.take(), v));
            }
            Cond::CreatedBy(refs) => {
                let v = refs.iter().map(|r| crate::command::resolve_user(s, r)).collect::<Result<Vec<_>>>()?;
                p.creators = Some(intersect(p.creators.take(), v));
            }
            Cond::Run(v) => {
                for id in v.iter().flatten() {
                    crate::command::resolve_run(s, *id)?;
                }
                p.runs = Some(match p.runs.take() {
                    None => v.clone(),
                    Some(prev) => prev.into_iter().filter(|r| v.contains(r)).collect(),
                });
            }
            Cond::Artifact(v) => {
                // Naming an artifact the actor cannot read is naming one that does not exist.
                for id in v {
                    crate::command::resolve_artifact(s, ctx.user, *id)?;
                }
                p.artifacts.extend(v);
            }
            Cond::LinkedRun(v) => {
                for id in v {
                    crate::command::resolve_run(s, *id)?;
                }
                p.linked_runs.extend(v);
            }
            Cond::CreatedAtGte(t) => p.after = Some(p.after.map_or(*t, |a| a.max(*t))),
            Cond::CreatedAtLte(t) => p.before = Some(p.before.map_or(*t, |b| b.min(*t))),
        }
    }
    // Operands are read as the feature's dtype when exactly one feature is named.
    let dtype = match p.features.as_deref() {
        Some([Some(fid)]) => s.features.get(fid).map(|f| f.dtype),
        _ => None,
    };
    for (path, op, operand) in raw_tests {
        let operand = match dtype {
            Some(d) if path.is_empty() => match (op, operand) {
                (Op::In, Value::List(items)) => {
                    Value::List(items.into_iter().map(|o| d.validate("", true, o.clone()).unwrap_or(o)).collect())
                }
                (_, o) => d.validate("", true, o.clone()).unwrap_or(o),
            },
            _ => operand,
        };
        p.tests.push(ValueTest { path, op, operand });
    }
    p.branches = match branch_sel {
        Some(sel) => sel.resolve(s, ctx)?,
        // Naming an id or a hash skips the default branch filter (never the space check).
        None if p.ids.is_some() || p.hashes.is_some() => Allowed::All,
        None => BranchSel::Default.resolve(s, ctx)?,
    };
    Ok(p)
}

fn intersect(prev: Option<Vec<u64>>, next: Vec<u64>) -> Vec<u64> {
    match prev {
        None => next,
        Some(p) => p.into_iter().filter(|x| next.contains(x)).collect(),
    }
}

impl Plan {
    /// Has the query no id, hash or value test?
    pub(super) fn has_no_id_hash_or_value_test(&self) -> bool {
        self.tests.is_empty() && self.ids.is_none() && self.hashes.is_none()
    }

    /// The one feature the query names, if it names exactly one.
    pub(super) fn the_feature(&self) -> Option<Option<u64>> {
        match self.features.as_deref() {
            Some([f]) => Some(*f),
            _ => None,
        }
    }

    /// Every condition but the value tests, on one value.
    pub(super) fn accepts_but_tests(&self, s: &State, id: u64, v: &ValueRec) -> bool {
        s.can_read(self.user, v.space())
            && self.branches.contains(v.branch())
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&id))
            && self.hashes.as_ref().is_none_or(|hs| hs.contains(&v.hash))
            && self.features.as_ref().is_none_or(|fs| fs.contains(&v.feature()))
            && self.spaces.as_ref().is_none_or(|sp| sp.contains(&v.space()))
            && self.creators.as_ref().is_none_or(|c| c.contains(&v.created_by()))
            && self.runs.as_ref().is_none_or(|rs| rs.contains(&v.run()))
            && self.artifacts.iter().all(|a| s.links.contains(id, Host::Artifact(*a)))
            && self.linked_runs.iter().all(|r| s.links.contains(id, Host::Run(*r)))
            && self.after.is_none_or(|t| v.created_at >= t)
            && self.before.is_none_or(|t| v.created_at <= t)
    }

    /// Every value test; the whole value is rebuilt once for all the tests without a path (a
    /// value per test was ≈ 15 % of a range query), a dict's parts only for the tests that
    /// follow a path into it.
    fn tests_pass(&self, v: &ValueRec) -> bool {
        let mut whole = None;
        self.tests.iter().all(|t| match t.path.is_empty() {
            true => t.matches_at(whole.get_or_insert_with(|| v.value())),
            false => t.accepts(v),
        })
    }

    /// Candidate ids from the narrowest index, a superset of the answer; and whether every
    /// candidate is known to pass the value tests already (an exact index range).
    fn candidates(&self, s: &State) -> (Vec<u64>, bool) {
        if let Some(fs) = &self.features {
            if self.ids.is_none() && self.hashes.is_none() {
                let mut ids = Vec::new();
                let mut exact = true;
                for (f, set) in fs.iter().filter_map(|f| s.by_feature.get(f).map(|set| (*f, set))) {
                    match exact_int_range(set, &self.tests) {
                        Some(more) => ids.extend(more),
                        None => {
                            exact = false;
                            match self
                                .tests
                                .iter()
                                .find_map(|t| index_point(set, t))
                                .or_else(|| index_range(set, &self.tests))
                                .or_else(|| {
                                    key_path_point(s, KeyPathScope::Feature(f), &self.tests, || {
                                        set.ids().filter_map(|id| s.value(id).map(|v| (id, v))).collect()
                                    })
                                }) {
                                Some(more) => ids.extend(more),
                                None => ids.extend(set.ids()),
                            }
                        }
                    }
                }
                return (ids, exact);
            }
        }
        (self.other_candidates(s), false)
    }

    fn other_candidates(&self, s: &State) -> Vec<u64> {
        if let Some(ids) = &self.ids {
            return ids.clone();
        }
        if let Some(hs) = &self.hashes {
            let features: Vec<Option<u64>> = match &self.features {
                Some(fs) => fs.clone(),
                None => std::iter::once(None).chain(s.features.keys().map(|f| Some(*f))).collect(),
            };
            return hs
                .iter()
                .flat_map(|h| features.iter().filter_map(|f| s.find_value(*f, h).map(|(id, _)| id)))
                .collect();
        }
        if let Some(a) = self.artifacts.first() {
            return s.values_of(Host::Artifact(*a)).collect();
        }
        if let Some(r) = self.linked_runs.first() {
            return s.values_of(Host::Run(*r)).collect();
        }
        if let Some(runs) = self.runs.as_ref().filter(|rs| rs.iter().all(Option::is_some)) {
            return runs.iter().flatten().flat_map(|r| s.by_run.get(r).into_iter().flat_map(IdSet::iter)).collect();
        }
        // A key path into the dicts of any feature: the values that may hold one are lists and
        // dicts, a scan of every value to build its index once.
        let any = key_path_point(s, KeyPathScope::Any, &self.tests, || {
            s.all_values().filter(|(_, v)| v.is_list_or_dict()).collect()
        });
        if let Some(ids) = any {
            return ids;
        }
        if let Some(c) = &self.creators {
            return c.iter().flat_map(|u| s.by_creator.get(u).into_iter().flat_map(IdSet::iter)).collect();
        }
        if let Allowed::Set(bs) = &self.branches {
            if let Some(sp) = &self.spaces {
                let by_space: usize = sp.iter().map(|x| s.by_space.get(x).map_or(0, |set| set.len())).sum();
                let by_branch: usize = bs.iter().map(|b| s.by_branch.get(b).map_or(0, IdSet::len)).sum();
                if by_space < by_branch {
                    return sp.iter().flat_map(|x| s.by_space.get(x).into_iter().flat_map(IdSet::iter)).collect();
                }
            }
            return bs.iter().flat_map(|b| s.by_branch.get(b).into_iter().flat_map(IdSet::iter)).collect();
        }
        if let Some(sp) = &self.spaces {
            return sp.iter().flat_map(|x| s.by_space.get(x).into_iter().flat_map(IdSet::iter)).collect();
        }
        s.all_values().map(|(id, _)| id).collect()
    }
}

/// Can this operand bound a walk of the ordered index? A date-like string compares with dates,
/// which sit elsewhere in the order, and lists and dicts have no range: not those.
fn plain(o: &Value) -> bool {
    match o {
        Value::Str(s) => parse_date(s).is_none() && parse_datetime(s).is_err(),
        Value::List(_) | Value::Dict(_) | Value::Null => false,
        _ => true,
    }
}

/// Ids equal to an `eq`/`in` operand, from the ordered index.
fn index_point(set: &ValueIndex, t: &ValueTest) -> Option<Vec<u64>> {
    if !t.path.is_empty() {
        return None;
    }
    let collect = |o: &Value| set.range(Bound::Included(o), Bound::Included(o)).collect::<Vec<_>>();
    match (&t.op, &t.operand) {
        (Op::Eq, o) if plain(o) => Some(collect(o)),
        (Op::In, Value::List(items)) if items.iter().all(plain) => Some(items.iter().flat_map(collect).collect()),
        _ => None,
    }
}

/// Ids whose part at a key path may equal an `eq`/`in` operand, from the key-path index of
/// `scope` (built here from `values` by a path's first query).
fn key_path_point<'s>(
    s: &'s State,
    scope: KeyPathScope,
    tests: &[ValueTest],
    values: impl FnOnce() -> Vec<(u64, &'s ValueRec)>,
) -> Option<Vec<u64>> {
    let t = tests.iter().find(|t| !t.path.is_empty() && matches!(t.op, Op::Eq | Op::In))?;
    let operands: &[Value] = match (&t.op, &t.operand) {
        (Op::In, Value::List(items)) => items,
        (Op::In, _) => return Some(Vec::new()),
        (_, o) => std::slice::from_ref(o),
    };
    // Each operand's canonical bytes, and for an ISO date (datetime) string those of the date
    // (datetime) it names, which `eq_match` lets it equal.
    let mut wanted = Vec::with_capacity(operands.len());
    for o in operands {
        wanted.push(codec::canonical(o));
        if let Value::Str(text) = o {
            if let Some(d) = parse_date(text) {
                wanted.push(codec::canonical(&Value::Date(d)));
            }
            if let Ok(dt) = parse_datetime(text) {
                wanted.push(codec::canonical(&Value::DateTime(dt)));
            }
        }
    }
    Some(s.key_paths.lookup(scope, &t.path, &wanted, values))
}

/// The ids the value tests accept, read from the index alone where it can tell exactly: every
/// test is one int bound (at most one lower and one upper) and the feature holds no floats, so
/// ints are all the index holds in the bounds' rank (a query's dearest step was re-testing
/// each candidate it had just taken from the range).
fn exact_int_range(set: &ValueIndex, tests: &[ValueTest]) -> Option<Vec<u64>> {
    if tests.is_empty() || set.has_floats() {
        return None;
    }
    let (mut lower, mut upper) = (None, None);
    for t in tests {
        if !t.path.is_empty() || !matches!(t.operand, Value::Int(_)) {
            return None;
        }
        let (side, bound) = match t.op {
            Op::Gt => (&mut lower, Bound::Excluded(&t.operand)),
            Op::Gte => (&mut lower, Bound::Included(&t.operand)),
            Op::Lt => (&mut upper, Bound::Excluded(&t.operand)),
            Op::Lte => (&mut upper, Bound::Included(&t.operand)),
            Op::Eq | Op::In => return None,
        };
        if side.replace(bound).is_some() {
            return None;
        }
    }
    // An open side ends where the numbers' rank does.
    let (first, past) = (Value::Float(f64::MIN), Value::Str(String::new()));
    let start = lower.unwrap_or(Bound::Included(&first));
    let end = upper.unwrap_or(Bound::Excluded(&past));
    Some(set.range(start, end).collect())
}

/// Ids in the part of the ordered index between the tightest lower and upper range operands
/// (a superset: ints and floats, dates and datetimes share a rank, so the bands of the other
/// type around each bound are added and `accepts` makes the exact cut).
fn index_range(set: &ValueIndex, tests: &[ValueTest]) -> Option<Vec<u64>> {
    let bounds = |ops: &[Op]| -> Option<&Value> {
        tests
            .iter()
            .filter(|t| t.path.is_empty() && ops.contains(&t.op) && plain(&t.operand))
            .map(|t| &t.operand)
            .reduce(|a, b| if ops.contains(&Op::Gt) == (crate::value::cmp_order(a, b).is_ge()) { a } else { b })
    };
    let lower = bounds(&[Op::Gt, Op::Gte]);
    let upper = bounds(&[Op::Lt, Op::Lte]);
    let (rank_lo, rank_hi);
    let (start, end) = match (lower, upper) {
        (None, None) => return None,
        (Some(l), None) => {
            rank_hi = rank_end(l);
            (Bound::Included(l), rank_hi.as_ref().map_or(Bound::Unbounded, Bound::Excluded))
        }
        (None, Some(u)) => {
            rank_lo = rank_start(u);
            (rank_lo.as_ref().map_or(Bound::Unbounded, Bound::Included), Bound::Included(u))
        }
        (Some(l), Some(u)) => {
            if rank_start(l) != rank_start(u) || crate::value::cmp_order(l, u).is_gt() {
                return Some(Vec::new()); // no value is in both ranges
            }
            (Bound::Included(l), Bound::Included(u))
        }
    };
    let mut ids: Vec<u64> = set.range(start, end).collect();
    for o in lower.into_iter().chain(upper) {
        ids.extend(same_value_other_type(set, o));
    }
    Some(ids)
}

/// Entries equal in magnitude but of the other numeric or temporal type sort just beside the
/// operand; include a narrow band around it so the exact test sees them.
fn same_value_other_type(set: &ValueIndex, o: &Value) -> Vec<u64> {
    let twin = match o {
        Value::Int(i) if set.has_floats() => Value::Float(*i as f64),
        Value::Float(f) if set.has_ints() && f.fract() == 0.0 && f.abs() < 9.0e18 => Value::Int(*f as i64),
        _ => return Vec::new(),
    };
    set.range(Bound::Included(&twin), Bound::Included(&twin)).collect()
}

/// The first value of the next rank, which bounds this rank from above (excluded).
fn rank_end(o: &Value) -> Option<Value> {
    Some(match o {
        Value::Bool(_) => Value::Int(i64::MIN),
        Value::Int(_) | Value::Float(_) => Value::Str(String::new()),
        Value::Str(_) => Value::Date(i32::MIN),
        Value::Date(_) | Value::DateTime(_) => Value::List(Vec::new()),
        _ => return None,
    })
}

/// The first value of this rank (included).
fn rank_start(o: &Value) -> Option<Value> {
    Some(match o {
        Value::Bool(_) => Value::Bool(false),
        Value::Int(_) | Value::Float(_) => Value::Float(f64::MIN),
        Value::Str(_) => Value::Str(String::new()),
        Value::Date(_) | Value::DateTime(_) => Value::DateTime(i64::MIN),
        _ => return None,
    })
}

/// The matching values and their ids, ordered and limited.
pub(crate) fn run<'s>(s: &'s State, p: &Plan, q: &Query) -> Vec<(u64, &'s ValueRec)> {
    if let Some(top) = super::top::by_value(s, p, q) {
        return top;
    }
    let (mut ids, exact) = p.candidates(s);
    ids.sort_unstable();
    ids.dedup();
    // The answer's ids kept in place, then paired with their records: a broad candidate set
    // needs no second vector of its size.
    ids.retain(|id| s.value(*id).is_some_and(|v| p.accepts_but_tests(s, *id, v) && (exact || p.tests_pass(v))));
    let mut out: Vec<(u64, &ValueRec)> = Vec::with_capacity(ids.len());
    out.extend(ids.into_iter().filter_map(|id| Some((id, s.value(id)?))));
    match q.order {
        OrderBy::Id => {}
        OrderBy::Value => {
            // Each value decoded once, not once per comparison.
            let mut keyed: Vec<_> = out.into_iter().map(|(id, v)| (v.value(), id, v)).collect();
            keyed.sort_by(|(a, x, _), (b, y, _)| cmp_loose(a, b).then(x.cmp(y)));
            out = keyed.into_iter().map(|(_, id, v)| (id, v)).collect();
        }
        OrderBy::CreatedAt => {
            out.sort_by(|(x, a), (y, b)| a.created_at.cmp(&b.created_at).then(x.cmp(y)));
        }
    }
    if q.descending {
        out.reverse();
    }
    if let Some(n) = q.limit {
        out.truncate(n);
    }
    out
}

impl Session {
    /// The values matching a query, in its order.
    pub fn filter(&self, q: &Query) -> Result<Vec<ValueRecord>> {
        let user = self.ctx.user;
        self.store.read(|s| {
            crate::command::check_context(s, &self.ctx)?;
            let p = plan(s, &self.ctx, q)?;
            Ok(run(s, &p, q).into_iter().map(|(id, v)| crate::command::view(s, user, id, v)).collect())
        })
    }

    /// How many values match (the limit applies).
    pub fn count(&self, q: &Query) -> Result<usize> {
        self.store.read(|s| {
            crate::command::check_context(s, &self.ctx)?;
            let p = plan(s, &self.ctx, q)?;
            Ok(run(s, &p, q).len())
        })
    }

    /// Exactly one matching value, or `DoesNotExist` / `MultipleObjectsReturned`.
    pub fn get_where(&self, q: &Query) -> Result<ValueRecord> {
        let mut found = self.filter(&q.clone().limit(2))?;
        match found.len() {
            0 => Err(err!(DoesNotExist, "no value matches the query")),
            1 => found.pop().ok_or_else(|| err!(DoesNotExist, "no value matches the query")),
            _ => Err(err!(MultipleObjectsReturned, "more than one value matches the query; add filters or use filter")),
        }
    }

    /// The first matching value in the query's order, if any.
    pub fn first(&self, q: &Query) -> Result<Option<ValueRecord>> {
        Ok(self.filter(&q.clone().limit(1))?.pop())
    }
}
