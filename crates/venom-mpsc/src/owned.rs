//! [`OwnedQueue`]: a queue in this process's heap with the same API as one in shared memory.
//! Natively the same code path (an aligned allocation handed to `Queue::init`); under loom,
//! built from loom atomics.

use crate::error::Result;
use crate::layout::Config;
use crate::queue::Queue;

/// A queue in an in-process buffer (tests, benchmarks, threads of one process).
///
/// ```
/// use venom_mpsc::{Config, OwnedQueue};
/// let q = OwnedQueue::new(Config::new(4, 64))?;
/// assert_eq!(q.view().payload_size(), 48);
/// # Ok::<(), venom_mpsc::Error>(())
/// ```
#[derive(Debug)]
pub struct OwnedQueue {
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
    pub(crate) words: Box<[crate::sync::AtomicU64]>,
    /// The payload's shadow (see `layout::Payload`).
    pub(crate) shadow: crate::layout::Shadow,
}

impl OwnedQueue {
    /// Allocates an empty queue of the given shape.
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry).
    #[cfg(not(loom))]
    pub fn new(config: Config) -> Result<Self> {
        let shape = config.checked()?;
        let memory = venom_shm::HeapRegion::new_zeroed(shape.total);
        // SAFETY: fresh, exclusively owned, 64-aligned allocation of `shape.total` bytes, only
        // ever accessed through views (atomics), and kept in `self` as long as they live.
        let holder = unsafe { Queue::init(memory.as_ptr(), shape.total, config) }?.holder;
        Ok(Self {
            memory,
            shape,
            holder,
        })
    }

    /// Allocates an empty queue of the given shape (loom build: the same initialisation as
    /// `Queue::init`, over loom's atomics).
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry).
    #[cfg(loom)]
    pub fn new(config: Config) -> Result<Self> {
        let q = Self::zeroed(config)?;
        q.init();
        Ok(q)
    }

    /// Allocates zeroed memory for a queue of the given shape, not yet initialised (as
    /// `ftruncate` leaves a region): [`init`](Self::init) and [`open`](Self::open) on it model
    /// a creator and an opener racing (loom build).
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry).
    #[cfg(loom)]
    pub fn zeroed(config: Config) -> Result<Self> {
        use crate::layout::{Header, SlotHeader};
        use crate::sync::AtomicU64;
        let shape = config.checked()?;
        let slots = (0..shape.capacity)
            .map(|_| OwnedSlot {
                header: SlotHeader {
                    state: AtomicU64::new(0),
                    meta: AtomicU64::new(0),
                },
                words: (0..shape.words()).map(|_| AtomicU64::new(0)).collect(),
                shadow: crate::layout::Shadow(loom::cell::UnsafeCell::new(())),
            })
            .collect();
        Ok(Self {
            header: Box::new(Header::new_zeroed()),
            slots,
            shape,
            holder: venom_shm::wait::holder_word(venom_shm::wait::current_pid()),
        })
    }

    /// `Queue::init` on this memory: every header field and slot, then the magic (loom build).
    #[cfg(loom)]
    pub fn init(&self) {
        self.view().stamp_new();
    }

    /// `Queue::from_raw` on this memory: the same validation of the header, which must
    /// describe the shape allocated (loom build).
    ///
    /// # Errors
    /// As `from_raw`.
    #[cfg(loom)]
    pub fn open(&self) -> Result<Queue<'_>> {
        let shape = Queue::open_header(&self.header)?;
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
    pub fn view_as(&self, pid: u32) -> Queue<'_> {
        Queue {
            holder: pid,
            ..self.view()
        }
    }

    /// Scribbles over the header (magic and capacity zeroed), as a hostile process could
    /// (loom build; the owner repairs it with `Queue::restamp`).
    #[cfg(loom)]
    pub fn scribble(&self) {
        use crate::sync::Ordering;
        let g = &self.header.geometry;
        g.magic.store(0, Ordering::Relaxed);
        g.capacity.store(0, Ordering::Relaxed);
    }

    /// A view of the queue, to make producers and the consumer.
    pub fn view(&self) -> Queue<'_> {
        #[cfg(not(loom))]
        {
            // SAFETY: the allocation is 64-aligned, `shape.total` bytes long, initialised by
            // `new`, and lives as long as the borrow of `self`.
            unsafe { Queue::from_parts(self.memory.as_ptr(), self.shape, self.holder) }
        }
        #[cfg(loom)]
        {
            Queue {
                header: &self.header,
                slots: crate::queue::Slots::owned(&self.slots),
                shape: self.shape,
                holder: self.holder,
            }
        }
    }
}
