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
    holder: u32,
}

/// One slot under loom.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct OwnedSlot {
    pub(crate) header: crate::layout::SlotHeader,
    pub(crate) data: Box<[crate::sync::AtomicU64]>,
    /// Loom's race checker on the writers of this slot (see `Seqlock::begin_slot_write`).
    pub(crate) writers: WriterShadow,
}

/// A slot's writer shadow under loom: loom's `UnsafeCell`, holding nothing, touched by every
/// writer as it starts writing the slot.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct WriterShadow(pub(crate) loom::cell::UnsafeCell<()>);

// SAFETY: the cell holds `()`, never read or written: `with_mut` only records an access for
// loom's race checker, which is the point of sharing it between threads.
#[cfg(loom)]
unsafe impl Sync for WriterShadow {}

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
        let holder = unsafe { Seqlock::init(memory.as_ptr(), shape.total, config) }?.holder;
        Ok(Self {
            memory,
            shape,
            holder,
        })
    }

    /// Allocates and initialises a seqlock of the given shape (loom build: the same
    /// initialisation as `Seqlock::init`, over loom's atomics).
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry).
    #[cfg(loom)]
    pub fn new(config: Config) -> Result<Self> {
        let lock = Self::zeroed(config)?;
        lock.init();
        Ok(lock)
    }

    /// Allocates zeroed memory for a seqlock of the given shape, not yet initialised (as
    /// `ftruncate` leaves a region): [`init`](Self::init) and [`open`](Self::open) on it
    /// model a creator and an opener racing (loom build).
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry).
    #[cfg(loom)]
    pub fn zeroed(config: Config) -> Result<Self> {
        use crate::layout::{Header, SlotHeader};
        use crate::sync::AtomicU64;
        let shape = config.checked()?;
        let slots = (0..shape.slots)
            .map(|_| OwnedSlot {
                header: SlotHeader::new_zeroed(),
                data: (0..shape.words()).map(|_| AtomicU64::new(0)).collect(),
                writers: WriterShadow(loom::cell::UnsafeCell::new(())),
            })
            .collect();
        Ok(Self {
            header: Box::new(Header::new_zeroed()),
            slots,
            shape,
            holder: venom_shm::wait::holder_word(venom_shm::wait::current_pid()),
        })
    }

    /// `Seqlock::init` on this memory: every header field, then the magic (loom build).
    #[cfg(loom)]
    pub fn init(&self) {
        self.view().stamp_new();
    }

    /// `Seqlock::from_raw` on this memory: the same validation of the header, which must
    /// describe the shape allocated (loom build).
    ///
    /// # Errors
    /// As `from_raw`.
    #[cfg(loom)]
    pub fn open(&self) -> Result<Seqlock<'_>> {
        let shape = Seqlock::open_header(&self.header)?;
        if shape != self.shape {
            return Err(crate::Error::InvalidGeometry {
                reason: "the header describes another shape",
            });
        }
        Ok(self.view())
    }

    /// A view as process `pid` would make it (loom build: every thread is process 1, so a
    /// model of a holder that dies gives it a pid of its own, then declares it dead with
    /// `venom_shm::wait::declare_dead`).
    #[cfg(loom)]
    pub fn view_as(&self, pid: u32) -> Seqlock<'_> {
        Seqlock {
            holder: pid,
            ..self.view()
        }
    }

    /// Scribbles over the header (magic and capacity zeroed), as a hostile process could
    /// (loom build; the owner repairs it with `Seqlock::restamp`).
    #[cfg(loom)]
    pub fn scribble(&self) {
        use crate::sync::Ordering;
        let g = &self.header.geometry;
        g.magic.store(0, Ordering::Relaxed);
        g.capacity.store(0, Ordering::Relaxed);
    }

    /// A view of the seqlock, to read, write or wait.
    pub fn view(&self) -> Seqlock<'_> {
        #[cfg(not(loom))]
        {
            // SAFETY: the allocation is 64-aligned, `shape.total` bytes long, initialised by
            // `new`, and lives as long as the borrow of `self`.
            unsafe { Seqlock::from_parts(self.memory.as_ptr(), self.shape, self.holder) }
        }
        #[cfg(loom)]
        {
            Seqlock {
                header: &self.header,
                slots: crate::seqlock::Slots::owned(&self.slots),
                shape: self.shape,
                holder: self.holder,
            }
        }
    }
}
