//! A zero-initialised, block-aligned byte buffer for O_DIRECT I/O.

use super::BLOCK_BYTES;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// A heap buffer whose address and length are multiples of [`BLOCK_BYTES`],
/// zeroed on allocation.
/// Owned by the log core's executor (inside the log writer and the hard-state file).
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf uniquely owns its allocation, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of at least `len` bytes (rounded up to whole blocks,
    /// at least one block).
    pub fn zeroed(len: usize) -> AlignedBuf {
        let len = round_up(len.max(1), BLOCK_BYTES);
        let layout = Layout::from_size_align(len, BLOCK_BYTES).expect("aligned buffer layout");
        // SAFETY: layout has non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, len }
    }

    /// Grows to at least `len` bytes, keeping the content; new bytes are zero.
    pub fn grow_to(&mut self, len: usize) {
        if len <= self.len {
            return;
        }
        let mut bigger = AlignedBuf::zeroed(len.max(self.len * 2));
        bigger[..self.len].copy_from_slice(self);
        *self = bigger;
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr is valid for len initialised bytes for our lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we hold the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.len, BLOCK_BYTES).expect("aligned buffer layout");
        // SAFETY: allocated in `zeroed` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len)
    }
}

/// `v` rounded up to a multiple of `to` (a power of two).
pub(crate) fn round_up(v: usize, to: usize) -> usize {
    debug_assert!(to.is_power_of_two());
    (v + to - 1) & !(to - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_grows() {
        let mut b = AlignedBuf::zeroed(10);
        assert_eq!(b.len(), BLOCK_BYTES);
        assert_eq!(b.as_ptr() as usize % BLOCK_BYTES, 0);
        assert!(b.iter().all(|&x| x == 0));
        b[5] = 7;
        b.grow_to(BLOCK_BYTES * 3);
        assert!(b.len() >= BLOCK_BYTES * 3);
        assert_eq!(b[5], 7);
        assert_eq!(b.as_ptr() as usize % BLOCK_BYTES, 0);
    }
}
