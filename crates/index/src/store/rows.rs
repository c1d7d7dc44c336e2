//! Rows of floats, owned or mapped, and the key → row map.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Deref;

/// Rows of f32 values, in memory or mapped from a file (read-only until first changed).
pub struct FloatRows(Storage);

enum Storage {
    Owned(Vec<f32>),
    Mapped(memmap2::Mmap),
}

impl FloatRows {
    /// The values, made owned (copied out of the mapping the first time) so they can change.
    pub fn to_mut(&mut self) -> &mut Vec<f32> {
        if let Storage::Mapped(_) = self.0 {
            self.0 = Storage::Owned(self.to_vec());
        }
        match &mut self.0 {
            Storage::Owned(values) => values,
            Storage::Mapped(_) => unreachable!("made owned above"),
        }
    }

    /// Rows read from a mapped file (its length a multiple of 4).
    pub(super) fn mapped(map: memmap2::Mmap) -> Self {
        FloatRows(Storage::Mapped(map))
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Storage::Mapped(_))
    }
}

impl Deref for FloatRows {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match &self.0 {
            Storage::Owned(values) => values,
            // SAFETY: mappings are page-aligned (so f32-aligned), only created on
            // little-endian targets, and their length was checked to be a multiple of 4.
            Storage::Mapped(map) => unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<f32>(), map.len() / 4) },
        }
    }
}

impl From<Vec<f32>> for FloatRows {
    fn from(values: Vec<f32>) -> Self {
        FloatRows(Storage::Owned(values))
    }
}

impl Clone for FloatRows {
    fn clone(&self) -> Self {
        self.to_vec().into()
    }
}

impl PartialEq for FloatRows {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for FloatRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FloatRows({} values{})",
            self.len(),
            if self.is_mapped() { ", mapped" } else { "" }
        )
    }
}

/// Key → row. Keys are already hashes (XXH3 of the image path), so a multiply-shift mix is
/// enough, and several times faster than SipHash for a million of them.
pub(super) type RowMap = HashMap<u64, usize, BuildHasherDefault<KeyHasher>>;

#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = (key ^ (key >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
