//! The channel's own protocols, for `tests/loom_channel.rs` (compiled only under `--cfg loom`).
//!
//! Loom's atomics are objects that cannot be laid over a mapped region, so each structure is
//! built here from owned atomics, and the models drive the very functions the channel uses on
//! a region: the request/reply cell (`rpc`), the one-reply claim, the registry, the header's
//! publication and close, the pending-request summary, the stop flag and the shell's cell lock.
//! Each wrapper is one call of the real code, or the sequence of calls `receive` and `shell`
//! make, named as they are there.

use venom_shm::sync::AtomicU64;

use crate::cell_lock::CellLock;
use crate::error::Result;
use crate::ids::ClientId;
use crate::layout::{ChannelHeader, Geometry, Layout, MAGIC, RegistryEntry, StatsLine};
use crate::registry::Registry;
use crate::rpc::{Cell, CellGeometry, CellHeader, INLINE, Owed, ShellLine, ShellWait};

/// Bytes of a request or reply carried in its header line (longer ones use the cell's slot).
pub const INLINE_BYTES: usize = INLINE;
use crate::stop::StopFlag;

/// One client's request/reply cell and the daemon's claim on its reply.
#[derive(Debug)]
pub struct ModelCell {
    request: CellHeader,
    reply: CellHeader,
    shell: ShellLine,
    slots: [Box<[AtomicU64]>; 2],
    geometry: CellGeometry,
    owed: Owed,
}

impl ModelCell {
    /// A cell for requests of up to `request_capacity` bytes and replies of `reply_capacity`
    /// (each over [`INLINE_BYTES`] has a slot, as on a region).
    pub fn new(request_capacity: usize, reply_capacity: usize) -> Self {
        let words = |n: usize| (0..n.div_ceil(8)).map(|_| AtomicU64::new(0)).collect();
        Self {
            request: CellHeader::default(),
            reply: CellHeader::default(),
            shell: ShellLine::default(),
            slots: [words(request_capacity), words(reply_capacity)],
            geometry: CellGeometry {
                request_capacity,
                reply_capacity,
            },
            owed: Owed::default(),
        }
    }

    fn cell(&self) -> Cell<'_> {
        Cell::from_parts(
            &self.request,
            &self.slots[0],
            &self.reply,
            &self.slots[1],
            &self.shell,
            self.geometry,
        )
    }

    /// Shell: posts request `seq` (`busy`: it will not sleep for the reply; `answered`: it
    /// took the reply to its previous request, so it writes without marking the header).
    pub fn post(&self, seq: u32, cmd: &[u8], busy: bool, answered: bool) {
        // `heavy` changes nothing under loom (the waker never skips its fence there).
        let wait = ShellWait { busy, heavy: false };
        self.cell().post(seq, cmd, wait, answered);
    }

    /// Shell: the newest request's number (what a new holder of the entry continues from).
    pub fn request_seq(&self) -> u32 {
        self.cell().request_seq()
    }

    /// Shell: the reply to `seq`, copied into `resp`, if it has arrived.
    ///
    /// # Errors
    /// As `Cell::take_reply`.
    pub fn take_reply(&self, seq: u32, resp: &mut [u8]) -> Result<Option<usize>> {
        self.cell().take_reply(seq, resp)
    }

    /// Shell: one nap while the reply to `seq` has not come (announce, re-check, futex wait).
    pub fn sleep_for_reply(&self, seq: u32) {
        self.cell()
            .sleep_for_reply(seq, std::time::Duration::from_millis(20));
    }

    /// Daemon: the newest request's number if it differs from `taken`.
    pub fn pending(&self, taken: u32) -> Option<u32> {
        self.cell().pending(taken).map(|(seq, _, _)| seq)
    }

    /// Daemon (the receiver): takes the newest request if it differs from `taken`, as
    /// `receive` does: look, copy, re-check, and owe it a reply. `Ok(None)`: nothing new, or
    /// replaced while it was copied.
    ///
    /// # Errors
    /// As `Cell::copy_request`.
    pub fn take_request(&self, taken: u32, dst: &mut [u8]) -> Result<Option<(u32, usize)>> {
        let cell = self.cell();
        let Some((seq, len, wait)) = cell.pending(taken) else {
            return Ok(None);
        };
        if !cell.copy_request(seq, len, dst)? {
            return Ok(None);
        }
        self.owed.owe(seq, wait);
        Ok(Some((seq, len)))
    }

    /// Daemon (any thread): `DaemonChannel::reply` — claims the one reply to `seq` and writes
    /// it; `None` if it was not owed (answered already, or given up on), else whether the
    /// shell was found asleep and woken.
    pub fn reply(&self, seq: u32, bytes: &[u8]) -> Option<bool> {
        let mut woke = false;
        self.owed
            .settle(seq, |wait| {
                woke = self.cell().write_reply(seq, bytes, wait);
            })
            .then_some(woke)
    }

    /// Shell: the first half of a nap (`Cell::announce_sleep`): `true` if the shell would now
    /// sleep on the futex (announced, and the reply not there), `false` if it saw the reply.
    /// The model checks the Dekker pair with the daemon's [`reply`](Self::reply) directly: a
    /// shell that would sleep must be found asleep.
    pub fn announce_sleep(&self, seq: u32) -> bool {
        self.cell().announce_sleep(seq).is_some()
    }
}

/// A channel header with its counters, registry and summary.
#[derive(Debug)]
pub struct ModelChannel {
    header: ChannelHeader,
    stats: StatsLine,
    entries: Box<[RegistryEntry]>,
    summary: Box<[AtomicU64]>,
    layout: Layout,
}

impl ModelChannel {
    /// A zeroed region for a channel of `max_clients` clients (as `ftruncate` leaves it).
    pub fn new(max_clients: u32) -> Self {
        let geometry = Geometry {
            data_size: 16,
            data_slots: 2,
            cmd_slots: 4,
            cmd_slot_size: 64,
            max_clients,
            response_size: 16,
        };
        let layout = geometry.layout().expect("a valid model geometry");
        Self {
            header: ChannelHeader::default(),
            stats: StatsLine::default(),
            entries: (0..max_clients).map(|_| RegistryEntry::default()).collect(),
            summary: (0..layout.summary_words)
                .map(|_| AtomicU64::new(0))
                .collect(),
            layout,
        }
    }

    /// Daemon: `DaemonChannel::create`'s header steps — every field, then the magic.
    pub fn create(&self) {
        self.header.store_layout(&self.layout, false);
        self.header.publish();
    }

    /// Daemon: the repair of a scribbled header (`restamp`).
    pub fn restamp(&self) {
        let daemon = (
            venom_shm::wait::current_pid(),
            venom_shm::wait::current_start_time(),
        );
        self.header.restamp(&self.layout, daemon);
    }

    /// Shell: one look at the header as `ShellChannel::connect` makes it (magic, version,
    /// layout); returns the client count it read.
    ///
    /// # Errors
    /// `NotInitialized` before the magic is seen; anything else means a torn header.
    pub fn connect(&self) -> Result<u32> {
        let found = crate::init::look_magic(&self.header.magic);
        crate::init::check_header(
            "model",
            found,
            MAGIC,
            &self.header.layout_version,
            crate::layout::LAYOUT_VERSION,
        )?;
        Ok(self.header.load_layout(usize::MAX)?.geometry.max_clients)
    }

    fn registry(&self) -> Registry<'_> {
        Registry {
            header: &self.header,
            entries: &self.entries,
        }
    }

    /// Shell: claims a registry entry.
    ///
    /// # Errors
    /// `ChannelFull`.
    pub fn claim(&self) -> Result<ClientId> {
        self.registry().claim()
    }

    /// Shell: releases its entry.
    pub fn release(&self, id: ClientId) {
        self.registry().release(id);
    }

    /// Daemon: counts a request answered (as the receiver does).
    pub fn count_request(&self) {
        let n = self.stats.requests.load(venom_shm::sync::Ordering::Relaxed);
        self.stats
            .requests
            .store(n + 1, venom_shm::sync::Ordering::Relaxed);
    }

    /// Anyone: the requests counter.
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(venom_shm::sync::Ordering::Relaxed)
    }

    /// Daemon: marks the channel closed.
    pub fn close(&self) {
        self.header.close();
    }

    /// Shell: whether the daemon closed the channel.
    pub fn is_closed(&self) -> bool {
        self.header.is_closed()
    }

    /// Shell: flags entry `entry` in the pending-request summary.
    pub fn flag(&self, entry: usize) {
        crate::summary::flag(&self.summary, entry);
    }

    /// Daemon: takes the bits of summary word `word`.
    pub fn take_flags(&self, word: usize) -> u64 {
        crate::summary::take(&self.summary[word])
    }
}

/// The daemon's stop flag.
#[derive(Debug, Default)]
pub struct ModelStop(StopFlag);

impl ModelStop {
    /// `StopHandle::stop`.
    pub fn raise(&self) {
        self.0.raise();
    }

    /// `run`'s look at the flag.
    pub fn take(&self) -> bool {
        self.0.take()
    }
}

/// A shell's cell lock (one request at a time per shell handle).
#[derive(Debug)]
pub struct ModelCellLock(CellLock);

impl ModelCellLock {
    /// A lock whose request numbering continues from `seq`.
    pub fn new(seq: u32) -> Self {
        Self(CellLock::new(seq))
    }

    /// Takes the lock, numbers a new request and releases the lock; returns the number.
    pub fn next_request(&self) -> u32 {
        let mut guard = self.0.lock();
        let (seq, _) = guard.next_request();
        guard.set_pending(false);
        seq
    }
}
