//! The channel's shared layout and its validation. See `docs/ARCHITECTURE.md` for the table.
//!
//! ```text
//! 0        ChannelHeader (128 B)
//! 128      StatsLine (64 B): the daemon's counters, readable by any process (`venom inspect`)
//! data     venom-seqlock: the latest-value data (data_slots slots of data_size bytes)
//! queue    venom-mpsc: the command queue (cmd_slots slots of cmd_slot_size bytes)
//! registry max_clients × 64 B: pid holding the entry (0 = free)
//! summary  ⌈max_clients / 64⌉ × u64, rounded up to 64 B: bit `i % 64` of word `i / 64` set by
//!          client entry `i` (from 4 on) after it posts a request (see `receive`: the daemon looks at the cells
//!          whose bits it finds, not at every cell)
//! cells    max_clients × request/reply cell (see `rpc`): that client's requests and replies
//! ```

use venom_shm::sync::{AtomicU32, AtomicU64, Ordering, fence};
use venom_shm::wait;

use crate::error::{Error, Result};

/// "VNOM".
pub const MAGIC: u32 = 0x564E_4F4D;
/// Version of the channel layout (7: requests and replies of up to 56 bytes inside their
/// cell's header line, one slot each for longer ones, the shell's sleep flag in a line of its
/// own; 6: the command queue's layout version 2).
pub const LAYOUT_VERSION: u32 = 7;
/// Pointer width and byte order of this build: `0x0102_03ww` in native byte order, `ww` the
/// pointer width in bytes. A process of another byte order reads it reversed.
pub const ABI_MARKER: u32 = 0x0102_0300 | (core::mem::size_of::<usize>() as u32);
/// Bytes of the channel header.
pub const HEADER_SIZE: usize = 128;
/// Bytes of the counters line after the header.
pub(crate) const STATS_SIZE: usize = 64;
/// Bytes of one client-registry entry.
pub(crate) const REGISTRY_ENTRY_SIZE: usize = 64;

/// The region name of channel `name`: `/venom_<name>`.
pub(crate) fn channel_region_name(name: &str) -> String {
    format!("/venom_{}", name.strip_prefix('/').unwrap_or(name))
}

/// The region name of shared value `name`: `/venom_sm_<name>`.
pub(crate) fn shared_region_name(name: &str) -> String {
    format!("/venom_sm_{}", name.strip_prefix('/').unwrap_or(name))
}

pub(crate) const STATE_READY: u32 = 1;
pub(crate) const STATE_CLOSED: u32 = 2;

/// The channel header.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct ChannelHeader {
    pub(crate) magic: AtomicU32,
    pub(crate) layout_version: AtomicU32,
    pub(crate) abi: AtomicU32,
    pub(crate) state: AtomicU32,
    pub(crate) daemon_pid: AtomicU32,
    pub(crate) max_clients: AtomicU32,
    pub(crate) total_size: AtomicU64,
    pub(crate) data_offset: AtomicU64,
    pub(crate) queue_offset: AtomicU64,
    pub(crate) registry_offset: AtomicU64,
    pub(crate) cell_offset: AtomicU64,
    pub(crate) data_size: AtomicU64,
    pub(crate) cell_stride: AtomicU64,
    pub(crate) response_size: AtomicU32,
    pub(crate) data_slots: AtomicU32,
    pub(crate) cmd_slots: AtomicU32,
    pub(crate) cmd_slot_size: AtomicU32,
    /// One past the highest registry entry ever claimed: the daemon polls cells below it.
    pub(crate) clients_hwm: AtomicU32,
    /// 1 if the daemon busy-polls and never sleeps: shells then skip waking it.
    pub(crate) daemon_busy: AtomicU32,
    /// The daemon's start time (with its pid, it names one process: see
    /// `venom_shm::wait::holder_alive`).
    pub(crate) daemon_start: AtomicU64,
}

// Under loom the atomics are loom's (larger) objects, never laid over a region.
#[cfg(not(loom))]
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<ChannelHeader>() == HEADER_SIZE);
    assert!(offset_of!(ChannelHeader, magic) == 0);
    assert!(offset_of!(ChannelHeader, layout_version) == 4);
    assert!(offset_of!(ChannelHeader, abi) == 8);
    assert!(offset_of!(ChannelHeader, state) == 12);
    assert!(offset_of!(ChannelHeader, daemon_pid) == 16);
    assert!(offset_of!(ChannelHeader, max_clients) == 20);
    assert!(offset_of!(ChannelHeader, total_size) == 24);
    assert!(offset_of!(ChannelHeader, data_offset) == 32);
    assert!(offset_of!(ChannelHeader, queue_offset) == 40);
    assert!(offset_of!(ChannelHeader, registry_offset) == 48);
    assert!(offset_of!(ChannelHeader, cell_offset) == 56);
    assert!(offset_of!(ChannelHeader, data_size) == 64);
    assert!(offset_of!(ChannelHeader, cell_stride) == 72);
    assert!(offset_of!(ChannelHeader, response_size) == 80);
    assert!(offset_of!(ChannelHeader, data_slots) == 84);
    assert!(offset_of!(ChannelHeader, cmd_slots) == 88);
    assert!(offset_of!(ChannelHeader, cmd_slot_size) == 92);
    assert!(offset_of!(ChannelHeader, clients_hwm) == 96);
    assert!(offset_of!(ChannelHeader, daemon_busy) == 100);
    assert!(offset_of!(ChannelHeader, daemon_start) == 104);
    assert!(size_of::<RegistryEntry>() == REGISTRY_ENTRY_SIZE);
};

/// The daemon's counters, in the line after the header: written by the daemon alone, read by
/// anyone (a hostile write only falsifies statistics).
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct StatsLine {
    /// Values published.
    pub(crate) writes: AtomicU64,
    /// Commands and requests received.
    pub(crate) commands: AtomicU64,
    /// Requests answered.
    pub(crate) requests: AtomicU64,
    /// Commands dropped (too long for `try_recv_command`, or a forged sender).
    pub(crate) dropped: AtomicU64,
    /// Commands whose sender died mid-send.
    pub(crate) abandoned: AtomicU64,
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<StatsLine>() == STATS_SIZE);

/// One client-registry entry.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct RegistryEntry {
    /// Pid of the shell holding the entry, 0 if free.
    pub(crate) pid: AtomicU32,
    /// That shell's start time (0 while being claimed).
    pub(crate) start: AtomicU64,
}

/// Every size of a channel; the offsets follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) data_size: usize,
    pub(crate) data_slots: u32,
    pub(crate) cmd_slots: u32,
    pub(crate) cmd_slot_size: u32,
    pub(crate) max_clients: u32,
    pub(crate) response_size: usize,
}

/// Where everything is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) geometry: Geometry,
    pub(crate) data_offset: usize,
    pub(crate) data_len: usize,
    pub(crate) queue_offset: usize,
    pub(crate) queue_len: usize,
    pub(crate) registry_offset: usize,
    pub(crate) summary_offset: usize,
    pub(crate) summary_words: usize,
    pub(crate) cell_offset: usize,
    pub(crate) cell_stride: usize,
    pub(crate) total: usize,
}

impl Geometry {
    pub(crate) fn data_config(&self) -> venom_seqlock::Config {
        venom_seqlock::Config::multi(self.data_size, self.data_slots)
    }
    pub(crate) fn queue_config(&self) -> venom_mpsc::Config {
        venom_mpsc::Config::new(self.cmd_slots, self.cmd_slot_size)
    }
    pub(crate) fn cell_geometry(&self) -> crate::rpc::CellGeometry {
        crate::rpc::CellGeometry {
            request_capacity: self.queue_config().payload_size(),
            reply_capacity: self.response_size,
        }
    }

    /// Computes the layout, with overflow checks; the error names the value that cannot be.
    pub(crate) fn layout(&self) -> core::result::Result<Layout, &'static str> {
        if self.max_clients == 0 || self.max_clients as usize > crate::config::MAX_CLIENTS {
            return Err("max_clients must be 1..=65536");
        }
        if self.response_size > (u32::MAX >> 1) as usize {
            return Err("response size must be below 2 GiB");
        }
        let data_len = self
            .data_config()
            .region_size()
            .map_err(|_| "data_size and data_slots describe no data region (data_slots 1..=64)")?;
        let queue_len = self.queue_config().region_size().map_err(|_| {
            "command_slot_size must be a power of two, 64 ..= 1 MiB, and cmd_slots at most 2^24"
        })?;
        let overflow = "sizes overflow the address space";
        let cell_stride = self.cell_geometry().stride().ok_or(overflow)?;
        let data_offset = HEADER_SIZE + STATS_SIZE;
        let add = |a: usize, b: usize| a.checked_add(b).ok_or(overflow);
        let queue_offset = add(data_offset, data_len)?;
        let registry_offset = add(queue_offset, queue_len)?;
        let summary_offset = add(
            registry_offset,
            (self.max_clients as usize) * REGISTRY_ENTRY_SIZE,
        )?;
        let summary_words = (self.max_clients as usize).div_ceil(64);
        let cell_offset = add(summary_offset, (summary_words * 8).next_multiple_of(64))?;
        let cells = cell_stride
            .checked_mul(self.max_clients as usize)
            .ok_or(overflow)?;
        let total = add(cell_offset, cells)?;
        Ok(Layout {
            geometry: *self,
            data_offset,
            data_len,
            queue_offset,
            queue_len,
            registry_offset,
            summary_offset,
            summary_words,
            cell_offset,
            cell_stride,
            total,
        })
    }
}

impl ChannelHeader {
    /// Writes everything but the magic and `state` for a fresh channel (the daemon's side,
    /// before the sub-structures are initialised; the magic is published last by
    /// [`publish`](Self::publish)).
    pub(crate) fn store_layout(&self, layout: &Layout, busy: bool) {
        let g = &layout.geometry;
        let r = Ordering::Relaxed;
        self.daemon_pid.store(wait::current_pid(), r);
        self.daemon_start.store(wait::current_start_time(), r);
        self.layout_version.store(LAYOUT_VERSION, r);
        self.abi.store(ABI_MARKER, r);
        self.max_clients.store(g.max_clients, r);
        self.total_size.store(layout.total as u64, r);
        self.data_offset.store(layout.data_offset as u64, r);
        self.queue_offset.store(layout.queue_offset as u64, r);
        self.registry_offset.store(layout.registry_offset as u64, r);
        self.cell_offset.store(layout.cell_offset as u64, r);
        self.data_size.store(g.data_size as u64, r);
        self.cell_stride.store(layout.cell_stride as u64, r);
        self.response_size.store(g.response_size as u32, r);
        self.data_slots.store(g.data_slots, r);
        self.cmd_slots.store(g.cmd_slots, r);
        self.cmd_slot_size.store(g.cmd_slot_size, r);
        self.daemon_busy.store(u32::from(busy), r);
    }

    /// The daemon's repair of its header: every field [`store_layout`](Self::store_layout) and
    /// [`publish`](Self::publish) wrote (but `daemon_busy`, which has its own rule) written
    /// again where it differs, so a scribbled magic, size, offset, state or daemon pid cannot
    /// keep new shells out, or make live ones think the daemon gone, for longer than until the
    /// daemon's next repair. Called by the daemon only (never after it closed the channel),
    /// with its pid and start time as [`store_layout`](Self::store_layout) wrote them (read
    /// once: `getpid` is a system call, and this runs every 1024th look of a busy daemon).
    pub(crate) fn restamp(&self, layout: &Layout, daemon: (u32, u64)) {
        let g = &layout.geometry;
        let fix32 = |w: &AtomicU32, v: u32| {
            if w.load(Ordering::Relaxed) != v {
                w.store(v, Ordering::Relaxed);
            }
        };
        let fix64 = |w: &AtomicU64, v: u64| {
            if w.load(Ordering::Relaxed) != v {
                w.store(v, Ordering::Relaxed);
            }
        };
        fix32(&self.daemon_pid, daemon.0);
        fix64(&self.daemon_start, daemon.1);
        fix32(&self.layout_version, LAYOUT_VERSION);
        fix32(&self.abi, ABI_MARKER);
        fix32(&self.max_clients, g.max_clients);
        fix64(&self.total_size, layout.total as u64);
        fix64(&self.data_offset, layout.data_offset as u64);
        fix64(&self.queue_offset, layout.queue_offset as u64);
        fix64(&self.registry_offset, layout.registry_offset as u64);
        fix64(&self.cell_offset, layout.cell_offset as u64);
        fix64(&self.data_size, g.data_size as u64);
        fix64(&self.cell_stride, layout.cell_stride as u64);
        fix32(&self.response_size, g.response_size as u32);
        fix32(&self.data_slots, g.data_slots);
        fix32(&self.cmd_slots, g.cmd_slots);
        fix32(&self.cmd_slot_size, g.cmd_slot_size);
        fix32(&self.state, STATE_READY);
        if self.magic.load(Ordering::Relaxed) != MAGIC {
            crate::init::publish_magic(&self.magic, MAGIC);
        }
    }

    /// Marks the channel ready and publishes the magic: everything stored before is visible to
    /// an opener that sees the magic.
    pub(crate) fn publish(&self) {
        self.state.store(STATE_READY, Ordering::Relaxed);
        crate::init::publish_magic(&self.magic, MAGIC);
    }

    /// Reads the sizes and re-derives the layout, requiring every stored offset to match it
    /// and the whole to fit `region_len` (the shell's side, after the magic was seen).
    ///
    /// # Errors
    /// [`Error::AbiMismatch`], [`Error::Corrupt`] naming the field.
    pub(crate) fn load_layout(&self, region_len: usize) -> Result<Layout> {
        let r = Ordering::Relaxed;
        let abi = self.abi.load(r);
        if abi != ABI_MARKER {
            return Err(Error::AbiMismatch {
                found: abi,
                expected: ABI_MARKER,
            });
        }
        let corrupt = |reason| Error::Corrupt { reason };
        let geometry = Geometry {
            data_size: usize::try_from(self.data_size.load(r)).map_err(|_| corrupt("data size"))?,
            data_slots: self.data_slots.load(r),
            cmd_slots: self.cmd_slots.load(r),
            cmd_slot_size: self.cmd_slot_size.load(r),
            max_clients: self.max_clients.load(r),
            response_size: self.response_size.load(r) as usize,
        };
        let layout = geometry.layout().map_err(corrupt)?;
        let stored = [
            (self.total_size.load(r), layout.total, "total size"),
            (self.data_offset.load(r), layout.data_offset, "data offset"),
            (
                self.queue_offset.load(r),
                layout.queue_offset,
                "queue offset",
            ),
            (
                self.registry_offset.load(r),
                layout.registry_offset,
                "registry offset",
            ),
            (self.cell_offset.load(r), layout.cell_offset, "cell offset"),
            (self.cell_stride.load(r), layout.cell_stride, "cell stride"),
        ];
        for (found, expected, what) in stored {
            if found != expected as u64 {
                return Err(corrupt(what));
            }
        }
        if layout.total > region_len {
            return Err(corrupt("total size exceeds the region"));
        }
        Ok(layout)
    }

    /// Whether the daemon has closed the channel or died.
    pub(crate) fn disconnected(&self) -> bool {
        self.is_closed() || !self.daemon_alive()
    }

    /// Whether the daemon marked the channel closed.
    pub(crate) fn is_closed(&self) -> bool {
        // A Relaxed load and an Acquire fence rather than an Acquire load: this also runs on
        // read-only mappings (`venom inspect`, reclaiming), where only Relaxed atomic loads
        // are guaranteed.
        let closed = self.state.load(Ordering::Relaxed) == STATE_CLOSED;
        // SYNC POINT [H3]: pairs with the daemon's Release store in `close` [H4].
        fence(Ordering::Acquire);
        closed
    }

    /// Whether the daemon recorded in the header (pid and start time) is alive.
    pub(crate) fn daemon_alive(&self) -> bool {
        let r = Ordering::Relaxed;
        wait::holder_alive(self.daemon_pid.load(r), self.daemon_start.load(r))
    }

    /// Says whether the daemon busy-polls (shells then skip ringing it).
    pub(crate) fn set_daemon_busy(&self, busy: bool) {
        if self.daemon_busy() != busy {
            self.daemon_busy.store(u32::from(busy), Ordering::Relaxed);
        }
    }

    /// Whether the daemon said it busy-polls (so it need not be woken).
    pub(crate) fn daemon_busy(&self) -> bool {
        self.daemon_busy.load(Ordering::Relaxed) != 0
    }

    /// Marks the channel closed (the daemon, on drop).
    pub(crate) fn close(&self) {
        // SYNC POINT [H4]: pairs with the shells' Acquire load in `is_closed` [H3].
        self.state.store(STATE_CLOSED, Ordering::Release);
    }
}
