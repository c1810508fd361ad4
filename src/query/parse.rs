//! Lookup keys and operands into conditions. Names (features, spaces, users, branches) are
//! resolved later, against the state the query runs on.

use crate::command::Ref;
use crate::error::{err, Result};
use crate::state::State;
use crate::store::Context;
use crate::value::{parse_date, parse_datetime, parse_timestamp, Value};

/// The comparison of a value lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "in" => Op::In,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            _ => return None,
        })
    }
}

/// The order of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderBy {
    #[default]
    Id,
    Value,
    CreatedAt,
}

/// Which branches a query or list covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BranchSel {
    /// Main (1), locked (2) and the current user branch.
    #[default]
    Default,
    All,
    Some(Vec<Ref>),
}

/// A resolved branch selection.
pub(crate) enum Allowed {
    All,
    Set(Vec<i64>),
}

impl Allowed {
    pub fn contains(&self, b: i64) -> bool {
        match self {
            Allowed::All => true,
            Allowed::Set(v) => v.contains(&b),
        }
    }
}

impl BranchSel {
    /// Reads `"all"`, a code or name, or a list of them.
    pub fn from_value(v: Value) -> Result<BranchSel> {
        match v {
            Value::Str(s) if s.eq_ignore_ascii_case("all") => Ok(BranchSel::All),
            Value::List(items) => Ok(BranchSel::Some(items.into_iter().map(one_ref).collect::<Result<_>>()?)),
            other => Ok(BranchSel::Some(vec![one_ref(other)?])),
        }
    }

    pub(crate) fn resolve(&self, s: &State, ctx: &Context) -> Result<Allowed> {
        Ok(match self {
            BranchSel::All => Allowed::All,
            BranchSel::Default => {
                let mut v = vec![1, 2];
                if ctx.branch >= 4 {
                    v.push(ctx.branch);
                }
                Allowed::Set(v)
            }
            BranchSel::Some(refs) => {
                Allowed::Set(refs.iter().map(|r| crate::command::resolve_branch(s, r)).collect::<Result<_>>()?)
            }
        })
    }
}

fn one_ref(v: Value) -> Result<Ref> {
    match v {
        Value::Int(i) => Ok(Ref::Id(i)),
        Value::Str(s) => Ok(Ref::Name(s)),
        other => Err(err!(ValidationError, "expected an id or a name, got {}", other.type_phrase())),
    }
}

fn refs(v: Value) -> Result<Vec<Ref>> {
    match v {
        Value::List(items) => items.into_iter().map(one_ref).collect(),
        other => Ok(vec![one_ref(other)?]),
    }
}

fn ids(key: &str, v: Value) -> Result<Vec<u64>> {
    match v {
        Value::List(items) => items.into_iter().map(|v| id(key, v)).collect(),
        other => Ok(vec![id(key, other)?]),
    }
}

fn id(key: &str, v: Value) -> Result<u64> {
    match v {
        Value::Int(i) if i >= 0 => Ok(i.unsigned_abs()),
        other => {
            Err(err!(ValidationError, "filter '{key}' takes ids (non-negative integers), got {}", other.type_phrase()))
        }
    }
}

/// A filter condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Id(Vec<u64>),
    Hash(Vec<String>),
    /// `None` in the list: values with no feature.
    Feature(Vec<Option<Ref>>),
    Value {
        path: Vec<String>,
        op: Op,
        operand: Value,
    },
    Branch(BranchSel),
    Space(Vec<Ref>),
    CreatedBy(Vec<Ref>),
    /// Created under any of these runs (`None`: under no run).
    Run(Vec<Option<u64>>),
    Artifact(Vec<u64>),
    LinkedRun(Vec<u64>),
    CreatedAtGte(i64),
    CreatedAtLte(i64),
}

const FIELDS: &str = "id, id__in, hash, hash__in, feature, feature__in, value, value__in, value__gt, \
value__gte, value__lt, value__lte, value__<key>[__<key>…], branch, space, created_by, run, artifact, \
linked_run, created_at__gte, created_at__lte";

fn time(key: &str, v: Value) -> Result<i64> {
    let parsed = match &v {
        Value::Str(s) => parse_timestamp(s)
            .or_else(|| parse_datetime(s).ok())
            .or_else(|| parse_date(s).map(crate::value::date_to_micros)),
        Value::DateTime(t) => Some(*t),
        Value::Date(d) => Some(crate::value::date_to_micros(*d)),
        _ => None,
    };
    parsed.ok_or_else(|| err!(ValidationError, "filter '{key}' takes an RFC 3339 time, got {}", v.brief()))
}

/// Parses one lookup.
pub(crate) fn cond(key: &str, v: Value) -> Result<Cond> {
    let list = |v: Value| -> Result<Vec<Value>> {
        match v {
            Value::List(items) => Ok(items),
            other => Err(err!(ValidationError, "filter '{key}' takes a list, got {}", other.type_phrase())),
        }
    };
    Ok(match key {
        "id" | "id__in" => Cond::Id(ids(key, if key == "id__in" { Value::List(list(v)?) } else { v })?),
        "hash" | "hash__in" => {
            let items = if key == "hash__in" { list(v)? } else { vec![v] };
            Cond::Hash(
                items
                    .into_iter()
                    .map(|h| match h {
                        Value::Str(s) => Ok(s.to_lowercase()),
                        other => {
                            Err(err!(ValidationError, "filter '{key}' takes hex hashes, got {}", other.type_phrase()))
                        }
                    })
                    .collect::<Result<_>>()?,
            )
        }
        "feature" | "feature__in" => {
            let items = if key == "feature__in" { list(v)? } else { vec![v] };
            Cond::Feature(
                items
                    .into_iter()
                    .map(|f| match f {
                        Value::Null => Ok(None),
                        other => one_ref(other).map(Some),
                    })
                    .collect::<Result<_>>()?,
            )
        }
        "branch" => Cond::Branch(BranchSel::from_value(v)?),
        "space" => Cond::Space(refs(v)?),
        "created_by" => Cond::CreatedBy(refs(v)?),
        // Any of the runs listed, as for `created_by` (a value has one run, or none: null).
        "run" => Cond::Run(match v {
            Value::List(items) => items
                .into_iter()
                .map(|r| match r {
                    Value::Null => Ok(None),
                    other => id(key, other).map(Some),
                })
                .collect::<Result<_>>()?,
            Value::Null => vec![None],
            other => vec![Some(id(key, other)?)],
        }),
        "artifact" => Cond::Artifact(ids(key, v)?),
        "linked_run" => Cond::LinkedRun(ids(key, v)?),
        "created_at__gte" => Cond::CreatedAtGte(time(key, v)?),
        "created_at__lte" => Cond::CreatedAtLte(time(key, v)?),
        _ => match key.strip_prefix("value").map(|rest| (rest, rest.strip_prefix("__"))) {
            Some(("", _)) => Cond::Value { path: vec![], op: Op::Eq, operand: v },
            // A path with an empty segment (`value__`, `value__a____b`) is an unknown field too,
            // and its error lists the fields like any other's.
            Some((_, Some(path))) if !path.split("__").any(str::is_empty) => value_cond(path, v)?,
            _ => return Err(err!(FieldError, "cannot filter on '{key}'; the fields are: {FIELDS}")),
        },
    })
}

/// `<key>__<key>…[__op]` after `value__`, or the same after a feature name.
pub(crate) fn value_cond(rest: &str, v: Value) -> Result<Cond> {
    let mut segs: Vec<String> = rest.split("__").map(str::to_string).collect();
    if segs.iter().any(String::is_empty) {
        return Err(err!(FieldError, "empty segment in lookup '{rest}'"));
    }
    let op = match segs.last().and_then(|l| Op::parse(l)) {
        Some(op) => {
            segs.pop();
            op
        }
        None => Op::Eq,
    };
    if op == Op::In && !matches!(v, Value::List(_)) {
        return Err(err!(ValidationError, "an '__in' lookup takes a list, got {}", v.type_phrase()));
    }
    Ok(Cond::Value { path: segs, op, operand: v })
}
