//! LEB128 varints (signed integers zigzag-mapped), shared by log format 2 and the snapshot's
//! values section. Readers accept only the shortest encoding, so that decoding then encoding
//! gives back the same bytes.

pub(super) fn put(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(super) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Why a varint could not be read.
pub(super) enum Bad {
    /// The bytes end inside it.
    Short,
    /// Longer than 64 bits, or not the shortest encoding of its value.
    Malformed,
}

/// Reads one varint from the front of `bytes` and advances past it.
pub(super) fn take(bytes: &mut &[u8]) -> Result<u64, Bad> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = bytes.split_first().ok_or(Bad::Short)?;
        *bytes = rest;
        // The tenth byte holds bit 63 only, and ends the varint.
        if i == 9 && b > 1 {
            return Err(Bad::Malformed);
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // A zero last byte after the first adds nothing: a longer form of a shorter varint.
            return if b == 0 && i > 0 { Err(Bad::Malformed) } else { Ok(v) };
        }
    }
    Err(Bad::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_long_forms() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put(v, &mut b);
            let mut s = &b[..];
            assert!(matches!(take(&mut s), Ok(x) if x == v), "{v}");
            assert!(s.is_empty());
            for cut in 0..b.len() {
                assert!(matches!(take(&mut &b[..cut]), Err(Bad::Short)), "{v} cut at {cut}");
            }
        }
        for i in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(i)), i);
        }
        // 0 written in two bytes; 2^64 in ten; eleven bytes.
        for bad in [&[0x80, 0x00][..], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], &[0xff; 11]] {
            assert!(matches!(take(&mut &bad[..]), Err(Bad::Malformed)), "{bad:?}");
        }
    }
}
