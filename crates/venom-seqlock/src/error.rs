//! The error type of `venom-seqlock`.

/// What went wrong with a seqlock operation.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value longer than a slot's capacity; nothing was written.
    #[error("value is {len} bytes, the seqlock holds at most {max}")]
    TooLarge {
        /// Bytes offered.
        len: usize,
        /// Capacity of a slot.
        max: usize,
    },
    /// The caller's buffer cannot hold the snapshot; nothing was copied.
    #[error("snapshot is {needed} bytes, buffer holds {got}")]
    BufferTooSmall {
        /// Length of the consistent snapshot.
        needed: usize,
        /// Length of the buffer given.
        got: usize,
    },
    /// `try_read` made its one attempt while a write overlapped it.
    #[error("a write overlapped the read; try again")]
    Contended,
    /// No consistent snapshot (or no lock) within the time allowed.
    #[error("timed out")]
    Timeout,
    /// The process recorded as writer died in the middle of a write.
    #[error("writer process {pid} died in the middle of a write")]
    WriterDead {
        /// The dead writer's pid.
        pid: u32,
    },
    /// The value may be torn: a writer died mid-write (or panicked) and no complete value has
    /// been written since.
    #[error("value may be torn: a writer died mid-write and no whole value was written since")]
    Poisoned,
    /// Another live process (or another handle in this one) holds the writer lock.
    #[error("the writer lock is held by live process {pid}")]
    WriterBusy {
        /// Pid recorded in the lock.
        pid: u32,
    },
    /// An offset/length pair outside the value.
    #[error("range {offset}..{offset}+{len} is outside the {max}-byte value")]
    OutOfBounds {
        /// Start of the range.
        offset: usize,
        /// Length of the range.
        len: usize,
        /// Length of the value.
        max: usize,
    },
    /// The memory is too small for the header and slots it declares.
    #[error("memory is {len} bytes, the seqlock needs {needed}")]
    RegionTooSmall {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A geometry that cannot be built or was found invalid in the header.
    #[error("invalid seqlock geometry: {reason}")]
    InvalidGeometry {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// The header does not start with the seqlock magic (not initialised, or not a seqlock).
    #[error("no seqlock header here (magic {found:#010x})")]
    BadMagic {
        /// The word found where the magic belongs.
        found: u32,
    },
    /// A layout version this build does not understand.
    #[error("seqlock layout version {found}, this build understands {expected}")]
    IncompatibleVersion {
        /// Version in the header.
        found: u32,
        /// Version of this build.
        expected: u32,
    },
    /// Shared state that no correct writer produces (another process scribbled on it).
    #[error("corrupt seqlock state: {reason}")]
    Corrupt {
        /// What was inconsistent.
        reason: &'static str,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
