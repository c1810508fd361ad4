//! A fast hasher for keys that are already well spread or are small integers the engine
//! assigns: ids, branch codes, `Option`s of them, and content hashes. SipHash, the standard
//! maps' default, and its map calls were ≈ 9 % of an `add_values` call's profile: every created
//! value updates the maps by feature, branch, space, creator and run. No key here is chosen by a user, except the content
//! hash, whose first bytes are blake3's (a collision can only be made by search, and it would
//! slow one map's lookups, never change an answer).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by engine-assigned integers or content hashes.
pub(crate) type WordMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// Mixes each integer written into the state with a multiply; of a byte slice only the first
/// eight bytes count (a content hash's are uniform).
#[derive(Default)]
pub(crate) struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        for (w, b) in word.iter_mut().zip(bytes) {
            *w = *b;
        }
        self.write_u64(u64::from_le_bytes(word));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        // hashbrown takes its bucket from the low bits and its tag from the top seven. A
        // multiply by an odd constant maps consecutive ids to distinct low bits, and mixes
        // them into the top ones; keys here are consecutive ids or hash bytes, never strides.
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash>(t: &T) -> u64 {
        BuildHasherDefault::<WordHasher>::default().hash_one(t)
    }

    #[test]
    fn ids_and_their_options_spread_over_the_low_bits() {
        // 4,096 consecutive ids (and the same as Some) fill at least 3/4 of 4,096 buckets.
        for shift in [0u64, 1 << 20, 1 << 40] {
            let mut seen = vec![false; 4096];
            for id in 0..4096u64 {
                seen[(hash(&(id + shift)) & 4095) as usize] = true;
            }
            assert!(seen.iter().filter(|s| **s).count() > 3072, "plain ids from {shift}");
            let mut seen = vec![false; 4096];
            for id in 0..4096u64 {
                seen[(hash(&Some(id + shift)) & 4095) as usize] = true;
            }
            assert!(seen.iter().filter(|s| **s).count() > 3072, "Some(id) from {shift}");
        }
        assert_ne!(hash(&None::<u64>), hash(&Some(0u64)));
        assert_ne!(hash(&-1i64), hash(&1i64));
    }
}
