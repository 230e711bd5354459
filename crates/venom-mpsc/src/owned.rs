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
    pid: u32,
}

/// One slot under loom.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct OwnedSlot {
    pub(crate) header: crate::layout::SlotHeader,
    pub(crate) words: Box<[crate::sync::AtomicU64]>,
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
        let pid = unsafe { Queue::init(memory.as_ptr(), shape.total, config) }?.pid;
        Ok(Self { memory, shape, pid })
    }

    /// Allocates an empty queue of the given shape (loom build).
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry).
    #[cfg(loom)]
    pub fn new(config: Config) -> Result<Self> {
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
            })
            .collect();
        Ok(Self {
            header: Box::new(Header::new(config.capacity, config.slot_size)),
            slots,
            shape,
            pid: venom_shm::wait::current_pid(),
        })
    }

    /// A view of the queue, to make producers and the consumer.
    pub fn view(&self) -> Queue<'_> {
        #[cfg(not(loom))]
        {
            // SAFETY: the allocation is 64-aligned, `shape.total` bytes long, initialised by
            // `new`, and lives as long as the borrow of `self`.
            unsafe { Queue::from_parts(self.memory.as_ptr(), self.shape, self.pid) }
        }
        #[cfg(loom)]
        {
            Queue {
                header: &self.header,
                slots: crate::queue::Slots::owned(&self.slots),
                shape: self.shape,
                pid: self.pid,
            }
        }
    }
}
