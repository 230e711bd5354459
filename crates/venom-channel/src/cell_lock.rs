//! The lock on a shell's request cell: one request at a time, from threads (which block) and
//! from futures (which are woken), and the request numbering it protects.
//!
//! A `std::sync::MutexGuard` cannot be held across an `.await` (it is not `Send`, and a task
//! that parks while holding it would block the threads waiting on it), so the cell has its own
//! lock: a word (`FREE`, `HELD`, `CONTENDED`) taken with one compare-and-swap when nobody
//! waits, and a mutex + condition variable + list of wakers that only waiters touch.
//!
//! No lost wake-up: a waiter swaps the word to `CONTENDED` while holding `waiters` (taking the
//! lock if the swap found it free), and a holder that releases a `CONTENDED` word takes
//! `waiters` before notifying — so it either finds the waiter registered, or the waiter, whose
//! swap came after the release, found the word free.

use std::task::Waker;
#[cfg(feature = "async")]
use std::task::{Context, Poll};

use venom_shm::sync::{AtomicBool, AtomicU32, Condvar, Mutex, MutexGuard, Ordering};

const FREE: u32 = 0;
const HELD: u32 = 1;
const CONTENDED: u32 = 2;

#[derive(Debug, Default)]
pub(crate) struct CellLock {
    state: AtomicU32,
    /// Sequence number of this entry's newest request (changed only by the holder).
    seq: AtomicU32,
    /// Whether its reply is still to be taken (changed only by the holder).
    pending: AtomicBool,
    /// Whether its reply was taken, so the daemon no longer reads it (changed only by the
    /// holder; false for a new holder of the entry, whose predecessor may have left one).
    answered: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
    freed: Condvar,
}

/// The cell, held. Releases the lock when dropped.
#[derive(Debug)]
pub(crate) struct CellGuard<'a> {
    lock: &'a CellLock,
}

impl CellLock {
    /// A lock whose numbering continues from `seq` (the cell's newest request).
    pub(crate) fn new(seq: u32) -> Self {
        Self {
            seq: AtomicU32::new(seq),
            ..Self::default()
        }
    }

    fn try_take(&self, from: u32, to: u32) -> bool {
        // SYNC POINT [L1]: Acquire pairs with the Release of `CellGuard::drop` [L3]: the holder
        // sees its predecessor's `seq` and `pending`.
        self.state
            .compare_exchange(from, to, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn waiters(&self) -> MutexGuard<'_, Vec<Waker>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the lock, blocking the thread while another request is in flight.
    pub(crate) fn lock(&self) -> CellGuard<'_> {
        if self.try_take(FREE, HELD) {
            return CellGuard { lock: self };
        }
        let mut waiters = self.waiters();
        while !self.take_contended() {
            waiters = self.freed.wait(waiters).unwrap_or_else(|p| p.into_inner());
        }
        CellGuard { lock: self }
    }

    /// Takes the lock if free; otherwise registers `cx`'s waker, woken when it is released.
    #[cfg(feature = "async")]
    pub(crate) fn poll_lock(&self, cx: &mut Context<'_>) -> Poll<CellGuard<'_>> {
        if self.try_take(FREE, HELD) {
            return Poll::Ready(CellGuard { lock: self });
        }
        let mut waiters = self.waiters();
        if self.take_contended() {
            return Poll::Ready(CellGuard { lock: self });
        }
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// A waiter's attempt (the caller holds `waiters`): marks the lock `CONTENDED` whoever holds
    /// it, so its release notifies; `true` if it was free, and is now this caller's.
    fn take_contended(&self) -> bool {
        // SYNC POINT [L2]: Acquire pairs with the Release of `CellGuard::drop` [L3], as [L1].
        self.state.swap(CONTENDED, Ordering::Acquire) == FREE
    }
}

impl CellGuard<'_> {
    /// The newest request's sequence number.
    pub(crate) fn seq(&self) -> u32 {
        self.lock.seq.load(Ordering::Relaxed)
    }

    /// Numbers a new request and marks it pending; returns its sequence number (31 bits, as
    /// the cell's header holds them) and whether the reply to the previous one was taken.
    pub(crate) fn next_request(&mut self) -> (u32, bool) {
        let seq = self.seq().wrapping_add(1) & crate::rpc::SEQ_MASK;
        self.lock.seq.store(seq, Ordering::Relaxed);
        self.set_pending(true);
        let answered = self.lock.answered.load(Ordering::Relaxed);
        self.lock.answered.store(false, Ordering::Relaxed);
        (seq, answered)
    }

    /// The reply to the newest request arrived (whatever became of it).
    pub(crate) fn set_answered(&mut self) {
        self.lock.answered.store(true, Ordering::Relaxed);
    }

    /// Whether the newest request's reply is still to be taken.
    pub(crate) fn pending(&self) -> bool {
        self.lock.pending.load(Ordering::Relaxed)
    }

    pub(crate) fn set_pending(&mut self, pending: bool) {
        self.lock.pending.store(pending, Ordering::Relaxed);
    }
}

impl Drop for CellGuard<'_> {
    fn drop(&mut self) {
        let lock = self.lock;
        // SYNC POINT [L3]: Release pairs with the Acquire of `try_take` [L1] and of
        // `take_contended` [L2].
        if lock.state.swap(FREE, Ordering::Release) == CONTENDED {
            let wakers = std::mem::take(&mut *lock.waiters());
            lock.freed.notify_all();
            for w in wakers {
                w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_take_turns_and_see_each_others_numbers() {
        let lock = Arc::new(CellLock::new(7));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let mut g = lock.lock();
                        let before = g.seq();
                        let (seq, _) = g.next_request();
                        assert_eq!(seq, before.wrapping_add(1));
                        g.set_pending(false);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(lock.lock().seq(), 7 + 4000);
    }

    #[cfg(feature = "async")]
    #[test]
    fn a_polled_waiter_is_woken_by_the_release() {
        use std::task::Wake;
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        let lock = CellLock::new(0);
        let held = lock.lock();
        assert!(lock.poll_lock(&mut cx).is_pending());
        assert!(!flag.0.load(Ordering::SeqCst));
        drop(held);
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(lock.poll_lock(&mut cx).is_ready());
    }
}
