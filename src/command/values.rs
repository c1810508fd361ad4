//! get_or_create, links, and the value helpers of artifacts and runs (add/set/remove/get).

use super::resolve::{self, Ref};
use super::Session;
use crate::codec;
use crate::error::{err, Error, Result};
use crate::event::{EventData, Host, RecordRef, RecordType};
use crate::permissions::{check_edit, require_run_owner, require_write, Edit};
use crate::state::{Feature, State, ValueRecord, WordMap, ARCHIVE, MAIN, TRASH};
use crate::store::Draft;
use crate::value::{validate_plain, Dtype, Value};
use std::collections::BTreeMap;

/// A validated value ready for the dedup lookup.
struct Prepared {
    feature: Option<u64>,
    value: Value,
    hash: [u8; 32],
}

fn vref(id: u64) -> RecordRef {
    RecordRef { kind: RecordType::Value, id }
}

impl Session {
    /// Validates `value` for the feature (or none), then returns the record with that dedup key
    /// — whatever its branch, unchanged — or creates it. The flag is `true` on a hit, which
    /// writes nothing.
    pub fn get_or_create(&self, feature: Option<Ref>, value: impl Into<Value>) -> Result<(ValueRecord, bool)> {
        let value = value.into();
        let user = self.ctx.user;
        let limits = *self.store.limits();
        // Hit path: a read lock only; nothing is written.
        let prepared = self.store.read(|s| -> Result<std::result::Result<(ValueRecord, u64), (Prepared, u64)>> {
            resolve::context(s, &self.ctx, false)?;
            let p = prepare(s, user, feature.as_ref(), value, &limits)?;
            match hit(s, user, &p)? {
                Some(rec) => Ok(Ok((rec, s.seq))),
                None => Ok(Err((p, s.seq))),
            }
        })?;
        let (p, seen) = match prepared {
            Ok((rec, seen)) => {
                // The record may come from a commit whose flush is in flight; never hand out
                // an id a crash could still take back.
                self.store.wait_durable(seen)?;
                return Ok((rec, true));
            }
            Err(miss) => miss,
        };
        // Miss: re-check under the writer lock, another caller may have created it meanwhile
        // (only events change the state, so an unchanged seq means nobody did).
        self.store.commit(
            &self.ctx,
            |s, d| {
                if s.seq != seen {
                    if let Some(rec) = hit(s, user, &p)? {
                        return Ok(Err(rec));
                    }
                }
                resolve::context(s, &self.ctx, true)?;
                Ok(Ok(self.create_value(s, d, &p)?))
            },
            |s, plan| match plan {
                Err(rec) => Ok((rec, true)),
                Ok(id) => Ok((view_of(s, user, id)?, false)),
            },
        )
    }

    /// What `get_or_create` checks before the value: the acting context, then that the feature
    /// (if any) exists for the actor. For the protocol, whose JSON may hold a number that no
    /// [`Value`] can, so that the order of checks stays SPEC §3's.
    pub(crate) fn check_feature(&self, feature: Option<&Ref>) -> Result<()> {
        self.store.read(|s| {
            resolve::context(s, &self.ctx, false)?;
            feature.map(|r| resolve::feature(s, self.ctx.user, r)).transpose().map(|_| ())
        })
    }

    /// What `add_values` and `set_values` check before the values themselves: the acting
    /// context, the host, and that every feature named exists. For the protocol, whose JSON
    /// may hold a number that no [`Value`] can, so that those errors still come first.
    pub(crate) fn check_values_target<'n>(&self, host: Host, names: impl Iterator<Item = &'n str>) -> Result<()> {
        self.store.read(|s| self.values_target(s, host, names).map(drop))
    }

    /// The checks of `check_values_target`, in their order, and each value's feature: every
    /// feature resolved once (a call names a few features for many values).
    fn values_target<'s, 'n>(
        &self,
        s: &'s State,
        host: Host,
        names: impl Iterator<Item = &'n str>,
    ) -> Result<Vec<&'s Feature>> {
        let user = self.ctx.user;
        resolve::context(s, &self.ctx, true)?;
        resolve::host(s, user, host)?;
        let mut features: BTreeMap<&str, Option<&Feature>> = BTreeMap::new();
        let per_value: Vec<(&str, Option<&Feature>)> = names
            .map(|n| (n, *features.entry(n).or_insert_with(|| resolve::feature(s, user, &Ref::Name(n.into())).ok())))
            .collect();
        unknown_features(per_value.iter().filter(|(_, f)| f.is_none()).map(|(n, _)| *n))?;
        Ok(per_value.into_iter().filter_map(|(_, f)| f).collect())
    }

    /// Drafts the creation of a prepared value; checks the feature is usable and the actor may
    /// write in the current space.
    fn create_value(&self, s: &State, d: &mut Draft, p: &Prepared) -> Result<u64> {
        if let Some(fid) = p.feature {
            usable_feature(s, fid, "create values for")?;
        }
        require_write(s, self.ctx.user, self.ctx.space, "create a value here")?;
        let id = d.next_value_id(s);
        d.push(
            vref(id),
            EventData::CreateValue {
                feature: p.feature,
                value: codec::canonical(&p.value),
                hash: p.hash,
                branch: self.ctx.branch,
                space: self.ctx.space,
            },
        );
        Ok(id)
    }

    /// The value with this id, if the actor may read it.
    pub fn get(&self, id: u64) -> Result<ValueRecord> {
        self.store.read(|s| {
            resolve::context(s, &self.ctx, false)?;
            let v = resolve::value(s, self.ctx.user, id)?;
            Ok(resolve::view(s, self.ctx.user, id, v))
        })
    }

    /// Links a value to an artifact or a run. Linking a linked pair is a no-op.
    pub fn link(&self, value: u64, host: Host) -> Result<ValueRecord> {
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                let v = resolve::value(s, self.ctx.user, value)?;
                let (vb, vf) = (v.branch(), v.feature());
                resolve::host(s, self.ctx.user, host)?;
                self.check_host(s, host, Edit::Link)?;
                if s.links.contains(value, host) {
                    return Ok(());
                }
                linkable(s, value, vb, vf)?;
                d.push(vref(value), EventData::Link { host });
                Ok(())
            },
            |s, ()| view_of(s, self.ctx.user, value),
        )
    }

    /// Unlinks a value from an artifact or a run. Unlinking an unlinked pair is a no-op.
    pub fn unlink(&self, value: u64, host: Host) -> Result<ValueRecord> {
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                resolve::value(s, self.ctx.user, value)?;
                resolve::host(s, self.ctx.user, host)?;
                self.check_host(s, host, Edit::Unlink)?;
                if s.links.contains(value, host) {
                    d.push(vref(value), EventData::Unlink { host });
                }
                Ok(())
            },
            |s, ()| view_of(s, self.ctx.user, value),
        )
    }

    /// Links and unlinks need the right to edit the host: an artifact by the edit table, a run
    /// by ownership.
    pub(crate) fn check_host(&self, s: &State, host: Host, edit: Edit) -> Result<()> {
        match host {
            Host::Artifact(id) => {
                let a = resolve::artifact(s, self.ctx.user, id)?;
                check_edit(s, self.ctx.user, &format!("artifact {id}"), a.branch_id, a.space_id, edit).map(|_| ())
            }
            Host::Run(id) => require_run_owner(s, self.ctx.user, id, "link values to or unlink values from this run"),
        }
    }

    /// get_or_creates each value and links it to the host, atomically. A trashed value is
    /// restored first; an archived one refuses the call. Nulls are skipped for nullable
    /// features.
    pub fn add_values(&self, host: Host, values: &[(String, Value)]) -> Result<Vec<ValueRecord>> {
        self.change_values(host, values, false)
    }

    /// Replaces the host's values of the named features (a null unlinks them all).
    pub fn set_values(&self, host: Host, values: &[(String, Value)]) -> Result<Vec<ValueRecord>> {
        self.change_values(host, values, true)
    }

    fn change_values(&self, host: Host, values: &[(String, Value)], replace: bool) -> Result<Vec<ValueRecord>> {
        let user = self.ctx.user;
        let limits = *self.store.limits();
        self.store.commit(
            &self.ctx,
            |s, d| {
                let per_value = self.values_target(s, host, values.iter().map(|(n, _)| n.as_str()))?;
                let mut host_checked = (false, false);
                let mut check = |s: &State, edit: Edit| -> Result<()> {
                    let done = if edit == Edit::Link { &mut host_checked.0 } else { &mut host_checked.1 };
                    if !*done {
                        self.check_host(s, host, edit)?;
                        *done = true;
                    }
                    Ok(())
                };
                if replace {
                    let mut seen = std::collections::BTreeSet::new();
                    if let Some((dup, _)) = values.iter().find(|(n, _)| !seen.insert(n.as_str())) {
                        return Err(err!(
                            ValidationError,
                            "set_values names feature '{dup}' twice; give one value per feature"
                        ));
                    }
                }
                // Values found or drafted earlier in this call, so that the same value named
                // twice is one record, one restore and one link.
                let mut resolved: WordMap<(u64, [u8; 32]), u64> =
                    WordMap::with_capacity_and_hasher(values.len(), Default::default());
                let mut out = Vec::with_capacity(values.len());
                // A create and a link per value, at most: one allocation for the events.
                d.reserve(values.len() * 2);
                // Every value validated and hashed first (pure: an error is still reported at
                // its value, in order), so that the dedup slots of the whole call are read ahead
                // together rather than missed one by one.
                let prepared: Vec<Option<Result<Prepared>>> = values
                    .iter()
                    .zip(&per_value)
                    .map(|((_, raw), f)| match raw {
                        Value::Null => None,
                        _ => Some(prepare_for(Some(f), raw.clone(), &limits)),
                    })
                    .collect();
                s.warm_values(prepared.iter().flatten().flatten().map(|p| (p.feature, &p.hash)));
                for ((name, f), p) in values.iter().map(|(n, _)| n).zip(per_value).zip(prepared) {
                    // With its feature known, a value has no preparation exactly when it is null.
                    // The value, and whether it may need a link: not if this call met it
                    // before, and it is not linked yet if this call creates it.
                    let (target, to_link) = match p {
                        None if !f.nullable => {
                            return Err(err!(
                                ValidationError,
                                "feature '{name}' is not nullable; a null value is refused"
                            ));
                        }
                        None => (None, None),
                        Some(p) => {
                            let p = p?;
                            let key = (f.id, p.hash);
                            match resolved.get(&key) {
                                Some(id) => (Some(*id), None),
                                None => {
                                    let (id, created) = self.value_for_link(s, d, &p)?;
                                    resolved.insert(key, id);
                                    (Some(id), Some(created))
                                }
                            }
                        }
                    };
                    if replace {
                        // Values the actor may not read are not theirs to unlink (SPEC §5).
                        let linked: Vec<u64> = s
                            .values_of(host)
                            .filter(|id| {
                                s.value(*id).is_some_and(|v| v.feature() == Some(f.id) && s.can_read(user, v.space()))
                            })
                            .filter(|id| Some(*id) != target)
                            .collect();
                        for id in linked {
                            check(s, Edit::Unlink)?;
                            d.push(vref(id), EventData::Unlink { host });
                        }
                    }
                    if let Some(id) = target {
                        if to_link.is_some_and(|created| created || !s.links.contains(id, host)) {
                            check(s, Edit::Link)?;
                            d.push(vref(id), EventData::Link { host });
                        }
                        out.push(id);
                    }
                }
                Ok(out)
            },
            |s, ids| {
                // Sized up front: collecting through a `Result` cannot know the length, and
                // growing a vector of 1,000 records copied it over and over (≈ 6 % of a
                // durable add_values call's CPU in a profile, beside the flush).
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    out.push(view_of(s, user, id)?);
                }
                Ok(out)
            },
        )
    }

    /// Finds or drafts the value to link: restores a trashed one, refuses an archived one.
    /// True if it drafted the value's creation.
    fn value_for_link(&self, s: &State, d: &mut Draft, p: &Prepared) -> Result<(u64, bool)> {
        match s.find_value(p.feature, &p.hash) {
            Some((id, v)) => {
                if !s.can_read(self.ctx.user, v.space()) {
                    return Err(hidden_hit());
                }
                if let Some(fid) = v.feature() {
                    usable_feature(s, fid, "link values of")?;
                }
                match v.branch() {
                    ARCHIVE => Err(err!(PermissionDenied, "value {} is archived; restore it before linking it", id)),
                    TRASH => {
                        check_edit(s, self.ctx.user, &format!("value {}", id), v.branch(), v.space(), Edit::Restore)?;
                        d.push(vref(id), EventData::BranchChange { from: TRASH, to: MAIN });
                        Ok((id, false))
                    }
                    _ => Ok((id, false)),
                }
            }
            None => Ok((self.create_value(s, d, p)?, true)),
        }
    }

    /// Unlinks the host's values of one feature, keeping the value records.
    pub fn remove_values(&self, host: Host, feature: impl Into<Ref>) -> Result<usize> {
        let feature = feature.into();
        self.store.commit(
            &self.ctx,
            |s, d| {
                resolve::context(s, &self.ctx, true)?;
                resolve::host(s, self.ctx.user, host)?;
                let f = resolve::feature(s, self.ctx.user, &feature)?;
                self.check_host(s, host, Edit::Unlink)?;
                let user = self.ctx.user;
                let ids: Vec<u64> = s
                    .values_of(host)
                    .filter(|id| s.value(*id).is_some_and(|v| v.feature() == Some(f.id) && s.can_read(user, v.space())))
                    .collect();
                for id in &ids {
                    d.push(vref(*id), EventData::Unlink { host });
                }
                Ok(ids.len())
            },
            |_, n| Ok(n),
        )
    }

    /// The plain values linked to a host, per feature name (values with no feature under
    /// `""`), in value-id order, whatever their branch.
    pub fn get_values(&self, host: Host) -> Result<BTreeMap<String, Vec<Value>>> {
        self.store.read(|s| {
            resolve::context(s, &self.ctx, false)?;
            resolve::host(s, self.ctx.user, host)?;
            let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for id in s.values_of(host) {
                let Some(v) = s.value(id) else { continue };
                if !s.can_read(self.ctx.user, v.space()) {
                    continue;
                }
                let name = match v.feature() {
                    None => String::new(),
                    Some(fid) => match s.features.get(&fid) {
                        Some(f) if s.can_read(self.ctx.user, f.space_id) => f.name.clone(),
                        _ => continue,
                    },
                };
                out.entry(name).or_default().push(v.value());
            }
            Ok(out)
        })
    }
}

/// One `ValidationError` naming every unknown feature (SPEC §5), if there is any.
fn unknown_features<'n>(unknown: impl Iterator<Item = &'n str>) -> Result<()> {
    let unknown: Vec<&str> = unknown.collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(err!(
        ValidationError,
        "unknown feature{} {}; create {} first",
        if unknown.len() == 1 { "" } else { "s" },
        unknown.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", "),
        if unknown.len() == 1 { "it" } else { "them" }
    ))
}

fn view_of(s: &State, user: u64, id: u64) -> Result<ValueRecord> {
    let v = s.value(id).ok_or_else(|| err!(DoesNotExist, "no value {id}"))?;
    Ok(resolve::view(s, user, id, v))
}

fn hidden_hit() -> Error {
    err!(PermissionDenied, "this value already exists in a space you cannot read")
}

/// feature → validation → hash (SPEC §3's order of checks).
fn prepare(
    s: &State,
    user: u64,
    feature: Option<&Ref>,
    value: Value,
    limits: &crate::value::Limits,
) -> Result<Prepared> {
    let f: Option<&Feature> = feature.map(|r| resolve::feature(s, user, r)).transpose()?;
    prepare_for(f, value, limits)
}

/// `prepare` for a feature already resolved (or none).
fn prepare_for(f: Option<&Feature>, value: Value, limits: &crate::value::Limits) -> Result<Prepared> {
    if matches!(value, Value::Null) {
        return Err(err!(ValidationError, "a null value is never stored; get_or_create needs a value"));
    }
    let value = match f {
        Some(f) => f.dtype.validate(&f.name, f.coerce, value)?,
        None => Dtype::Object.validate("", false, value)?,
    };
    validate_plain(&value, limits)?;
    let hash = codec::value_hash(&value);
    Ok(Prepared { feature: f.map(|f| f.id), value, hash })
}

/// A dedup hit the actor may read, `PermissionDenied` for one they may not, `None` on a miss.
fn hit(s: &State, user: u64, p: &Prepared) -> Result<Option<ValueRecord>> {
    match s.find_value(p.feature, &p.hash) {
        Some((id, v)) if s.can_read(user, v.space()) => Ok(Some(resolve::view(s, user, id, v))),
        Some(_) => Err(hidden_hit()),
        None => {
            debug_assert!(p.value != Value::Null);
            Ok(None)
        }
    }
}

/// Trashed and archived features take no new values or links.
fn usable_feature(s: &State, fid: u64, what: &str) -> Result<()> {
    match s.features.get(&fid) {
        Some(f) if f.branch_id == TRASH || f.branch_id == ARCHIVE => Err(err!(
            PermissionDenied,
            "cannot {what} feature '{}': it is {}; restore it first",
            f.name,
            if f.branch_id == TRASH { "in the trash" } else { "archived" }
        )),
        Some(_) => Ok(()),
        None => Err(err!(DoesNotExist, "no feature {fid}")),
    }
}

/// A value in trash or archive, or of a trashed or archived feature, gains no new links.
fn linkable(s: &State, id: u64, branch: i64, feature: Option<u64>) -> Result<()> {
    if branch == TRASH || branch == ARCHIVE {
        return Err(err!(
            PermissionDenied,
            "value {id} is {}; restore it first",
            if branch == TRASH { "in the trash" } else { "archived" }
        ));
    }
    if let Some(fid) = feature {
        usable_feature(s, fid, "link values of")?;
    }
    Ok(())
}
