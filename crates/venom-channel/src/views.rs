//! Typed views over a mapped channel: built once, after validation, by the daemon (`init`) or
//! a shell (`attach`), and kept beside the mapping they point into.

use venom_mpsc::Queue;
use venom_seqlock::Seqlock;
use venom_shm::ShmRegion;
use venom_shm::sync::AtomicU64;

use crate::error::{Error, Result};
use crate::layout::{
    ChannelHeader, HEADER_SIZE, LAYOUT_VERSION, Layout, MAGIC, RegistryEntry, StatsLine,
};
use crate::registry::Registry;
use crate::rpc::Cell;

/// Client entries whose cells the daemon looks at directly on every look, without a summary
/// bit (see [`Views::flag_request`]).
pub(crate) const DIRECT_CELLS: usize = 4;

/// The views of one mapped channel.
///
/// They borrow the mapping with a `'static` lifetime, which is a promise this crate keeps: a
/// `Views` is stored only in a struct that also owns the `ShmRegion`, declared before it so it
/// drops first, and no view is handed out except borrowed from that struct.
#[derive(Debug)]
pub(crate) struct Views {
    pub(crate) header: &'static ChannelHeader,
    pub(crate) stats: &'static StatsLine,
    pub(crate) data: Seqlock<'static>,
    pub(crate) queue: Queue<'static>,
    pub(crate) registry: Registry<'static>,
    pub(crate) cells: Vec<Cell<'static>>,
    /// The pending-request summary: bit `i % 64` of word `i / 64` for client entry `i`.
    pub(crate) summary: &'static [AtomicU64],
    /// Where everything is (validated).
    pub(crate) layout: Layout,
    /// The daemon's pid and start time, for its repairs (`restamp`): this process's in the
    /// daemon's views, unused in a shell's.
    pub(crate) daemon: (u32, u64),
}

/// The address `offset` bytes into `region`.
///
/// # Safety
/// `offset <= region.len()` (callers pass offsets of a layout validated against the region).
unsafe fn at(region: &ShmRegion, offset: usize) -> *mut u8 {
    debug_assert!(offset <= region.len());
    // SAFETY: in bounds per the caller's promise.
    unsafe { region.as_ptr().add(offset) }
}

impl Views {
    /// Lays a fresh channel out in `region` (the daemon's side). The magic is stored last.
    /// `busy`: the daemon never sleeps (shells need not wake it).
    ///
    /// # Safety
    /// `region` is this process's fresh, exclusively created mapping of at least
    /// `layout.total` bytes, and it outlives the returned views (see [`Views`]).
    pub(crate) unsafe fn init(region: &ShmRegion, layout: Layout, busy: bool) -> Result<Self> {
        // SAFETY: the region holds the whole layout (caller), which starts with the header;
        // lifetime per the caller.
        let header = unsafe { header_of(region) };
        header.store_layout(&layout, busy);
        let g = layout.geometry;
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
        // The registry and the cells start zeroed (a fresh region): no client, no request.
        // SAFETY: the layout lies inside the region (caller); lifetime per the caller.
        let (registry, cells, summary) = unsafe { parts_of(region, header, &layout) };
        // SAFETY: the stats line follows the header inside the layout (`data_offset` is past
        // it); atomics only; lifetime per the caller.
        let stats = unsafe { &*at(region, HEADER_SIZE).cast::<StatsLine>() };
        Ok(Self {
            header,
            stats,
            data,
            queue,
            registry,
            cells,
            summary,
            layout,
            daemon: (
                venom_shm::wait::current_pid(),
                venom_shm::wait::current_start_time(),
            ),
        })
    }

    /// Publishes the channel to shells (after the daemon took the consumer role).
    pub(crate) fn publish(&self) {
        self.header.publish();
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
        let layout = header.load_layout(region.len())?;
        let g = layout.geometry;
        let corrupt = |reason| Error::Corrupt { reason };
        // SAFETY: each range lies inside the region (`load_layout` checked the total), is
        // 64-aligned, and is validated by the primitive's own `from_raw`.
        let data = unsafe { Seqlock::from_raw(at(region, layout.data_offset), layout.data_len) }?;
        if data.max_len() != g.data_size || data.slot_count() != g.data_slots {
            return Err(corrupt("data seqlock does not match the header"));
        }
        // SAFETY: as above.
        let queue = unsafe { Queue::from_raw(at(region, layout.queue_offset), layout.queue_len) }?;
        if queue.capacity() != g.cmd_slots
            || queue.payload_size() != g.queue_config().payload_size()
        {
            return Err(corrupt("command queue does not match the header"));
        }
        // SAFETY: the layout was validated against the region above; lifetime per the caller.
        let (registry, cells, summary) = unsafe { parts_of(region, header, &layout) };
        // SAFETY: the stats line follows the header inside the layout (`data_offset` is past
        // it); atomics only; lifetime per the caller.
        let stats = unsafe { &*at(region, HEADER_SIZE).cast::<StatsLine>() };
        Ok(Self {
            header,
            stats,
            data,
            queue,
            registry,
            cells,
            summary,
            layout,
            daemon: (0, 0),
        })
    }

    /// Whether the daemon has closed the channel or died.
    pub(crate) fn disconnected(&self) -> bool {
        self.header.disconnected()
    }

    /// The daemon's repair of every fixed header field (channel, data, queue) a scribbler may
    /// have changed: see [`ChannelHeader::restamp`].
    pub(crate) fn restamp(&self) {
        self.header.restamp(&self.layout, self.daemon);
        self.data.restamp();
        self.queue.restamp();
    }

    /// Flags client entry `entry`'s request cell in the summary (the shell, after posting a
    /// request there), so the daemon looks at it. The first [`DIRECT_CELLS`] entries are not
    /// flagged: the daemon looks at their cells on every look (no read-modify-write on a line
    /// the daemon also writes, for the common channel with few shells).
    pub(crate) fn flag_request(&self, entry: usize) {
        if entry < DIRECT_CELLS {
            return;
        }
        crate::summary::flag(self.summary, entry);
    }

    /// Marks the channel closed and wakes every sleeper (daemon side, on drop).
    pub(crate) fn close(&self) {
        self.header.close();
        self.data.wake_waiters();
        for cell in &self.cells {
            cell.wake();
        }
        self.queue.ring();
    }
}

/// # Safety
/// The region holds at least `HEADER_SIZE` bytes and outlives the returned reference.
unsafe fn header_of(region: &ShmRegion) -> &'static ChannelHeader {
    // SAFETY: the region holds a header (caller), page-aligned, atomically accessed only; its
    // lifetime is the caller's promise.
    unsafe { &*region.as_ptr().cast::<ChannelHeader>() }
}

/// The registry, the cells and the pending-request summary of a channel.
///
/// # Safety
/// The layout was validated against the region, which outlives the returned views.
unsafe fn parts_of(
    region: &ShmRegion,
    header: &'static ChannelHeader,
    layout: &Layout,
) -> (Registry<'static>, Vec<Cell<'static>>, &'static [AtomicU64]) {
    let clients = layout.geometry.max_clients as usize;
    // SAFETY: `max_clients` entries of 64 bytes at a 64-aligned offset inside the region
    // (validated layout); atomics only; lifetime per the caller.
    let entries = unsafe {
        core::slice::from_raw_parts(
            at(region, layout.registry_offset).cast::<RegistryEntry>(),
            clients,
        )
    };
    let geometry = layout.geometry.cell_geometry();
    let cells = (0..clients)
        .map(|i| {
            let off = layout.cell_offset + i * layout.cell_stride;
            // SAFETY: cell `i` spans `cell_stride` (= its geometry's stride) bytes at a
            // 64-aligned offset inside the region; atomics only; lifetime per the caller.
            unsafe { Cell::at(at(region, off), geometry) }
        })
        .collect();
    // SAFETY: `summary_words` 8-byte words at a 64-aligned offset inside the region (validated
    // layout); atomics only; lifetime per the caller.
    let summary = unsafe {
        core::slice::from_raw_parts(
            at(region, layout.summary_offset).cast::<AtomicU64>(),
            layout.summary_words,
        )
    };
    (Registry { header, entries }, cells, summary)
}
