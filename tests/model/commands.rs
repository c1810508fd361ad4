//! The commands of SPEC §1–5 on the model. Each checks what the spec asks, in a fixed order
//! where several errors could apply: the acting context, then the names, then the
//! permissions (the spec leaves that order open; docs/SEMANTICS.md and the engine agree on it).

use super::obs::{canonical, hex, vkey, Obs, DNE, IE, PD, PE, R, VE};
use super::spec::{
    host_record, is_trash_or_archive, Ctx, Edit, MArtifact, MBranch, MFeature, MRun, MSpace, MUser, MValue, Model,
};
use super::values::{legal, validate};
use fvstore::{Host, RecordRef, RecordType, Ref, Role, Value};
use std::collections::BTreeMap;

/// Runs a command on a copy of the model and keeps the copy only if it succeeded.
pub fn atomic(m: &mut Model, f: impl FnOnce(&mut Model) -> R<Obs>) -> R<Obs> {
    let mut next = m.clone();
    let out = f(&mut next)?;
    *m = next;
    Ok(out)
}

fn name_ok(name: &str, max: usize) -> R<()> {
    let n = name.chars().count();
    if n == 0 || n > max {
        Err(VE)
    } else {
        Ok(())
    }
}

const DTYPES: [&str; 14] = [
    "int",
    "float",
    "num",
    "str",
    "bool",
    "date",
    "datetime",
    "dict",
    "list[int]",
    "list[float]",
    "list[str]",
    "path",
    "url",
    "object",
];

/// Commands (SPEC §1–5). Each checks what the spec asks, in a fixed order where several
/// errors could apply: the acting context, then the names, then the permissions.
impl Model {
    pub fn create_user(&mut self, c: &Ctx, handle: &str) -> R<Obs> {
        self.check_ctx(c, true)?;
        name_ok(handle, 150)?;
        if self.resolve_user(&Ref::Name(handle.into())).is_ok() {
            return Err(IE);
        }
        let id = self.next_user;
        self.next_user += 1;
        let at = self.emit(c, RecordType::User, id, format!("create_user {handle}"));
        self.users.insert(id, MUser { handle: handle.into(), created_at: at });
        Ok(Obs::User { id, handle: handle.into(), created_at: at })
    }

    pub fn create_space(&mut self, c: &Ctx, name: &str) -> R<Obs> {
        self.check_ctx(c, true)?;
        name_ok(name, 150)?;
        if self.resolve_space(&Ref::Name(name.into())).is_ok() {
            return Err(IE);
        }
        let id = self.next_space;
        self.next_space += 1;
        let at = self.emit(c, RecordType::Space, id, format!("create_space {name}"));
        self.spaces.insert(id, MSpace { name: name.into(), created_by: c.user, created_at: at });
        self.roles.insert((id, c.user), Role::Admin);
        Ok(Obs::Space { id, name: name.into(), created_by_id: c.user, created_at: at })
    }

    pub fn grant(&mut self, c: &Ctx, space: &Ref, user: &Ref, role: Option<Role>) -> R<Obs> {
        self.check_ctx(c, true)?;
        let sp = self.resolve_space(space)?;
        let u = self.resolve_user(user)?;
        if self.role(c.user, sp) != Some(Role::Admin) {
            return Err(PD);
        }
        let current = self.roles.get(&(sp, u)).copied();
        if current == Some(Role::Admin) && role != Some(Role::Admin) {
            let admins = self.roles.iter().filter(|((s, _), r)| *s == sp && **r == Role::Admin).count();
            if admins <= 1 {
                return Err(VE);
            }
        }
        if current != role {
            self.emit_touching(c, RecordType::Space, sp, format!("grant {u} {role:?}"), vec![(RecordType::User, u)]);
            match role {
                Some(r) => self.roles.insert((sp, u), r),
                None => self.roles.remove(&(sp, u)),
            };
        }
        Ok(Obs::Grant { space_id: sp, user_id: u, role })
    }

    pub fn create_branch(&mut self, c: &Ctx, name: &str) -> R<Obs> {
        self.check_ctx(c, true)?;
        name_ok(name, 150)?;
        if name.to_lowercase() == "all" {
            return Err(VE);
        }
        if self.resolve_branch(&Ref::Name(name.into())).is_ok() {
            return Err(IE);
        }
        let id = self.next_branch;
        self.next_branch += 1;
        let at = self.emit(c, RecordType::Branch, id as u64, format!("create_branch {name}"));
        self.branches.insert(id, MBranch { name: name.into(), created_by: c.user, created_at: at, merged: false });
        Ok(self.branch_obs(id))
    }

    pub fn merge_branch(&mut self, c: &Ctx, b: &Ref) -> R<Obs> {
        self.check_ctx(c, true)?;
        let b = self.resolve_branch(b)?;
        if b < 4 || self.branches[&b].merged {
            return Err(VE);
        }
        if c.user != 1 && c.user != self.branches[&b].created_by {
            return Err(PD);
        }
        let mut moved = Vec::new();
        for (id, f) in self.features.iter_mut().filter(|(_, f)| f.branch == b) {
            f.branch = 1;
            moved.push((RecordType::Feature, *id));
        }
        for (id, a) in self.artifacts.iter_mut().filter(|(_, a)| a.branch == b) {
            a.branch = 1;
            moved.push((RecordType::Artifact, *id));
        }
        for (id, v) in self.values.iter_mut().filter(|(_, v)| v.branch == b) {
            v.branch = 1;
            moved.push((RecordType::Value, *id));
        }
        let n = moved.len();
        moved.sort();
        self.emit_touching(c, RecordType::Branch, b as u64, format!("merge {moved:?}"), moved.clone());
        self.branches.get_mut(&b).expect("branch").merged = true;
        Ok(Obs::Count(n))
    }

    pub fn start_run(&mut self, c: &Ctx, name: &str) -> R<Obs> {
        self.check_ctx(c, true)?;
        name_ok(name, 150)?;
        let id = self.next_run;
        self.next_run += 1;
        let at = self.emit(c, RecordType::Run, id, format!("create_run {name}"));
        self.runs.insert(id, MRun { name: name.into(), created_by: c.user, created_at: at, finished_at: None });
        Ok(Obs::Run(self.runview(id)))
    }

    pub fn finish_run(&mut self, c: &Ctx, run: u64) -> R<Obs> {
        self.check_ctx(c, true)?;
        let r = self.runs.get(&run).ok_or(DNE)?;
        self.run_owner(c.user, run)?;
        if r.finished_at.is_some() {
            return Err(VE);
        }
        let at = self.emit(c, RecordType::Run, run, "run_finish".into());
        self.runs.get_mut(&run).expect("run").finished_at = Some(at);
        Ok(Obs::Run(self.runview(run)))
    }

    pub fn create_feature(&mut self, c: &Ctx, name: &str, dtype: &str, nullable: bool, coerce: bool) -> R<Obs> {
        if !DTYPES.contains(&dtype) {
            return Err(VE);
        }
        if let Some((&id, f)) = self.features.iter().find(|(_, f)| f.name == name) {
            // An existing feature is returned, not written: a read context suffices. One in a
            // space the actor cannot read is refused like a hidden get_or_create hit (§3).
            self.check_ctx(c, false)?;
            if !self.can_read(c.user, f.space) {
                return Err(PD);
            }
            if f.dtype != dtype {
                return Err(VE);
            }
            return Ok(Obs::Feature(self.fview(id)));
        }
        self.check_ctx(c, true)?;
        name_ok(name, 150)?;
        if name.contains("__") {
            return Err(VE);
        }
        self.require_write(c.user, c.space)?;
        let id = self.next_feature;
        self.next_feature += 1;
        let data = format!("create_feature {name} {dtype} {nullable} {coerce} {} {}", c.branch, c.space);
        let at = self.emit(c, RecordType::Feature, id, data);
        self.runs_used.extend(c.run);
        self.features.insert(
            id,
            MFeature {
                name: name.into(),
                dtype: dtype.into(),
                nullable,
                coerce,
                branch: c.branch,
                space: c.space,
                created_by: c.user,
                run: c.run,
                created_at: at,
            },
        );
        Ok(Obs::Feature(self.fview(id)))
    }

    pub fn create_artifact(&mut self, c: &Ctx, key: &str) -> R<Obs> {
        self.check_ctx(c, true)?;
        name_ok(key, 1024)?;
        self.require_write(c.user, c.space)?;
        let id = self.next_artifact;
        self.next_artifact += 1;
        let at = self.emit(c, RecordType::Artifact, id, format!("create_artifact {key} {} {}", c.branch, c.space));
        self.runs_used.extend(c.run);
        self.artifacts.insert(
            id,
            MArtifact {
                key: key.into(),
                branch: c.branch,
                space: c.space,
                created_by: c.user,
                run: c.run,
                created_at: at,
            },
        );
        Ok(Obs::Artifact(self.aview(id)))
    }

    /// Validates a value for a feature (or none): `Err(VE)` if the dtype or the limits refuse it.
    fn prepare(&self, feature: Option<u64>, raw: &Value) -> R<Value> {
        if matches!(raw, Value::Null) {
            return Err(VE);
        }
        let v = match feature {
            Some(f) => validate(&self.features[&f].dtype, self.features[&f].coerce, raw),
            None => validate("object", false, raw),
        }
        .ok_or(VE)?;
        if !legal(&v) {
            return Err(VE);
        }
        Ok(v)
    }

    fn feature_usable(&self, f: Option<u64>) -> R<()> {
        match f {
            Some(f) if is_trash_or_archive(self.features[&f].branch) => Err(PD),
            _ => Ok(()),
        }
    }

    fn create_value(&mut self, c: &Ctx, feature: Option<u64>, value: Value) -> R<u64> {
        self.feature_usable(feature)?;
        self.require_write(c.user, c.space)?;
        let id = self.next_value;
        self.next_value += 1;
        let mut bytes = Vec::new();
        canonical(&value, &mut bytes);
        let data = format!("create_value {feature:?} {} {} {}", hex(&bytes), c.branch, c.space);
        let at = self.emit(c, RecordType::Value, id, data);
        self.runs_used.extend(c.run);
        self.values.insert(
            id,
            MValue {
                feature,
                value,
                branch: c.branch,
                created_on: c.branch,
                space: c.space,
                created_by: c.user,
                run: c.run,
                created_at: at,
            },
        );
        Ok(id)
    }

    /// SPEC §3: feature → validation → dedup lookup; only a miss needs to write.
    pub fn get_or_create(&mut self, c: &Ctx, feature: Option<&Ref>, raw: &Value) -> R<Obs> {
        self.check_ctx(c, false)?;
        let f = feature.map(|r| self.resolve_feature(c.user, r)).transpose()?;
        let v = self.prepare(f, raw)?;
        if let Some(id) = self.find(f, &v) {
            if !self.can_read(c.user, self.values[&id].space) {
                return Err(PD);
            }
            return Ok(Obs::GetOrCreate(self.vview(c.user, id), true));
        }
        self.check_ctx(c, true)?;
        let id = self.create_value(c, f, v)?;
        Ok(Obs::GetOrCreate(self.vview(c.user, id), false))
    }

    pub fn get(&self, c: &Ctx, id: u64) -> R<Obs> {
        self.check_ctx(c, false)?;
        self.readable_value(c.user, id)?;
        Ok(Obs::Value(self.vview(c.user, id)))
    }

    pub fn delete(&mut self, c: &Ctx, r: RecordRef, permanent: bool) -> R<Obs> {
        if r.kind == RecordType::Run {
            return self.delete_run(c, r.id, permanent);
        }
        self.check_ctx(c, true)?;
        let (branch, space) = self.place(c.user, r)?;
        if !permanent {
            if !self.check_edit(c.user, branch, space, Edit::Trash)? {
                return Ok(Obs::Outcome("already_in_trash"));
            }
            self.emit(c, r.kind, r.id, format!("branch_change {branch} -1"));
            self.set_place(r, Some(-1), None);
            return Ok(Obs::Outcome("trashed"));
        }
        self.check_edit(c.user, branch, space, Edit::Purge)?;
        match r.kind {
            RecordType::Value => {
                if self.is_linked(r.id) {
                    return Err(PE);
                }
                self.values.remove(&r.id);
            }
            RecordType::Feature => {
                let ids: Vec<u64> =
                    self.values.iter().filter(|(_, v)| v.feature == Some(r.id)).map(|(id, _)| *id).collect();
                if ids.iter().any(|id| self.is_linked(*id)) {
                    return Err(PE);
                }
                for id in &ids {
                    let v = &self.values[id];
                    self.check_edit(c.user, v.branch, v.space, Edit::Purge)?;
                }
                for id in ids {
                    self.emit(c, RecordType::Value, id, "delete".into());
                    self.values.remove(&id);
                }
                self.features.remove(&r.id);
            }
            _ => {
                for v in self.linked_to(Host::Artifact(r.id)) {
                    self.emit_touching(
                        c,
                        RecordType::Value,
                        v,
                        format!("unlink {:?}", Host::Artifact(r.id)),
                        vec![(RecordType::Artifact, r.id)],
                    );
                    self.links.remove(&(v, Host::Artifact(r.id)));
                }
                self.artifacts.remove(&r.id);
            }
        }
        self.emit(c, r.kind, r.id, "delete".into());
        Ok(Obs::Outcome("deleted"))
    }

    pub fn delete_feature(&mut self, c: &Ctx, f: &Ref, permanent: bool) -> R<Obs> {
        let id = self.resolve_feature(c.user, f)?;
        match self.delete(c, RecordRef { kind: RecordType::Feature, id }, permanent)? {
            Obs::Outcome(o) => Ok(Obs::FeatureOutcome(id, o)),
            other => Ok(other),
        }
    }

    pub fn delete_run(&mut self, c: &Ctx, run: u64, permanent: bool) -> R<Obs> {
        self.check_ctx(c, true)?;
        if !self.runs.contains_key(&run) {
            return Err(DNE);
        }
        if !permanent {
            return Err(VE);
        }
        self.run_owner(c.user, run)?;
        if self.runs_used.contains(&run) {
            return Err(PE);
        }
        for v in self.linked_to(Host::Run(run)) {
            self.emit_touching(
                c,
                RecordType::Value,
                v,
                format!("unlink {:?}", Host::Run(run)),
                vec![(RecordType::Run, run)],
            );
            self.links.remove(&(v, Host::Run(run)));
        }
        self.emit(c, RecordType::Run, run, "delete".into());
        self.runs.remove(&run);
        Ok(Obs::Outcome("deleted"))
    }

    pub fn restore(&mut self, c: &Ctx, r: RecordRef) -> R<Obs> {
        self.check_ctx(c, true)?;
        let (branch, space) = self.place(c.user, r)?;
        self.check_edit(c.user, branch, space, Edit::Restore)?;
        self.emit(c, r.kind, r.id, format!("branch_change {branch} 1"));
        self.set_place(r, Some(1), None);
        Ok(self.record_obs(c.user, r))
    }

    pub fn set_branch(&mut self, c: &Ctx, r: RecordRef, to: &Ref) -> R<Obs> {
        self.check_ctx(c, true)?;
        let (branch, space) = self.place(c.user, r)?;
        let to = self.resolve_branch(to)?;
        if to == branch {
            return Ok(self.record_obs(c.user, r));
        }
        let edit = match to {
            1 => Edit::Restore,
            -1 => Edit::Trash,
            0 | 2 | 3 => Edit::SetState,
            _ if self.branches[&to].merged => return Err(VE),
            _ => Edit::ToDraft,
        };
        if self.check_edit(c.user, branch, space, edit)? {
            self.emit(c, r.kind, r.id, format!("branch_change {branch} {to}"));
            self.set_place(r, Some(to), None);
        }
        Ok(self.record_obs(c.user, r))
    }

    pub fn move_space(&mut self, c: &Ctx, r: RecordRef, to: &Ref) -> R<Obs> {
        self.check_ctx(c, true)?;
        let (branch, space) = self.place(c.user, r)?;
        let to = self.resolve_space(to)?;
        if to == space {
            return Ok(self.record_obs(c.user, r));
        }
        self.check_edit(c.user, branch, space, Edit::Move)?;
        self.require_write(c.user, to)?;
        self.emit(c, r.kind, r.id, format!("space_change {space} {to}"));
        self.set_place(r, None, Some(to));
        Ok(self.record_obs(c.user, r))
    }

    pub fn link(&mut self, c: &Ctx, value: u64, host: Host) -> R<Obs> {
        self.check_ctx(c, true)?;
        let v = self.readable_value(c.user, value)?;
        let (vbranch, vfeature) = (v.branch, v.feature);
        self.resolve_host(c.user, host)?;
        self.check_host(c.user, host, Edit::Link)?;
        if !self.links.contains(&(value, host)) {
            if is_trash_or_archive(vbranch) {
                return Err(PD);
            }
            self.feature_usable(vfeature)?;
            self.emit_touching(c, RecordType::Value, value, format!("link {host:?}"), vec![host_record(host)]);
            self.links.insert((value, host));
        }
        Ok(Obs::Value(self.vview(c.user, value)))
    }

    pub fn unlink(&mut self, c: &Ctx, value: u64, host: Host) -> R<Obs> {
        self.check_ctx(c, true)?;
        self.readable_value(c.user, value)?;
        self.resolve_host(c.user, host)?;
        self.check_host(c.user, host, Edit::Unlink)?;
        if self.links.remove(&(value, host)) {
            self.emit_touching(c, RecordType::Value, value, format!("unlink {host:?}"), vec![host_record(host)]);
        }
        Ok(Obs::Value(self.vview(c.user, value)))
    }

    /// add_values (`replace` false) and set_values (true), item by item on the model; the
    /// caller's `atomic` makes the whole call all or nothing.
    pub fn change_values(&mut self, c: &Ctx, host: Host, items: &[(String, Value)], replace: bool) -> R<Obs> {
        self.check_ctx(c, true)?;
        self.resolve_host(c.user, host)?;
        if items.iter().any(|(n, _)| self.resolve_feature(c.user, &Ref::Name(n.clone())).is_err()) {
            return Err(VE);
        }
        let mut out = Vec::new();
        for (name, raw) in items {
            let f = self.resolve_feature(c.user, &Ref::Name(name.clone()))?;
            let target = if matches!(raw, Value::Null) {
                if !self.features[&f].nullable {
                    return Err(VE);
                }
                None
            } else {
                let v = self.prepare(Some(f), raw)?;
                Some(match self.find(Some(f), &v) {
                    Some(id) => {
                        let found = &self.values[&id];
                        if !self.can_read(c.user, found.space) {
                            return Err(PD);
                        }
                        self.feature_usable(Some(f))?;
                        match found.branch {
                            0 => return Err(PD),
                            -1 => {
                                self.check_edit(c.user, -1, found.space, Edit::Restore)?;
                                self.emit(c, RecordType::Value, id, "branch_change -1 1".into());
                                self.values.get_mut(&id).expect("value").branch = 1;
                            }
                            _ => {}
                        }
                        id
                    }
                    None => self.create_value(c, Some(f), v)?,
                })
            };
            if replace {
                // Only values the actor may read: unlinking needs read access to the value.
                let others: Vec<u64> = self
                    .linked_to(host)
                    .into_iter()
                    .filter(|id| self.values[id].feature == Some(f) && Some(*id) != target)
                    .filter(|id| self.can_read(c.user, self.values[id].space))
                    .collect();
                for id in others {
                    self.check_host(c.user, host, Edit::Unlink)?;
                    self.emit_touching(c, RecordType::Value, id, format!("unlink {host:?}"), vec![host_record(host)]);
                    self.links.remove(&(id, host));
                }
            }
            if let Some(id) = target {
                // The right to link is needed only when a link is made (docs/SEMANTICS.md).
                if !self.links.contains(&(id, host)) {
                    self.check_host(c.user, host, Edit::Link)?;
                    self.emit_touching(c, RecordType::Value, id, format!("link {host:?}"), vec![host_record(host)]);
                    self.links.insert((id, host));
                }
                out.push(id);
            }
        }
        Ok(Obs::Values(out.into_iter().map(|id| self.vview(c.user, id)).collect()))
    }

    pub fn remove_values(&mut self, c: &Ctx, host: Host, feature: &Ref) -> R<Obs> {
        self.check_ctx(c, true)?;
        self.resolve_host(c.user, host)?;
        let f = self.resolve_feature(c.user, feature)?;
        self.check_host(c.user, host, Edit::Unlink)?;
        let ids: Vec<u64> = self
            .linked_to(host)
            .into_iter()
            .filter(|id| self.values[id].feature == Some(f))
            .filter(|id| self.can_read(c.user, self.values[id].space))
            .collect();
        for id in &ids {
            self.emit_touching(c, RecordType::Value, *id, format!("unlink {host:?}"), vec![host_record(host)]);
            self.links.remove(&(*id, host));
        }
        Ok(Obs::Count(ids.len()))
    }

    pub fn get_values(&self, c: &Ctx, host: Host) -> R<Obs> {
        self.check_ctx(c, false)?;
        self.resolve_host(c.user, host)?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in self.linked_to(host) {
            let v = &self.values[&id];
            if !self.can_read(c.user, v.space) {
                continue;
            }
            let name = match v.feature {
                None => String::new(),
                Some(f) if self.can_read(c.user, self.features[&f].space) => self.features[&f].name.clone(),
                Some(_) => continue,
            };
            out.entry(name).or_default().push(vkey(&v.value));
        }
        Ok(Obs::PerFeature(out))
    }
}
