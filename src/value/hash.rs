//! A value's content hash as the API hands it out: the 32 bytes themselves, shown as hex only
//! when asked, so returning a record costs no allocation and no formatting.

use super::Value;
use std::fmt;
use std::str::FromStr;

/// blake3 of a value's canonical encoding (SPEC §3). `Display` (and `to_string`) gives the
/// 64 lowercase hex digits the protocol uses; parsing accepts either case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueHash(pub [u8; 32]);

impl ValueHash {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn hex_digits(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(&self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 15)];
        }
        out
    }
}

impl fmt::Display for ValueHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.hex_digits();
        // Every byte is an ASCII hex digit, so the conversion cannot fail.
        f.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ValueHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueHash({self})")
    }
}

/// The error of parsing a [`ValueHash`] from anything but 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseHashError;

impl fmt::Display for ParseHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value hash is 64 hex digits")
    }
}

impl std::error::Error for ParseHashError {}

impl FromStr for ValueHash {
    type Err = ParseHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::codec::unhex(s).map(ValueHash).ok_or(ParseHashError)
    }
}

impl PartialEq<str> for ValueHash {
    fn eq(&self, other: &str) -> bool {
        other.parse::<ValueHash>().is_ok_and(|h| h == *self)
    }
}

impl PartialEq<&str> for ValueHash {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

/// As a query operand (`filter("hash", record.hash)`): the hex string the `hash` field takes.
impl From<ValueHash> for Value {
    fn from(h: ValueHash) -> Value {
        Value::Str(h.to_string())
    }
}
