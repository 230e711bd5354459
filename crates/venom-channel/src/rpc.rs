//! Per-client request/reply cells: how `ShellChannel::request` reaches the daemon without the
//! shared command queue.
//!
//! Each registry entry owns one cell. A request or reply of at most [`INLINE`] (56) bytes
//! travels inside its header line, so a round trip moves one cache line each way, as the
//! one-word ping-pong floor does; a longer one goes to the cell's slot (one more line per 64
//! bytes, read after the header). No line shared with other clients is written.
//!
//! ```text
//! request header (64 B)   seq: u32 (shell; bit 31: being written), meta: u32 (len, bit 31:
//!                         shell busy-polls, bit 30: shell sleeps with the asymmetric barrier),
//!                         56 bytes inline
//! reply header   (64 B)   seq: u32 (daemon; the shell's futex word), meta: u32 (len, bit 31:
//!                         too large), 56 bytes inline
//! shell line     (64 B)   sleeping: u32 (shell)
//! request slot            request_capacity bytes rounded up to 64 (none if ≤ 56)
//! reply slot              response_size bytes rounded up to 64 (none if ≤ 56)
//! ```
//!
//! **Requests.** The shell writes request `n + 1`'s bytes where the daemon read request `n`'s.
//! If the shell took a well-formed reply `n`, the daemon finished reading request `n` before it
//! wrote that reply, so the shell just writes and publishes. Otherwise (it gave up on `n`, the
//! reply was corrupt, or it is a new holder of the entry) the daemon may still be copying `n`: the shell first marks the header
//! "being written" (`seq = n + 1 | WRITING`), and the daemon, which re-checks the header after
//! every copy, discards a copy the marker (or anything later) overtook — a seqlock, whose
//! marker costs nothing on the common path.
//!
//! **Replies.** The daemon writes reply `n` only after taking request `n`, which the shell
//! posts after it finished reading reply `n - 1`, and a late reply from another thread is out
//! of the way before the receiver owes the cell its next request ([`Owed`]): nothing writes
//! the reply the shell reads, so it needs no re-check.
//!
//! The protocol, with the sync points named in the code (each pairs with the one its arrow
//! points to; `tests/loom_channel.rs` models every one):
//!
//! ```text
//! shell (post n)                               daemon (take n, reply n)
//! [reply n-1 not taken:]                       load req.seq (not WRITING); fence(Acquire)
//!   store req.seq = n | WRITING                                                [C3] ◄─ C2
//!   fence(Release)               [C1] ──┐      copy request n (inline or slot)
//! write request n, meta                 └────► fence(Acquire); req.seq still n?  [C4]
//! store req.seq = n (Release)    [C2]          write reply n, meta
//! (take reply n)                               store rep.seq = n (Release)      [C5]
//! load rep.seq == n (Acquire)    [C6] ◄─ C5
//! copy reply n
//! (sleep for reply n)                          (wake)
//! sleeping = 1; fence(SeqCst)    [C7] ◄──────► fence(SeqCst) unless skipped;
//!   + membarrier (heavy)                       load sleeping                    [C8]
//! load rep.seq; futex_wait                     futex_wake if sleeping
//! ```
//!
//! [C7]/[C8] are a Dekker pair: either the shell sees the reply before it sleeps, or the
//! daemon sees `sleeping` and wakes it. A shell that sleeps with the asymmetric barrier says so
//! in its request (`SHELL_HEAVY`), and a registered daemon then makes only a compiler fence at
//! [C8] (`venom_shm::barrier` has the argument). [C9]/[C10] (below, [`Owed`]) keep a late
//! reply from another thread out of a reply being written or read.

use venom_shm::sync::{AtomicU32, AtomicU64, Ordering, fence, spin_hint};

use venom_shm::atomic_bytes::{load_bytes, store_bytes};
use venom_shm::{barrier, wait};

use crate::error::{Error, Result};

/// Bytes of a request or reply carried inside its header line.
pub(crate) const INLINE: usize = 56;
/// Bit 31 of the reply's `meta`: the handler's reply exceeded the response size.
const TOO_LARGE: u32 = 1 << 31;
/// Bit 31 of the request's `meta`: the shell busy-polls for this reply and never sleeps, so
/// the daemon skips the wake-up check (and its fence).
const SHELL_BUSY: u32 = 1 << 31;
/// Bit 30 of the request's `meta`: the shell sleeps with the asymmetric barrier, so a
/// registered daemon's wake-up check needs no full fence.
const SHELL_HEAVY: u32 = 1 << 30;
/// Bits of the request's `meta` that hold its length.
const LEN_MASK: u32 = SHELL_HEAVY - 1;
/// Bit 31 of the request's `seq`: the shell is writing this request.
const WRITING_REQUEST: u32 = 1 << 31;
/// Request numbers are 31 bits (bit 31 of the header word is [`WRITING_REQUEST`]).
pub(crate) const SEQ_MASK: u32 = WRITING_REQUEST - 1;

/// How a shell waits for its reply: what the daemon's wake-up check after replying needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShellWait {
    /// It busy-polls and never sleeps: no check at all.
    pub(crate) busy: bool,
    /// It sleeps with the asymmetric barrier (`venom_shm::barrier::heavy`).
    pub(crate) heavy: bool,
}

/// The bits of [`ShellWait`] in a request's `meta` (and, shifted up 32, in an [`Owed`]).
const WAIT_BITS: u32 = SHELL_BUSY | SHELL_HEAVY;

impl ShellWait {
    /// How this process's shells wait, busy-polling or not.
    pub(crate) fn of_this_process(busy: bool) -> Self {
        Self {
            busy,
            heavy: barrier::registered(),
        }
    }

    /// As bits of a request's `meta` ([`SHELL_BUSY`], [`SHELL_HEAVY`]).
    fn bits(self) -> u32 {
        let busy = if self.busy { SHELL_BUSY } else { 0 };
        let heavy = if self.heavy { SHELL_HEAVY } else { 0 };
        busy | heavy
    }

    /// From bits of a request's `meta` (others ignored).
    fn from_bits(bits: u32) -> Self {
        Self {
            busy: bits & SHELL_BUSY != 0,
            heavy: bits & SHELL_HEAVY != 0,
        }
    }
}

/// A cell header line: a sequence number, a meta word and the inline bytes.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct CellHeader {
    /// Sequence number of the newest request (request header; bit 31 while it is written) or
    /// reply (reply header).
    seq: AtomicU32,
    /// Length of the request and [`SHELL_BUSY`], [`SHELL_HEAVY`]; for a reply, its length and
    /// [`TOO_LARGE`].
    meta: AtomicU32,
    /// A request or reply of at most [`INLINE`] bytes.
    inline: [AtomicU64; INLINE / 8],
}

/// The line the shell writes when it sleeps (apart from the request line, which the daemon
/// polls, and from the reply line, which the daemon writes).
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct ShellLine {
    /// 1 while the shell sleeps (or is about to) on the reply header's `seq`.
    sleeping: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<CellHeader>() == LINE);
    assert!(core::mem::offset_of!(CellHeader, inline) == LINE - INLINE);
    assert!(core::mem::size_of::<ShellLine>() == LINE);
};

const LINE: usize = 64;

fn round64(n: usize) -> Option<usize> {
    n.checked_add(LINE - 1).map(|v| v & !(LINE - 1))
}

/// Where the parts of a cell start: the request header, the reply header, the shell line,
/// then the request slot and the reply slot.
const REQUEST_AT: usize = 0;
const REPLY_AT: usize = LINE;
const SHELL_AT: usize = 2 * LINE;
const SLOTS_AT: usize = 3 * LINE;

/// Bytes of a slot for payloads of up to `capacity` bytes: none if they all fit inline.
fn slot_bytes(capacity: usize) -> Option<usize> {
    if capacity <= INLINE {
        Some(0)
    } else {
        round64(capacity)
    }
}

/// Sizes of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellGeometry {
    pub(crate) request_capacity: usize,
    pub(crate) reply_capacity: usize,
}

impl CellGeometry {
    /// Bytes of one cell (a multiple of 64), `None` on overflow.
    pub(crate) fn stride(&self) -> Option<usize> {
        let req = slot_bytes(self.request_capacity)?;
        let rep = slot_bytes(self.reply_capacity)?;
        req.checked_add(rep)?.checked_add(SLOTS_AT)
    }
}

/// A view of one client's cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell<'a> {
    request: &'a CellHeader,
    request_slot: &'a [AtomicU64],
    reply: &'a CellHeader,
    reply_slot: &'a [AtomicU64],
    shell: &'a ShellLine,
    geometry: CellGeometry,
}

/// Where a payload of `len` bytes lives: in its header line, or in the slot.
fn place<'a>(header: &'a CellHeader, slot: &'a [AtomicU64], len: usize) -> &'a [AtomicU64] {
    if len <= INLINE { &header.inline } else { slot }
}

impl<'a> Cell<'a> {
    /// # Safety
    /// `base` points to `geometry.stride()` bytes, 64-aligned, valid for `'a`, accessed only
    /// atomically by every process.
    pub(crate) unsafe fn at(base: *mut u8, geometry: CellGeometry) -> Self {
        let req = slot_bytes(geometry.request_capacity).unwrap_or(0);
        let rep = slot_bytes(geometry.reply_capacity).unwrap_or(0);
        let words = |off: usize, len: usize| {
            // SAFETY: each slot lies inside the cell (the caller's `stride` bytes), 64-aligned,
            // atomics only, for `'a`.
            unsafe { core::slice::from_raw_parts(base.add(off).cast::<AtomicU64>(), len / 8) }
        };
        let line = |off: usize| {
            // SAFETY: as above; a line is 64 bytes at a 64-aligned offset inside the cell.
            unsafe { base.add(off) }
        };
        // SAFETY: the cell's first three lines (`REQUEST_AT`, `REPLY_AT`, `SHELL_AT`, all below
        // `SLOTS_AT` and so inside the caller's `stride` bytes): two headers and the shell line
        // (64 bytes each, 64-aligned), atomics only, for `'a`.
        let (request, reply, shell) = unsafe {
            (
                &*line(REQUEST_AT).cast::<CellHeader>(),
                &*line(REPLY_AT).cast::<CellHeader>(),
                &*line(SHELL_AT).cast::<ShellLine>(),
            )
        };
        Self {
            request,
            request_slot: words(SLOTS_AT, req),
            reply,
            reply_slot: words(SLOTS_AT + req, rep),
            shell,
            geometry,
        }
    }

    /// A cell over headers and slots that are not laid out in one region (loom models, whose
    /// atomics cannot be cast from bytes). Each slot holds at least its capacity in words.
    #[cfg(loom)]
    pub(crate) fn from_parts(
        request: &'a CellHeader,
        request_slot: &'a [AtomicU64],
        reply: &'a CellHeader,
        reply_slot: &'a [AtomicU64],
        shell: &'a ShellLine,
        geometry: CellGeometry,
    ) -> Self {
        Self {
            request,
            request_slot,
            reply,
            reply_slot,
            shell,
            geometry,
        }
    }

    /// Most bytes of a reply.
    pub(crate) fn reply_capacity(&self) -> usize {
        self.geometry.reply_capacity
    }

    // ---- shell side ----

    /// The sequence number of the newest request posted (a new holder of the entry continues
    /// from it, so a reply meant for an earlier holder is never taken for its own).
    pub(crate) fn request_seq(&self) -> u32 {
        self.request.seq.load(Ordering::Relaxed) & SEQ_MASK
    }

    /// Whether the reply to `seq` has arrived (a hint: [`take_reply`](Self::take_reply) reads it).
    pub(crate) fn has_reply(&self, seq: u32) -> bool {
        self.reply.seq.load(Ordering::Relaxed) == seq
    }

    /// Posts request `seq` (the shell that owns the cell; one request at a time). `wait`: how
    /// the shell will wait for the reply. `answered`: the shell took the reply to its previous
    /// request, so the daemon no longer reads it (otherwise the header is marked first).
    pub(crate) fn post(&self, seq: u32, cmd: &[u8], wait: ShellWait, answered: bool) {
        debug_assert!(cmd.len() <= self.geometry.request_capacity);
        debug_assert!(seq & WRITING_REQUEST == 0);
        if !answered {
            self.request
                .seq
                .store(seq | WRITING_REQUEST, Ordering::Relaxed);
            // SYNC POINT [C1]: orders the marker before this request's bytes, for a daemon
            // still copying the previous request (it re-checks the header after, [C4]).
            fence(Ordering::Release);
        }
        store_bytes(place(self.request, self.request_slot, cmd.len()), 0, cmd);
        self.request
            .meta
            .store(cmd.len() as u32 | wait.bits(), Ordering::Relaxed);
        // SYNC POINT [C2]: publishes the bytes to the daemon's Acquire look at the header [C3].
        self.request.seq.store(seq, Ordering::Release);
    }

    /// The reply to `seq`, copied into `resp`, if it has arrived.
    ///
    /// # Errors
    /// [`Error::TooLarge`] (the handler's reply exceeded the response size),
    /// [`Error::BufferTooSmall`] (nothing copied), [`Error::Corrupt`].
    pub(crate) fn take_reply(&self, seq: u32, resp: &mut [u8]) -> Result<Option<usize>> {
        // SYNC POINT [C6]: pairs with the daemon's Release store of the reply header [C5].
        if self.reply.seq.load(Ordering::Acquire) != seq {
            return Ok(None);
        }
        let meta = self.reply.meta.load(Ordering::Relaxed);
        let len = (meta & !TOO_LARGE) as usize;
        if meta & TOO_LARGE != 0 {
            return Err(Error::TooLarge {
                len,
                max: self.geometry.reply_capacity,
            });
        }
        if len > self.geometry.reply_capacity {
            return Err(Error::Corrupt {
                reason: "reply longer than the response size",
            });
        }
        let got = resp.len();
        let dst = resp
            .get_mut(..len)
            .ok_or(Error::BufferTooSmall { needed: len, got })?;
        // No re-check after the copy: nothing writes this reply again before the shell posts
        // request `seq + 1` (the daemon owes a cell its next request only once every reply
        // to it is written: [`Owed`]).
        load_bytes(place(self.reply, self.reply_slot, len), 0, dst);
        Ok(Some(len))
    }

    // ---- daemon side ----

    /// The newest request's sequence number, claimed length, and how its shell waits, if it
    /// differs from `taken` and is not being written.
    pub(crate) fn pending(&self, taken: u32) -> Option<(u32, usize, ShellWait)> {
        let seq = self.request.seq.load(Ordering::Relaxed);
        if seq == taken || seq & WRITING_REQUEST != 0 {
            return None;
        }
        // SYNC POINT [C3]: with the Relaxed load above, acquires the shell's Release store of
        // `seq` [C2].
        fence(Ordering::Acquire);
        let meta = self.request.meta.load(Ordering::Relaxed);
        Some((seq, (meta & LEN_MASK) as usize, ShellWait::from_bits(meta)))
    }

    /// Copies request `seq` (of `len` bytes, from [`pending`](Self::pending)) into `dst`;
    /// `Ok(false)` if the shell replaced it meanwhile.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if `len` exceeds the request capacity (a hostile or broken shell).
    pub(crate) fn copy_request(&self, seq: u32, len: usize, dst: &mut [u8]) -> Result<bool> {
        if len > self.geometry.request_capacity || len > dst.len() {
            return Err(Error::Corrupt {
                reason: "request longer than the channel allows",
            });
        }
        load_bytes(
            place(self.request, self.request_slot, len),
            0,
            &mut dst[..len],
        );
        // SYNC POINT [C4]: pairs with the shell's Release fence after its marker [C1].
        fence(Ordering::Acquire);
        Ok(self.request.seq.load(Ordering::Relaxed) == seq)
    }

    /// Answers request `seq` (the daemon, once per request) and wakes the shell if it sleeps
    /// (not checked if the shell said it busy-polls); `true` if it woke the shell.
    pub(crate) fn write_reply(&self, seq: u32, bytes: &[u8], wait: ShellWait) -> bool {
        let fits = bytes.len() <= self.geometry.reply_capacity;
        let meta = if fits {
            store_bytes(place(self.reply, self.reply_slot, bytes.len()), 0, bytes);
            bytes.len() as u32
        } else {
            (bytes.len().min((TOO_LARGE - 1) as usize) as u32) | TOO_LARGE
        };
        self.reply.meta.store(meta, Ordering::Relaxed);
        // SYNC POINT [C5]: publishes the reply to the shell's Acquire load in `take_reply` [C6].
        self.reply.seq.store(seq, Ordering::Release);
        if wait.busy {
            return false;
        }
        if !barrier::skip_fence(wait.heavy) {
            // SYNC POINT [C8]: Dekker pair with the shell's fence in `announce_sleep` [C7]:
            // either it sees the reply, or this load sees it asleep.
            fence(Ordering::SeqCst);
        }
        let asleep = self.shell.sleeping.load(Ordering::Relaxed) != 0;
        if asleep {
            wait::futex_wake_all(&self.reply.seq);
        }
        asleep
    }

    /// Wakes a shell sleeping for its reply (the daemon, when it closes the channel).
    pub(crate) fn wake(&self) {
        wait::futex_wake_all(&self.reply.seq);
    }

    /// The shell's nap while its reply has not come: announces itself, re-checks, sleeps on the
    /// reply header for at most `nap`.
    pub(crate) fn sleep_for_reply(&self, seq: u32, nap: std::time::Duration) {
        if let Some((word, now)) = self.announce_sleep(seq) {
            wait::futex_wait(word, now, Some(nap));
            self.end_sleep();
        }
    }

    /// The first half of [`sleep_for_reply`](Self::sleep_for_reply), for a shell that sleeps
    /// elsewhere (an async reactor): unless the reply header has moved on, announces the shell
    /// as sleeping and returns the word to sleep on and the value it holds. Call
    /// [`end_sleep`](Self::end_sleep) after the sleep.
    pub(crate) fn announce_sleep(&self, seq: u32) -> Option<(&'a AtomicU32, u32)> {
        let now = self.reply.seq.load(Ordering::Relaxed);
        if now == seq {
            return None;
        }
        self.shell.sleeping.store(1, Ordering::Relaxed);
        // SYNC POINT [C7]: Dekker pair with the daemon's fence in `write_reply` [C8]; `heavy`
        // makes it pair with a daemon that skipped that fence (`venom_shm::barrier`).
        fence(Ordering::SeqCst);
        barrier::heavy();
        if self.reply.seq.load(Ordering::Relaxed) != now {
            self.end_sleep();
            return None;
        }
        Some((&self.reply.seq, now))
    }

    /// The shell no longer sleeps for its reply.
    pub(crate) fn end_sleep(&self) {
        self.shell.sleeping.store(0, Ordering::Relaxed);
    }
}

/// The one reply the daemon owes a cell: `OWED | seq` (and how the shell waits) from the moment the
/// receiver takes request `seq` until a reply claims it; `WRITING | seq` while that reply is
/// written. Replies may come from any thread, at any time: the claim is a compare-and-swap, so
/// exactly one of them writes; and the receiver owes the cell's next request only once no reply
/// is being written, so a late reply (a thread that claimed request `n`, then stalled while its
/// shell gave up and posted `n + 1`) can never write the cell's reply while the reply to
/// `n + 1` is written there or read.
///
/// ```text
/// replier:  CAS OWED|n → WRITING|n; write reply n; store 0 (Release)   [C9] ─┐
/// receiver: load (Acquire), wait while WRITING; CAS → OWED|n+1         [C10] ◄┘
/// ```
#[derive(Debug, Default)]
pub(crate) struct Owed(AtomicU64);

/// Marks an [`Owed`] as holding a sequence number (low 32 bits).
const OWED: u64 = 1 << 32;
/// In an [`Owed`]: the reply is being written.
const WRITING: u64 = 1 << 34;
/// Where an [`Owed`] keeps how the shell waits: [`WAIT_BITS`] shifted up 32 (bits 62, 63).
const OWED_WAIT_SHIFT: u32 = 32;

impl Owed {
    /// The receiver took request `seq` of this cell: it is owed a reply (after any reply still
    /// being written to an earlier request is done).
    pub(crate) fn owe(&self, seq: u32, wait: ShellWait) {
        let how = u64::from(wait.bits()) << OWED_WAIT_SHIFT;
        let mut spins = 0u32;
        loop {
            // SYNC POINT [C10]: pairs with the end of a reply's write [C9]: the late reply
            // happens before anything the daemon does with this request (its reply, which
            // reuses the late reply's place).
            let now = self.0.load(Ordering::Acquire);
            if now == 0 {
                // Nothing owed and nothing being written: only the receiver (this thread)
                // changes the word from here, so a plain store claims it (no locked
                // instruction on the request path).
                self.0.store(OWED | how | u64::from(seq), Ordering::Relaxed);
                return;
            }
            if now & WRITING == 0
                && self
                    .0
                    .compare_exchange(
                        now,
                        OWED | how | u64::from(seq),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                return;
            }
            // Another thread is copying a reply of at most `response_size` bytes.
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) {
                #[cfg(not(loom))]
                std::thread::yield_now();
            }
            spin_hint();
        }
    }

    /// Claims the one reply to request `seq` and writes it with `write(how the shell waits)`;
    /// `false` (nothing written) if it is not owed: answered already, or given up on.
    pub(crate) fn settle(&self, seq: u32, write: impl FnOnce(ShellWait)) -> bool {
        let now = self.0.load(Ordering::Relaxed);
        let claimed = now & !(u64::from(WAIT_BITS) << OWED_WAIT_SHIFT) == OWED | u64::from(seq)
            && self
                .0
                .compare_exchange(
                    now,
                    WRITING | u64::from(seq),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if claimed {
            write(ShellWait::from_bits((now >> OWED_WAIT_SHIFT) as u32));
            // SYNC POINT [C9]: the reply's writes happen before the receiver owes this
            // cell its next request [C10].
            self.0.store(0, Ordering::Release);
        }
        claimed
    }
}
