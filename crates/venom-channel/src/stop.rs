//! The daemon's stop flag, raised by a `StopHandle` from any thread.

use venom_shm::sync::{AtomicBool, Ordering};

/// Raised by [`raise`](Self::raise), seen and lowered by [`take`](Self::take).
///
/// What a stop promises: everything the stopping thread did before `stop()` happens before
/// the `run` that returns because of it returns (`Release` [T1] / `Acquire` [T2]), so a caller
/// may hand results to the daemon's thread that way.
#[derive(Debug, Default)]
pub(crate) struct StopFlag(AtomicBool);

impl StopFlag {
    /// Raises the flag.
    pub(crate) fn raise(&self) {
        // SYNC POINT [T1]: pairs with `take`'s Acquire load [T2].
        self.0.store(true, Ordering::Release);
    }

    /// Whether the flag was raised since the last `take` (and lowers it).
    pub(crate) fn take(&self) -> bool {
        // SYNC POINT [T2]: pairs with `raise`'s Release store [T1].
        let raised = self.0.load(Ordering::Acquire);
        if raised {
            self.0.store(false, Ordering::Relaxed);
        }
        raised
    }
}
