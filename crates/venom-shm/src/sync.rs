//! The workspace's one sync facade: the only module that names `core::sync::atomic` or `loom`.
//! Every crate with shared atomics imports from here (the primitives re-export it as their own
//! `sync`), so `--cfg loom` swaps every atomic, fence and spin hint at once. A root
//! `clippy.toml` (`disallowed-types` / `disallowed-methods`) keeps it the only one.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

#[cfg(loom)]
use loom::sync::atomic as imp;

#[cfg(not(loom))]
use core::sync::atomic as imp;

pub use imp::Ordering;

/// A memory fence: `core`'s, or loom's under `cfg(loom)`.
#[inline(always)]
pub fn fence(order: Ordering) {
    imp::fence(order);
}

macro_rules! atomic {
    ($(#[$doc:meta])* $name:ident, $int:ty) => {
        $(#[$doc])*
        ///
        /// A transparent wrapper (same size, alignment and bit pattern, so it may be laid over
        /// shared memory) that dereferences to `core`'s atomic, or loom's under `cfg(loom)`:
        /// every method of the standard type is there. Its own name is what lets `clippy.toml`
        /// forbid the standard one everywhere else.
        #[repr(transparent)]
        pub struct $name(imp::$name);

        impl $name {
            /// A new atomic holding `v`.
            #[cfg(not(loom))]
            pub const fn new(v: $int) -> Self {
                Self(imp::$name::new(v))
            }

            /// A new atomic holding `v`.
            #[cfg(loom)]
            pub fn new(v: $int) -> Self {
                Self(imp::$name::new(v))
            }

            /// The atomic of the standard library (or loom) underneath.
            pub fn as_std(&self) -> &imp::$name {
                &self.0
            }
        }

        impl core::ops::Deref for $name {
            type Target = imp::$name;
            #[inline(always)]
            fn deref(&self) -> &imp::$name {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new(Default::default())
            }
        }
    };
}

atomic!(
    /// An atomic `bool`.
    AtomicBool,
    bool
);
atomic!(
    /// An atomic `u32` (futex words are these).
    AtomicU32,
    u32
);
atomic!(
    /// An atomic `u64`.
    AtomicU64,
    u64
);

/// A mutex, its guard and a condition variable for process-local locks: `std`'s, or loom's
/// under `cfg(loom)` (so a model sees the lock's synchronisation and its blocking).
#[cfg(loom)]
pub use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::sync::{Condvar, Mutex, MutexGuard};

/// The ordering-mutation check's switch (`.ci/mutate-orderings.py`, which builds a copy of the
/// workspace with `--cfg venom_mutants` and every ordering site `i` of the crate under test
/// written as `mutant(i, original, weakened)`): `weakened` when the environment variable
/// `VENOM_MUTANT` is `i`, else `original`. One build then serves every mutant.
#[cfg(venom_mutants)]
pub fn mutant<T>(id: u32, original: T, weakened: T) -> T {
    static ACTIVE: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    let active = ACTIVE.get_or_init(|| std::env::var("VENOM_MUTANT").ok()?.parse().ok());
    if *active == Some(id) {
        weakened
    } else {
        original
    }
}

/// One step of a spin loop: a CPU pause natively, a scheduling point under loom (whose
/// scheduler would otherwise never run the thread being waited for).
#[inline]
pub fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// Asks the CPU to start loading the cache line at `ptr` (a hint: it never faults, whatever
/// `ptr` is, and changes nothing the memory model sees). Nothing under loom or off x86-64.
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    // SAFETY: `prefetcht0` is a hint with no architectural effect: it cannot fault, for any
    // address, and SSE (which has it) is part of the x86-64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = ptr;
}

/// Why memory handed to a primitive (`init` / `from_raw`) cannot hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryError {
    /// The pointer is null or not 64-byte aligned.
    Misaligned,
    /// Fewer bytes than the structure needs.
    TooSmall {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
}

/// The check every primitive makes of memory it is given: non-null, 64-byte aligned, and at
/// least `needed` bytes; returns the pointer as `NonNull`.
///
/// # Errors
/// [`MemoryError`].
pub fn check_memory(
    ptr: *mut u8,
    len: usize,
    needed: usize,
) -> Result<core::ptr::NonNull<u8>, MemoryError> {
    let ptr = core::ptr::NonNull::new(ptr)
        .filter(|p| (p.as_ptr() as usize).is_multiple_of(64))
        .ok_or(MemoryError::Misaligned)?;
    if len < needed {
        return Err(MemoryError::TooSmall { len, needed });
    }
    Ok(ptr)
}
