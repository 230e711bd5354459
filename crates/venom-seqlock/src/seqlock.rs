//! [`Seqlock`]: the view over a seqlock's memory, and the reader side.
//!
//! # Algorithm
//!
//! Boehm's seqlock ("Can seqlocks get along with programming language memory models?",
//! MSPC 2012), generalised to N slots. Version v is written into slot `v % N`:
//!
//! ```text
//! writer (holds the writer lock)            reader
//! seq[s] = 2v-1            (Relaxed)        v  = version            (Acquire)  [R1]
//! fence(Release)                    [W1]    s1 = seq[v % N]         (Relaxed)
//! len, flags, data         (Relaxed)        s1 == 2v, else retry (s1 < 2v is corrupt)
//! seq[s] = 2v              (Relaxed)        len, flags, data        (Relaxed)
//! version = v              (Release) [W3]   fence(Acquire)                     [R3]
//! fence(SeqCst)                     [W4]    s2 = seq[v % N]         (Relaxed)
//! waiters                  (Relaxed)        s1 == s2 → a whole copy of version v
//! ```
//!
//! * W3→R1: a reader that sees version v sees all of v's stores: its data, and slot `v % N`
//!   at `2v` or later (never earlier). The slot's own sequence therefore needs no
//!   Release/Acquire pair of its own; it only detects overwriting.
//! * W1→R3: a reader that saw any byte of a later write into the slot sees that write's odd
//!   `seq` in s2, and discards the copy.
//! * W4 and the waiter's SeqCst fence form a Dekker pair: either a reader about to sleep sees
//!   the new version, or the writer sees the reader's waiter count and wakes it.
//!
//! `.ci/mutate-orderings.py` finds every ordering in this crate's source, weakens each in turn
//! and requires a loom test (`tests/loom_seqlock.rs`) to fail; `.ci/orderings-exempt.json`
//! names the few no model kills yet.
//!
//! With N = 1 this is the classic seqlock: a writer that rewrites back to back can overtake
//! every copy of a large value. With N ≥ 2 the newest value stays untouched while the next is
//! written, and a copy fails only if the writer laps all N slots during it.

use core::marker::PhantomData;
use core::time::Duration;

use crate::error::{Error, Result};
use crate::layout::{Config, LAYOUT_VERSION, MAGIC};
#[cfg(not(loom))]
use crate::layout::{HEADER_SIZE, SLOT_HEADER_SIZE};
use crate::layout::{Header, Notify, SLOT_POISONED, Shape, SlotHeader};
use crate::sync::{AtomicU32, AtomicU64, Ordering, fence, spin_hint};
use venom_shm::atomic_bytes::load_bytes;
use venom_shm::wait::{self, Deadline, Stopwatch};

/// How long `read` keeps retrying before it reports [`Error::Timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a slot may stay mid-write before a reader checks that the writer is alive.
pub(crate) const STUCK_BOUND: Duration = Duration::from_micros(500);

/// Iterations a waiter polls the version before it goes to sleep (none under loom, where
/// polling only multiplies schedules).
#[cfg(not(loom))]
const WAIT_SPINS: u32 = 256;

/// A consistent snapshot's identity: the version it belongs to and its length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Version of the value (0: nothing written yet, length 0).
    pub version: u64,
    /// Length of the value copied.
    pub len: usize,
}

/// A view of a seqlock in some memory: a shared-memory mapping ([`Seqlock::from_raw`]) or an
/// in-process buffer ([`OwnedSeqlock`](crate::OwnedSeqlock)).
///
/// Readers use it directly; writers take the writer lock with [`Seqlock::writer`] (held until
/// dropped: the single-writer pattern) or per write with [`Seqlock::write_timeout`] (many
/// writers).
///
/// ```
/// use venom_seqlock::{Config, OwnedSeqlock};
/// let buf = OwnedSeqlock::new(Config::multi(64, 3))?;
/// let lock = buf.view();
/// lock.writer()?.write(b"hello")?;
/// let mut out = [0u8; 64];
/// let n = lock.read(&mut out)?;
/// assert_eq!(&out[..n], b"hello");
/// # Ok::<(), venom_seqlock::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Seqlock<'a> {
    pub(crate) header: &'a Header,
    pub(crate) slots: Slots<'a>,
    pub(crate) shape: Shape,
    /// This process as a holder word (pid and start-time digest,
    /// `venom_shm::wait::holder_word`), read once when the view was made (`getpid` is a system
    /// call, and the write path makes none). A view made before a `fork` carries the parent's:
    /// make views after forking.
    pub(crate) holder: u32,
}

impl core::fmt::Debug for Seqlock<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Seqlock")
            .field("slots", &self.shape.slots)
            .field("capacity", &self.shape.capacity)
            .field("version", &self.version())
            .finish()
    }
}

/// Where the slots are: raw memory natively, owned boxes under loom (whose atomics cannot be
/// cast from bytes).
#[cfg(not(loom))]
#[derive(Clone, Copy)]
pub(crate) struct Slots<'a> {
    first: core::ptr::NonNull<u8>,
    _memory: PhantomData<&'a [AtomicU64]>,
}

#[cfg(loom)]
#[derive(Clone, Copy)]
pub(crate) struct Slots<'a> {
    pub(crate) owned: &'a [crate::owned::OwnedSlot],
    _memory: PhantomData<&'a [AtomicU64]>,
}

#[cfg(loom)]
impl<'a> Slots<'a> {
    pub(crate) fn owned(owned: &'a [crate::owned::OwnedSlot]) -> Self {
        Self {
            owned,
            _memory: PhantomData,
        }
    }
}

// SAFETY: a `Seqlock` is a shared borrow of memory holding only atomics (`&[AtomicU64]` in
// disguise when raw), which are themselves `Sync`; sending or sharing the view shares nothing
// else.
unsafe impl Send for Seqlock<'_> {}
// SAFETY: as for `Send`: every access through the view is atomic.
unsafe impl Sync for Seqlock<'_> {}

impl<'a> Seqlock<'a> {
    /// Slot `i`'s header and data words. `i` must be below the slot count.
    #[inline]
    pub(crate) fn slot(&self, i: usize) -> (&'a SlotHeader, &'a [AtomicU64]) {
        debug_assert!(i < self.shape.slots as usize);
        #[cfg(not(loom))]
        {
            // SAFETY: [1] `i < slots`, so the slot lies inside the memory validated at
            // construction (`HEADER_SIZE + slots * stride <= len`), which outlives 'a;
            // [2] slot headers are 64-byte aligned (aligned base, header and stride multiples
            // of 64); [3] the memory is only ever accessed atomically and every bit pattern is
            // a valid `SlotHeader` (atomics only).
            let header = unsafe {
                &*self
                    .slots
                    .first
                    .as_ptr()
                    .add(i * self.shape.stride)
                    .cast::<SlotHeader>()
            };
            // SAFETY: the data words follow the slot header inside the same validated slot
            // (`SLOT_HEADER_SIZE + padded == stride`), 8-aligned, atomically accessed only.
            let data = unsafe {
                core::slice::from_raw_parts(
                    self.slots
                        .first
                        .as_ptr()
                        .add(i * self.shape.stride + SLOT_HEADER_SIZE)
                        .cast::<AtomicU64>(),
                    self.shape.words(),
                )
            };
            (header, data)
        }
        #[cfg(loom)]
        {
            let s = &self.slots.owned[i];
            (&s.header, &s.data)
        }
    }

    /// Initialises a new seqlock in `ptr..ptr+len` and returns a view of it.
    ///
    /// Every header field is written and the magic is stored last with `Release`, so a
    /// concurrent [`from_raw`](Self::from_raw) either fails with [`Error::BadMagic`] or sees a
    /// complete header.
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`] for a bad `config` or misaligned `ptr`,
    /// [`Error::RegionTooSmall`] if `len` is short.
    ///
    /// # Safety
    /// * `ptr` is valid for reads and writes of `len` bytes for all of `'a`;
    /// * every process and thread accesses those bytes only atomically (through this crate);
    /// * no other process initialises the same memory at the same time.
    #[cfg(not(loom))]
    pub unsafe fn init(ptr: *mut u8, len: usize, config: Config) -> Result<Self> {
        let shape = config.checked()?;
        check_memory(ptr, len, shape.total)?;
        // SAFETY: the caller's contract gives validity for `len >= total` bytes and atomic-only
        // access; `check_memory` verified alignment and size.
        let view = unsafe { Self::from_parts(ptr, shape, wait::holder_word(wait::current_pid())) };
        view.stamp_new();
        Ok(view)
    }

    /// Writes a fresh header and zeroed state over the memory of this view (`init`, and
    /// `OwnedSeqlock` under loom): every field, then the magic.
    pub(crate) fn stamp_new(&self) {
        let g = &self.header.geometry;
        g.layout_version.store(LAYOUT_VERSION, Ordering::Relaxed);
        g.slot_count.store(self.shape.slots, Ordering::Relaxed);
        g.flags.store(0, Ordering::Relaxed);
        g.capacity
            .store(self.shape.capacity as u64, Ordering::Relaxed);
        self.reset_state();
        // SYNC POINT [I1]: publishes the fields above to `open_header`'s Acquire load of the
        // magic [I2]. Modelled by `tests/loom_seqlock.rs::open_while_initialised`.
        g.magic.store(MAGIC, Ordering::Release);
    }

    /// The validation of [`from_raw`](Self::from_raw), shared with the loom build (which
    /// cannot cast bytes): magic, layout version, slot count and capacity; the shape they
    /// describe.
    ///
    /// # Errors
    /// [`Error::BadMagic`], [`Error::IncompatibleVersion`], [`Error::InvalidGeometry`].
    pub(crate) fn open_header(header: &Header) -> Result<Shape> {
        let g = &header.geometry;
        // SYNC POINT [I2]: pairs with the Release store of the magic in `stamp_new` [I1] and
        // in `restamp` [I3].
        let magic = g.magic.load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let version = g.layout_version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(Error::IncompatibleVersion {
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let capacity = usize::try_from(g.capacity.load(Ordering::Relaxed)).map_err(|_| {
            Error::InvalidGeometry {
                reason: "capacity does not fit this address space",
            }
        })?;
        let slots = g.slot_count.load(Ordering::Relaxed);
        Config::multi(capacity, slots).checked()
    }

    /// Attaches to a seqlock that [`init`](Self::init) set up, validating its header: magic,
    /// layout version, slot count, capacity, and that the memory holds everything they imply.
    /// The geometry is copied into the view; later changes to the header are ignored.
    ///
    /// # Errors
    /// [`Error::RegionTooSmall`], [`Error::BadMagic`], [`Error::IncompatibleVersion`],
    /// [`Error::InvalidGeometry`].
    ///
    /// # Safety
    /// * `ptr` is valid for reads and writes of `len` bytes for all of `'a`;
    /// * every process and thread accesses those bytes only atomically (through this crate).
    #[cfg(not(loom))]
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> Result<Self> {
        check_memory(ptr, len, HEADER_SIZE)?;
        // SAFETY: the header fits (checked above), is 64-aligned, and is accessed atomically.
        let header = unsafe { &*ptr.cast::<Header>() };
        let shape = Self::open_header(header)?;
        check_memory(ptr, len, shape.total)?;
        // SAFETY: validity for `total` bytes checked just above; atomic-only access is the
        // caller's contract.
        Ok(unsafe { Self::from_parts(ptr, shape, wait::holder_word(wait::current_pid())) })
    }

    /// # Safety
    /// `ptr` is 64-aligned and valid for `shape.total` bytes for `'a`, accessed atomically only.
    #[cfg(not(loom))]
    pub(crate) unsafe fn from_parts(ptr: *mut u8, shape: Shape, holder: u32) -> Self {
        // SAFETY: aligned and in bounds per the contract; `Header` is all atomics.
        let header = unsafe { &*ptr.cast::<Header>() };
        // SAFETY: `HEADER_SIZE <= total`, so the slots start inside the memory.
        let first = unsafe { ptr.add(HEADER_SIZE) };
        Self {
            header,
            slots: Slots {
                first: core::ptr::NonNull::new(first).unwrap_or(core::ptr::NonNull::dangling()),
                _memory: PhantomData,
            },
            shape,
            holder,
        }
    }

    /// Zeroes the published state and every slot header (initialisation only).
    fn reset_state(&self) {
        let h = self.header;
        h.published.version.store(0, Ordering::Relaxed);
        h.published.poisoned.store(0, Ordering::Relaxed);
        h.lock.owner.store(0, Ordering::Relaxed);
        h.lock.lock_waiters.store(0, Ordering::Relaxed);
        h.notify.futex.store(0, Ordering::Relaxed);
        h.notify.waiters.store(0, Ordering::Relaxed);
        for i in 0..self.shape.slots as usize {
            let (sh, _) = self.slot(i);
            sh.seq.store(0, Ordering::Relaxed);
            sh.len.store(0, Ordering::Relaxed);
            sh.flags.store(0, Ordering::Relaxed);
        }
    }

    /// Most bytes a value may have.
    pub fn max_len(&self) -> usize {
        self.shape.capacity
    }

    /// Number of slots (1: single buffer).
    pub fn slot_count(&self) -> u32 {
        self.shape.slots
    }

    /// Bytes of memory the seqlock occupies.
    pub fn region_size(&self) -> usize {
        self.shape.total
    }

    /// The newest published version (0 before the first write). Each write adds one.
    pub fn version(&self) -> u64 {
        self.header.published.version.load(Ordering::Relaxed)
    }

    /// Pid of the process holding the writer lock, if any.
    pub fn writer_pid(&self) -> Option<u32> {
        match wait::holder_pid(self.header.lock.owner.load(Ordering::Relaxed)) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// Whether the writer lock is held right now.
    pub fn is_locked(&self) -> bool {
        self.writer_pid().is_some()
    }

    /// Whether the writer lock is held by a live process (the pid it names exists and started
    /// when the lock word says).
    fn writer_alive(&self) -> bool {
        wait::holder_word_alive(self.header.lock.owner.load(Ordering::Relaxed))
    }

    /// Copies a consistent snapshot into `buf` and returns its length, retrying while writes
    /// overlap, for at most [`DEFAULT_READ_TIMEOUT`].
    ///
    /// Never writes to shared memory and never blocks the writer.
    ///
    /// # Errors
    /// * [`Error::BufferTooSmall`] with the length needed (nothing copied);
    /// * [`Error::WriterDead`] if the value stays mid-write and its writer's process is gone;
    /// * [`Error::Poisoned`] if the value may be torn by a writer that died;
    /// * [`Error::Timeout`], [`Error::Corrupt`].
    pub fn read(&self, buf: &mut [u8]) -> Result<usize> {
        self.read_timeout(buf, DEFAULT_READ_TIMEOUT).map(|s| s.len)
    }

    /// Like [`read`](Self::read), also returning the version, with an explicit time limit.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<Snapshot> {
        // The clock is read only once a first attempt failed: most reads need none.
        let mut retry: Option<(Deadline, Stopwatch, (u64, u64))> = None;
        loop {
            match self.attempt(buf) {
                Attempt::Done(s) => return Ok(s),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { version, seq } => {
                    let (deadline, watch, stuck_on) = retry.get_or_insert_with(|| {
                        (
                            Deadline::after(Some(timeout)),
                            Stopwatch::start(),
                            (version, seq),
                        )
                    });
                    // The same unsettled state for a while: is its writer still there?
                    if *stuck_on != (version, seq) {
                        *stuck_on = (version, seq);
                        *watch = Stopwatch::start();
                    } else if watch.exceeded(STUCK_BOUND) {
                        if let Some(pid) = self.writer_pid()
                            && !self.writer_alive()
                        {
                            return Err(Error::WriterDead { pid });
                        }
                        *watch = Stopwatch::start();
                    }
                    if deadline.expired() {
                        return Err(Error::Timeout);
                    }
                    spin_hint();
                }
            }
        }
    }

    /// One attempt: a consistent snapshot, or [`Error::Contended`] if a write overlapped.
    ///
    /// # Errors
    /// [`Error::Contended`], and the errors of [`read`](Self::read) other than timeouts.
    pub fn try_read(&self, buf: &mut [u8]) -> Result<Snapshot> {
        match self.attempt(buf) {
            Attempt::Done(s) => Ok(s),
            Attempt::Fail(e) => Err(e),
            Attempt::Retry { .. } => Err(Error::Contended),
        }
    }

    /// Reads only if the version differs from `since`: `Ok(None)` (and nothing copied) when it
    /// has not changed.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_if_changed(&self, since: u64, buf: &mut [u8]) -> Result<Option<Snapshot>> {
        if self.version() == since {
            return Ok(None);
        }
        let s = self.read_timeout(buf, DEFAULT_READ_TIMEOUT)?;
        Ok((s.version != since).then_some(s))
    }

    fn attempt(&self, buf: &mut [u8]) -> Attempt {
        // SYNC POINT [R1]: pairs with the writer's Release store of the version [W3].
        let version = self.header.published.version.load(Ordering::Acquire);
        if version == 0 {
            return Attempt::Done(Snapshot { version: 0, len: 0 });
        }
        let Some(want) = version.checked_mul(2) else {
            return Attempt::Fail(Error::Corrupt {
                reason: "version out of range",
            });
        };
        let (sh, words) = self.slot(self.shape.slot_of(version));
        // Relaxed: R1 already made version v's stores visible; s1 only tells whether the slot
        // still holds v.
        let s1 = sh.seq.load(Ordering::Relaxed);
        if s1 != want {
            if s1 < want {
                return Attempt::Fail(Error::Corrupt {
                    reason: "slot is older than the published version",
                });
            }
            return Attempt::Retry { version, seq: s1 };
        }
        let len = sh.len.load(Ordering::Relaxed);
        let flags = sh.flags.load(Ordering::Relaxed);
        let fits = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.shape.capacity);
        let copied = match fits {
            Some(l) if l <= buf.len() => {
                load_bytes(words, 0, &mut buf[..l]);
                Some(l)
            }
            _ => None,
        };
        // SYNC POINT [R3]: pairs with the writer's Release fence [W1]: data from a later write
        // implies its odd sequence is visible below.
        fence(Ordering::Acquire);
        let s2 = sh.seq.load(Ordering::Relaxed);
        if s2 != s1 {
            return Attempt::Retry { version, seq: s2 };
        }
        match (fits, copied) {
            (None, _) => Attempt::Fail(Error::Corrupt {
                reason: "value length exceeds capacity",
            }),
            (Some(needed), None) => Attempt::Fail(Error::BufferTooSmall {
                needed,
                got: buf.len(),
            }),
            (Some(_), Some(_)) if flags & SLOT_POISONED != 0 => Attempt::Fail(Error::Poisoned),
            (Some(_), Some(len)) => Attempt::Done(Snapshot { version, len }),
        }
    }

    /// Writes the header's fixed fields (magic, version, slot count, capacity) again from this
    /// view's own copy, where they differ: a scribbled header keeps every later
    /// [`from_raw`](Self::from_raw) out for good, so the seqlock's owner calls this now and
    /// then to repair it.
    pub fn restamp(&self) {
        let g = &self.header.geometry;
        if g.layout_version.load(Ordering::Relaxed) != LAYOUT_VERSION {
            g.layout_version.store(LAYOUT_VERSION, Ordering::Relaxed);
        }
        if g.slot_count.load(Ordering::Relaxed) != self.shape.slots {
            g.slot_count.store(self.shape.slots, Ordering::Relaxed);
        }
        if g.capacity.load(Ordering::Relaxed) != self.shape.capacity as u64 {
            g.capacity
                .store(self.shape.capacity as u64, Ordering::Relaxed);
        }
        if g.magic.load(Ordering::Relaxed) != MAGIC {
            // SYNC POINT [I3]: as [I1], publishes the fields above to an opener [I2].
            // Modelled by `tests/loom_seqlock.rs::open_while_repaired`.
            g.magic.store(MAGIC, Ordering::Release);
        }
    }

    /// Wakes every reader sleeping in [`wait_for_change`](Self::wait_for_change) without
    /// writing (their wait returns only when the version changed or it times out, so this is
    /// for callers that also watch a flag of their own, such as a channel's closed state).
    pub fn wake_waiters(&self) {
        let notify = &self.header.notify;
        // SYNC POINT [W5]: pairs with a waiter's Acquire load of its ticket [R5]: a waiter
        // whose ticket shows this bump sees what the caller did before (its flag). Modelled by
        // `tests/loom_seqlock.rs::wake_without_a_write_carries_the_flag`.
        notify.futex.fetch_add(1, Ordering::Release);
        wait::futex_wake_all(&notify.futex);
    }

    /// Blocks until the version differs from `since` and returns the new version; spins
    /// briefly, then sleeps on the futex word.
    ///
    /// Announces itself in the waiter count before sleeping, so the writer makes the wake
    /// system call only when someone sleeps.
    ///
    /// # Errors
    /// None in practice (the `Result` matches the timed variant).
    pub fn wait_for_change(&self, since: u64) -> Result<u64> {
        self.wait_for_change_within(since, None)
    }

    /// [`wait_for_change`](Self::wait_for_change) for at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if nothing changed in time.
    pub fn wait_for_change_timeout(&self, since: u64, timeout: Duration) -> Result<u64> {
        self.wait_for_change_within(since, Some(timeout))
    }

    fn wait_for_change_within(&self, since: u64, timeout: Option<Duration>) -> Result<u64> {
        #[cfg(not(loom))]
        for _ in 0..WAIT_SPINS {
            let v = self.header.published.version.load(Ordering::Relaxed);
            if v != since {
                return Ok(v);
            }
            spin_hint();
        }
        let deadline = Deadline::after(timeout);
        loop {
            let waiter = match self.register_waiter(since) {
                Ok(v) => return Ok(v),
                Err(w) => w,
            };
            let remaining = deadline.remaining();
            if remaining == Some(Duration::ZERO) {
                return Err(Error::Timeout);
            }
            wait::futex_wait(waiter.word(), waiter.ticket(), remaining);
        }
    }

    /// The first half of a wait, for callers that sleep elsewhere (an async reactor): announces
    /// a waiter, then returns the version if it differs from `since`, or else a [`Waiter`] —
    /// sleep on its [`word`](Waiter::word) while it holds [`ticket`](Waiter::ticket) (a write
    /// made after this call changes the word and, seeing the waiter, wakes it), then drop it
    /// and call again. [`wait_for_change`](Self::wait_for_change) is this in a loop.
    ///
    /// # Errors
    /// `Err` is not a failure: it is the [`Waiter`] to sleep with.
    pub fn register_waiter(&self, since: u64) -> core::result::Result<u64, Waiter<'a>> {
        let header: &'a Header = self.header;
        let notify = &header.notify;
        notify.waiters.fetch_add(1, Ordering::Relaxed);
        let mut waiter = Waiter { notify, ticket: 0 };
        // SYNC POINT [R4]: Dekker pair with the writer's SeqCst fence [W4]: either we see the new
        // version below, or the writer sees our count and wakes us.
        fence(Ordering::SeqCst);
        // SYNC POINT [R5]: pairs with the writer's Release bump of the futex word (after a write,
        // and [W5] in `wake_waiters`): a ticket taken after a wake-up comes with that write's
        // version or the waker's flag (else we would sleep on a ticket whose wake-up already
        // happened, having missed them).
        waiter.ticket = notify.futex.load(Ordering::Acquire);
        let v = header.published.version.load(Ordering::Relaxed);
        if v != since {
            return Ok(v); // `waiter` drops: the count goes back down
        }
        Err(waiter)
    }
}

/// A reader announced as sleeping (counted in the header's waiter count until dropped), from
/// [`Seqlock::register_waiter`].
#[derive(Debug)]
#[must_use = "a waiter is announced to the writer only while it lives"]
pub struct Waiter<'a> {
    notify: &'a Notify,
    ticket: u32,
}

impl<'a> Waiter<'a> {
    /// The futex word to sleep on (in the shared header).
    pub fn word(&self) -> &'a AtomicU32 {
        &self.notify.futex
    }

    /// The value the word held when the version was checked: sleep while it still does.
    pub fn ticket(&self) -> u32 {
        self.ticket
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.notify.waiters.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Attempt {
    Done(Snapshot),
    Retry { version: u64, seq: u64 },
    Fail(Error),
}

#[cfg(not(loom))]
fn check_memory(ptr: *mut u8, len: usize, needed: usize) -> Result<()> {
    use venom_shm::sync::MemoryError;
    match venom_shm::sync::check_memory(ptr, len, needed) {
        Ok(_) => Ok(()),
        Err(MemoryError::Misaligned) => Err(Error::InvalidGeometry {
            reason: "memory must be non-null and 64-byte aligned",
        }),
        Err(MemoryError::TooSmall { len, needed }) => Err(Error::RegionTooSmall { len, needed }),
    }
}
