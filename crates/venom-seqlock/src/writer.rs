//! The writer side: the writer lock (recorded pid, recovery from a dead holder) and the
//! publishing protocol described in [`crate::seqlock`].

use core::time::Duration;

use crate::error::{Error, Result};
use crate::layout::{SLOT_POISONED, SlotHeader};
use crate::seqlock::Seqlock;
use crate::sync::{AtomicU64, Ordering, fence, spin_hint};
use venom_shm::atomic_bytes::{copy_words, load_bytes, store_bytes};
use venom_shm::wait::{self, Deadline, Stopwatch};

/// How long a writer waits on a held lock before checking whether its holder is alive.
pub(crate) const LIVENESS_BOUND: Duration = Duration::from_micros(200);

/// Looks at a lock held by a live writer before a waiting writer sleeps on it.
#[cfg(not(loom))]
const LOCK_SPINS: u32 = 64;

/// The longest a waiting writer sleeps on the lock word before it looks again: a wake-up the
/// holder misses (its unlock reads the waiters hint without a fence) costs at most this.
#[cfg(not(loom))]
const LOCK_NAP: Duration = Duration::from_millis(1);

/// Takeover attempts of a lock whose holder is dead before `writer()` gives up with
/// `WriterBusy`: a word that keeps changing between dead holders (only a hostile process
/// writes it so) must not keep the caller looping.
const TAKEOVER_ATTEMPTS: u32 = 64;

/// Holds the writer lock of a [`Seqlock`] until dropped; the only way to write.
///
/// ```
/// use venom_seqlock::{Config, Error, OwnedSeqlock};
/// let buf = OwnedSeqlock::new(Config::single(8))?;
/// let mut w = buf.view().writer()?;
/// assert_eq!(w.write(b"12345678")?, 1);
/// assert_eq!(w.write(b"123456789"), Err(Error::TooLarge { len: 9, max: 8 }));
/// // Only one writer at a time:
/// assert!(matches!(buf.view().writer(), Err(Error::WriterBusy { .. })));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
pub struct Writer<'a> {
    lock: Seqlock<'a>,
    /// The word this writer wrote into the lock (its pid and start-time digest).
    holder: u32,
}

impl<'a> Seqlock<'a> {
    /// Takes the writer lock now, or fails with [`Error::WriterBusy`] if a live process holds
    /// it. A lock left by a dead process is taken over at once.
    ///
    /// # Errors
    /// [`Error::WriterBusy`].
    pub fn writer(&self) -> Result<Writer<'a>> {
        self.lock_writer(None)
    }

    /// Takes the writer lock, waiting up to `timeout` for a live holder to release it. A holder
    /// that died is detected within about 200 µs (the liveness bound) and its lock taken over.
    ///
    /// # Errors
    /// [`Error::Timeout`].
    pub fn writer_timeout(&self, timeout: Duration) -> Result<Writer<'a>> {
        self.lock_writer(Some(timeout))
    }

    /// Takes the lock, writes `bytes`, releases the lock: the multi-writer pattern.
    /// Returns the new version.
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::Timeout`].
    pub fn write_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<u64> {
        if bytes.len() > self.max_len() {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: self.max_len(),
            });
        }
        self.writer_timeout(timeout)?.write(bytes)
    }

    /// `None`: one try (a dead holder is taken over at once); `Some`: wait that long.
    fn lock_writer(&self, timeout: Option<Duration>) -> Result<Writer<'a>> {
        let owner = &self.header.lock.owner;
        // Our pid and start-time digest: a later process reusing our pid is not us.
        let me = self.holder;
        // Clocks start only once the lock was found held: an uncontended lock reads none.
        let mut waiting: Option<(Option<Deadline>, Stopwatch, u32)> = None;
        let (mut takeovers, mut looks) = (0u32, 0u32);
        loop {
            // SYNC POINT [W0]: pairs with the release fence that precedes the previous holder's
            // unlock in `Writer::drop` (finish's [W4], or the panic guard's [W7]): its version
            // and slot writes are visible to us.
            let holder = match owner.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Ok(self.locked(me)),
                Err(holder) => holder,
            };
            let (deadline, watch, watched) = waiting.get_or_insert_with(|| {
                (
                    timeout.map(|t| Deadline::after(Some(t))),
                    Stopwatch::start(),
                    holder,
                )
            });
            if holder != *watched {
                *watched = holder;
                *watch = Stopwatch::start();
            }
            let patient = deadline.is_some() && !watch.exceeded(LIVENESS_BOUND);
            if !patient && !wait::holder_word_alive(holder) {
                // Relaxed: a dead holder never released the lock, so there is nothing to
                // acquire here; its death, observed by `process_alive`, orders what it left
                // before our look (the kernel's exit and our system call; modelled by
                // `declare_dead`), and `tests/loom_seqlock.rs::a_dead_writer_is_taken_over`
                // checks that the next write is numbered after the dead one's.
                if owner
                    .compare_exchange(holder, me, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    let w = self.locked(me);
                    w.recover();
                    return Ok(w);
                }
                takeovers += 1;
                if takeovers < TAKEOVER_ATTEMPTS || deadline.as_ref().is_some_and(|d| !d.expired())
                {
                    continue;
                }
            }
            match deadline {
                None => {
                    return Err(Error::WriterBusy {
                        pid: wait::holder_pid(holder),
                    });
                }
                Some(d) if d.expired() => return Err(Error::Timeout),
                Some(d) => {
                    if !patient {
                        *watch = Stopwatch::start();
                    }
                    looks = looks.saturating_add(1);
                    #[cfg(not(loom))]
                    if looks > LOCK_SPINS {
                        self.nap_on_lock(
                            holder,
                            d.remaining().map_or(LOCK_NAP, |r| r.min(LOCK_NAP)),
                        );
                        continue;
                    }
                    let _ = (d, looks);
                    spin_hint();
                    #[cfg(not(loom))]
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Sleeps on the lock word while it still names `holder`, for at most `nap`, announced in
    /// `lock_waiters` so the holder's unlock wakes us (a hint: see `LOCK_NAP`).
    #[cfg(not(loom))]
    fn nap_on_lock(&self, holder: u32, nap: Duration) {
        let lock = &self.header.lock;
        // Wrapping: a hostile process may have zeroed the count meanwhile; it is only a hint.
        lock.lock_waiters.fetch_add(1, Ordering::Relaxed);
        wait::futex_wait(&lock.owner, holder, Some(nap));
        lock.lock_waiters.fetch_sub(1, Ordering::Relaxed);
    }

    fn locked(&self, holder: u32) -> Writer<'a> {
        Writer {
            lock: *self,
            holder,
        }
    }
}

impl<'a> Writer<'a> {
    /// The seqlock this writer writes.
    pub fn seqlock(&self) -> Seqlock<'a> {
        self.lock
    }

    /// Publishes `bytes` as the new value and returns its version. A whole value: clears the
    /// poisoned state left by a writer that died.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `bytes` exceeds the capacity (nothing is written, nothing
    /// truncated); [`Error::Corrupt`] if the published version was scribbled to its limit.
    pub fn write(&mut self, bytes: &[u8]) -> Result<u64> {
        self.write_with(bytes.len(), |slot| {
            store_bytes(slot.words, 0, bytes);
        })
        .map(|(v, ())| v)
    }

    /// Publishes a value of `len` bytes written in place by `fill`, avoiding a staging copy for
    /// large values. `fill` must write every byte it wants readers to see: the slot holds
    /// stale bytes before. A whole value: clears the poisoned state.
    ///
    /// If `fill` panics, the value is not published (with one slot, it is published marked
    /// poisoned, since the only copy was overwritten) and the panic continues.
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::Corrupt`].
    ///
    /// ```
    /// use venom_seqlock::{Config, OwnedSeqlock};
    /// let buf = OwnedSeqlock::new(Config::multi(1 << 16, 3))?;
    /// let mut w = buf.view().writer()?;
    /// w.write_with(1 << 16, |slot| {
    ///     for (i, chunk) in [[1u8; 4096]; 16].iter().enumerate() {
    ///         slot.write_at(i * 4096, chunk).unwrap();
    ///     }
    /// })?;
    /// # Ok::<(), venom_seqlock::Error>(())
    /// ```
    pub fn write_with<R>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>) -> R,
    ) -> Result<(u64, R)> {
        self.publish(Some(len), fill)
    }

    /// Publishes a change to the current value: the new slot starts as a copy of the published
    /// value (same length), then `change` edits it. Not a whole value: a poisoned value stays
    /// poisoned.
    ///
    /// # Errors
    /// [`Error::Corrupt`].
    pub fn update_with<R>(
        &mut self,
        change: impl FnOnce(&mut SlotWriter<'_>) -> R,
    ) -> Result<(u64, R)> {
        self.publish(None, change)
    }

    /// Whether the published value may be torn (a writer died mid-write and no whole value was
    /// written since).
    pub fn is_poisoned(&self) -> bool {
        self.lock.header.published.poisoned.load(Ordering::Relaxed) != 0
    }

    /// `len`: a whole new value of that length; `None`: an update of the published value.
    fn publish<R>(
        &mut self,
        len: Option<usize>,
        f: impl FnOnce(&mut SlotWriter<'_>) -> R,
    ) -> Result<(u64, R)> {
        let lock = self.lock;
        let shape = lock.shape;
        if let Some(len) = len
            && len > shape.capacity
        {
            return Err(Error::TooLarge {
                len,
                max: shape.capacity,
            });
        }
        let published = &lock.header.published;
        // We hold the lock: nobody else writes the version, and the lock's Acquire made the
        // previous holder's stores visible.
        let stored = published.version.load(Ordering::Relaxed);
        // A version with no successor (scribbled near its limit: M3) would fail every write
        // for good: the writer, who owns the numbering, starts it again. Readers compare
        // versions only for inequality, and a reader copying meanwhile fails its sequence
        // check and retries.
        let current = if stored
            .checked_add(1)
            .and_then(|v| v.checked_mul(2))
            .is_some()
        {
            stored
        } else {
            0
        };
        let version = current + 1;
        let slots = u64::from(shape.slots);
        let (sh, words) = lock.slot((version % slots) as usize);

        sh.seq.store(2 * version - 1, Ordering::Relaxed);
        // SYNC POINT [W1]: pairs with the reader's Acquire fence [R3]: a reader that sees any of
        // the stores below also sees the odd sequence.
        fence(Ordering::Release);
        lock.begin_slot_write((version % slots) as usize);

        let (len, poisoned) = match len {
            Some(len) => (len, false),
            None => {
                let (prev, prev_words) = lock.slot((stored % slots) as usize);
                let len = usize::try_from(prev.len.load(Ordering::Relaxed))
                    .unwrap_or(usize::MAX)
                    .min(shape.capacity);
                if slots > 1 {
                    copy_words(&prev_words[..len.div_ceil(8)], words);
                }
                (len, published.poisoned.load(Ordering::Relaxed) != 0)
            }
        };
        sh.len.store(len as u64, Ordering::Relaxed);
        let guard = PanicGuard { lock, sh, version };
        let out = f(&mut SlotWriter { words, len });
        core::mem::forget(guard);
        lock.finish(sh, version, poisoned);
        Ok((version, out))
    }

    /// After a takeover, settles what the dead holder left in the slot of the next version:
    /// * written whole but not published: publish it;
    /// * left mid-write with one slot: that was the only copy, so publish it marked poisoned
    ///   (readers get [`Error::Poisoned`] until a whole value is written);
    /// * left mid-write with N ≥ 2 slots: nothing to do, the published value is intact and
    ///   the next write reuses the slot.
    fn recover(&self) {
        let lock = self.lock;
        // Relaxed: we took the lock over from a holder seen dead (see `lock_writer`).
        let current = lock.header.published.version.load(Ordering::Relaxed);
        let Some(next) = current
            .checked_add(1)
            .filter(|v| v.checked_mul(2).is_some())
        else {
            return; // a scribbled version: the next write reports it
        };
        let (sh, _) = lock.slot(lock.shape.slot_of(next));
        let seq = sh.seq.load(Ordering::Relaxed);
        let was_poisoned = lock.header.published.poisoned.load(Ordering::Relaxed) != 0;
        if seq == 2 * next {
            lock.finish(sh, next, was_poisoned);
        } else if seq == 2 * next - 1 && lock.shape.slots == 1 {
            let len = sh
                .len
                .load(Ordering::Relaxed)
                .min(lock.shape.capacity as u64);
            sh.len.store(len, Ordering::Relaxed);
            lock.finish(sh, next, true);
        }
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        // Relaxed is enough: every path on which this holder stored anything ended in a release
        // fence (the SeqCst fence of `finish`, or the panic guard's), and the next holder's
        // Acquire CAS reading this store synchronises with that fence. Only a lock still
        // recorded as ours is released (a takeover by a process that judged us dead wins).
        let lock = &self.lock.header.lock;
        let _ = lock
            .owner
            .compare_exchange(self.holder, 0, Ordering::Relaxed, Ordering::Relaxed);
        // Writers waiting for the lock sleep on its word; without a fence this may miss one
        // that is just going to sleep, which then wakes after its nap (`LOCK_NAP`).
        if lock.lock_waiters.load(Ordering::Relaxed) != 0 {
            wait::futex_wake_all(&lock.owner);
        }
    }
}

impl Seqlock<'_> {
    /// A writer starts writing slot `i`. Writers take turns (the lock), so under loom the
    /// slot's writer shadow checks that every write of a slot happens after the previous one
    /// ended — also one abandoned by a panic ([W7]) or left by a dead holder. (Readers race
    /// with writers by design and are checked by their sequence numbers instead.)
    #[inline]
    fn begin_slot_write(&self, i: usize) {
        #[cfg(loom)]
        self.slots.owned[i].writers.0.with_mut(|_| ());
        #[cfg(not(loom))]
        let _ = i;
    }

    /// Closes the write of `version` into slot `sh` and publishes it.
    fn finish(&self, sh: &SlotHeader, version: u64, poisoned: bool) {
        let published = &self.header.published;
        sh.flags
            .store(if poisoned { SLOT_POISONED } else { 0 }, Ordering::Relaxed);
        published
            .poisoned
            .store(u32::from(poisoned), Ordering::Relaxed);
        // Relaxed: the version's publication below carries this store to readers.
        sh.seq.store(2 * version, Ordering::Relaxed);
        // SYNC POINT [W3]: publishes the value: pairs with the reader's Acquire load of the
        // version [R1].
        published.version.store(version, Ordering::Release);
        // SYNC POINT [W4]: Dekker pair with the waiter's SeqCst fence in `register_waiter` [R4]:
        // either the waiter sees the version above, or we see its count below and wake it.
        // Also a release fence for everything this lock holder stored, which is what makes
        // the Relaxed unlock in `Writer::drop` enough.
        fence(Ordering::SeqCst);
        let notify = &self.header.notify;
        if notify.waiters.load(Ordering::Relaxed) != 0 {
            // Relaxed, yet it pairs with the waiter's Acquire load of its ticket: the SeqCst
            // fence above is also a release fence for this store.
            notify.futex.fetch_add(1, Ordering::Relaxed);
            wait::futex_wake_all(&notify.futex);
        }
    }
}

/// Runs only if the fill closure panics (it is forgotten otherwise).
struct PanicGuard<'a, 's> {
    lock: Seqlock<'a>,
    sh: &'s SlotHeader,
    version: u64,
}

impl Drop for PanicGuard<'_, '_> {
    fn drop(&mut self) {
        if self.lock.shape.slots == 1 {
            // The only copy is half-overwritten: publish it marked poisoned rather than leave
            // readers waiting on an odd sequence behind a live writer.
            self.lock.finish(self.sh, self.version, true);
        } else {
            // The half-written slot stays unpublished; the next write reuses it. Release what
            // was stored into it before the lock is dropped (see `Writer::drop`): pairs with
            // the next holder's Acquire of the lock.
            fence(Ordering::Release); // SYNC POINT [W7]
        }
    }
}

/// The slot being written, handed to [`Writer::write_with`] / [`Writer::update_with`]
/// closures. Offsets are bytes from the start of the value.
#[derive(Debug)]
pub struct SlotWriter<'s> {
    words: &'s [AtomicU64],
    len: usize,
}

impl SlotWriter<'_> {
    /// Length of the value being written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `bytes` at `offset`.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if the range leaves the value; nothing is written.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<()> {
        self.check(offset, bytes.len())?;
        store_bytes(self.words, offset, bytes);
        Ok(())
    }

    /// Reads the slot's current bytes at `offset` (what this write or, for an update, the
    /// previous value put there).
    ///
    /// # Errors
    /// [`Error::OutOfBounds`].
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        load_bytes(self.words, offset, buf);
        Ok(())
    }

    fn check(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::OutOfBounds {
                offset,
                len,
                max: self.len,
            }),
        }
    }
}
