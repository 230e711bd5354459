//! [`Queue`]: the view over a queue's memory, and the producer side.
//!
//! # Algorithm
//!
//! Dmitry Vyukov's bounded MPMC queue ("Bounded MPMC queue", 1024cores.net), specialised to
//! one consumer and extended so that a producer that dies mid-send cannot wedge it. Each slot
//! has a state word (see [`crate::layout`]); a send to position p (slot `p % cap`, lap `L`):
//!
//! ```text
//! producer                                       consumer (head = p)
//! s = state[slot]              (Acquire) [P1]    s = state[slot]            (Acquire) [C1]
//! s == FREE(L): CAS tail p → p+1 (Relaxed)       s == READY(L): read meta, payload (Relaxed)
//! CAS state FREE(L) → WRITING(L, pid)            state = FREE(L+1)   (Release) [C2]
//!                              (Release) [P7]
//!   (fails if the consumer voided the claim:     s == FREE(L), tail > p for a while: the
//!    start again at a new position)                claim was never started: CAS → FREE(L+1)
//! meta, payload                (Relaxed)         s == WRITING(L, pid), pid dead: CAS →
//! state = READY(L, pid)        (Release) [P2]      FREE(L+1), the message is abandoned
//! fence(SeqCst), or only a compiler fence     (consumer about to sleep:
//!   if the consumer sleeps heavy     [P3]      sleeping = 1; fence(SeqCst);
//! sleeping?                    (Relaxed)       membarrier if registered [C3])
//! ```
//!
//! * P2→C1: the consumer sees the whole message once it sees `READY`.
//! * C2→P1: a producer overwrites a slot only after the consumer has finished reading it.
//! * P3 and the consumer's SeqCst fence before it sleeps form a Dekker pair: either the
//!   consumer sees the message, or the producer sees it asleep and wakes it. A producer makes
//!   the wake system call only then. A consumer that sleeps with the asymmetric barrier
//!   (`venom_shm::barrier`: `membarrier` after its fence) says so in the doorbell's `heavy`
//!   word, and a producer whose process registered for it then makes only a compiler fence
//!   at P3: the per-message full fence moves to the consumer's way to sleep.
//!
//! A producer writes a slot only after its CAS to `WRITING(L, its pid)` succeeded, and the
//! consumer voids a claim only while it is still `FREE` (the producer's CAS then fails and it
//! retries) or when the recorded pid is dead. So no live producer ever writes into a slot
//! that was given to someone else, and no other producer's message is lost or reordered.
//!
//! # A producer that stalls mid-send
//!
//! A live producer can stop between its claim and its publication for any time (SIGSTOP, a
//! debugger, a hostile peer that never publishes). The consumer does not wait for it past
//! [`LIVE_BOUND`](crate::LIVE_BOUND): it marks the slot `SKIPPED(L, pid)` and moves on. The
//! slot stays the producer's, which may still be writing into it, so nobody else writes there:
//!
//! ```text
//! stalled producer                               consumer
//! state WRITING(L, pid) → READY (CAS, Release)   WRITING(L, pid) past LIVE_BOUND:
//!   fails: SKIPPED(l, pid), not delivered          CAS → SKIPPED(L, pid), head + 1   [C7]
//! claim a new slot, copy the message there,      head reaches the slot a lap later
//!   publish it (same steps, same checks)           (tail = head: producers see it full):
//! CAS SKIPPED(l, pid) → FREE(l + 1) (Release)      pid alive: tail + 1, SKIPPED(l + 1),
//!                                        [P6]        head + 1 (a hole, nothing lost)
//!                                                  pid dead: FREE(lap) (Release)     [C8]
//! ```
//!
//! So a stalled producer costs the others at most `LIVE_BOUND` once and then one slot per lap;
//! its message is sent again when it resumes, after everything it sent before and before
//! anything it sends later, and delivered once. A producer that is skipped again and again (it
//! stalls every time) gives up with [`Error::Stalled`].
//! `.ci/mutate-orderings.py` weakens every ordering of this crate in turn and requires a loom
//! test (`tests/loom_mpsc.rs`) to fail; `.ci/orderings-exempt.json` names the exceptions.

use core::marker::PhantomData;

use venom_shm::{barrier, wait};

use crate::error::{Error, Result};
use crate::layout::{CANCELLED, Config, Header, LAYOUT_VERSION, MAGIC, Shape, SlotHeader, State};
#[cfg(not(loom))]
use crate::layout::{HEADER_SIZE, SLOT_HEADER_SIZE};
use crate::layout::{LAP_MASK, Payload, decode, encode};
use crate::sync::{AtomicU64, Ordering, fence, spin_hint};

/// Attempts a send makes against a changing tail before it reports corruption.
const SEND_ATTEMPTS: u32 = 1 << 20;

/// Times a message is sent again after the consumer skipped it (its producer stalled) before
/// the send gives up with [`Error::Stalled`].
const RESENDS: u32 = 8;

/// Attempts to give a skipped slot back while the consumer moves it on (once a lap).
const GIVE_BACK_ATTEMPTS: u32 = 64;

/// A view of a queue in some memory: a shared mapping ([`Queue::init`], [`Queue::from_raw`])
/// or an [`OwnedQueue`](crate::OwnedQueue). Producers send through a [`Producer`]; the one
/// consumer receives through a [`Consumer`](crate::Consumer).
///
/// ```
/// use venom_mpsc::{Config, OwnedQueue};
/// let q = OwnedQueue::new(Config::new(8, 64))?;
/// q.view().producer(7).try_send(b"hello")?;
/// let mut c = q.view().consumer()?;
/// let mut buf = [0u8; 48];
/// let m = c.try_recv(&mut buf)?.expect("a message");
/// assert_eq!((m.sender, &buf[..m.len]), (7, &b"hello"[..]));
/// # Ok::<(), venom_mpsc::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Queue<'a> {
    pub(crate) header: &'a Header,
    pub(crate) slots: Slots<'a>,
    pub(crate) shape: Shape,
    /// This process as a holder word (pid and start-time digest,
    /// `venom_shm::wait::holder_word`), read once with the view (the send path makes no system
    /// call). A view made before a `fork` carries the parent's: make views after forking.
    pub(crate) holder: u32,
}

impl core::fmt::Debug for Queue<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Queue")
            .field("capacity", &self.shape.capacity)
            .field("slot_size", &self.shape.slot_size)
            .finish()
    }
}

#[cfg(not(loom))]
#[derive(Clone, Copy)]
pub(crate) struct Slots<'a> {
    first: core::ptr::NonNull<u8>,
    _memory: PhantomData<&'a [AtomicU64]>,
}

#[cfg(loom)]
#[derive(Clone, Copy)]
pub(crate) struct Slots<'a> {
    owned: &'a [crate::owned::OwnedSlot],
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

// SAFETY: a `Queue` is a shared borrow of memory holding only atomics; sharing or sending the
// view shares nothing else.
unsafe impl Send for Queue<'_> {}
// SAFETY: as for `Send`: every access through the view is atomic.
unsafe impl Sync for Queue<'_> {}

impl<'a> Queue<'a> {
    /// Slot `pos % capacity`: its header and payload words.
    #[inline]
    pub(crate) fn slot(&self, pos: u64) -> (&'a SlotHeader, Payload<'a>) {
        let i = (pos & self.shape.mask()) as usize;
        #[cfg(not(loom))]
        {
            // SAFETY: [1] `i < capacity`, so the slot lies inside the memory validated at
            // construction (`HEADER_SIZE + capacity * slot_size <= len`), which outlives 'a;
            // [2] slots are 64-byte aligned (a 64-aligned base, header and slot size multiples
            // of 64);
            // [3] the memory is only accessed atomically and holds only atomics.
            let header = unsafe {
                &*self
                    .slots
                    .first
                    .as_ptr()
                    .add(i * self.shape.slot_size)
                    .cast::<SlotHeader>()
            };
            // SAFETY: the payload words follow the slot header inside the same slot, 8-aligned,
            // `words() * 8 == slot_size - SLOT_HEADER_SIZE` bytes, atomically accessed only.
            let words = unsafe {
                core::slice::from_raw_parts(
                    self.slots
                        .first
                        .as_ptr()
                        .add(i * self.shape.slot_size + SLOT_HEADER_SIZE)
                        .cast::<AtomicU64>(),
                    self.shape.words(),
                )
            };
            (header, Payload { words })
        }
        #[cfg(loom)]
        {
            let s = &self.slots.owned[i];
            (
                &s.header,
                Payload {
                    words: &s.words,
                    shadow: &s.shadow,
                },
            )
        }
    }

    /// Initialises an empty queue in `ptr..ptr+len`; the magic is stored last (`Release`).
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`] (also for a misaligned `ptr`), [`Error::RegionTooSmall`].
    ///
    /// # Safety
    /// * `ptr` is valid for reads and writes of `len` bytes for all of `'a`;
    /// * every process and thread accesses those bytes only atomically (through this crate);
    /// * nobody else initialises the same memory at the same time.
    #[cfg(not(loom))]
    pub unsafe fn init(ptr: *mut u8, len: usize, config: Config) -> Result<Self> {
        let shape = config.checked()?;
        check_memory(ptr, len, shape.total)?;
        // SAFETY: validity for `len >= total` bytes and atomic-only access are the caller's
        // contract; alignment and size were checked.
        let q = unsafe { Self::from_parts(ptr, shape, wait::holder_word(wait::current_pid())) };
        q.stamp_new();
        Ok(q)
    }

    /// Writes a fresh header and empty slots over the memory of this view (`init`, and
    /// `OwnedQueue` under loom): every field, then the magic.
    pub(crate) fn stamp_new(&self) {
        let (h, shape) = (self.header, self.shape);
        h.geometry
            .layout_version
            .store(LAYOUT_VERSION, Ordering::Relaxed);
        h.geometry.capacity.store(shape.capacity, Ordering::Relaxed);
        h.geometry
            .slot_size
            .store(shape.slot_size as u32, Ordering::Relaxed);
        h.tail.tail.store(0, Ordering::Relaxed);
        h.consumer.head.store(0, Ordering::Relaxed);
        h.consumer.consumer.store(0, Ordering::Relaxed);
        h.doorbell.futex.store(0, Ordering::Relaxed);
        h.doorbell.sleeping.store(0, Ordering::Relaxed);
        h.doorbell.rung.store(0, Ordering::Relaxed);
        h.doorbell.heavy.store(0, Ordering::Relaxed);
        for pos in 0..u64::from(shape.capacity) {
            let (sh, _) = self.slot(pos);
            sh.state.store(encode(0, State::Free), Ordering::Relaxed);
            sh.meta.store(0, Ordering::Relaxed);
        }
        // SYNC POINT [I1]: publishes the fields above to `open_header`'s Acquire load of the
        // magic [I2]. Modelled by `tests/loom_mpsc.rs::open_while_initialised`.
        h.geometry.magic.store(MAGIC, Ordering::Release);
    }

    /// The validation of [`from_raw`](Self::from_raw), shared with the loom build (which
    /// cannot cast bytes): magic, layout version and geometry; the shape they describe.
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
        Config::new(
            g.capacity.load(Ordering::Relaxed),
            g.slot_size.load(Ordering::Relaxed),
        )
        .checked()
    }

    /// Attaches to a queue that [`init`](Self::init) set up, validating magic, version and
    /// geometry against `len`. The geometry is copied; later changes to the header are ignored.
    ///
    /// # Errors
    /// [`Error::RegionTooSmall`], [`Error::BadMagic`], [`Error::IncompatibleVersion`],
    /// [`Error::InvalidGeometry`].
    ///
    /// # Safety
    /// As for [`init`](Self::init), without the last point.
    #[cfg(not(loom))]
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> Result<Self> {
        check_memory(ptr, len, HEADER_SIZE)?;
        // SAFETY: the header fits (checked), is 64-aligned, and holds only atomics.
        let header = unsafe { &*ptr.cast::<Header>() };
        let shape = Self::open_header(header)?;
        check_memory(ptr, len, shape.total)?;
        // SAFETY: validity for `total` bytes checked above; atomic-only access is the caller's
        // contract.
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

    /// Writes the header's fixed fields (magic, version, geometry) again from this view's own
    /// copy, where they differ. Views already made keep their copy, but a scribbled header
    /// keeps every later [`from_raw`](Self::from_raw) — every new producer — out for good:
    /// the queue's owner calls this now and then to repair it.
    pub fn restamp(&self) {
        let g = &self.header.geometry;
        let fix = |word: &crate::sync::AtomicU32, value: u32| {
            if word.load(Ordering::Relaxed) != value {
                word.store(value, Ordering::Relaxed);
            }
        };
        fix(&g.layout_version, LAYOUT_VERSION);
        fix(&g.capacity, self.shape.capacity);
        fix(&g.slot_size, self.shape.slot_size as u32);
        if g.magic.load(Ordering::Relaxed) != MAGIC {
            // SYNC POINT [I3]: as [I1], publishes the fields above to an opener [I2].
            // Modelled by `tests/loom_mpsc.rs::open_while_repaired`.
            g.magic.store(MAGIC, Ordering::Release);
        }
    }

    /// Starts bringing position `pos`'s slot header and first payload line into this CPU's
    /// cache (a hint, see `venom_shm::sync::prefetch`), so the access that follows overlaps
    /// the work before it instead of waiting after it.
    pub(crate) fn prefetch_slot(&self, pos: u64) {
        let (sh, _) = self.slot(pos);
        let at: *const SlotHeader = sh;
        crate::sync::prefetch(at);
        crate::sync::prefetch(at.cast::<u8>().wrapping_add(64));
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.shape.capacity
    }

    /// Most bytes a message may have (`slot_size - 16`).
    pub fn payload_size(&self) -> usize {
        self.shape.payload()
    }

    /// Bytes of memory the queue occupies.
    pub fn region_size(&self) -> usize {
        self.shape.total
    }

    /// Messages claimed but not yet consumed, as a snapshot that may be stale at once.
    pub fn len_hint(&self) -> u64 {
        let tail = self.header.tail.tail.load(Ordering::Relaxed);
        let head = self.header.consumer.head.load(Ordering::Relaxed);
        tail.saturating_sub(head)
    }

    /// Pid of the process holding the consumer role, if any.
    pub fn consumer_pid(&self) -> Option<u32> {
        match wait::holder_pid(self.header.consumer.consumer.load(Ordering::Relaxed)) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// Wakes the consumer if it sleeps on the doorbell, without sending anything (for a
    /// shutdown request, for instance: the consumer's blocking receive returns and its caller
    /// checks its own flags). Always makes the wake system call.
    pub fn ring(&self) {
        let bell = &self.header.doorbell;
        bell.rung.store(1, Ordering::Relaxed);
        // SYNC POINT [P5]: pairs with the consumer's Acquire load of its ticket [C5]: a
        // consumer whose ticket shows this bump sees `rung` and what the caller did before.
        // Modelled by `tests/loom_mpsc.rs::a_ring_without_a_message_carries_the_flag`.
        bell.futex.fetch_add(1, Ordering::Release);
        wait::futex_wake_all(&bell.futex);
    }

    /// Wakes the consumer if it sleeps on the doorbell, for an event the caller has just
    /// published beside the queue (which the consumer checks in
    /// [`Consumer::wait_until`](crate::Consumer::wait_until)). Makes the wake system call only
    /// when the consumer has announced that it sleeps.
    pub fn notify(&self) {
        let bell = &self.header.doorbell;
        // A consumer that sleeps with the asymmetric barrier makes this side's fence a
        // compiler fence (`venom_shm::barrier`: the argument is there).
        let consumer_heavy = bell.heavy.load(Ordering::Relaxed) != 0;
        if !barrier::skip_fence(consumer_heavy) {
            // SYNC POINT [P3]: the same Dekker pair as after a send: either the consumer's
            // check after its fence sees the caller's event, or this load sees it asleep.
            fence(Ordering::SeqCst);
        }
        if bell.sleeping.load(Ordering::Relaxed) != 0 {
            bell.futex.fetch_add(1, Ordering::Relaxed);
            wait::futex_wake_all(&bell.futex);
        }
    }

    /// A producer that sends as `sender` (an id of the caller's choosing, delivered with each
    /// message, e.g. a client id).
    pub fn producer(&self, sender: u32) -> Producer<'a> {
        Producer {
            queue: *self,
            sender,
        }
    }
}

/// Sends messages into a [`Queue`]; any number may exist, in any processes.
#[derive(Debug, Clone, Copy)]
pub struct Producer<'a> {
    queue: Queue<'a>,
    sender: u32,
}

impl<'a> Producer<'a> {
    /// The sender id delivered with each message.
    pub fn sender(&self) -> u32 {
        self.sender
    }

    /// Sends `msg` without blocking. The consumer is woken (one system call) only if it
    /// sleeps.
    ///
    /// # Errors
    /// * [`Error::TooLarge`]: `msg` exceeds the payload size (nothing sent, nothing cut);
    /// * [`Error::Full`]: every slot holds an unconsumed message;
    /// * [`Error::Corrupt`]: the shared positions never settle (scribbled memory).
    pub fn try_send(&self, msg: &[u8]) -> Result<()> {
        self.try_send_with(msg.len(), |slot| {
            slot.payload.store(0, msg);
        })
    }

    /// Sends a message of `len` bytes written in place by `fill` (no staging copy). `fill`
    /// must write every byte it wants delivered; the slot holds stale bytes before.
    ///
    /// If `fill` panics, the message is cancelled (the consumer skips it) and the panic
    /// continues.
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send); on those errors `fill` is not called. After `fill`
    /// ran, only if this producer stalled mid-send past [`LIVE_BOUND`](crate::LIVE_BOUND) and
    /// the consumer skipped the message: [`Error::Full`] (no slot to send it again) or
    /// [`Error::Stalled`] (skipped every time); either way nothing was delivered.
    ///
    /// ```
    /// use venom_mpsc::{Config, OwnedQueue};
    /// let q = OwnedQueue::new(Config::new(4, 128))?;
    /// q.view().producer(1).try_send_with(12, |slot| {
    ///     slot.write_at(0, b"hello ").unwrap();
    ///     slot.write_at(6, b"world!").unwrap();
    /// })?;
    /// let mut c = q.view().consumer()?;
    /// assert_eq!(c.try_recv_ref()?.unwrap().to_vec(), b"hello world!");
    /// # Ok::<(), venom_mpsc::Error>(())
    /// ```
    pub fn try_send_with<R>(
        &self,
        len: usize,
        fill: impl FnOnce(&mut PayloadWriter<'_>) -> R,
    ) -> Result<R> {
        let q = &self.queue;
        if len > q.shape.payload() {
            return Err(Error::TooLarge {
                len,
                max: q.shape.payload(),
            });
        }
        let (sh, payload, lap) = self.claim()?;
        let meta = len as u64 | (u64::from(self.sender) << 32);
        sh.meta.store(meta, Ordering::Relaxed);
        // Cancels the message if `fill` unwinds.
        let cancel = Cancel { queue: q, sh, lap };
        let out = fill(&mut PayloadWriter { payload, len });
        core::mem::forget(cancel);
        let delivered = self.deliver(sh, payload, lap, meta);
        // SYNC POINT [P3] (in `notify`): Dekker pair with the consumer's SeqCst fence before
        // it sleeps. The message itself reaches the consumer through READY [P2]/[C1]; the
        // futex bump only changes the word it sleeps on, so it needs no release of its own
        // when the fence is skipped.
        q.notify();
        delivered.map(|()| out)
    }

    /// Publishes the message written in claimed slot `sh` (lap `lap`, meta word `meta`). If
    /// the consumer skipped the slot meanwhile (we stalled past `LIVE_BOUND`), sends a copy
    /// from a new slot and gives the old one back.
    ///
    /// # Errors
    /// [`Error::Full`] (no slot for the copy: nothing delivered), [`Error::Stalled`],
    /// [`Error::Corrupt`].
    fn deliver(&self, sh: &'a SlotHeader, payload: Payload<'a>, lap: u64, meta: u64) -> Result<()> {
        let q = &self.queue;
        let len = (meta & 0x7fff_ffff) as usize;
        let (mut sh, mut payload, mut lap) = (sh, payload, lap);
        let mut resends = 0;
        loop {
            if q.publish_slot(sh, lap) {
                return Ok(());
            }
            if resends == RESENDS {
                q.give_back(sh);
                return Err(Error::Stalled);
            }
            resends += 1;
            // Skipped: the slot is still ours (nobody else writes it), so copy from it.
            let claimed = self.claim();
            if let Ok((to, to_payload, _)) = &claimed {
                to.meta.store(meta, Ordering::Relaxed);
                to_payload.copy_from(&payload, len.min(q.shape.payload()));
            }
            q.give_back(sh);
            (sh, payload, lap) = claimed?;
        }
    }

    /// Sends a burst: `msgs` in order, as many as there are free slots for from the first,
    /// with one claim of the tail for all of them and one doorbell check at the end (the
    /// consumer is woken at most once). Returns how many were sent, from the first: the caller
    /// sends the rest again, in order.
    ///
    /// # Errors
    /// * [`Error::TooLarge`]: a message exceeds the payload size (nothing sent);
    /// * [`Error::Full`]: not even the first message fits;
    /// * [`Error::Corrupt`]: the shared positions never settle.
    ///
    /// ```
    /// use venom_mpsc::{Config, OwnedQueue};
    /// let q = OwnedQueue::new(Config::new(4, 64))?;
    /// let sent = q.view().producer(1).try_send_batch(&[b"one", b"two", b"three"])?;
    /// assert_eq!(sent, 3);
    /// let mut c = q.view().consumer()?;
    /// assert_eq!(c.try_recv_ref()?.unwrap().to_vec(), b"one");
    /// # Ok::<(), venom_mpsc::Error>(())
    /// ```
    pub fn try_send_batch(&self, msgs: &[&[u8]]) -> Result<usize> {
        let q = &self.queue;
        let max = q.shape.payload();
        if let Some(m) = msgs.iter().find(|m| m.len() > max) {
            return Err(Error::TooLarge { len: m.len(), max });
        }
        if msgs.is_empty() {
            return Ok(0);
        }
        let (first, count) = self.claim_run(msgs.len())?;
        let mut sent = count;
        for (i, msg) in msgs[..count].iter().enumerate() {
            let pos = first.wrapping_add(i as u64);
            let Some((sh, payload, lap)) = self.take_claimed(pos) else {
                // The consumer voided this claim (we stalled past `CLAIM_BOUND` between the
                // claim and here): this message and the ones after it are not sent.
                sent = sent.min(i);
                continue;
            };
            if i >= sent {
                // Claimed after one not sent: given back as a cancelled message, which the
                // consumer skips (the caller sends it again, after the one not sent).
                sh.meta.store(CANCELLED, Ordering::Relaxed);
                if !q.publish_slot(sh, lap) {
                    q.give_back(sh);
                }
                continue;
            }
            sh.meta.store(
                msg.len() as u64 | (u64::from(self.sender) << 32),
                Ordering::Relaxed,
            );
            payload.store(0, msg);
            if !q.publish_slot(sh, lap) {
                // Skipped while we wrote it (we stalled past `LIVE_BOUND`): not sent, nor
                // anything after it.
                q.give_back(sh);
                sent = sent.min(i);
            }
        }
        q.notify();
        match sent {
            0 => Err(Error::Full),
            n => Ok(n),
        }
    }

    /// Loom models only: claims a slot and writes `msg` into it, then stops there as a
    /// producer that stalls or dies mid-send does (the message is never published).
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    #[cfg(loom)]
    pub fn stop_mid_send(&self, msg: &[u8]) -> Result<()> {
        let (sh, payload, _) = self.claim()?;
        sh.meta.store(
            msg.len() as u64 | (u64::from(self.sender) << 32),
            Ordering::Relaxed,
        );
        payload.store(0, msg);
        Ok(())
    }

    /// Claims the slot at the tail for this producer (`WRITING` with our pid): the slot, its
    /// payload words and its lap.
    ///
    /// # Errors
    /// [`Error::Full`]; [`Error::Corrupt`] if the positions never settle.
    fn claim(&self) -> Result<(&'a SlotHeader, Payload<'a>, u64)> {
        for _ in 0..SEND_ATTEMPTS {
            let (pos, _) = self.claim_run(1)?;
            if let Some(claimed) = self.take_claimed(pos) {
                return Ok(claimed);
            }
            // The consumer voided our claim (we were stalled): claim anew.
        }
        Err(Error::Corrupt {
            reason: "queue positions never settle",
        })
    }

    /// Claims up to `n` consecutive free slots at the tail with one move of the tail: their
    /// first position and how many (at least one).
    ///
    /// # Errors
    /// [`Error::Full`]; [`Error::Corrupt`] if the positions never settle.
    fn claim_run(&self, n: usize) -> Result<(u64, usize)> {
        let q = &self.queue;
        let tail = &q.header.tail.tail;
        let mut pos = tail.load(Ordering::Relaxed);
        for _ in 0..SEND_ATTEMPTS {
            let mut free = 0usize;
            let mut state = 0;
            while free < n {
                let p = pos.wrapping_add(free as u64);
                let (sh, _) = q.slot(p);
                // SYNC POINT [P1]: pairs with the consumer's Release store of FREE [C2]: its
                // reads of the slot's last message happen before our writes.
                state = sh.state.load(Ordering::Acquire);
                if state != encode(q.shape.lap(p), State::Free) {
                    break;
                }
                free += 1;
            }
            if free > 0 {
                match tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(free as u64),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // The next send's slot: start bringing its lines over now.
                        q.prefetch_slot(pos.wrapping_add(free as u64));
                        return Ok((pos, free));
                    }
                    Err(now) => {
                        pos = now;
                        continue;
                    }
                }
            }
            match decode(state) {
                // The slot still holds the previous lap's message: full.
                Some((l, _)) if l == q.shape.lap(pos).wrapping_sub(1) & crate::layout::LAP_MASK => {
                    return Err(Error::Full);
                }
                // Our position is stale (others claimed it): look again.
                _ => {
                    spin_hint();
                    pos = tail.load(Ordering::Relaxed);
                }
            }
        }
        Err(Error::Corrupt {
            reason: "queue positions never settle",
        })
    }

    /// Marks claimed position `pos` as being written by us (`FREE` → `WRITING(pid)`); `None`
    /// if the consumer voided the claim meanwhile.
    fn take_claimed(&self, pos: u64) -> Option<(&'a SlotHeader, Payload<'a>, u64)> {
        let q = &self.queue;
        let lap = q.shape.lap(pos);
        let (sh, payload) = q.slot(pos);
        // SYNC POINT [P7]: pairs with the consumer's Acquire load [C1]: a consumer that sees
        // `WRITING` also sees the tail moved past the position (the claim came first), so it
        // never takes the tail for scribbled once it skips or sets aside this slot.
        sh.state
            .compare_exchange(
                encode(lap, State::Free),
                encode(lap, State::Writing(q.holder)),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
            .then_some((sh, payload, lap))
    }
}

/// Cancels a claimed slot if dropped (a fill closure that panics): marks the message
/// cancelled and publishes it, so the consumer never waits on a live producer, and wakes it.
struct Cancel<'q, 'a> {
    queue: &'q Queue<'a>,
    sh: &'a SlotHeader,
    lap: u64,
}

impl Drop for Cancel<'_, '_> {
    fn drop(&mut self) {
        self.sh.meta.fetch_or(CANCELLED, Ordering::Relaxed);
        if !self.queue.publish_slot(self.sh, self.lap) {
            self.queue.give_back(self.sh);
        }
        self.queue.notify();
    }
}

impl Queue<'_> {
    /// Hands a written (or cancelled) slot to the consumer: `WRITING(lap, us)` → `READY`.
    /// `false` if it is no longer ours to publish: the consumer skipped it while we wrote it
    /// (`SKIPPED`, still ours: give it back), or someone scribbled on it.
    fn publish_slot(&self, sh: &SlotHeader, lap: u64) -> bool {
        // SYNC POINT [P2]: pairs with the consumer's Acquire load [C1]. A CAS, not a store:
        // the consumer may have skipped the slot [C7] while we wrote it.
        sh.state
            .compare_exchange(
                encode(lap, State::Writing(self.holder)),
                encode(lap, State::Ready(self.holder)),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Gives back a slot the consumer skipped while we wrote it: `SKIPPED(l, us)` →
    /// `FREE(l + 1)`, whatever lap `l` the consumer has moved it to meanwhile. A slot that is
    /// not ours any more (scribbled) is left alone.
    fn give_back(&self, sh: &SlotHeader) {
        let mut seen = sh.state.load(Ordering::Relaxed);
        for _ in 0..GIVE_BACK_ATTEMPTS {
            let Some((l, State::Skipped(pid))) = decode(seen) else {
                return;
            };
            if pid != self.holder {
                return;
            }
            // SYNC POINT [P6]: pairs with the next producer's Acquire load [P1]: our reads of
            // the slot (the copy into a new one) happen before its writes.
            match sh.state.compare_exchange(
                seen,
                encode((l + 1) & LAP_MASK, State::Free),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                // The consumer moved the hole on a lap: give back that one.
                Err(now) => seen = now,
            }
        }
    }
}

/// The slot being filled, handed to [`Producer::try_send_with`] closures. Offsets are bytes
/// from the start of the message.
#[derive(Debug)]
pub struct PayloadWriter<'s> {
    payload: Payload<'s>,
    len: usize,
}

impl PayloadWriter<'_> {
    /// Length of the message being written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `bytes` at `offset`.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if the range leaves the message; nothing is written.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<()> {
        match offset.checked_add(bytes.len()) {
            Some(end) if end <= self.len => {
                self.payload.store(offset, bytes);
                Ok(())
            }
            _ => Err(Error::OutOfBounds {
                offset,
                len: bytes.len(),
                max: self.len,
            }),
        }
    }
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
