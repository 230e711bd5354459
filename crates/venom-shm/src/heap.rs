//! [`HeapRegion`]: in-process memory shaped like a mapped region (64-byte aligned, zeroed), so
//! the primitives run the same code over it as over shared memory (tests, benchmarks, threads
//! of one process).

use core::ptr::NonNull;
use std::alloc::Layout;

/// A zeroed, 64-byte aligned heap allocation, accessed like a [`ShmRegion`](crate::ShmRegion):
/// through a raw pointer, atomically.
///
/// ```
/// let mem = venom_shm::HeapRegion::new_zeroed(4096);
/// assert_eq!(mem.len(), 4096);
/// assert_eq!(mem.as_ptr() as usize % 64, 0);
/// ```
#[derive(Debug)]
pub struct HeapRegion {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the allocation is owned like a `Box<[u8]>`; the type hands out only a raw pointer,
// whose users access the memory atomically.
unsafe impl Send for HeapRegion {}
// SAFETY: `&self` methods only read the handle's own fields.
unsafe impl Sync for HeapRegion {}

impl HeapRegion {
    /// Allocates `len` zeroed bytes (at least 1), 64-byte aligned.
    ///
    /// # Panics
    /// If `len` exceeds `isize::MAX` rounded to 64; aborts if the allocation fails.
    pub fn new_zeroed(len: usize) -> Self {
        let layout = Layout::from_size_align(len.max(1), 64).expect("region size fits isize");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout);
        };
        Self { ptr, layout }
    }

    /// Start of the memory: 64-byte aligned, valid for [`len`](Self::len) bytes while `self`
    /// lives.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.layout.size()
    }
}

impl Drop for HeapRegion {
    fn drop(&mut self) {
        // SAFETY: allocated in `new_zeroed` with exactly this layout; users' views borrow
        // `self`, so none outlives it.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}
