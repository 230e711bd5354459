//! The bounded multi-producer, single-consumer command queue over shared memory.
//!
//! * [`Queue`]: a view over the queue's memory, from a shared mapping ([`Queue::init`],
//!   [`Queue::from_raw`]) or an [`OwnedQueue`].
//! * [`Producer`]: sends messages ([`Producer::try_send`], or written in place with
//!   [`Producer::try_send_with`]); any number, in any processes.
//! * [`Consumer`]: the one receiver ([`Queue::consumer`]): copy out
//!   ([`try_recv`](Consumer::try_recv)), borrow in place ([`Received`]), drain in batches, or
//!   block on the doorbell ([`recv_timeout`](Consumer::recv_timeout)).
//! * [`Config`]: capacity and slot size; [`Message`]: sender, pid, length; [`Error`].
//!
//! Fixed-size slots with Vyukov-style per-slot states. Messages from one producer arrive in
//! the order sent; none is lost or delivered twice; nothing is ever truncated (too long:
//! [`Error::TooLarge`]; too small a buffer: [`Error::BufferTooSmall`] and the message stays).
//!
//! # A producer that dies
//!
//! Each slot records the pid of the producer writing it. A slot left mid-send by a dead
//! process is skipped by the consumer after [`CLAIM_BOUND`]/[`STUCK_BOUND`] (milliseconds,
//! not seconds), counted in [`Consumer::abandoned`]; no other message is lost or reordered.
//! Processes must share one pid namespace.
//!
//! # A producer that stalls
//!
//! A live producer that stays mid-send past [`LIVE_BOUND`] (stopped, descheduled, hostile)
//! is skipped too ([`Consumer::skipped`]); its slot stays its own until it resumes, learns
//! that its message was skipped, and sends it again: nothing of a live producer is lost,
//! duplicated or reordered, and nobody waits for it longer than the bound.
//!
//! # Waiting
//!
//! A blocking receive polls briefly, then sleeps on a futex word in the queue's memory; a
//! producer makes the wake system call only when the consumer has announced that it sleeps.

mod consumer;
mod error;
mod layout;
mod owned;
mod queue;
/// The workspace's sync facade (`venom_shm::sync`), under this crate's usual name.
pub(crate) use venom_shm::sync;

pub use consumer::{
    CLAIM_BOUND, Consumer, LIVE_BOUND, Message, Received, STUCK_BOUND, Sleeper, Wake,
};
pub use error::{Error, Result};
pub use layout::{
    Config, HEADER_SIZE, LAYOUT_VERSION, MAGIC, MAX_CAPACITY, MAX_SLOT_SIZE, MIN_SLOT_SIZE,
    SLOT_HEADER_SIZE,
};
pub use owned::OwnedQueue;
pub use queue::{PayloadWriter, Producer, Queue};
