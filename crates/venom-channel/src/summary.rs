//! The pending-request summary: one bit per client entry (bit `i % 64` of word `i / 64`), set
//! by a shell after it posts a request in its cell, taken by the daemon, which then looks at the
//! flagged cells only (see `receive`).
//!
//! ```text
//! shell:  post: store request seq (Release)   [rpc: C2]
//!         fetch_or(bit, Release)              [S1] ─┐
//! daemon: swap(word, 0, Acquire)              [S2] ◄┘ a bit taken here ⇒ `Cell::pending` sees
//!                                                      the request it stands for
//! ```
//!
//! A bit is a hint that speeds the daemon up, never the only way to a request: the daemon scans
//! every cell before it naps and every 1024 looks, so a lost or forged bit costs a delay.

use venom_shm::sync::{AtomicU64, Ordering};

/// Sets entry `entry`'s bit in `words` (the shell, after posting a request).
pub(crate) fn flag(words: &[AtomicU64], entry: usize) {
    if let Some(word) = words.get(entry / 64) {
        // SYNC POINT [S1]: after the request's Release store of its `seq` [C2]; pairs with the
        // daemon's Acquire swap in `take` [S2], which then sees the request.
        word.fetch_or(1 << (entry % 64), Ordering::Release);
    }
}

/// Takes every bit of `word` (the daemon): the entries whose cells to look at.
pub(crate) fn take(word: &AtomicU64) -> u64 {
    if word.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    // SYNC POINT [S2]: pairs with the shell's Release `fetch_or` [S1]: a request whose bit is
    // taken here is visible to `Cell::pending`.
    word.swap(0, Ordering::Acquire)
}
