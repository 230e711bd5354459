//! The latest-value seqlock: one writer at a time overwrites a value, any number of readers in
//! any process copy out consistent snapshots without writing shared memory and without ever
//! blocking the writer.
//!
//! * [`Seqlock`]: a view over the seqlock's memory, from a shared mapping
//!   ([`Seqlock::init`]/[`Seqlock::from_raw`]) or an [`OwnedSeqlock`]; the reader API
//!   ([`read`](Seqlock::read), [`try_read`](Seqlock::try_read),
//!   [`read_if_changed`](Seqlock::read_if_changed), [`wait_for_change`](Seqlock::wait_for_change)).
//! * [`Writer`]: the holder of the writer lock ([`Seqlock::writer`], or per write with
//!   [`Seqlock::write_timeout`] when several processes write), with
//!   [`write`](Writer::write), [`write_with`](Writer::write_with) and
//!   [`update_with`](Writer::update_with).
//! * [`Config`]: capacity and slot count; [`Snapshot`]: version and length of a read.
//! * [`Error`]: what went wrong.
//!
//! # Single or multi-slot
//!
//! | slots | memory | fits | a back-to-back writer |
//! |---|---|---|---|
//! | 1 | header + 1 × value | small values (≤ a few KiB), or a writer that pauses between writes | can overtake every copy of a large value: readers starve |
//! | N ≥ 2 | header + N × value | large values (frames, state blocks) rewritten continuously | a copy fails only if the writer laps all N slots during it |
//!
//! Each slot costs its 64-byte header plus the capacity rounded up to 64 bytes.
//!
//! # A writer that dies
//!
//! The writer lock records the holder's pid. A reader that finds a value mid-write for longer
//! than a short bound checks that pid and returns [`Error::WriterDead`] instead of spinning. A
//! writer that finds the lock held by a dead process takes it over; with one slot the torn
//! value is then reported as [`Error::Poisoned`] until a whole value is written.
//!
//! # Waiting
//!
//! [`Seqlock::wait_for_change`] spins briefly, then sleeps on a futex word in the seqlock's own
//! memory (shared, not `FUTEX_PRIVATE`). A writer makes the wake system call only when a waiter
//! has announced itself: a write nobody waits for makes no system call.

mod error;
mod layout;
mod owned;
mod seqlock;
/// The workspace's sync facade (`venom_shm::sync`), under this crate's usual name.
pub(crate) use venom_shm::sync;
mod writer;

pub use error::{Error, Result};
pub use layout::{Config, HEADER_SIZE, LAYOUT_VERSION, MAGIC, MAX_SLOTS, SLOT_HEADER_SIZE};
pub use owned::OwnedSeqlock;
pub use seqlock::{DEFAULT_READ_TIMEOUT, Seqlock, Snapshot, Waiter};
pub use writer::{SlotWriter, Writer};
