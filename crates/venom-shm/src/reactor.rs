//! How an `async` wait reaches a [`Waker`]: one process-wide thread sleeps on the futex words of
//! every pending future at once and wakes their wakers.
//!
//! A futex word cannot be registered with epoll, so no runtime's reactor can watch it. Instead a
//! future that finds nothing to do announces itself exactly as a blocking waiter would (the
//! waker side then makes its `FUTEX_WAKE`), and hands the word and the value it saw to
//! [`park`]. This module's thread (started on first use, named `venom-reactor`) waits on all
//! parked words with one `futex_waitv(2)` (Linux ≥ 5.16; up to 128 words, one of them its own
//! bell), and when it returns wakes the waker of every entry whose word no longer holds its
//! value or whose deadline has passed. The future is then polled by its runtime, looks again,
//! and either finishes or parks again.
//!
//! ```text
//!   future (runtime thread)                  reactor thread
//!   announce (sleeping flag / waiter count)
//!   fence; read word = v; condition false
//!   park(word, v, deadline, region, waker) ──► table += entry; bell += 1; FUTEX_WAKE(bell)
//!   return Pending                           futex_waitv([bell, word = v, …], earliest deadline)
//!                      waker side: change word; FUTEX_WAKE(word)  ──► returns
//!                                            word != v → remove entry, waker.wake()
//!   polled: parked.pending()? no → look again
//! ```
//!
//! No lost wake-up: the kernel compares each word with its expected value inside
//! `futex_waitv`, so a change made after the future read `v` either happens before the call
//! (it returns at once) or wakes it. Entries are keyed by `(word, value)`: many futures waiting
//! on one word cost one slot. Each entry holds an [`Arc`] of the region its word lies in, and
//! the reactor keeps clones of those for the length of each system call, so a word is never
//! read (by this thread or by the kernel) after its mapping is gone, whatever order futures
//! and channels are dropped in.
//!
//! Costs: a future whose condition already holds makes no system call. Parking costs a lock,
//! a bell `FUTEX_WAKE` and the reactor's return from `futex_waitv` (two thread switches:
//! waker side → reactor → the runtime's worker). Where `futex_waitv` is missing (old kernels,
//! other systems) or more than 127 distinct words are parked, the reactor polls every
//! [`FALLBACK_POLL`] instead: correct, but up to that much later.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::ShmRegion;
use crate::sync::{AtomicU32, Ordering};

/// How often the reactor looks at every word when the kernel cannot wait on all of them.
pub const FALLBACK_POLL: Duration = Duration::from_millis(1);

/// Distinct words one `futex_waitv` call waits on, besides the bell (the kernel allows 128).
const MAX_WORDS: usize = 127;

/// A future's place in the reactor: while it exists and has not fired, the future's waker is
/// woken when the word changes or the deadline passes. Dropping it withdraws the entry.
#[derive(Debug)]
pub struct Parked {
    id: u64,
}

struct Entry {
    id: u64,
    /// Address of the word, inside `region`'s mapping.
    word: usize,
    expected: u32,
    deadline: Instant,
    waker: Waker,
    region: Arc<ShmRegion>,
}

impl Entry {
    fn word(&self) -> &AtomicU32 {
        // SAFETY: `park` checked that the word lies inside `region`'s mapping, 4-aligned (it
        // came from a reference), and the entry holds `region`, so the mapping is alive.
        unsafe { &*(self.word as *const AtomicU32) }
    }

    fn due(&self, now: Instant) -> bool {
        self.word().load(Ordering::Relaxed) != self.expected || now >= self.deadline
    }
}

#[derive(Default)]
struct Table {
    entries: Vec<Entry>,
    next_id: u64,
}

struct Reactor {
    table: Mutex<Table>,
    /// Rung (incremented and woken) whenever an entry is added, so the thread waits on it too.
    bell: AtomicU32,
}

impl Reactor {
    fn get() -> &'static Reactor {
        static REACTOR: OnceLock<&'static Reactor> = OnceLock::new();
        REACTOR.get_or_init(|| {
            let reactor: &'static Reactor = Box::leak(Box::new(Reactor {
                table: Mutex::new(Table::default()),
                bell: AtomicU32::new(0),
            }));
            std::thread::Builder::new()
                .name("venom-reactor".into())
                .spawn(move || reactor.run())
                .expect("the venom reactor thread could not be started");
            reactor
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Nothing panics while holding the lock; a poisoned table is still consistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) -> ! {
        let mut waitv_works = true;
        loop {
            let mut wake = Vec::new();
            let plan = {
                let mut table = self.table();
                // Read before the entries: an entry added after this read rings the bell,
                // which the wait below then sees changed.
                let bell = self.bell.load(Ordering::Acquire);
                let now = Instant::now();
                table.entries.retain(|e| {
                    let due = e.due(now);
                    if due {
                        wake.push(e.waker.clone());
                    }
                    !due
                });
                Plan::of(&table.entries, bell)
            };
            for w in wake {
                w.wake();
            }
            if waitv_works && !plan.overflow {
                waitv_works = plan.wait(&self.bell);
            } else {
                let nap = plan.until.map_or(FALLBACK_POLL, |at| {
                    at.saturating_duration_since(Instant::now())
                        .min(FALLBACK_POLL)
                });
                crate::wait::futex_wait(&self.bell, plan.bell, Some(nap));
            }
            drop(plan);
        }
    }

    /// Adds an entry (its id assigned here) and rings the bell; returns the id.
    fn add(&self, mut entry: Entry) -> u64 {
        let id = {
            let mut table = self.table();
            table.next_id += 1;
            entry.id = table.next_id;
            table.entries.push(entry);
            table.next_id
        };
        self.bell.fetch_add(1, Ordering::Release);
        crate::wait::futex_wake_all(&self.bell);
        id
    }
}

/// What one wait of the reactor thread covers.
struct Plan {
    bell: u32,
    /// Distinct `(word, value)` pairs.
    words: Vec<(usize, u32)>,
    /// More distinct words than one `futex_waitv` takes.
    overflow: bool,
    /// The earliest deadline.
    until: Option<Instant>,
    /// The regions of `words`, alive until the wait has returned.
    _regions: Vec<Arc<ShmRegion>>,
}

impl Plan {
    fn of(entries: &[Entry], bell: u32) -> Self {
        let mut words = Vec::new();
        let mut regions = Vec::new();
        for e in entries {
            if !words.contains(&(e.word, e.expected)) {
                words.push((e.word, e.expected));
                regions.push(Arc::clone(&e.region));
            }
        }
        let overflow = words.len() > MAX_WORDS;
        words.truncate(MAX_WORDS);
        Plan {
            bell,
            words,
            overflow,
            until: entries.iter().map(|e| e.deadline).min(),
            _regions: regions,
        }
    }

    /// Waits until the bell or a word changes, or the earliest deadline; `false` if the kernel
    /// has no `futex_waitv`.
    #[cfg(target_os = "linux")]
    fn wait(&self, bell: &AtomicU32) -> bool {
        use rustix::thread::futex;
        let entry = |addr: usize, val: u32, flags: futex::WaitFlags| {
            let mut w = futex::Wait::new();
            w.val = u64::from(val);
            w.uaddr = futex::WaitPtr::new(addr as *mut core::ffi::c_void);
            w.flags = flags;
            w
        };
        let mut waits = Vec::with_capacity(self.words.len() + 1);
        let bell_addr = core::ptr::from_ref(bell.as_std()) as usize;
        // Shared (not private) futexes, as `wait::futex_wake_all` wakes them (the words' wakers
        // are other processes; a private wait would never see a shared wake).
        waits.push(entry(bell_addr, self.bell, futex::WaitFlags::SIZE_U32));
        for &(addr, val) in &self.words {
            waits.push(entry(addr, val, futex::WaitFlags::SIZE_U32));
        }
        // `futex_waitv` takes an absolute CLOCK_MONOTONIC time (the clock of `Instant`).
        let timeout = self.until.map(|at| {
            let left = at.saturating_duration_since(Instant::now());
            let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            let nanos = now.tv_nsec + i64::from(left.subsec_nanos());
            futex::Timespec {
                tv_sec: now
                    .tv_sec
                    .saturating_add(i64::try_from(left.as_secs()).unwrap_or(i64::MAX / 2))
                    .saturating_add(nanos / 1_000_000_000),
                tv_nsec: nanos % 1_000_000_000,
            }
        });
        // Every word lies in a mapping held by `self._regions` (or is the static bell) for the
        // whole call; the kernel only reads them. AGAIN (a word already changed), TIMEDOUT,
        // INTR and a wake are all "look again".
        let result = futex::waitv(
            &waits,
            futex::WaitvFlags::empty(),
            timeout.as_ref(),
            rustix::time::ClockId::Monotonic,
        );
        !matches!(result, Err(e) if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::INVAL)
    }

    #[cfg(not(target_os = "linux"))]
    fn wait(&self, _bell: &AtomicU32) -> bool {
        false
    }
}

/// Parks a future on `word` until it no longer holds `expected` or `deadline` passes, then
/// wakes `waker`. `word` must lie inside `region`'s mapping (checked: panics otherwise, a bug
/// of the caller), which the reactor keeps mapped while the entry exists.
///
/// The caller must have announced itself to the word's wakers first (as a blocking waiter
/// does before `FUTEX_WAIT`) and read `expected` after that announcement.
pub fn park(
    word: &AtomicU32,
    expected: u32,
    deadline: Instant,
    region: &Arc<ShmRegion>,
    waker: &Waker,
) -> Parked {
    let addr = core::ptr::from_ref(word) as usize;
    let start = region.as_ptr() as usize;
    assert!(
        addr >= start && addr + 4 <= start + region.len(),
        "a parked futex word must lie inside its region"
    );
    let id = Reactor::get().add(Entry {
        id: 0,
        word: addr,
        expected,
        deadline,
        waker: waker.clone(),
        region: Arc::clone(region),
    });
    Parked { id }
}

impl Parked {
    /// Whether the entry is still waiting (its waker not yet woken); if so, `waker` replaces
    /// the one it will wake (a future may move between tasks' wakers).
    pub fn pending(&self, waker: &Waker) -> bool {
        let mut table = Reactor::get().table();
        match table.entries.iter_mut().find(|e| e.id == self.id) {
            Some(e) => {
                if !e.waker.will_wake(waker) {
                    e.waker = waker.clone();
                }
                true
            }
            None => false,
        }
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        let removed = {
            let mut table = Reactor::get().table();
            let at = table.entries.iter().position(|e| e.id == self.id);
            at.map(|i| table.entries.swap_remove(i))
        };
        // The region (maybe the last reference) is released outside the lock.
        drop(removed);
    }
}
