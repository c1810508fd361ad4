//! Queries (SPEC §7) asked of the engine and answered by the model: a fixed list of shapes
//! covering the default branch filter, typed equality, operands read as the feature's dtype,
//! ranges across int and float, ISO date strings, dict paths, ordering and the link filters.

use super::obs::{Obs, DNE, R};
use super::spec::{Ctx, MEvent, Model, T0};
use super::values::{at_path, eq_match, order, range_cmp, validate};
use fvstore::{Host, Query, RecordType, Ref, Value};
use std::cmp::Ordering;
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub enum Q {
    All,
    Default,
    Branches(Vec<i64>),
    Feature(&'static str),
    FeatureNull,
    /// `feature = name`, `value[__op] = operand`, every branch.
    Cmp(&'static str, &'static str, Value),
    /// `value[__op] = operand` with no feature, on the default branches.
    Value(&'static str, Value),
    /// Equality at a dict key path, every branch.
    Path(&'static [&'static str], Value),
    OrderValue(&'static str, bool, Option<usize>),
    OrderCreated(bool, Option<usize>),
    Artifact(u64),
    LinkedRun(u64),
    CreatedBy(u64),
    Run(Option<u64>),
    Space(u64),
    Id(u64),
    /// `created_at__gte` / `__lte`, in milliseconds after T0.
    CreatedAt(i64, i64),
}

fn ints(v: &[i64]) -> Value {
    Value::List(v.iter().map(|i| Value::Int(*i)).collect())
}

pub fn queries() -> Vec<Q> {
    let one = || {
        let mut m = std::collections::BTreeMap::new();
        m.insert("a".to_string(), Value::Int(1));
        Value::Dict(m)
    };
    vec![
        Q::All,
        Q::Default,
        Q::Branches(vec![-1, 0]),
        Q::Branches(vec![2, 3, 4]),
        Q::Feature("fi"),
        Q::Feature("fo"),
        Q::Feature("nope"),
        Q::FeatureNull,
        Q::Cmp("fi", "gt", Value::Int(1)),
        Q::Cmp("fi", "eq", Value::Float(3.0)),
        Q::Cmp("fn", "gte", Value::Float(2.5)),
        Q::Cmp("fn", "eq", Value::Int(3)),
        Q::Cmp("ff", "eq", Value::Int(3)),
        Q::Cmp("ff", "lt", Value::Int(3)),
        Q::Cmp("fo", "lte", Value::Float(2.5)),
        Q::Cmp("fo", "in", Value::List(vec![Value::Int(1), Value::Str("a".into()), Value::Float(3.0)])),
        Q::Cmp("fo", "eq", Value::Str("2024-01-02".into())),
        Q::Cmp("fd", "gt", Value::Str("2024-01-01".into())),
        Q::Cmp("fd", "eq", Value::Str("2024-01-02".into())),
        Q::Cmp("fic", "lt", Value::Float(2.5)),
        Q::Cmp("fs", "gt", Value::Str("a".into())),
        Q::Cmp("fb", "eq", Value::Bool(true)),
        Q::Cmp("fb", "gt", Value::Bool(false)),
        Q::Value("eq", Value::Int(3)),
        Q::Value("eq", Value::Float(3.0)),
        Q::Value("eq", Value::Str("2024-01-02".into())),
        Q::Value("eq", one()),
        Q::Value("gt", Value::Int(1)),
        Q::Value("lte", Value::Str("2024-01-01".into())),
        Q::Value("in", Value::List(vec![Value::Int(0), Value::Float(0.0), Value::Bool(false)])),
        Q::Path(&["a"], Value::Int(1)),
        Q::Path(&["b", "c"], Value::Bool(true)),
        Q::OrderValue("fo", false, None),
        Q::OrderValue("fo", true, Some(4)),
        Q::OrderValue("fn", false, None),
        Q::OrderCreated(true, Some(4)),
        Q::Artifact(1),
        Q::Artifact(2),
        Q::LinkedRun(1),
        Q::CreatedBy(3),
        Q::Run(None),
        Q::Run(Some(1)),
        Q::Space(2),
        Q::Id(1),
        Q::Id(4),
        Q::CreatedAt(20, 40),
        Q::Cmp("fn", "gt", Value::Float(9_007_199_254_740_992.0)),
        Q::Cmp("fn", "lte", Value::Int(9_007_199_254_740_993)),
        Q::Cmp("ff", "eq", Value::Int(9_007_199_254_740_993)),
    ]
}

fn value_key(op: &str) -> String {
    if op == "eq" {
        "value".into()
    } else {
        format!("value__{op}")
    }
}

/// The engine query for a shape.
pub fn build(q: &Q) -> Query {
    let all = |q: Query| q.filter("branch", "all");
    match q {
        Q::All => all(Query::new()),
        Q::Default => Query::new(),
        Q::Branches(bs) => Query::new().filter("branch", ints(bs)),
        Q::Feature(f) => Query::new().filter("feature", *f),
        Q::FeatureNull => all(Query::new().filter("feature", Value::Null)),
        Q::Cmp(f, op, v) => all(Query::new().filter("feature", *f).filter(&value_key(op), v.clone())),
        Q::Value(op, v) => Query::new().filter(&value_key(op), v.clone()),
        Q::Path(path, v) => all(Query::new().filter(&format!("value__{}", path.join("__")), v.clone())),
        Q::OrderValue(f, desc, limit) => {
            let q = all(Query::new().filter("feature", *f)).order_by(if *desc { "-value" } else { "value" });
            limit.map_or(q.clone(), |n| q.limit(n))
        }
        Q::OrderCreated(desc, limit) => {
            let q = all(Query::new()).order_by(if *desc { "-created_at" } else { "created_at" });
            limit.map_or(q.clone(), |n| q.limit(n))
        }
        Q::Artifact(a) => all(Query::new().filter("artifact", *a as i64)),
        Q::LinkedRun(r) => all(Query::new().filter("linked_run", *r as i64)),
        Q::CreatedBy(u) => all(Query::new().filter("created_by", *u as i64)),
        Q::Run(r) => all(Query::new().filter("run", r.map_or(Value::Null, |r| Value::Int(r as i64)))),
        Q::Space(s) => all(Query::new().filter("space", *s as i64)),
        Q::Id(i) => Query::new().filter("id", *i as i64),
        Q::CreatedAt(lo, hi) => all(Query::new())
            .filter("created_at__gte", Value::DateTime(T0 + lo * 1000))
            .filter("created_at__lte", Value::DateTime(T0 + hi * 1000)),
    }
}

/// Does a stored value pass `value[__path][__op] = operand`?
pub fn test(stored: &Value, path: &[&str], op: &str, operand: &Value) -> bool {
    let Some(v) = at_path(stored, path) else { return false };
    match op {
        "eq" => eq_match(v, operand),
        "in" => matches!(operand, Value::List(items) if items.iter().any(|o| eq_match(v, o))),
        "gt" => range_cmp(v, operand) == Some(Ordering::Greater),
        "gte" => matches!(range_cmp(v, operand), Some(Ordering::Greater | Ordering::Equal)),
        "lt" => range_cmp(v, operand) == Some(Ordering::Less),
        "lte" => matches!(range_cmp(v, operand), Some(Ordering::Less | Ordering::Equal)),
        _ => false,
    }
}

/// An operand read as the feature's dtype where it converts; as it is otherwise.
fn as_dtype(m: &Model, f: u64, op: &str, operand: &Value) -> Value {
    let dtype = &m.features[&f].dtype;
    let one = |o: &Value| validate(dtype, true, o).unwrap_or_else(|| o.clone());
    match (op, operand) {
        ("in", Value::List(items)) => Value::List(items.iter().map(one).collect()),
        _ => one(operand),
    }
}

/// The model's answer: value ids in the query's order.
pub fn eval(m: &Model, c: &Ctx, q: &Q) -> R<Vec<u64>> {
    m.check_ctx(c, false)?;
    let mut default = vec![1, 2];
    if c.branch >= 4 {
        default.push(c.branch);
    }
    let branches: Option<Vec<i64>> = match q {
        Q::Default | Q::Feature(_) | Q::Value(..) => Some(default),
        Q::Id(_) => None,
        Q::Branches(bs) => Some(bs.iter().map(|b| m.resolve_branch(&Ref::Id(*b))).collect::<R<Vec<_>>>()?),
        _ => None,
    };
    let feature = |name: &str| m.resolve_feature(c.user, &Ref::Name(name.into())).ok();
    let accept = |id: u64| -> R<bool> {
        let v = &m.values[&id];
        Ok(match q {
            Q::All | Q::Default | Q::Branches(_) => true,
            Q::Feature(f) => feature(f).is_some_and(|f| v.feature == Some(f)),
            Q::FeatureNull => v.feature.is_none(),
            Q::Cmp(f, op, operand) => match feature(f) {
                Some(f) => v.feature == Some(f) && test(&v.value, &[], op, &as_dtype(m, f, op, operand)),
                None => false,
            },
            Q::Value(op, operand) => test(&v.value, &[], op, operand),
            Q::Path(path, operand) => test(&v.value, path, "eq", operand),
            Q::OrderValue(f, ..) => feature(f).is_some_and(|f| v.feature == Some(f)),
            Q::OrderCreated(..) => true,
            Q::Artifact(a) => m.links.contains(&(id, Host::Artifact(*a))),
            Q::LinkedRun(r) => m.links.contains(&(id, Host::Run(*r))),
            Q::CreatedBy(u) => {
                if !m.users.contains_key(u) {
                    return Err(DNE);
                }
                v.created_by == *u
            }
            Q::Run(r) => v.run == *r,
            Q::Space(s) => {
                if !m.spaces.contains_key(s) {
                    return Err(DNE);
                }
                v.space == *s
            }
            Q::Id(i) => id == *i,
            Q::CreatedAt(lo, hi) => (T0 + lo * 1000..=T0 + hi * 1000).contains(&v.created_at),
        })
    };
    // Naming a record that does not exist (for the actor) is DoesNotExist (SPEC §5); only an
    // unknown feature matches nothing.
    let exists = match q {
        Q::CreatedBy(u) => m.users.contains_key(u),
        Q::Space(s) => m.spaces.contains_key(s),
        Q::Artifact(a) => m.artifacts.get(a).is_some_and(|a| m.can_read(c.user, a.space)),
        Q::LinkedRun(r) | Q::Run(Some(r)) => m.runs.contains_key(r),
        _ => true,
    };
    if !exists {
        return Err(DNE);
    }
    let mut out = Vec::new();
    for (id, v) in &m.values {
        if m.can_read(c.user, v.space) && branches.as_ref().is_none_or(|b| b.contains(&v.branch)) && accept(*id)? {
            out.push(*id);
        }
    }
    let (desc, limit) = match q {
        Q::OrderValue(_, desc, limit) => {
            out.sort_by(|a, b| order(&m.values[a].value, &m.values[b].value).then(a.cmp(b)));
            (*desc, *limit)
        }
        Q::OrderCreated(desc, limit) => {
            out.sort_by(|a, b| m.values[a].created_at.cmp(&m.values[b].created_at).then(a.cmp(b)));
            (*desc, *limit)
        }
        _ => (false, None),
    };
    if desc {
        out.reverse();
    }
    if let Some(n) = limit {
        out.truncate(n);
    }
    Ok(out)
}

pub fn filter(m: &Model, c: &Ctx, q: &Q) -> R<Obs> {
    Ok(Obs::Values(eval(m, c, q)?.into_iter().map(|id| m.vview(c.user, id)).collect()))
}

/// Host filters: `(feature[__path][__op], operand)` keys, ANDed.
pub const HOST_FILTERS: &[&[(&str, i64)]] =
    &[&[("fi__gt", 1)], &[("fo", 1)], &[("fi__lte", 2), ("fn__gte", 1)], &[("fdict__a", 1)]];

/// The artifacts (`artifacts`) or runs whose linked values match every key.
pub fn hosts(m: &Model, c: &Ctx, filters: &[(&str, i64)], artifacts: bool) -> R<Vec<u64>> {
    m.check_ctx(c, false)?;
    let mut result: Option<BTreeSet<Host>> = None;
    for (key, operand) in filters {
        let mut segs: Vec<&str> = key.split("__").collect();
        let name = segs.remove(0);
        let op = match segs.last() {
            Some(l) if ["in", "gt", "gte", "lt", "lte"].contains(l) => segs.pop().unwrap_or("eq"),
            _ => "eq",
        };
        let mut found = BTreeSet::new();
        if let Ok(f) = m.resolve_feature(c.user, &Ref::Name(name.into())) {
            let operand = Value::Int(*operand);
            let operand = if segs.is_empty() { as_dtype(m, f, op, &operand) } else { operand };
            for (id, v) in &m.values {
                if v.feature == Some(f) && m.can_read(c.user, v.space) && test(&v.value, &segs, op, &operand) {
                    found.extend(m.links.iter().filter(|(x, _)| x == id).map(|(_, h)| *h));
                }
            }
        }
        result = Some(match result {
            None => found,
            Some(prev) => prev.intersection(&found).copied().collect(),
        });
    }
    let hosts = result.unwrap_or_default();
    let mut default = vec![1, 2];
    if c.branch >= 4 {
        default.push(c.branch);
    }
    Ok(if artifacts {
        m.artifacts
            .iter()
            .filter(|(id, a)| {
                hosts.contains(&Host::Artifact(**id)) && m.can_read(c.user, a.space) && default.contains(&a.branch)
            })
            .map(|(id, _)| *id)
            .collect()
    } else {
        m.runs.keys().filter(|id| hosts.contains(&Host::Run(**id))).copied().collect()
    })
}

/// SPEC §8 `history`: every event that touched the record (as its subject, as a link's host,
/// as a merged record, as a grant's user), for a reader who may read the record; a removed
/// record's history is user 1's only; a host's history leaves out links of values the reader
/// may not read (docs/SEMANTICS.md). Returns the events' sequence numbers.
pub fn history(m: &Model, user: u64, r: (RecordType, u64)) -> R<Vec<u64>> {
    let (kind, id) = r;
    let visible = |space: Option<u64>| -> R<bool> {
        match space {
            Some(s) if m.can_read(user, s) => Ok(true),
            Some(_) => Err(DNE),
            None => Ok(false),
        }
    };
    let exists = match kind {
        RecordType::Value => visible(m.values.get(&id).map(|v| v.space))?,
        RecordType::Feature => visible(m.features.get(&id).map(|f| f.space))?,
        RecordType::Artifact => visible(m.artifacts.get(&id).map(|a| a.space))?,
        RecordType::User => m.users.contains_key(&id),
        RecordType::Space => m.spaces.contains_key(&id),
        RecordType::Branch => m.branches.contains_key(&(id as i64)),
        RecordType::Run => m.runs.contains_key(&id),
    };
    if !exists && user != 1 {
        return Err(DNE);
    }
    // A host's history leaves out links of values the reader may not read; a value's, its
    // links to artifacts that exist and that the reader may not read.
    let hidden = |e: &MEvent| {
        let link = e.data.starts_with("link ") || e.data.starts_with("unlink ");
        user != 1
            && link
            && if e.record == r {
                e.also.iter().any(|(k, a)| {
                    *k == RecordType::Artifact && m.artifacts.get(a).is_some_and(|a| !m.can_read(user, a.space))
                })
            } else {
                !m.values.get(&e.record.1).is_some_and(|v| m.can_read(user, v.space))
            }
    };
    let out: Vec<u64> =
        m.events.iter().filter(|e| (e.record == r || e.also.contains(&r)) && !hidden(e)).map(|e| e.seq).collect();
    if out.is_empty() && !exists {
        return Err(DNE);
    }
    Ok(out)
}
