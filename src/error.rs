//! The one error type. Its variants are the error kinds of the `exec` protocol (SPEC §9), so a
//! caller can act on the category without parsing messages.

use std::fmt;

/// Every way an fvstore call can fail. The variant is the category a caller acts on; the
/// message says, for a person, what was wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A named or numbered record does not exist, or is invisible to the actor.
    DoesNotExist(String),
    /// `get` matched more than one record.
    MultipleObjectsReturned(String),
    /// A value, name, dtype, branch rule or limit was violated.
    ValidationError(String),
    /// A uniqueness rule was violated (user handles, space and branch names).
    IntegrityError(String),
    /// A record is still referenced (linked values, provenance of runs).
    ProtectedError(String),
    /// The actor lacks the role or ownership the rule names.
    PermissionDenied(String),
    /// A query named a field that does not exist.
    FieldError(String),
    /// A request could not be understood (protocol level).
    InvalidInput(String),
    /// Stored data is damaged; `at` is the sequence number where it was found, if known.
    Corruption { at: Option<u64>, reason: String },
    /// The operating system or sled failed; or the store is poisoned after a failed flush.
    Io(String),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The protocol name of this error's kind, e.g. `"DoesNotExist"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::DoesNotExist(_) => "DoesNotExist",
            Error::MultipleObjectsReturned(_) => "MultipleObjectsReturned",
            Error::ValidationError(_) => "ValidationError",
            Error::IntegrityError(_) => "IntegrityError",
            Error::ProtectedError(_) => "ProtectedError",
            Error::PermissionDenied(_) => "PermissionDenied",
            Error::FieldError(_) => "FieldError",
            Error::InvalidInput(_) => "InvalidInput",
            Error::Corruption { .. } => "Corruption",
            Error::Io(_) => "Io",
        }
    }

    /// The human-readable message, without the kind.
    pub fn message(&self) -> String {
        match self {
            Error::DoesNotExist(m)
            | Error::MultipleObjectsReturned(m)
            | Error::ValidationError(m)
            | Error::IntegrityError(m)
            | Error::ProtectedError(m)
            | Error::PermissionDenied(m)
            | Error::FieldError(m)
            | Error::InvalidInput(m)
            | Error::Io(m) => m.clone(),
            Error::Corruption { at: Some(seq), reason } => {
                format!("corruption at sequence number {seq}: {reason}")
            }
            Error::Corruption { at: None, reason } => format!("corruption: {reason}"),
        }
    }

    pub(crate) fn corrupt(at: Option<u64>, reason: impl Into<String>) -> Error {
        Error::Corruption { at, reason: reason.into() }
    }

    /// The event a corruption names.
    pub(crate) fn at(&self) -> Option<u64> {
        match self {
            Error::Corruption { at, .. } => *at,
            _ => None,
        }
    }

    /// Names the event a corruption found without one was in (a decoder knows the bytes, its
    /// caller which event or record they belong to).
    pub(crate) fn at_seq(self, seq: u64) -> Error {
        match self {
            Error::Corruption { at: None, reason } => Error::Corruption { at: Some(seq), reason },
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for Error {}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { at, .. } => Error::corrupt(None, format!("sled reports corruption at {at:?}")),
            other => Error::Io(format!("storage error: {other}")),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

macro_rules! err {
    ($kind:ident, $($arg:tt)*) => {
        $crate::error::Error::$kind(format!($($arg)*))
    };
}
pub(crate) use err;
