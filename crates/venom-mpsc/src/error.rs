//! The error type of `venom-mpsc`.

/// What went wrong with a queue operation.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Every slot holds an unconsumed message; nothing was sent.
    #[error("queue is full")]
    Full,
    /// A message longer than a slot's payload; nothing was sent, nothing truncated.
    #[error("message is {len} bytes, a slot holds {max}")]
    TooLarge {
        /// Bytes offered.
        len: usize,
        /// Payload bytes per slot.
        max: usize,
    },
    /// The caller's buffer cannot hold the next message; it stays queued.
    #[error("message is {needed} bytes, buffer holds {got}")]
    BufferTooSmall {
        /// Length of the message.
        needed: usize,
        /// Length of the buffer given.
        got: usize,
    },
    /// This producer stalled mid-send (stopped, descheduled) past
    /// [`LIVE_BOUND`](crate::LIVE_BOUND) every time it sent the message, so the consumer skipped
    /// it each time: nothing was delivered; send it again.
    #[error("the consumer skipped this message each time: the producer stalled mid-send")]
    Stalled,
    /// Nothing arrived within the time allowed.
    #[error("timed out")]
    Timeout,
    /// Another live process (or another handle in this one) is the consumer.
    #[error("the consumer role is held by live process {pid}")]
    ConsumerBusy {
        /// Pid recorded as consumer.
        pid: u32,
    },
    /// An offset/length pair outside the message.
    #[error("range {offset}..{offset}+{len} is outside the {max}-byte message")]
    OutOfBounds {
        /// Start of the range.
        offset: usize,
        /// Length of the range.
        len: usize,
        /// Length of the message.
        max: usize,
    },
    /// The memory is too small for the header and slots it declares.
    #[error("memory is {len} bytes, the queue needs {needed}")]
    RegionTooSmall {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A geometry that cannot be built or was found invalid in the header.
    #[error("invalid queue geometry: {reason}")]
    InvalidGeometry {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// The header does not start with the queue magic.
    #[error("no queue header here (magic {found:#010x})")]
    BadMagic {
        /// The word found where the magic belongs.
        found: u32,
    },
    /// A layout version this build does not understand.
    #[error("queue layout version {found}, this build understands {expected}")]
    IncompatibleVersion {
        /// Version in the header.
        found: u32,
        /// Version of this build.
        expected: u32,
    },
    /// Shared state that no correct producer or consumer produces (another process scribbled
    /// on it). A message found corrupt is dropped, so the queue can go on.
    #[error("corrupt queue state: {reason}")]
    Corrupt {
        /// What was inconsistent.
        reason: &'static str,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
