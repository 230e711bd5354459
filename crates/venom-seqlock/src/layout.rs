//! The shared layout: a 256-byte header followed by `slots` slots, each a 64-byte slot header
//! and `capacity` data bytes rounded up to a multiple of 64. All fields are fixed-width atomics.
//!
//! | offset | field | written by | meaning |
//! |---:|---|---|---|
//! | 0 | `magic: u32` | init (last, `Release`) | `0x5345_514C` ("SEQL") |
//! | 4 | `layout_version: u32` | init | [`LAYOUT_VERSION`] |
//! | 8 | `slot_count: u32` | init | number of slots N (1 = classic single buffer) |
//! | 12 | `flags: u32` | init | reserved, 0 |
//! | 16 | `capacity: u64` | init | most bytes a value may have; the slot's data area is this rounded up to 64 |
//! | 64 | `version: u64` | writer | newest published version (0 = nothing written) |
//! | 72 | `poisoned: u32` | writer | writers' note that the last value may be torn |
//! | 128 | `owner: u32` | writers (CAS) | holder of the writer lock, 0 = free: pid (bits 0–21) and a digest of its start time (bits 22–31, `venom_shm::wait::holder_word`) |
//! | 132 | `lock_waiters: u32` | writers | writers asleep on `owner` (a hint: the holder wakes them when it unlocks; 0 in a fresh region, so older builds, which never write it, still work: their waiters never sleep, and waiters of this build nap at most 1 ms) |
//! | 192 | `futex: u32` | writer | bumped to wake sleepers |
//! | 196 | `waiters: u32` | readers | number of readers about to sleep or sleeping |
//! | 256 + i·stride | slot i: `seq: u64` | writer | `2v-1` while version v is written, `2v` once whole |
//! | +8 | `len: u64` | writer | length of the value in the slot |
//! | +16 | `flags: u64` | writer | bit 0: this value may be torn (poisoned) |
//! | +64 | data | writer | `capacity` bytes, copied as 64-bit atomics |
//!
//! Version v lives in slot `v % N`. Every cache line written by one party is its own: readers
//! write nothing unless they go to sleep.

use crate::sync::{AtomicU32, AtomicU64};

/// "SEQL".
pub const MAGIC: u32 = 0x5345_514C;
/// Version of this layout; bumped on any incompatible change.
pub const LAYOUT_VERSION: u32 = 2;
/// Most slots a seqlock may have.
pub const MAX_SLOTS: u32 = 64;
/// Bytes of the header.
pub const HEADER_SIZE: usize = 256;
/// Bytes of a slot header (before its data).
pub const SLOT_HEADER_SIZE: usize = 64;
/// Slot flag: the value in this slot may be torn.
pub(crate) const SLOT_POISONED: u64 = 1;

/// Immutable after initialisation.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct Geometry {
    pub(crate) magic: AtomicU32,
    pub(crate) layout_version: AtomicU32,
    pub(crate) slot_count: AtomicU32,
    pub(crate) flags: AtomicU32,
    pub(crate) capacity: AtomicU64,
}

/// Written by the writer once per write, read by every reader.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) version: AtomicU64,
    pub(crate) poisoned: AtomicU32,
}

/// Contended only among writers.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct WriterLock {
    pub(crate) owner: AtomicU32,
    pub(crate) lock_waiters: AtomicU32,
}

/// The futex word and the count of sleepers.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct Notify {
    pub(crate) futex: AtomicU32,
    pub(crate) waiters: AtomicU32,
}

/// The seqlock header.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) geometry: Geometry,
    pub(crate) published: Published,
    pub(crate) lock: WriterLock,
    pub(crate) notify: Notify,
}

/// The header of one slot; its data follows.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct SlotHeader {
    pub(crate) seq: AtomicU64,
    pub(crate) len: AtomicU64,
    pub(crate) flags: AtomicU64,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Header>() == HEADER_SIZE && align_of::<Header>() == 64);
    assert!(offset_of!(Header, geometry) == 0);
    assert!(offset_of!(Geometry, magic) == 0);
    assert!(offset_of!(Geometry, layout_version) == 4);
    assert!(offset_of!(Geometry, slot_count) == 8);
    assert!(offset_of!(Geometry, flags) == 12);
    assert!(offset_of!(Geometry, capacity) == 16);
    assert!(offset_of!(Header, published) == 64);
    assert!(offset_of!(Published, version) == 0);
    assert!(offset_of!(Published, poisoned) == 8);
    assert!(offset_of!(Header, lock) == 128);
    assert!(offset_of!(WriterLock, owner) == 0);
    assert!(offset_of!(WriterLock, lock_waiters) == 4);
    assert!(offset_of!(Header, notify) == 192);
    assert!(offset_of!(Notify, futex) == 0);
    assert!(offset_of!(Notify, waiters) == 4);
    assert!(size_of::<SlotHeader>() == SLOT_HEADER_SIZE);
    assert!(offset_of!(SlotHeader, seq) == 0);
    assert!(offset_of!(SlotHeader, len) == 8);
    assert!(offset_of!(SlotHeader, flags) == 16);
};

impl Header {
    #[cfg(loom)]
    pub(crate) fn new_zeroed() -> Self {
        Self {
            geometry: Geometry {
                magic: AtomicU32::new(0),
                layout_version: AtomicU32::new(0),
                slot_count: AtomicU32::new(0),
                flags: AtomicU32::new(0),
                capacity: AtomicU64::new(0),
            },
            published: Published {
                version: AtomicU64::new(0),
                poisoned: AtomicU32::new(0),
            },
            lock: WriterLock {
                owner: AtomicU32::new(0),
                lock_waiters: AtomicU32::new(0),
            },
            notify: Notify {
                futex: AtomicU32::new(0),
                waiters: AtomicU32::new(0),
            },
        }
    }
}

impl SlotHeader {
    #[cfg(loom)]
    pub(crate) fn new_zeroed() -> Self {
        Self {
            seq: AtomicU64::new(0),
            len: AtomicU64::new(0),
            flags: AtomicU64::new(0),
        }
    }
}

/// The shape of a seqlock: slots and bytes per slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Most bytes a value may have. Rounded up to a multiple of 64 in memory.
    pub max_len: usize,
    /// Number of slots: 1 is the classic single-buffer seqlock; N ≥ 2 keeps the newest value
    /// readable while the next is written (see the crate docs for when to choose which).
    pub slots: u32,
}

impl Config {
    /// A single-buffer seqlock for values of up to `max_len` bytes.
    pub const fn single(max_len: usize) -> Self {
        Self { max_len, slots: 1 }
    }

    /// An N-slot seqlock for values of up to `max_len` bytes.
    pub const fn multi(max_len: usize, slots: u32) -> Self {
        Self { max_len, slots }
    }

    /// Bytes of memory this configuration needs: header plus slots.
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry) for zero or too many slots, a
    /// zero `max_len`, or a size that overflows.
    ///
    /// ```
    /// use venom_seqlock::Config;
    /// // 256 B header + 3 × (64 B slot header + 4096 B data)
    /// assert_eq!(Config::multi(4096, 3).region_size()?, 256 + 3 * (64 + 4096));
    /// # Ok::<(), venom_seqlock::Error>(())
    /// ```
    pub fn region_size(&self) -> crate::Result<usize> {
        Ok(self.checked()?.total)
    }

    pub(crate) fn checked(&self) -> crate::Result<Shape> {
        use crate::Error::InvalidGeometry;
        if self.slots == 0 || self.slots > MAX_SLOTS {
            return Err(InvalidGeometry {
                reason: "slot count must be 1..=64",
            });
        }
        if self.max_len == 0 {
            return Err(InvalidGeometry {
                reason: "values must be allowed at least 1 byte",
            });
        }
        let overflow = InvalidGeometry {
            reason: "size overflows the address space",
        };
        let padded = self
            .max_len
            .checked_next_multiple_of(64)
            .ok_or(overflow.clone())?;
        let stride = padded
            .checked_add(SLOT_HEADER_SIZE)
            .ok_or(overflow.clone())?;
        let total = stride
            .checked_mul(self.slots as usize)
            .and_then(|s| s.checked_add(HEADER_SIZE))
            .filter(|&t| t <= isize::MAX as usize)
            .ok_or(overflow)?;
        Ok(Shape {
            slots: self.slots,
            capacity: self.max_len,
            padded,
            stride,
            total,
        })
    }
}

/// A validated geometry, copied out of shared memory once: later scribbles on the header
/// cannot change what this process believes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) slots: u32,
    /// Most bytes a value may have.
    pub(crate) capacity: usize,
    /// Data bytes per slot: `capacity` rounded up to 64.
    pub(crate) padded: usize,
    /// Bytes from one slot header to the next.
    pub(crate) stride: usize,
    /// Bytes of the whole seqlock.
    pub(crate) total: usize,
}

impl Shape {
    /// Data words per slot.
    pub(crate) fn words(&self) -> usize {
        self.padded / 8
    }

    /// The slot that holds version `v`: `v % slots`, without a division for the usual one,
    /// two or four slots (a 64-bit division costs more than the rest of a small read).
    #[inline]
    pub(crate) fn slot_of(&self, v: u64) -> usize {
        let slots = u64::from(self.slots);
        let i = if slots.is_power_of_two() {
            v & (slots - 1)
        } else {
            v % slots
        };
        i as usize
    }
}
