//! Artifacts and runs selected by their linked values: `{"temperature__gt": 30}` means "has a
//! linked value of feature temperature greater than 30". Keys are ANDed; trashed values count;
//! values and hosts the actor may not read are left out.

use super::eval::ValueTest;
use super::parse::{value_cond, BranchSel, Cond};
use crate::command::Session;
use crate::error::{err, Result};
use crate::event::Host;
use crate::state::{Artifact, Run, State};
use crate::value::Value;
use std::collections::BTreeSet;

/// One key: a feature name, then an optional dict path and operator.
fn parse_key(key: &str, operand: Value) -> Result<(String, ValueTest)> {
    let (name, rest) = match key.split_once("__") {
        Some((n, r)) => (n, Some(r)),
        None => (key, None),
    };
    if name.is_empty() {
        return Err(err!(FieldError, "lookup '{key}' does not start with a feature name"));
    }
    let cond = match rest {
        Some(r) => value_cond(r, operand)?,
        None => value_cond_eq(operand),
    };
    match cond {
        Cond::Value { path, op, operand } => Ok((name.to_string(), ValueTest { path, op, operand })),
        _ => Err(err!(FieldError, "lookup '{key}' is not a value lookup")),
    }
}

fn value_cond_eq(operand: Value) -> Cond {
    Cond::Value { path: vec![], op: super::Op::Eq, operand }
}

/// Hosts (of one kind, picked by `pick`) that have, for every key, a matching linked value.
fn matching_hosts(
    s: &State,
    user: u64,
    filters: &[(String, Value)],
    pick: impl Fn(Host) -> Option<u64>,
) -> Result<Option<BTreeSet<u64>>> {
    let mut result: Option<BTreeSet<u64>> = None;
    for (key, operand) in filters {
        let (name, mut test) = parse_key(key, operand.clone())?;
        let Some(f) = s.feature_by_name.get(&name).and_then(|id| s.features.get(id)) else {
            return Ok(Some(BTreeSet::new())); // an unknown feature matches nothing
        };
        if !s.can_read(user, f.space_id) {
            return Ok(Some(BTreeSet::new()));
        }
        if test.path.is_empty() {
            test.operand = match (test.op, test.operand) {
                (super::Op::In, Value::List(items)) => {
                    Value::List(items.into_iter().map(|o| f.dtype.validate("", true, o.clone()).unwrap_or(o)).collect())
                }
                (_, o) => f.dtype.validate("", true, o.clone()).unwrap_or(o),
            };
        }
        let mut hosts = BTreeSet::new();
        for id in s.by_feature.get(&Some(f.id)).into_iter().flat_map(|set| set.ids()) {
            let Some(v) = s.value(id) else { continue };
            if !s.can_read(user, v.space()) || !test.accepts(v) {
                continue;
            }
            hosts.extend(s.hosts_of(id).filter_map(&pick));
        }
        result = Some(match result {
            None => hosts,
            Some(prev) => prev.intersection(&hosts).copied().collect(),
        });
    }
    Ok(result)
}

impl Session {
    /// Artifacts (visible by the default branch filter) whose linked values match every key.
    pub fn filter_artifacts(&self, filters: &[(String, Value)]) -> Result<Vec<Artifact>> {
        let user = self.ctx.user;
        self.store.read(|s| {
            crate::command::check_context(s, &self.ctx)?;
            let allowed = BranchSel::Default.resolve(s, &self.ctx)?;
            let hosts = matching_hosts(s, user, filters, |h| match h {
                Host::Artifact(a) => Some(a),
                Host::Run(_) => None,
            })?;
            let visible = |a: &&Artifact| s.can_read(user, a.space_id) && allowed.contains(a.branch_id);
            Ok(match hosts {
                None => s.artifacts.values().filter(visible).cloned().collect(),
                Some(ids) => ids.iter().filter_map(|id| s.artifacts.get(id)).filter(visible).cloned().collect(),
            })
        })
    }

    /// Runs whose linked values match every key.
    pub fn filter_runs(&self, filters: &[(String, Value)]) -> Result<Vec<Run>> {
        let user = self.ctx.user;
        self.store.read(|s| {
            crate::command::check_context(s, &self.ctx)?;
            let hosts = matching_hosts(s, user, filters, |h| match h {
                Host::Run(r) => Some(r),
                Host::Artifact(_) => None,
            })?;
            Ok(match hosts {
                None => s.runs.values().cloned().collect(),
                Some(ids) => ids.iter().filter_map(|id| s.runs.get(id)).cloned().collect(),
            })
        })
    }
}
