//! Audit reads over the log: the history of a record and ranges of events. They read sled (the
//! log is the record of truth), never the folded indexes.

use crate::command::{resolve_feature, Ref, Session};
use crate::error::{err, Result};
use crate::event::{Event, EventData, Host, RecordRef, RecordType};

/// Does this event touch the record (as subject, as a link host, or as a moved record)?
fn touches(e: &Event, r: RecordRef) -> bool {
    if e.record == r {
        return true;
    }
    match &e.data {
        EventData::Link { host } | EventData::Unlink { host } => match (host, r.kind) {
            (Host::Artifact(a), RecordType::Artifact) => *a == r.id,
            (Host::Run(x), RecordType::Run) => *x == r.id,
            _ => false,
        },
        EventData::Merge { moved } => moved.contains(&r),
        EventData::Grant { user, .. } => r.kind == RecordType::User && *user == r.id,
        _ => false,
    }
}

impl Session {
    /// Every event that touched a record, links and merges included, in order. Needs read
    /// access to the record; the history of a removed record is for user 1 only.
    pub fn history(&self, r: RecordRef) -> Result<Vec<Event>> {
        let user = self.ctx.user;
        let exists = self.store.read(|s| -> Result<bool> {
            crate::command::check_context(s, &self.ctx)?;
            Ok(match r.kind {
                RecordType::Value => match s.value(r.id) {
                    Some(v) if s.can_read(user, v.space()) => true,
                    Some(_) => return Err(err!(DoesNotExist, "no value {}", r.id)),
                    None => false,
                },
                RecordType::Feature => match s.features.get(&r.id) {
                    Some(_) => resolve_feature(s, user, &Ref::from(r.id)).map(|_| true)?,
                    None => false,
                },
                RecordType::Artifact => match s.artifacts.get(&r.id) {
                    Some(a) if s.can_read(user, a.space_id) => true,
                    Some(_) => return Err(err!(DoesNotExist, "no artifact {}", r.id)),
                    None => false,
                },
                RecordType::User => s.users.contains_key(&r.id),
                RecordType::Space => s.spaces.contains_key(&r.id),
                RecordType::Branch => i64::try_from(r.id).is_ok_and(|b| s.branches.contains_key(&b)),
                RecordType::Run => s.runs.contains_key(&r.id),
            })
        })?;
        if !exists && user != 1 {
            return Err(err!(DoesNotExist, "no {} {}", r.kind.as_str(), r.id));
        }
        // A host's history shows links of values the reader may read (the owner sees all).
        let hidden = |e: &Event| -> bool {
            user != 1
                && e.record != r
                && matches!(e.data, EventData::Link { .. } | EventData::Unlink { .. })
                && !self.store.read(|s| s.value(e.record.id).is_some_and(|v| s.can_read(user, v.space())))
        };
        let out: Vec<Event> =
            self.store.events(1, u64::MAX)?.into_iter().filter(|e| touches(e, r) && !hidden(e)).collect();
        if out.is_empty() && !exists {
            return Err(err!(DoesNotExist, "no {} {} now or in the log", r.kind.as_str(), r.id));
        }
        Ok(out)
    }

    /// Events `from..=to`. The log is the instance owner's: user 1 only.
    pub fn log(&self, from: u64, to: u64) -> Result<Vec<Event>> {
        self.store.read(|s| crate::command::check_context(s, &self.ctx))?;
        if self.ctx.user != 1 {
            return Err(err!(PermissionDenied, "the log is the instance owner's: only user 1 may read it"));
        }
        self.store.events(from.max(1), to)
    }
}

mod export;
mod verify;

pub use export::import_jsonl;
pub use verify::Verification;
