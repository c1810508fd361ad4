//! The dedup index `(feature_id, hash) → value id` in O(1). Its key is 64 bits mixed from the
//! feature id and the content hash, of which it keeps 32, and it holds only ids: the record
//! itself confirms a match, so a collision costs a second probe, never a wrong answer.
//!
//! It is an open-addressing table with linear probing, not a `HashMap`: a slot holds a key tag
//! and the id side by side (8 bytes), so a lookup touches one cache line of the table before
//! the record, where hashbrown's separate control bytes and buckets cost two dependent misses.
//! Equal tags simply sit in later slots of the same probe run.
//!
//! The tag is the key's low 32 bits and also gives the home slot, so the table can move
//! entries when it grows without asking for their records. Two keys with equal tags cost one
//! extra record comparison; value ids fit 32 bits (value records refuse larger ones). At 16
//! bytes a slot the table was 33 bytes per value at 1M values; it is 17 now. (A table of more
//! than 2³² slots, for over three billion values, would use only its first 2³² as homes.)

/// `id == 0` marks an empty slot: value ids start at 1.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    tag: u32,
    id: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Dedup {
    /// A power of two in length (or empty), at most 3/4 full.
    slots: Vec<Slot>,
    len: usize,
}

/// The part of a key a slot keeps. Truncation is the point: the low bits.
fn tag(key: u64) -> u32 {
    key as u32
}

pub(crate) fn dedup_key(feature: Option<u64>, hash: &[u8; 32]) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash[..8]);
    let f = feature.map_or(u64::MAX, |f| f.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    u64::from_le_bytes(prefix) ^ f
}

impl Dedup {
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The key's first slot. Keys are bits of a blake3 hash, already uniform: no mixing needed.
    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask()
    }

    /// Reads the home slot of each key, so that the lookups to come find them in the cache:
    /// these loads do not depend on each other, so the processor overlaps their misses, where
    /// lookups one by one wait for each (a random probe of a 16 MB table per created value was
    /// a sixth of a replay's folding thread). Returns a value of the slots read, for
    /// `black_box`, so the loads are not optimized away.
    pub fn warm(&self, keys: impl Iterator<Item = u64>) -> u32 {
        let mut seen = 0;
        for key in keys {
            if let Some(slot) = self.slots.get(self.home(tag(key))) {
                seen ^= slot.id;
            }
        }
        seen
    }

    /// Every id that may have this key; the caller confirms against the record.
    pub fn candidates(&self, key: u64) -> impl Iterator<Item = u32> + '_ {
        let key = tag(key);
        let mut at = if self.slots.is_empty() { None } else { Some(self.home(key)) };
        std::iter::from_fn(move || loop {
            let i = at?;
            let slot = self.slots.get(i).copied().unwrap_or_default();
            if slot.id == 0 {
                at = None;
                return None;
            }
            at = Some((i + 1) & self.mask());
            if slot.tag == key {
                return Some(slot.id);
            }
        })
    }

    pub fn insert(&mut self, key: u64, id: u32) {
        debug_assert!(id != 0);
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            // `grow` sizes for ≤ 3/4 load, so this doubles the table (asking it for twice the
            // entries quadrupled it: 64 MB instead of 32 MB at 1M values).
            self.grow(self.len + 1);
        }
        self.place(Slot { tag: tag(key), id });
        self.len += 1;
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.mask();
        let mut i = self.home(slot.tag);
        while let Some(s) = self.slots.get_mut(i) {
            if s.id == 0 {
                *s = slot;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Makes room for at least `n` entries in all.
    pub fn reserve(&mut self, n: usize) {
        let need = self.len + n;
        if need * 4 > self.slots.len() * 3 {
            self.grow(need);
        }
    }

    /// Adds many entries at once. Placed in the order of their home slots, they fill the table
    /// front to back instead of one random cache miss each (a fifth of an open at 1M values).
    pub fn extend(&mut self, mut entries: Vec<(u64, u32)>) {
        self.reserve(entries.len());
        let mask = self.mask();
        entries.sort_unstable_by_key(|(key, _)| tag(*key) as usize & mask);
        for (key, id) in entries {
            self.place(Slot { tag: tag(key), id });
            self.len += 1;
        }
    }

    fn grow(&mut self, entries: usize) {
        let cap = (entries * 4 / 3 + 1).next_power_of_two().max(16);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); cap]);
        for s in old.into_iter().filter(|s| s.id != 0) {
            self.place(s);
        }
    }

    pub fn remove(&mut self, key: u64, id: u32) {
        let mask = self.mask();
        let Some(mut hole) = self.position(tag(key), id) else { return };
        self.len -= 1;
        // Backward-shift deletion: pull later entries of the run into the hole when their home
        // is not between the hole and them, so every run stays unbroken without tombstones.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let s = self.slots.get(j).copied().unwrap_or_default();
            if s.id == 0 {
                break;
            }
            let home = self.home(s.tag);
            let between = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !between {
                if let Some(h) = self.slots.get_mut(hole) {
                    *h = s;
                }
                hole = j;
            }
        }
        if let Some(h) = self.slots.get_mut(hole) {
            *h = Slot::default();
        }
    }

    fn position(&self, key: u32, id: u32) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let s = self.slots.get(i)?;
            if s.id == 0 {
                return None;
            }
            if s.tag == key && s.id == id {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_and_removals_keep_every_run_whole() {
        let mut d = Dedup::default();
        // Keys that share home slots (low bits), equal tags (low 32 bits) and exact collisions.
        let keys: Vec<u64> = (0..2000u64).map(|i| (i % 37) << 32 | (i % 5) << 40 | (i % 7)).collect();
        let id = |i: usize| u32::try_from(i + 1).unwrap_or_else(|e| panic!("{e}"));
        for (i, k) in keys.iter().enumerate() {
            d.insert(*k, id(i));
        }
        for (i, k) in keys.iter().enumerate() {
            assert!(d.candidates(*k).any(|c| c == id(i)));
        }
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            d.remove(*k, id(i));
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(d.candidates(*k).any(|c| c == id(i)), i % 3 != 0, "entry {i}");
        }
        assert_eq!(d.len, keys.len() - keys.len().div_ceil(3));
        let mut bulk = Dedup::default();
        bulk.extend(keys.iter().enumerate().map(|(i, k)| (*k, id(i))).collect());
        assert!(keys.iter().enumerate().all(|(i, k)| bulk.candidates(*k).any(|c| c == id(i))));
        // A key whose tag no entry has finds nothing.
        assert_eq!(bulk.candidates(8).count(), 0);
    }

    #[test]
    fn one_by_one_inserts_double_the_table_at_three_quarters() {
        let mut d = Dedup::default();
        let mut sizes = vec![];
        for i in 1..=100_000u32 {
            d.insert(u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15), i);
            if sizes.last() != Some(&d.slots.len()) {
                sizes.push(d.slots.len());
            }
            assert!(d.len * 4 <= d.slots.len() * 3, "over 3/4 full at {i}");
        }
        assert!(sizes.windows(2).all(|w| w[1] == w[0] * 2), "growth steps {sizes:?}");
        // 100k entries: 131,072 slots would be 76 % full, so 262,144.
        assert_eq!(d.slots.len(), 1 << 18);
    }
}
