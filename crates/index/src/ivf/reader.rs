//! Reading an IVF file back: little-endian fields, bounds-checked.

use std::path::Path;

use crate::IndexError;

/// Little-endian fields off a byte slice; running out is corruption, not a panic.
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
    pub(super) path: &'a Path,
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(IndexError::Corrupt {
                path: self.path.to_path_buf(),
                message: format!("truncated: {n} bytes wanted at offset {}", self.at),
            });
        };
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    pub(super) fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// `n` plain values (f32, u64) stored little-endian: one copy, no per-value parsing.
    pub(super) fn values<T: bytemuck::Pod + Default>(
        &mut self,
        n: usize,
        from_le: fn(T) -> T,
    ) -> Result<Vec<T>, IndexError> {
        let bytes = self.take(n.saturating_mul(size_of::<T>()))?;
        let mut values = vec![T::default(); n];
        bytemuck::cast_slice_mut::<T, u8>(&mut values).copy_from_slice(bytes);
        if cfg!(target_endian = "big") {
            values.iter_mut().for_each(|v| *v = from_le(*v));
        }
        Ok(values)
    }

    pub(super) fn f32s(&mut self, n: usize) -> Result<Vec<f32>, IndexError> {
        self.values(n, |v: f32| f32::from_bits(u32::from_le(v.to_bits())))
    }

    pub(super) fn u64s(&mut self, n: usize) -> Result<Vec<u64>, IndexError> {
        self.values(n, u64::from_le)
    }
}
