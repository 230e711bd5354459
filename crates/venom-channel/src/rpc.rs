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
//! request header  (64 B)   seq: u32 (shell), len: u32
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
//! once; a late reply the shell no longer waits for goes to the other slot or is dropped.

use venom_shm::sync::{AtomicU32, AtomicU64, Ordering, fence};

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
#[derive(Debug)]
pub(crate) struct CellHeader {
    /// Sequence number of the newest request (request header) or reply (reply header).
    seq: AtomicU32,
    /// Length of the request and [`SHELL_BUSY`]; for a reply, its length and [`TOO_LARGE`].
    meta: AtomicU32,
    /// Reply header only: the shell sleeps on `seq` (futex) and set this first.
    sleeping: AtomicU32,
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
        // SYNC POINT: orders the previous `seq` store before this slot's bytes, for a daemon
        // still copying the request two back from this slot (it re-checks the header).
        fence(Ordering::Release);
        store_bytes(self.request_slots[(seq & 1) as usize], 0, cmd);
        let busy = if busy { SHELL_BUSY } else { 0 };
        self.request
            .meta
            .store(cmd.len() as u32 | busy, Ordering::Relaxed);
        // SYNC POINT: publishes the bytes to the daemon's Acquire load of the header.
        self.request.seq.store(seq, Ordering::Release);
    }

    /// The reply to `seq`, copied into `resp`, if it has arrived.
    ///
    /// # Errors
    /// [`Error::TooLarge`] (the handler's reply exceeded the response size),
    /// [`Error::BufferTooSmall`] (nothing copied), [`Error::Corrupt`].
    pub(crate) fn take_reply(&self, seq: u32, resp: &mut [u8]) -> Result<Option<usize>> {
        // SYNC POINT: pairs with the daemon's Release store of the reply header.
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
        load_bytes(self.reply_slots[(seq & 1) as usize], 0, dst);
        // SYNC POINT: pairs with the daemon's Release fence before it writes a slot: if the
        // copy saw a later reply's bytes, the header below has moved on.
        fence(Ordering::Acquire);
        if self.reply.seq.load(Ordering::Relaxed) != seq {
            return Err(Error::Corrupt {
                reason: "reply overwritten while it was read",
            });
        }
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
        // SYNC POINT: with the Relaxed load above, acquires the shell's Release store of `seq`.
        fence(Ordering::Acquire);
        let meta = self.request.meta.load(Ordering::Relaxed);
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
        // SYNC POINT: pairs with the shell's Release fence before it writes a slot.
        fence(Ordering::Acquire);
        Ok(self.request.seq.load(Ordering::Relaxed) == seq)
    }

    /// Answers request `seq` (the daemon, once per request) and wakes the shell if it sleeps
    /// (not checked if the shell said it busy-polls).
    pub(crate) fn write_reply(&self, seq: u32, bytes: &[u8], shell_busy: bool) {
        let fits = bytes.len() <= self.geometry.reply_capacity;
        // SYNC POINT: see `post`.
        fence(Ordering::Release);
        let meta = if fits {
            store_bytes(self.reply_slots[(seq & 1) as usize], 0, bytes);
            bytes.len() as u32
        } else {
            (bytes.len().min((TOO_LARGE - 1) as usize) as u32) | TOO_LARGE
        };
        self.reply.meta.store(meta, Ordering::Relaxed);
        // SYNC POINT: publishes the reply to the shell's Acquire load in `take_reply`.
        self.reply.seq.store(seq, Ordering::Release);
        if shell_busy {
            return;
        }
        // SYNC POINT: Dekker pair with the shell's fence in `sleep_for_reply`: either it sees
        // the reply, or this load sees it asleep.
        fence(Ordering::SeqCst);
        if self.reply.sleeping.load(Ordering::Relaxed) != 0 {
            wait::futex_wake_all(&self.reply.seq);
        }
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
        // SYNC POINT: Dekker pair with the daemon's fence in `write_reply`.
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
