//! [`OwnedSeqlock`]: a seqlock in this process's heap, with the same API as one in shared
//! memory. Natively it is the very same code path (an aligned allocation handed to
//! `Seqlock::init`); under loom it is built from loom atomics, which cannot be cast from bytes.

use crate::error::Result;
use crate::layout::Config;
use crate::seqlock::Seqlock;

/// A seqlock in an in-process buffer (tests, benchmarks, threads of one process).
///
/// ```
/// use venom_seqlock::{Config, OwnedSeqlock};
/// let buf = OwnedSeqlock::new(Config::single(16))?;
/// assert_eq!(buf.view().max_len(), 16);
/// # Ok::<(), venom_seqlock::Error>(())
/// ```
#[derive(Debug)]
pub struct OwnedSeqlock {
    #[cfg(not(loom))]
    memory: venom_shm::HeapRegion,
    #[cfg(loom)]
    header: Box<crate::layout::Header>,
    #[cfg(loom)]
    slots: Box<[OwnedSlot]>,
    shape: crate::layout::Shape,
    pid: u32,
}

/// One slot under loom.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct OwnedSlot {
    pub(crate) header: crate::layout::SlotHeader,
    pub(crate) data: Box<[crate::sync::AtomicU64]>,
}

impl OwnedSeqlock {
    /// Allocates and initialises a seqlock of the given shape.
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry).
    #[cfg(not(loom))]
    pub fn new(config: Config) -> Result<Self> {
        let shape = config.checked()?;
        let memory = venom_shm::HeapRegion::new_zeroed(shape.total);
        // SAFETY: fresh, exclusively owned, 64-aligned allocation of `shape.total` bytes, only
        // ever accessed through views (atomics), and kept in `self` as long as they live.
        let pid = unsafe { Seqlock::init(memory.as_ptr(), shape.total, config) }?.pid;
        Ok(Self { memory, shape, pid })
    }

    /// Allocates and initialises a seqlock of the given shape (loom build).
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry).
    #[cfg(loom)]
    pub fn new(config: Config) -> Result<Self> {
        use crate::layout::{Header, SlotHeader};
        use crate::sync::{AtomicU64, Ordering};
        let shape = config.checked()?;
        let header = Box::new(Header::new_zeroed());
        let slots = (0..shape.slots)
            .map(|_| OwnedSlot {
                header: SlotHeader::new_zeroed(),
                data: (0..shape.words()).map(|_| AtomicU64::new(0)).collect(),
            })
            .collect();
        let g = &header.geometry;
        g.slot_count.store(shape.slots, Ordering::Relaxed);
        g.capacity.store(shape.capacity as u64, Ordering::Relaxed);
        g.layout_version
            .store(crate::layout::LAYOUT_VERSION, Ordering::Relaxed);
        g.magic.store(crate::layout::MAGIC, Ordering::Relaxed);
        Ok(Self {
            header,
            slots,
            shape,
            pid: venom_shm::wait::current_pid(),
        })
    }

    /// A view of the seqlock, to read, write or wait.
    pub fn view(&self) -> Seqlock<'_> {
        #[cfg(not(loom))]
        {
            // SAFETY: the allocation is 64-aligned, `shape.total` bytes long, initialised by
            // `new`, and lives as long as the borrow of `self`.
            unsafe { Seqlock::from_parts(self.memory.as_ptr(), self.shape, self.pid) }
        }
        #[cfg(loom)]
        {
            Seqlock {
                header: &self.header,
                slots: crate::seqlock::Slots::owned(&self.slots),
                shape: self.shape,
                pid: self.pid,
            }
        }
    }
}
