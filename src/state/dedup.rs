//! The dedup index `(feature_id, hash) → value id` in O(1). It is keyed by 64 bits mixed from
//! the feature id and the content hash, and holds only ids: the record itself confirms a match,
//! so a 64-bit collision costs a second probe, never a wrong answer. This keeps the index at
//! about 16 bytes per value instead of the 56 a full key would take.

use std::collections::HashMap;

/// The keys are already uniformly spread (bits of a blake3 hash), so they are their own hash.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold any other input in, for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeyMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<KeyHasher>>;

#[derive(Debug, Clone, Default)]
pub(crate) struct Dedup {
    main: KeyMap<u64>,
    /// Ids whose 64-bit key was already taken by another value (practically never used).
    overflow: KeyMap<Vec<u64>>,
}

pub(crate) fn dedup_key(feature: Option<u64>, hash: &[u8; 32]) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash[..8]);
    let f = feature.map_or(u64::MAX, |f| f.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    u64::from_le_bytes(prefix) ^ f
}

impl Dedup {
    /// Every id that may have this key; the caller confirms against the record.
    pub fn candidates(&self, key: u64) -> impl Iterator<Item = u64> + '_ {
        self.main.get(&key).copied().into_iter().chain(self.overflow.get(&key).into_iter().flatten().copied())
    }

    pub fn insert(&mut self, key: u64, id: u64) {
        match self.main.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.overflow.entry(key).or_default().push(id);
            }
        }
    }

    pub fn reserve(&mut self, n: usize) {
        self.main.reserve(n);
    }

    pub fn remove(&mut self, key: u64, id: u64) {
        if self.main.get(&key) == Some(&id) {
            self.main.remove(&key);
            if let Some(list) = self.overflow.get_mut(&key) {
                if let Some(next) = list.pop() {
                    self.main.insert(key, next);
                }
                if list.is_empty() {
                    self.overflow.remove(&key);
                }
            }
        } else if let Some(list) = self.overflow.get_mut(&key) {
            list.retain(|x| *x != id);
            if list.is_empty() {
                self.overflow.remove(&key);
            }
        }
    }
}
