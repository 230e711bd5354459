//! Typed views over a mapped channel: built once, after validation, by the daemon (`init`) or
//! a shell (`attach`), and kept beside the mapping they point into.

use std::sync::atomic::Ordering;

use venom_mpsc::Queue;
use venom_seqlock::Seqlock;
use venom_shm::ShmRegion;
use venom_shm::wait;

use crate::error::{Error, Result};
use crate::layout::{
    ABI_MARKER, ChannelHeader, Geometry, HEADER_SIZE, LAYOUT_VERSION, Layout, MAGIC,
    REGISTRY_ENTRY_SIZE, RegistryEntry, STATE_CLOSED, STATE_READY,
};
use crate::rpc::Cell;

/// The views of one mapped channel.
///
/// They borrow the mapping with a `'static` lifetime, which is a promise this crate keeps: a
/// `Views` is stored only in a struct that also owns the `ShmRegion`, declared before it so it
/// drops first, and no view is handed out except borrowed from that struct.
#[derive(Debug)]
pub(crate) struct Views {
    pub(crate) header: &'static ChannelHeader,
    pub(crate) data: Seqlock<'static>,
    pub(crate) queue: Queue<'static>,
    pub(crate) registry: &'static [RegistryEntry],
    pub(crate) cells: Vec<Cell<'static>>,
}

fn at(region: &ShmRegion, offset: usize) -> *mut u8 {
    // SAFETY: every caller passes an offset inside the region (from a validated layout whose
    // total was checked against the region's length).
    unsafe { region.as_ptr().add(offset) }
}

/// # Safety
/// The region outlives the returned reference (see [`Views`]).
unsafe fn header_of(region: &ShmRegion) -> &'static ChannelHeader {
    // SAFETY: the region is at least `HEADER_SIZE` bytes (checked by the callers), page-aligned,
    // atomically accessed only; its lifetime is the caller's promise.
    unsafe { &*region.as_ptr().cast::<ChannelHeader>() }
}

impl Views {
    /// Lays a fresh channel out in `region` (the daemon's side). The magic is stored last.
    /// `busy`: the daemon never sleeps (shells need not wake it).
    ///
    /// # Safety
    /// `region` is this process's fresh, exclusively created mapping of at least
    /// `layout.total` bytes, and it outlives the returned views (see [`Views`]).
    pub(crate) unsafe fn init(region: &ShmRegion, layout: Layout, busy: bool) -> Result<Self> {
        // SAFETY: the region holds the whole layout (caller), which starts with the header.
        let header = unsafe { header_of(region) };
        let g = layout.geometry;
        header
            .daemon_pid
            .store(wait::current_pid(), Ordering::Relaxed);
        header
            .layout_version
            .store(LAYOUT_VERSION, Ordering::Relaxed);
        header.abi.store(ABI_MARKER, Ordering::Relaxed);
        header.max_clients.store(g.max_clients, Ordering::Relaxed);
        header
            .total_size
            .store(layout.total as u64, Ordering::Relaxed);
        header
            .data_offset
            .store(layout.data_offset as u64, Ordering::Relaxed);
        header
            .queue_offset
            .store(layout.queue_offset as u64, Ordering::Relaxed);
        header
            .registry_offset
            .store(layout.registry_offset as u64, Ordering::Relaxed);
        header
            .cell_offset
            .store(layout.cell_offset as u64, Ordering::Relaxed);
        header
            .data_size
            .store(g.data_size as u64, Ordering::Relaxed);
        header
            .cell_stride
            .store(layout.cell_stride as u64, Ordering::Relaxed);
        header
            .response_size
            .store(g.response_size as u32, Ordering::Relaxed);
        header.data_slots.store(g.data_slots, Ordering::Relaxed);
        header.cmd_slots.store(g.cmd_slots, Ordering::Relaxed);
        header
            .cmd_slot_size
            .store(g.cmd_slot_size, Ordering::Relaxed);
        // SAFETY: each sub-structure gets its own disjoint, 64-aligned range of the region,
        // inside `layout.total`; accessed only through the primitives.
        let data = unsafe {
            Seqlock::init(
                at(region, layout.data_offset),
                layout.data_len,
                g.data_config(),
            )
        }?;
        // SAFETY: as above.
        let queue = unsafe {
            Queue::init(
                at(region, layout.queue_offset),
                layout.queue_len,
                g.queue_config(),
            )
        }?;
        // The cells start zeroed (a fresh region): no request, no reply.
        // SAFETY: the cells' range is inside the layout (see `cells_of`).
        let cells = unsafe { cells_of(region, &layout) };
        // SAFETY: the registry range is inside the layout; entries are atomics only.
        let registry = unsafe { registry_of(region, &layout) };
        header.daemon_busy.store(u32::from(busy), Ordering::Relaxed);
        header.state.store(STATE_READY, Ordering::Relaxed);
        // SYNC POINT: publishes everything above to `attach`'s Acquire load of the magic.
        header.magic.store(MAGIC, Ordering::Release);
        Ok(Self {
            header,
            data,
            queue,
            registry,
            cells,
        })
    }

    /// Validates a mapped channel (the shell's side): size, magic (waiting briefly for a
    /// daemon still initialising), version, ABI, every size and offset, then each
    /// sub-structure's own header.
    ///
    /// # Safety
    /// The region outlives the returned views (see [`Views`]).
    pub(crate) unsafe fn attach(region: &ShmRegion, name: &str) -> Result<Self> {
        if region.len() < HEADER_SIZE {
            return Err(Error::Corrupt {
                reason: "region smaller than the channel header",
            });
        }
        // SAFETY: the region holds a header (checked above); lifetime per the caller.
        let header = unsafe { header_of(region) };
        crate::init::await_header(
            name,
            &header.magic,
            MAGIC,
            &header.layout_version,
            LAYOUT_VERSION,
        )?;
        let abi = header.abi.load(Ordering::Relaxed);
        if abi != ABI_MARKER {
            return Err(Error::AbiMismatch {
                found: abi,
                expected: ABI_MARKER,
            });
        }
        let corrupt = |reason| Error::Corrupt { reason };
        let usize_of = |v: u64, what| usize::try_from(v).map_err(|_| corrupt(what));
        let geometry = Geometry {
            data_size: usize_of(header.data_size.load(Ordering::Relaxed), "data size")?,
            data_slots: header.data_slots.load(Ordering::Relaxed),
            cmd_slots: header.cmd_slots.load(Ordering::Relaxed),
            cmd_slot_size: header.cmd_slot_size.load(Ordering::Relaxed),
            max_clients: header.max_clients.load(Ordering::Relaxed),
            response_size: header.response_size.load(Ordering::Relaxed) as usize,
        };
        let layout = geometry.layout().map_err(|e| match e {
            Error::Corrupt { reason } => Error::Corrupt { reason },
            _ => corrupt("sizes in the header describe no valid channel"),
        })?;
        let stored = [
            (
                header.total_size.load(Ordering::Relaxed),
                layout.total,
                "total size",
            ),
            (
                header.data_offset.load(Ordering::Relaxed),
                layout.data_offset,
                "data offset",
            ),
            (
                header.queue_offset.load(Ordering::Relaxed),
                layout.queue_offset,
                "queue offset",
            ),
            (
                header.registry_offset.load(Ordering::Relaxed),
                layout.registry_offset,
                "registry offset",
            ),
            (
                header.cell_offset.load(Ordering::Relaxed),
                layout.cell_offset,
                "cell offset",
            ),
            (
                header.cell_stride.load(Ordering::Relaxed),
                layout.cell_stride,
                "cell stride",
            ),
        ];
        for (found, expected, what) in stored {
            if found != expected as u64 {
                return Err(corrupt(what));
            }
        }
        if layout.total > region.len() {
            return Err(corrupt("total size exceeds the region"));
        }
        // SAFETY: each range lies inside the region (total checked), is 64-aligned, and is
        // validated by the primitive's own `from_raw`.
        let data = unsafe { Seqlock::from_raw(at(region, layout.data_offset), layout.data_len) }?;
        if data.capacity() != geometry.data_size || data.slot_count() != geometry.data_slots {
            return Err(corrupt("data seqlock does not match the header"));
        }
        // SAFETY: as above.
        let queue = unsafe { Queue::from_raw(at(region, layout.queue_offset), layout.queue_len) }?;
        if queue.capacity() != geometry.cmd_slots
            || queue.payload_size() + venom_mpsc::SLOT_HEADER_SIZE
                != geometry.cmd_slot_size as usize
        {
            return Err(corrupt("command queue does not match the header"));
        }
        // SAFETY: the layout was validated against the region above.
        let cells = unsafe { cells_of(region, &layout) };
        // SAFETY: the registry range is inside the layout; entries are atomics only.
        let registry = unsafe { registry_of(region, &layout) };
        Ok(Self {
            header,
            data,
            queue,
            registry,
            cells,
        })
    }

    /// Whether the daemon has closed the channel or died.
    pub(crate) fn disconnected(&self) -> bool {
        self.header.state.load(Ordering::Acquire) == STATE_CLOSED
            || !wait::process_alive(self.header.daemon_pid.load(Ordering::Relaxed))
    }

    /// Marks the channel closed and wakes every sleeper (daemon side, on drop).
    pub(crate) fn close(&self) {
        self.header.state.store(STATE_CLOSED, Ordering::Release);
        self.data.wake_waiters();
        for cell in &self.cells {
            wait::futex_wake_all(&cell.reply.seq);
        }
        self.queue.ring();
    }
}

/// # Safety
/// The layout was validated against the region, which outlives the returned slice.
unsafe fn registry_of(region: &ShmRegion, layout: &Layout) -> &'static [RegistryEntry] {
    debug_assert_eq!(REGISTRY_ENTRY_SIZE, core::mem::size_of::<RegistryEntry>());
    // SAFETY: `max_clients` entries of 64 bytes at a 64-aligned offset inside the region;
    // atomics only; lifetime per the caller.
    unsafe {
        core::slice::from_raw_parts(
            at(region, layout.registry_offset).cast::<RegistryEntry>(),
            layout.geometry.max_clients as usize,
        )
    }
}

/// # Safety
/// The layout was validated against the region, which outlives the returned cells.
unsafe fn cells_of(region: &ShmRegion, layout: &Layout) -> Vec<Cell<'static>> {
    let geometry = layout.geometry.cell_geometry();
    (0..layout.geometry.max_clients as usize)
        .map(|i| {
            let off = layout.cell_offset + i * layout.cell_stride;
            // SAFETY: cell `i` spans `cell_stride` (= its geometry's stride) bytes at a
            // 64-aligned offset inside the region; atomics only; lifetime per the caller.
            unsafe { Cell::at(at(region, off), geometry) }
        })
        .collect()
}
