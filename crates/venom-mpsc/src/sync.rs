//! The only place that names `core::sync::atomic` or `loom`: algorithms import from here, so
//! `--cfg loom` swaps every atomic, fence and spin hint at once.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// One step of a spin loop: a CPU pause natively, a scheduling point under loom (whose
/// scheduler would otherwise never run the thread being waited for).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
