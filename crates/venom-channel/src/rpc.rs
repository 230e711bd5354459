//! Per-client request/reply cells: how `ShellChannel::request` reaches the daemon without the
//! shared command queue.
//!
//! Each registry entry owns one cell. The shell writes request `n` into request slot `n % 2`,
//! then stores `n` in the request header; the daemon, polling the headers, copies the request
//! out, checks the header again, and answers into reply slot `n % 2` before storing `n` in the
//! reply header. A round trip touches the two header lines and the slots it fills: no line
//! shared with other clients (the command queue's tail and slots) is written.
//!
//! ```text
//! request header  (64 B)   seq: u32 (shell), meta: u32 (slot 0: len, bit 31: shell busy),
//!                          sleeping: u32 (unused), meta_odd: u32 (slot 1)
//! request slot 0, 1        request_capacity bytes each, rounded up to 64
//! reply header    (64 B)   seq: u32 (daemon; the shell's futex word), meta: u32 (len, bit 31:
//!                          too large), sleeping: u32 (shell)
//! reply slot 0, 1          response_size bytes each, rounded up to 64
//! ```
//!
//! Why two slots and no odd "writing" marker: one side writes a slot only for a sequence
//! number the other side has moved past. The shell posts `n + 2` into slot `n % 2` only after
//! posting `n + 1`, and a daemon still copying request `n` then sees the header changed
//! (the shell's `Release` fence before it writes the slot pairs with the daemon's `Acquire`
//! fence after copying). The daemon replies only to the request it took last from that cell,
//! once (the one owed reply is claimed with a compare-and-swap, [`Owed`], so replies from
//! several threads cannot both write); a late reply the shell no longer waits for goes to the
//! other slot or is dropped.
//!
//! The protocol, with the sync points named in the code (each pairs with the one its arrow
//! points to; `tests/loom_channel.rs` models every one):
//!
//! ```text
//! shell (post n)                               daemon (take n, reply n)
//! fence(Release)                 [C1] ──┐      load req.seq; fence(Acquire)     [C3] ◄─ C2
//! write request slot n % 2              │      copy request slot n % 2
//! store req.seq = n (Release)    [C2]   └────► fence(Acquire); req.seq still n?  [C4]
//!                                              write reply slot n % 2
//! (take reply n)                               store rep.seq = n (Release)      [C5]
//! load rep.seq == n (Acquire)    [C6] ◄─ C5
//! copy reply slot n % 2
//! (sleep for reply n)                          (wake)
//! sleeping = 1; fence(SeqCst)    [C7] ◄──────► fence(SeqCst); load sleeping     [C8]
//! load rep.seq; futex_wait                     futex_wake if sleeping
//! ```
//!
//! [C7]/[C8] are a Dekker pair: either the shell sees the reply before it sleeps, or the
//! daemon sees `sleeping` and wakes it. [C9]/[C10] (below, [`Owed`]) keep a late reply from
//! another thread out of a slot that is reused.

use venom_shm::sync::{AtomicU32, AtomicU64, Ordering, fence, spin_hint};

use venom_shm::atomic_bytes::{load_bytes, store_bytes};
use venom_shm::wait;

use crate::error::{Error, Result};

/// Bit 31 of the reply's `meta`: the handler's reply exceeded the response size.
const TOO_LARGE: u32 = 1 << 31;
/// Bit 31 of the request's `meta`: the shell busy-polls for this reply and never sleeps, so
/// the daemon skips the wake-up check (and its full fence).
const SHELL_BUSY: u32 = 1 << 31;

/// A cell header line.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct CellHeader {
    /// Sequence number of the newest request (request header) or reply (reply header).
    seq: AtomicU32,
    /// Length of the request and [`SHELL_BUSY`]; for a reply, its length and [`TOO_LARGE`].
    meta: AtomicU32,
    /// Reply header only: the shell sleeps on `seq` (futex) and set this first.
    sleeping: AtomicU32,
    /// Request header only: `meta` of the request in slot 1 (`meta` is slot 0's). One per
    /// slot, so a daemon still copying request `n` never pairs it with the length of request
    /// `n + 1`: the re-check after the copy covers the length as it covers the bytes.
    meta_odd: AtomicU32,
}

impl CellHeader {
    /// The request header's `meta` for request `seq`'s slot.
    fn request_meta(&self, seq: u32) -> &AtomicU32 {
        if seq & 1 == 0 {
            &self.meta
        } else {
            &self.meta_odd
        }
    }
}

const LINE: usize = 64;

fn round64(n: usize) -> Option<usize> {
    n.checked_add(LINE - 1).map(|v| v & !(LINE - 1))
}

/// Sizes of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellGeometry {
    pub(crate) request_capacity: usize,
    pub(crate) reply_capacity: usize,
}

impl CellGeometry {
    fn request_slot(&self) -> Option<usize> {
        round64(self.request_capacity.max(1))
    }
    fn reply_slot(&self) -> Option<usize> {
        round64(self.reply_capacity.max(1))
    }
    /// Bytes of one cell (a multiple of 64), `None` on overflow.
    pub(crate) fn stride(&self) -> Option<usize> {
        let req = self.request_slot()?.checked_mul(2)?;
        let rep = self.reply_slot()?.checked_mul(2)?;
        req.checked_add(rep)?.checked_add(2 * LINE)
    }
}

/// A view of one client's cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell<'a> {
    request: &'a CellHeader,
    request_slots: [&'a [AtomicU64]; 2],
    reply: &'a CellHeader,
    reply_slots: [&'a [AtomicU64]; 2],
    geometry: CellGeometry,
}

impl<'a> Cell<'a> {
    /// # Safety
    /// `base` points to `geometry.stride()` bytes, 64-aligned, valid for `'a`, accessed only
    /// atomically by every process.
    pub(crate) unsafe fn at(base: *mut u8, geometry: CellGeometry) -> Self {
        let (req, rep) = (
            geometry.request_slot().unwrap_or(0),
            geometry.reply_slot().unwrap_or(0),
        );
        let words = |off: usize, len: usize| {
            // SAFETY: each slot lies inside the cell (the caller's `stride` bytes), 64-aligned,
            // atomics only, for `'a`.
            unsafe { core::slice::from_raw_parts(base.add(off).cast::<AtomicU64>(), len / 8) }
        };
        let header = |off: usize| {
            // SAFETY: as above; a header is 64 bytes at a 64-aligned offset.
            unsafe { &*base.add(off).cast::<CellHeader>() }
        };
        let reply_at = LINE + 2 * req;
        Self {
            request: header(0),
            request_slots: [words(LINE, req), words(LINE + req, req)],
            reply: header(reply_at),
            reply_slots: [
                words(reply_at + LINE, rep),
                words(reply_at + LINE + rep, rep),
            ],
            geometry,
        }
    }

    /// A cell over headers and slots that are not laid out in one region (loom models, whose
    /// atomics cannot be cast from bytes). Each slot holds at least its capacity in words.
    #[cfg(loom)]
    pub(crate) fn from_parts(
        request: &'a CellHeader,
        request_slots: [&'a [AtomicU64]; 2],
        reply: &'a CellHeader,
        reply_slots: [&'a [AtomicU64]; 2],
        geometry: CellGeometry,
    ) -> Self {
        Self {
            request,
            request_slots,
            reply,
            reply_slots,
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
        self.request.seq.load(Ordering::Relaxed)
    }

    /// Whether the reply to `seq` has arrived (a hint: [`take_reply`](Self::take_reply) reads it).
    pub(crate) fn has_reply(&self, seq: u32) -> bool {
        self.reply.seq.load(Ordering::Relaxed) == seq
    }

    /// Posts request `seq` (the shell that owns the cell; one request at a time). `busy`: the
    /// shell will not sleep while it waits for the reply.
    pub(crate) fn post(&self, seq: u32, cmd: &[u8], busy: bool) {
        debug_assert!(cmd.len() <= self.geometry.request_capacity);
        // SYNC POINT [C1]: orders the previous `seq` store before this slot's bytes, for a daemon
        // still copying the request two back from this slot (it re-checks the header, [C4]).
        fence(Ordering::Release);
        store_bytes(self.request_slots[(seq & 1) as usize], 0, cmd);
        let busy = if busy { SHELL_BUSY } else { 0 };
        self.request
            .request_meta(seq)
            .store(cmd.len() as u32 | busy, Ordering::Relaxed);
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
        // No re-check after the copy: nothing writes this slot again before the shell posts
        // request `seq + 2` (the daemon owes a cell its next request only once every reply
        // to it is written: [`Owed`]).
        load_bytes(self.reply_slots[(seq & 1) as usize], 0, dst);
        Ok(Some(len))
    }

    // ---- daemon side ----

    /// The newest request's sequence number, claimed length, and whether its shell busy-polls,
    /// if it differs from `taken`.
    pub(crate) fn pending(&self, taken: u32) -> Option<(u32, usize, bool)> {
        let seq = self.request.seq.load(Ordering::Relaxed);
        if seq == taken {
            return None;
        }
        // SYNC POINT [C3]: with the Relaxed load above, acquires the shell's Release store of
        // `seq` [C2].
        fence(Ordering::Acquire);
        let meta = self.request.request_meta(seq).load(Ordering::Relaxed);
        Some((seq, (meta & !SHELL_BUSY) as usize, meta & SHELL_BUSY != 0))
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
        load_bytes(self.request_slots[(seq & 1) as usize], 0, &mut dst[..len]);
        // SYNC POINT [C4]: pairs with the shell's Release fence before it writes a slot [C1].
        fence(Ordering::Acquire);
        Ok(self.request.seq.load(Ordering::Relaxed) == seq)
    }

    /// Answers request `seq` (the daemon, once per request) and wakes the shell if it sleeps
    /// (not checked if the shell said it busy-polls); `true` if it woke the shell.
    pub(crate) fn write_reply(&self, seq: u32, bytes: &[u8], shell_busy: bool) -> bool {
        let fits = bytes.len() <= self.geometry.reply_capacity;
        let meta = if fits {
            store_bytes(self.reply_slots[(seq & 1) as usize], 0, bytes);
            bytes.len() as u32
        } else {
            (bytes.len().min((TOO_LARGE - 1) as usize) as u32) | TOO_LARGE
        };
        self.reply.meta.store(meta, Ordering::Relaxed);
        // SYNC POINT [C5]: publishes the reply to the shell's Acquire load in `take_reply` [C6].
        self.reply.seq.store(seq, Ordering::Release);
        if shell_busy {
            return false;
        }
        // SYNC POINT [C8]: Dekker pair with the shell's fence in `announce_sleep` [C7]: either
        // it sees the reply, or this load sees it asleep.
        fence(Ordering::SeqCst);
        let asleep = self.reply.sleeping.load(Ordering::Relaxed) != 0;
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
        self.reply.sleeping.store(1, Ordering::Relaxed);
        // SYNC POINT [C7]: Dekker pair with the daemon's fence in `write_reply` [C8].
        fence(Ordering::SeqCst);
        if self.reply.seq.load(Ordering::Relaxed) != now {
            self.end_sleep();
            return None;
        }
        Some((&self.reply.seq, now))
    }

    /// The shell no longer sleeps for its reply.
    pub(crate) fn end_sleep(&self) {
        self.reply.sleeping.store(0, Ordering::Relaxed);
    }
}

/// The one reply the daemon owes a cell: `OWED | seq` (and [`OWED_BUSY`]) from the moment the
/// receiver takes request `seq` until a reply claims it; `WRITING | seq` while that reply is
/// written. Replies may come from any thread, at any time: the claim is a compare-and-swap, so
/// exactly one of them writes; and the receiver owes the cell's next request only once no reply
/// is being written, so a late reply (a thread that claimed request `n`, then stalled while its
/// shell gave up and posted `n + 1` and `n + 2`) can never write slot `n % 2` while the reply to
/// `n + 2` is written there or read.
///
/// ```text
/// replier:  CAS OWED|n → WRITING|n; write reply n; store 0 (Release)   [C9] ─┐
/// receiver: load (Acquire), wait while WRITING; CAS → OWED|n+1         [C10] ◄┘
/// ```
#[derive(Debug, Default)]
pub(crate) struct Owed(AtomicU64);

/// Marks an [`Owed`] as holding a sequence number (low 32 bits).
const OWED: u64 = 1 << 32;
/// In an [`Owed`]: the shell busy-polls for the reply.
const OWED_BUSY: u64 = 1 << 33;
/// In an [`Owed`]: the reply is being written.
const WRITING: u64 = 1 << 34;

impl Owed {
    /// The receiver took request `seq` of this cell: it is owed a reply (after any reply still
    /// being written to an earlier request is done).
    pub(crate) fn owe(&self, seq: u32, shell_busy: bool) {
        let busy = if shell_busy { OWED_BUSY } else { 0 };
        let mut spins = 0u32;
        loop {
            // SYNC POINT [C10]: pairs with the end of a reply's write [C9]: the late reply
            // happens before anything the daemon does with this request (its reply, and the
            // next request's, which reuses the late reply's slot).
            let now = self.0.load(Ordering::Acquire);
            if now & WRITING == 0
                && self
                    .0
                    .compare_exchange(
                        now,
                        OWED | busy | u64::from(seq),
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

    /// Claims the one reply to request `seq` and writes it with `write(shell busy-polls)`;
    /// `false` (nothing written) if it is not owed: answered already, or given up on.
    pub(crate) fn settle(&self, seq: u32, write: impl FnOnce(bool)) -> bool {
        let now = self.0.load(Ordering::Relaxed);
        let claimed = now & !OWED_BUSY == OWED | u64::from(seq)
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
            write(now & OWED_BUSY != 0);
            // SYNC POINT [C9]: the reply's slot writes happen before the receiver owes this
            // cell its next request [C10].
            self.0.store(0, Ordering::Release);
        }
        claimed
    }
}
