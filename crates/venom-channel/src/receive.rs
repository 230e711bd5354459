//! The daemon's receiving side: one [`Receiver`] that picks the next message — a queued
//! command or a request waiting in a client's cell — for every receive call of
//! [`DaemonChannel`](crate::DaemonChannel) (`try_recv_command`, `recv_command*`,
//! `try_recv_command_with`, `run`).
//!
//! A shell's fire-and-forget commands sent before a request reach the queue first, so while a
//! request waits, up to a queue's worth of queued messages is served before it; then the
//! request. Cells are scanned round robin from the one after the last request taken.

use std::mem;
use std::time::Duration;

use venom_mpsc::{Consumer, Received};
use venom_shm::sync::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::ids::{ClientId, RequestId};
use crate::layout::StatsLine;
use crate::rpc::{Owed, ShellWait};
use crate::views::{DIRECT_CELLS, Views};

/// Who sent a command, how long it is, and whether it awaits a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The sending shell.
    pub client_id: ClientId,
    /// Length of the command.
    pub len: usize,
    /// The request it belongs to, if the shell awaits a reply
    /// ([`DaemonChannel::reply`](crate::DaemonChannel::reply)).
    pub request_id: Option<RequestId>,
}

/// A command received, in place: read it with [`copy_to`](Self::copy_to) or
/// [`to_vec`](Self::to_vec).
#[derive(Debug)]
pub struct CommandView<'r, 'c, 'a> {
    body: Body<'r, 'c, 'a>,
}

#[derive(Debug)]
enum Body<'r, 'c, 'a> {
    /// A command, still in its queue slot.
    Queue(&'r Received<'c, 'a>),
    /// A request, copied out of its cell.
    Request(&'r [u8]),
}

impl CommandView<'_, '_, '_> {
    /// Length of the command.
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Queue(r) => r.len(),
            Body::Request(bytes) => bytes.len(),
        }
    }

    /// Whether the command is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the command to the start of `buf`; returns its length.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] (nothing copied).
    pub fn copy_to(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.len();
        let got = buf.len();
        let dst = buf
            .get_mut(..len)
            .ok_or(Error::BufferTooSmall { needed: len, got })?;
        match &self.body {
            Body::Queue(r) => r.read_at(0, dst)?,
            Body::Request(bytes) => dst.copy_from_slice(bytes),
        }
        Ok(len)
    }

    /// The command as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len()];
        let _ = self.copy_to(&mut v);
        v
    }
}

/// What the daemon owes (private) and has done (the shared counters line, readable by any
/// process without the receiver's lock; `abandoned` is the consumer's count, copied whenever
/// the receiver is released, so `stats` never waits for a `run` that sleeps holding it).
#[derive(Debug)]
pub(crate) struct Ledger {
    /// Per client: the one reply owed, if any.
    owed: Vec<Owed>,
    counters: &'static StatsLine,
}

impl core::ops::Deref for Ledger {
    type Target = StatsLine;
    fn deref(&self) -> &StatsLine {
        self.counters
    }
}

impl Ledger {
    /// The ledger of the channel whose views these are (a `Ledger` lives beside its `Views`,
    /// under the same promise).
    pub(crate) fn new(views: &Views) -> Self {
        Self {
            owed: (0..views.cells.len()).map(|_| Owed::default()).collect(),
            counters: views.stats,
        }
    }

    /// Counts a received command; called with the receiver locked, so a plain load and store
    /// (no locked instruction on the receive path) cannot lose a count.
    fn count(&self, counter: &AtomicU64) {
        let n = counter.load(Ordering::Relaxed);
        counter.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    /// Claims the one reply to request `seq` of `entry` and writes it with `write(how the
    /// shell waits)`; `false` if it was not owed (answered already, or given up on).
    pub(crate) fn settle(&self, entry: usize, seq: u32, write: impl FnOnce(ShellWait)) -> bool {
        self.owed.get(entry).is_some_and(|o| o.settle(seq, write))
    }
}

/// What a receive does with a message.
#[derive(Debug)]
pub(crate) enum Dest<'b> {
    /// Copy it into the buffer; a message that does not fit is dropped (and counted).
    CopyOrDrop(&'b mut [u8]),
    /// Copy it into the buffer; one that does not fit stays where it is
    /// ([`Error::BufferTooSmall`]).
    Copy(&'b mut [u8]),
    /// Hand it over in place (a request through the receiver's scratch buffer).
    InPlace,
}

/// A request waiting in a cell.
#[derive(Debug, Clone, Copy)]
struct Pending {
    entry: usize,
    seq: u32,
    len: usize,
    /// How the shell waits for the reply (what the wake-up check needs).
    wait: ShellWait,
}

/// What to receive next.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// Try the queue; if it holds nothing ready, this request (if any).
    Queue(Option<Pending>),
    /// This request.
    Request(Pending),
}

/// The queue's consumer role and the daemon's memory of each request cell.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub(crate) consumer: Consumer<'static>,
    cells: Cells,
    /// A request's bytes, for [`Dest::InPlace`].
    scratch: Vec<u8>,
}

/// The daemon's memory of the request cells.
#[derive(Debug)]
struct Cells {
    /// Per client: the sequence number of the last request taken from its cell.
    taken: Vec<u32>,
    /// Where the next scan of the cells starts (round robin).
    next_cell: usize,
    /// The request being held back, and how many queue messages may still be served before
    /// it (those its shell sent before it are among them).
    budget: Option<(usize, u32, u32)>,
    /// Polls that found the queue's head still being written (see [`Cells::stall`]).
    stalls: u32,
    /// The highest client high-water mark seen: the shared one can be scribbled lower, this
    /// one only grows (shells raise the shared one when they connect).
    hwm: usize,
    /// Cells that may hold a request not yet taken: bits taken from the shared summary (a bit
    /// per client, set by its shell after posting) and the first `DIRECT_CELLS` cells, cleared
    /// once the cell is seen idle.
    maybe: Vec<u64>,
    /// Looks since the last scan of every cell (see [`FULL_SCAN_EVERY`]).
    looks: u32,
}

/// Every this many looks for a request, the daemon scans every cell below the high-water
/// mark, not only those flagged in the summary: a summary bit cleared by a hostile or broken
/// process delays its request by at most that many looks (or one nap: a daemon about to sleep
/// always scans every cell). Cheap: one look in 1024 costs what every look cost before.
const FULL_SCAN_EVERY: u32 = 1024;

/// The longest the daemon sleeps between looks at its queue and cells.
pub(crate) const MAX_NAP: Duration = Duration::from_millis(100);

/// Polls of a head still being written that count as one served message.
const STALLS_PER_MESSAGE: u32 = 4096;

impl Receiver {
    pub(crate) fn new(consumer: Consumer<'static>, views: &Views) -> Self {
        Self {
            consumer,
            cells: Cells {
                taken: vec![0; views.cells.len()],
                next_cell: 0,
                budget: None,
                stalls: 0,
                hwm: 0,
                maybe: vec![0; views.summary.len()],
                looks: 0,
            },
            scratch: vec![0; views.queue.payload_size()],
        }
    }

    /// Sleeps on the queue's doorbell until a command or a request comes (their senders ring
    /// it; a request is looked for after the sleep was announced, so none is missed), the
    /// doorbell is rung without one, or `timeout` passes (`None`: no limit).
    ///
    /// A sleep never lasts longer than [`MAX_NAP`]: the flags that decide whether a sender
    /// rings (`daemon_busy`, the doorbell's `sleeping`) and the high-water mark are writable by
    /// any process, so a forged value may cost a request at most one nap, never its service.
    pub(crate) fn wait(&mut self, views: &Views, timeout: Option<Duration>) {
        about_to_sleep(views);
        let nap = timeout.map_or(MAX_NAP, |t| t.min(MAX_NAP));
        let Self {
            consumer, cells, ..
        } = self;
        let hwm = cells.hwm(views);
        let request_waiting = || first_pending(views, &cells.taken, 0, hwm).is_some();
        let _ = consumer.wait_until_timeout(nap, request_waiting);
    }

    /// [`wait`](Self::wait)'s announcement without the sleep, for a daemon that sleeps
    /// elsewhere (an async reactor).
    #[cfg(feature = "async")]
    pub(crate) fn register_sleeper(
        &mut self,
        views: &Views,
    ) -> venom_mpsc::Result<venom_mpsc::Wake<'static>> {
        about_to_sleep(views);
        let Self {
            consumer, cells, ..
        } = self;
        let hwm = cells.hwm(views);
        consumer.register_sleeper(|| first_pending(views, &cells.taken, 0, hwm).is_some())
    }

    /// Receives the next message without blocking, into `dest`, and hands it to `f`.
    /// `Ok(None)`: nothing to receive.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] for [`Dest::Copy`] (the message stays); [`Error::Corrupt`]
    /// for a corrupt message or request (dropped: the next call goes on).
    pub(crate) fn next<R>(
        &mut self,
        views: &Views,
        ledger: &Ledger,
        dest: &mut Dest<'_>,
        f: impl FnOnce(&CommandView<'_, '_, '_>, Command) -> R,
    ) -> Result<Option<R>> {
        let keep = matches!(dest, Dest::Copy(_));
        // Every round either delivers, drops a message (at most a queue's worth) or finds a
        // request replaced while copied (its cell is then passed over): bounded.
        let rounds = views.queue.capacity() as usize + views.cells.len() + 1;
        for _ in 0..rounds {
            let p = match self.cells.pick(views) {
                Pick::Request(p) => p,
                Pick::Queue(fallback) => {
                    let (got, queue_broken) = match self.consumer.try_recv_ref() {
                        Ok(got) => (got, false),
                        // A broken queue never holds a request back (the queue repairs itself
                        // over the next calls).
                        Err(_) if fallback.is_some() => (None, true),
                        Err(e) => return Err(e.into()),
                    };
                    if let Some(r) = got {
                        if fallback.is_some() {
                            self.cells.spend();
                        }
                        let cmd = match accept_queued(&r, views, ledger, dest) {
                            Ok(Some(cmd)) => cmd,
                            Ok(None) => continue, // dropped
                            Err(e) => {
                                mem::forget(r); // stays queued (too long for `dest`)
                                return Err(e);
                            }
                        };
                        ledger.count(&ledger.commands);
                        return Ok(Some(f(
                            &CommandView {
                                body: Body::Queue(&r),
                            },
                            cmd,
                        )));
                    }
                    match fallback {
                        // Nothing claimed in the queue (or the queue is broken): the request.
                        Some(p) if views.queue.len_hint() == 0 || queue_broken => p,
                        // A message claimed (maybe before the request) is still being
                        // written: its sender may be the request's, so wait for it — within
                        // the budget, which such polls spend too, slowly (a stalled or
                        // forged claim never holds requests back for good).
                        Some(_) => {
                            self.cells.stall();
                            return Ok(None);
                        }
                        None => return Ok(None),
                    }
                }
            };
            let dst = dest.buffer().unwrap_or(&mut self.scratch);
            if let Some(cmd) = self.cells.take_request(views, ledger, keep, p, dst)? {
                ledger.count(&ledger.commands);
                let view = CommandView {
                    body: Body::Request(&dst[..cmd.len]),
                };
                return Ok(Some(f(&view, cmd)));
            }
        }
        Ok(None)
    }
}

/// The daemon sleeps now: say so, whatever a scribbler wrote (a daemon that busy-polls never
/// gets here), and repair the headers.
fn about_to_sleep(views: &Views) {
    views.header.set_daemon_busy(false);
    views.restamp();
}

/// Checks a queued message against `dest` and copies it there: `Ok(None)` if it was dropped
/// (a forged sender, or too long for [`Dest::CopyOrDrop`]); an error if it is too long for
/// [`Dest::Copy`] (the caller leaves it queued).
fn accept_queued(
    r: &Received<'_, 'static>,
    views: &Views,
    ledger: &Ledger,
    dest: &mut Dest<'_>,
) -> Result<Option<Command>> {
    let keep = matches!(dest, Dest::Copy(_));
    let Some(client_id) = ClientId::new(r.sender()).filter(|id| id.entry() < views.cells.len())
    else {
        ledger.count(&ledger.dropped); // names no client of this channel
        return Ok(None);
    };
    let cmd = Command {
        client_id,
        len: r.len(),
        request_id: None,
    };
    if let Some(buf) = dest.buffer() {
        let got = buf.len();
        let Some(dst) = buf.get_mut(..cmd.len) else {
            if keep {
                return Err(too_small(cmd.len, got));
            }
            ledger.count(&ledger.dropped);
            return Ok(None);
        };
        // In bounds: `dst` is exactly the message's length.
        let _ = r.read_at(0, dst);
    }
    Ok(Some(cmd))
}

impl Cells {
    /// Copies request `p` into `dst`; `Ok(None)` if it was dropped (too long for `dst`, unless
    /// `keep`) or replaced by its shell meanwhile.
    fn take_request(
        &mut self,
        views: &Views,
        ledger: &Ledger,
        keep: bool,
        p: Pending,
        dst: &mut [u8],
    ) -> Result<Option<Command>> {
        if p.len > dst.len() && p.len <= views.queue.payload_size() {
            if keep {
                return Err(too_small(p.len, dst.len()));
            }
            self.mark_taken(p);
            ledger.count(&ledger.dropped);
            return Ok(None);
        }
        let copied = views.cells[p.entry].copy_request(p.seq, p.len, dst);
        if !matches!(copied, Ok(false)) {
            self.mark_taken(p);
        }
        if !copied? {
            // Replaced while copied: look at the other cells first (a shell that keeps
            // replacing its request cannot hold the others back).
            self.next_cell = p.entry + 1;
            return Ok(None);
        }
        ledger.owed[p.entry].owe(p.seq, p.wait);
        Ok(Some(Command {
            client_id: ClientId::of_entry(p.entry),
            len: p.len,
            request_id: Some(RequestId::new(p.seq)),
        }))
    }

    /// The clients' high-water mark: the larger of the shared one (read now) and the largest
    /// seen.
    fn hwm(&mut self, views: &Views) -> usize {
        self.hwm = self.hwm.max(views.registry.high_water_mark());
        self.hwm
    }

    /// Where to receive from next: the queue while it holds messages and the pending
    /// request's budget lasts (commands its shell sent before it are among those messages),
    /// else the request.
    fn pick(&mut self, views: &Views) -> Pick {
        let hwm = self.hwm(views);
        let Some(p) = self.find_pending(views, hwm) else {
            self.budget = None;
            return Pick::Queue(None);
        };
        // The budget belongs to one request, counted from when it was first seen (another
        // request, picked meanwhile, starts its own).
        let left = match self.budget {
            Some((entry, seq, left)) if (entry, seq) == (p.entry, p.seq) => left,
            _ => {
                let left = views.queue.capacity();
                self.budget = Some((p.entry, p.seq, left));
                left
            }
        };
        if left == 0 || views.queue.len_hint() == 0 {
            return Pick::Request(p);
        }
        Pick::Queue(Some(p))
    }

    /// The next pending request, round robin from `next_cell`: among the cells flagged in the
    /// summary, or — every [`FULL_SCAN_EVERY`] looks — among all cells below `hwm`.
    fn find_pending(&mut self, views: &Views, hwm: usize) -> Option<Pending> {
        self.looks = self.looks.wrapping_add(1);
        if self.looks.is_multiple_of(FULL_SCAN_EVERY) {
            views.restamp();
            return first_pending(views, &self.taken, self.next_cell, hwm);
        }
        self.harvest(views, hwm);
        let hwm = hwm.min(self.taken.len());
        // The first cells are looked at on every look (their shells set no summary bit).
        if let Some(first) = self.maybe.first_mut() {
            *first |= (1u64 << hwm.min(DIRECT_CELLS)) - 1;
        }
        let start = if self.next_cell < hwm {
            self.next_cell
        } else {
            0
        };
        for (lo, hi) in [(start, hwm), (0, start)] {
            let mut entry = lo;
            while entry < hi {
                let word = entry / 64;
                let bits = self.maybe[word] >> (entry % 64);
                if bits == 0 {
                    entry = (word + 1) * 64;
                    continue;
                }
                entry += bits.trailing_zeros() as usize;
                if entry >= hi {
                    break;
                }
                match views.cells[entry].pending(self.taken[entry]) {
                    Some((seq, len, wait)) => {
                        return Some(Pending {
                            entry,
                            seq,
                            len,
                            wait,
                        });
                    }
                    None => self.maybe[entry / 64] &= !(1 << (entry % 64)),
                }
                entry += 1;
            }
        }
        None
    }

    /// Moves the summary's bits (below `hwm`) into `maybe`.
    fn harvest(&mut self, views: &Views, hwm: usize) {
        let words = hwm.div_ceil(64).min(self.maybe.len());
        for (mine, shared) in self.maybe[..words].iter_mut().zip(views.summary) {
            *mine |= crate::summary::take(shared);
        }
    }

    /// A poll found the queue's head still being written while a request waited: every
    /// [`STALLS_PER_MESSAGE`] of them spend the budget like a served message.
    fn stall(&mut self) {
        self.stalls = self.stalls.wrapping_add(1);
        if self.stalls.is_multiple_of(STALLS_PER_MESSAGE) {
            self.spend();
        }
    }

    /// One queue message was served while the request of the budget waited.
    fn spend(&mut self) {
        if let Some(b) = &mut self.budget {
            b.2 = b.2.saturating_sub(1);
        }
    }

    /// Marks `p` taken (answered later, or dropped).
    fn mark_taken(&mut self, p: Pending) {
        self.taken[p.entry] = p.seq;
        self.next_cell = p.entry + 1;
        self.budget = None;
    }
}

impl Dest<'_> {
    fn buffer(&mut self) -> Option<&mut [u8]> {
        match self {
            Dest::CopyOrDrop(b) | Dest::Copy(b) => Some(b),
            Dest::InPlace => None,
        }
    }
}

fn too_small(needed: usize, got: usize) -> Error {
    Error::BufferTooSmall { needed, got }
}

/// The first cell, from `start` round robin, below the clients' high-water mark `hwm` whose
/// request differs from the one last taken from it.
fn first_pending(views: &Views, taken: &[u32], start: usize, hwm: usize) -> Option<Pending> {
    let hwm = hwm.min(taken.len());
    (0..hwm).find_map(|k| {
        let entry = (start + k) % hwm;
        let (seq, len, wait) = views.cells[entry].pending(taken[entry])?;
        Some(Pending {
            entry,
            seq,
            len,
            wait,
        })
    })
}
