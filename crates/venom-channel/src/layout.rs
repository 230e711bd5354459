//! The channel's shared layout and its validation. See `docs/ARCHITECTURE.md` for the table.
//!
//! ```text
//! 0        ChannelHeader (128 B)
//! data     venom-seqlock: the latest-value data (data_slots slots of data_size bytes)
//! queue    venom-mpsc: the command queue (cmd_slots slots of cmd_slot_size bytes)
//! registry max_clients × 64 B: pid holding the entry (0 = free)
//! cells    max_clients × request/reply cell (see `rpc`): that client's requests and replies
//! ```

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// "VNOM".
pub const MAGIC: u32 = 0x564E_4F4D;
/// Version of the channel layout.
pub const LAYOUT_VERSION: u32 = 2;
/// Pointer width and byte order of this build: `0x0102_03ww` in native byte order, `ww` the
/// pointer width in bytes. A process of another byte order reads it reversed.
pub const ABI_MARKER: u32 = 0x0102_0300 | (core::mem::size_of::<usize>() as u32);
/// Bytes of the channel header.
pub const HEADER_SIZE: usize = 128;
/// Bytes of one client-registry entry.
pub(crate) const REGISTRY_ENTRY_SIZE: usize = 64;

pub(crate) const STATE_READY: u32 = 1;
pub(crate) const STATE_CLOSED: u32 = 2;

/// The channel header.
#[repr(C, align(64))]
#[derive(Debug)]
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
}

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
    assert!(size_of::<RegistryEntry>() == REGISTRY_ENTRY_SIZE);
};

/// One client-registry entry.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct RegistryEntry {
    /// Pid of the shell holding the entry, 0 if free.
    pub(crate) pid: AtomicU32,
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
            request_capacity: self.cmd_slot_size as usize - venom_mpsc::SLOT_HEADER_SIZE,
            reply_capacity: self.response_size,
        }
    }

    /// Computes the layout, with overflow checks.
    pub(crate) fn layout(&self) -> Result<Layout> {
        let corrupt = |reason| Error::Corrupt { reason };
        if self.max_clients == 0 || self.max_clients > 65_536 {
            return Err(corrupt("max_clients must be 1..=65536"));
        }
        if self.cmd_slot_size as usize <= venom_mpsc::SLOT_HEADER_SIZE {
            return Err(corrupt("command slots too small"));
        }
        if self.response_size > (u32::MAX >> 1) as usize {
            return Err(corrupt("response size too large"));
        }
        let data_len = self.data_config().region_size()?;
        let queue_len = self.queue_config().region_size().map_err(Error::from)?;
        let cell_stride = self
            .cell_geometry()
            .stride()
            .ok_or(corrupt("size overflows"))?;
        let data_offset = HEADER_SIZE;
        let add = |a: usize, b: usize| a.checked_add(b).ok_or(corrupt("size overflows"));
        let queue_offset = add(data_offset, data_len)?;
        let registry_offset = add(queue_offset, queue_len)?;
        let cell_offset = add(
            registry_offset,
            (self.max_clients as usize) * REGISTRY_ENTRY_SIZE,
        )?;
        let cells = cell_stride
            .checked_mul(self.max_clients as usize)
            .ok_or(corrupt("size overflows"))?;
        let total = add(cell_offset, cells)?;
        Ok(Layout {
            geometry: *self,
            data_offset,
            data_len,
            queue_offset,
            queue_len,
            registry_offset,
            cell_offset,
            cell_stride,
            total,
        })
    }
}
