//! The shared layout: a 256-byte header, then `capacity` slots of `slot_size` bytes.
//!
//! | offset | field | written by | meaning |
//! |---:|---|---|---|
//! | 0 | `magic: u32` | init (last, `Release`) | `0x4D50_5343` ("MPSC") |
//! | 4 | `layout_version: u32` | init | [`LAYOUT_VERSION`] |
//! | 8 | `capacity: u32` | init | number of slots, a power of two |
//! | 12 | `slot_size: u32` | init | bytes per slot, a power of two ≥ 64 |
//! | 64 | `tail: u64` | producers (CAS) | next position to claim |
//! | 128 | `head: u64` | consumer | next position to consume |
//! | 136 | `consumer: u32` | consumer (CAS) | holder of the consumer role, 0 = none: pid (bits 0–21) and a digest of its start time (bits 22–31, `venom_shm::wait::holder_word`) |
//! | 192 | `futex: u32` | producers | bumped to wake the consumer |
//! | 196 | `sleeping: u32` | consumer | 1 while the consumer is (about to be) asleep |
//! | 200 | `rung: u32` | anyone | 1 after `Queue::ring`: wake the consumer without a message |
//! | 204 | `heavy: u32` | consumer | 1: the consumer sleeps with the asymmetric barrier (`venom_shm::barrier`), so a registered producer skips its full fence; 0 (an older consumer, or no `membarrier`): producers fence |
//! | 256 + i·slot_size | slot i: `state: u64` | both | see below |
//! | +8 | `meta: u64` | producer | message length (bits 0–30), cancelled (bit 31), sender id (high 32) |
//! | +16 | payload | producer | `slot_size − 16` bytes, copied as 64-bit atomics |
//!
//! Position p lives in slot `p % capacity`, on lap `p / capacity`. A slot's state word packs
//! the lap (30 bits, wrapping), a state (2 bits) and the writing process as a holder word (32
//! bits: its pid and a digest of its start time, `venom_shm::wait::holder_word`, so a pid
//! reused by another process does not keep a dead writer alive):
//!
//! | state | meaning | next |
//! |---|---|---|
//! | `FREE(lap)` | position `lap·capacity + i` may be claimed | producer: `WRITING` |
//! | `WRITING(lap, pid)` | process `pid` is writing the message | producer: `READY` |
//! | `READY(lap, pid)` | the message is complete | consumer: `FREE(lap + 1)` |
//! | `SKIPPED(lap, pid)` | the consumer gave up waiting for live process `pid` (stalled past [`LIVE_BOUND`](crate::LIVE_BOUND)); the position is consumed, the slot still `pid`'s | `pid`: `FREE(lap + 1)` (it sends again); consumer: `SKIPPED(lap + 1)` (a hole at the next lap), `FREE(lap + 1)` once `pid` is dead |
//!
//! Zeroed memory is an empty queue (every slot `FREE(0)`).

use crate::sync::{AtomicU32, AtomicU64};

/// "MPSC".
pub const MAGIC: u32 = 0x4D50_5343;
/// Version of this layout.
pub const LAYOUT_VERSION: u32 = 2;
/// Bytes of the header.
pub const HEADER_SIZE: usize = 256;
/// Bytes of a slot's header (state and meta words) before its payload.
pub const SLOT_HEADER_SIZE: usize = 16;
/// Smallest slot.
pub const MIN_SLOT_SIZE: u32 = 64;
/// Largest slot (1 MiB).
pub const MAX_SLOT_SIZE: u32 = 1 << 20;
/// Most slots (2^24).
pub const MAX_CAPACITY: u32 = 1 << 24;

/// Meta bit: the producer gave up on this message (its fill closure panicked).
pub(crate) const CANCELLED: u64 = 1 << 31;

/// Bits of the writer's holder word (pid and start-time digest).
const HOLDER_BITS: u32 = 32;
const STATE_SHIFT: u32 = HOLDER_BITS;
const LAP_SHIFT: u32 = HOLDER_BITS + 2;
const HOLDER_MASK: u64 = (1 << HOLDER_BITS) - 1;
pub(crate) const LAP_MASK: u64 = (1 << (64 - LAP_SHIFT)) - 1;

/// A decoded slot state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Free,
    Writing(u32),
    Ready(u32),
    Skipped(u32),
}

pub(crate) fn encode(lap: u64, state: State) -> u64 {
    let (tag, pid) = match state {
        State::Free => (0, 0),
        State::Writing(holder) => (1, u64::from(holder)),
        State::Ready(holder) => (2, u64::from(holder)),
        State::Skipped(holder) => (3, u64::from(holder)),
    };
    ((lap & LAP_MASK) << LAP_SHIFT) | (tag << STATE_SHIFT) | pid
}

/// The lap and state in a state word; `None` for a state no code writes.
pub(crate) fn decode(word: u64) -> Option<(u64, State)> {
    let lap = word >> LAP_SHIFT;
    let pid = (word & HOLDER_MASK) as u32;
    let state = match (word >> STATE_SHIFT) & 3 {
        0 if pid == 0 => State::Free,
        1 => State::Writing(pid),
        2 => State::Ready(pid),
        3 if pid != 0 => State::Skipped(pid),
        _ => return None,
    };
    Some((lap, state))
}

#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct Geometry {
    pub(crate) magic: AtomicU32,
    pub(crate) layout_version: AtomicU32,
    pub(crate) capacity: AtomicU32,
    pub(crate) slot_size: AtomicU32,
}

#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct Tail {
    pub(crate) tail: AtomicU64,
}

#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct ConsumerLine {
    pub(crate) head: AtomicU64,
    pub(crate) consumer: AtomicU32,
}

#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct Doorbell {
    pub(crate) futex: AtomicU32,
    pub(crate) sleeping: AtomicU32,
    pub(crate) rung: AtomicU32,
    pub(crate) heavy: AtomicU32,
}

/// The queue header.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) geometry: Geometry,
    pub(crate) tail: Tail,
    pub(crate) consumer: ConsumerLine,
    pub(crate) doorbell: Doorbell,
}

/// A slot's header; the payload words follow.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SlotHeader {
    pub(crate) state: AtomicU64,
    pub(crate) meta: AtomicU64,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<Header>() == HEADER_SIZE);
    assert!(offset_of!(Header, geometry) == 0);
    assert!(offset_of!(Geometry, magic) == 0);
    assert!(offset_of!(Geometry, layout_version) == 4);
    assert!(offset_of!(Geometry, capacity) == 8);
    assert!(offset_of!(Geometry, slot_size) == 12);
    assert!(offset_of!(Header, tail) == 64);
    assert!(offset_of!(Header, consumer) == 128);
    assert!(offset_of!(ConsumerLine, head) == 0);
    assert!(offset_of!(ConsumerLine, consumer) == 8);
    assert!(offset_of!(Header, doorbell) == 192);
    assert!(offset_of!(Doorbell, futex) == 0);
    assert!(offset_of!(Doorbell, sleeping) == 4);
    assert!(offset_of!(Doorbell, rung) == 8);
    assert!(offset_of!(Doorbell, heavy) == 12);
    assert!(size_of::<SlotHeader>() == SLOT_HEADER_SIZE);
    assert!(offset_of!(SlotHeader, state) == 0);
    assert!(offset_of!(SlotHeader, meta) == 8);
};

#[cfg(loom)]
impl Header {
    /// An all-zero header (a fresh region), loom build.
    pub(crate) fn new_zeroed() -> Self {
        Self {
            geometry: Geometry {
                magic: AtomicU32::new(0),
                layout_version: AtomicU32::new(0),
                capacity: AtomicU32::new(0),
                slot_size: AtomicU32::new(0),
            },
            tail: Tail {
                tail: AtomicU64::new(0),
            },
            consumer: ConsumerLine {
                head: AtomicU64::new(0),
                consumer: AtomicU32::new(0),
            },
            doorbell: Doorbell {
                futex: AtomicU32::new(0),
                sleeping: AtomicU32::new(0),
                rung: AtomicU32::new(0),
                heavy: AtomicU32::new(0),
            },
        }
    }
}

/// The shape of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Number of slots: a power of two, 1 ..= 2^24.
    pub capacity: u32,
    /// Bytes per slot: a power of two, 64 ..= 1 MiB. A message may have
    /// `slot_size - 16` bytes.
    pub slot_size: u32,
}

impl Config {
    /// A queue of `capacity` slots of `slot_size` bytes.
    pub const fn new(capacity: u32, slot_size: u32) -> Self {
        Self {
            capacity,
            slot_size,
        }
    }

    /// Most bytes a message may have.
    pub const fn payload_size(&self) -> usize {
        self.slot_size as usize - SLOT_HEADER_SIZE
    }

    /// Bytes of memory the queue needs.
    ///
    /// # Errors
    /// [`Error::InvalidGeometry`](crate::Error::InvalidGeometry).
    ///
    /// ```
    /// use venom_mpsc::Config;
    /// assert_eq!(Config::new(128, 128).region_size()?, 256 + 128 * 128);
    /// # Ok::<(), venom_mpsc::Error>(())
    /// ```
    pub fn region_size(&self) -> crate::Result<usize> {
        Ok(self.checked()?.total)
    }

    pub(crate) fn checked(&self) -> crate::Result<Shape> {
        use crate::Error::InvalidGeometry;
        if !self.capacity.is_power_of_two() || self.capacity > MAX_CAPACITY {
            return Err(InvalidGeometry {
                reason: "capacity must be a power of two, at most 2^24",
            });
        }
        if !self.slot_size.is_power_of_two()
            || self.slot_size < MIN_SLOT_SIZE
            || self.slot_size > MAX_SLOT_SIZE
        {
            return Err(InvalidGeometry {
                reason: "slot size must be a power of two from 64 to 1 MiB",
            });
        }
        let total = (self.capacity as usize)
            .checked_mul(self.slot_size as usize)
            .and_then(|s| s.checked_add(HEADER_SIZE))
            .filter(|&t| t <= isize::MAX as usize)
            .ok_or(InvalidGeometry {
                reason: "size overflows the address space",
            })?;
        Ok(Shape {
            capacity: self.capacity,
            slot_size: self.slot_size as usize,
            total,
        })
    }
}

/// A validated geometry, copied out of shared memory once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) capacity: u32,
    pub(crate) slot_size: usize,
    pub(crate) total: usize,
}

impl Shape {
    pub(crate) fn payload(&self) -> usize {
        self.slot_size - SLOT_HEADER_SIZE
    }
    pub(crate) fn words(&self) -> usize {
        self.payload() / 8
    }
    pub(crate) fn mask(&self) -> u64 {
        u64::from(self.capacity) - 1
    }
    pub(crate) fn lap(&self, pos: u64) -> u64 {
        (pos >> self.capacity.trailing_zeros()) & LAP_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for lap in [0, 1, LAP_MASK - 1, LAP_MASK] {
            for st in [
                State::Free,
                State::Writing(1),
                State::Ready(u32::MAX),
                State::Skipped(7),
            ] {
                assert_eq!(decode(encode(lap, st)), Some((lap, st)));
            }
        }
        assert_eq!(encode(LAP_MASK + 1, State::Free), encode(0, State::Free));
        assert_eq!(decode(7), None, "a free state carries no pid");
    }
}

/// A slot's payload: its words, accessed only through [`store`](Self::store) and
/// [`load`](Self::load).
///
/// The payload is the one part of a slot that the queue's protocol hands from side to side
/// rather than sharing: a producer writes it only between its claim and `Ready` [P2], the
/// consumer reads it only between `Ready` [C1] and `Free` [C2], and the next producer writes it
/// only after it saw `Free` [P1]. Under loom each payload also has a shadow
/// `loom::cell::UnsafeCell`, touched as written or read, so a model reports any two accesses
/// the protocol leaves unordered (a data race on plain memory) — including the load-buffering
/// outcome [C2]/[P1] prevent, which loom cannot produce as values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Payload<'a> {
    pub(crate) words: &'a [AtomicU64],
    #[cfg(loom)]
    pub(crate) shadow: &'a Shadow,
}

/// A payload's shadow under loom: loom's `UnsafeCell`, holding nothing, whose accesses loom
/// checks for ordering.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Shadow(pub(crate) loom::cell::UnsafeCell<()>);

// SAFETY: the cell holds `()`, which is never read or written: `with`/`with_mut` only record
// an access for loom's race checker, which is the point of sharing it between threads.
#[cfg(loom)]
unsafe impl Sync for Shadow {}

impl Payload<'_> {
    /// Writes `bytes` at byte `offset` (in bounds: the caller checked).
    #[inline]
    pub(crate) fn store(&self, offset: usize, bytes: &[u8]) {
        #[cfg(loom)]
        self.shadow.0.with_mut(|_| ());
        venom_shm::atomic_bytes::store_bytes(self.words, offset, bytes);
    }

    /// Copies the first `len` bytes (rounded up to whole words; in bounds: the caller checked)
    /// of `from`, a slot the caller still owns.
    pub(crate) fn copy_from(&self, from: &Payload<'_>, len: usize) {
        #[cfg(loom)]
        {
            from.shadow.0.with(|_| ());
            self.shadow.0.with_mut(|_| ());
        }
        for (to, word) in self.words.iter().zip(from.words).take(len.div_ceil(8)) {
            to.store(
                word.load(crate::sync::Ordering::Relaxed),
                crate::sync::Ordering::Relaxed,
            );
        }
    }

    /// Reads `dst.len()` bytes at byte `offset` (in bounds: the caller checked).
    #[inline]
    pub(crate) fn load(&self, offset: usize, dst: &mut [u8]) {
        #[cfg(loom)]
        self.shadow.0.with(|_| ());
        venom_shm::atomic_bytes::load_bytes(self.words, offset, dst);
    }
}
