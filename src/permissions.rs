//! Who may do what (SPEC §5): roles per space and the edit table by branch state. Checked at
//! the command boundary, before an event exists.

use crate::error::{err, Error, Result};
use crate::event::Role;
use crate::state::{State, ARCHIVE, LOCKED, MAIN, TEMPLATE, TRASH};

/// An edit of a feature, artifact or value (the columns of the table in SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit {
    Trash,
    Purge,
    Restore,
    /// Lock, template or archive (to 2, 3 or 0).
    SetState,
    /// Into an open user branch.
    ToDraft,
    Move,
    /// As a host: link / unlink a value.
    Link,
    Unlink,
}

impl Edit {
    fn verb(self) -> &'static str {
        match self {
            Edit::Trash => "trash",
            Edit::Purge => "permanently delete",
            Edit::Restore => "restore",
            Edit::SetState => "change the state of",
            Edit::ToDraft => "move into a draft branch",
            Edit::Move => "move to another space",
            Edit::Link => "link values to",
            Edit::Unlink => "unlink values from",
        }
    }
}

/// What the table asks for.
enum Need {
    Write,
    Admin,
    Refused(&'static str),
    Invalid(&'static str),
    /// Allowed and changes nothing (trashing what is in trash).
    Nothing,
}

fn need(branch: i64, edit: Edit) -> Need {
    use Edit::*;
    match branch {
        MAIN => match edit {
            Restore => Need::Invalid("it is already on main"),
            SetState => Need::Admin,
            _ => Need::Write,
        },
        LOCKED | TEMPLATE => match edit {
            ToDraft => Need::Invalid("only records on main or on a draft can move into a draft branch"),
            _ => Need::Admin,
        },
        ARCHIVE => match edit {
            Restore | SetState => Need::Admin,
            ToDraft => Need::Invalid("only records on main or on a draft can move into a draft branch"),
            _ => Need::Refused("it is archived; restore it first"),
        },
        TRASH => match edit {
            Trash => Need::Nothing,
            Purge | Restore | Unlink => Need::Write,
            ToDraft => Need::Invalid("only records on main or on a draft can move into a draft branch"),
            SetState | Move | Link => Need::Refused("it is in the trash; restore it first"),
        },
        _ => match edit {
            Trash => {
                Need::Invalid("records on a draft branch are not trashed; delete them permanently or merge the branch")
            }
            Restore => Need::Invalid("records on a draft branch are restored by merging the branch"),
            SetState => Need::Invalid(
                "records on a draft branch cannot be locked, templated or archived; merge the branch first",
            ),
            _ => Need::Write,
        },
    }
}

/// Checks an edit of a record on `branch` in `space` by `user`. `Ok(false)` means allowed but
/// nothing to do (trash of a trashed record).
pub(crate) fn check_edit(s: &State, user: u64, what: &str, branch: i64, space: u64, edit: Edit) -> Result<bool> {
    let role = s.role(user, space);
    let denied = |needed: &str| -> Error {
        err!(
            PermissionDenied,
            "cannot {} {what}: it is on branch {} ({}) and that needs the {needed} role in space {space}",
            edit.verb(),
            branch,
            branch_name(s, branch)
        )
    };
    match need(branch, edit) {
        Need::Nothing => Ok(false),
        Need::Write if role >= Some(Role::Write) => Ok(true),
        Need::Write => Err(denied("write")),
        Need::Admin if role == Some(Role::Admin) => Ok(true),
        Need::Admin => Err(denied("admin")),
        Need::Refused(why) => Err(err!(PermissionDenied, "cannot {} {what}: {why}", edit.verb())),
        Need::Invalid(why) => Err(err!(ValidationError, "cannot {} {what}: {why}", edit.verb())),
    }
}

pub(crate) fn branch_name(s: &State, branch: i64) -> String {
    s.branches.get(&branch).map_or_else(|| "unknown".to_string(), |b| b.name.clone())
}

/// Creating a record needs write in the space it lands in.
pub(crate) fn require_write(s: &State, user: u64, space: u64, what: &str) -> Result<()> {
    if s.role(user, space) >= Some(Role::Write) {
        Ok(())
    } else {
        Err(err!(PermissionDenied, "cannot {what}: it needs the write role in space {space}"))
    }
}

/// Granting roles needs admin in the space.
pub(crate) fn require_admin(s: &State, user: u64, space: u64, what: &str) -> Result<()> {
    if s.role(user, space) == Some(Role::Admin) {
        Ok(())
    } else {
        Err(err!(PermissionDenied, "cannot {what}: only admins of space {space} may do that"))
    }
}

/// Runs belong to their creator: only they or user 1 act under them, link to them, finish or
/// delete them.
pub(crate) fn require_run_owner(s: &State, user: u64, run: u64, what: &str) -> Result<()> {
    let owner = s.runs.get(&run).map(|r| r.created_by_id);
    if user == 1 || owner == Some(user) {
        Ok(())
    } else {
        Err(err!(
            PermissionDenied,
            "cannot {what}: run {run} belongs to user {}; only its creator or user 1 may",
            owner.unwrap_or(0)
        ))
    }
}
