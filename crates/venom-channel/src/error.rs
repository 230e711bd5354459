//! The error type of `venom-channel`.

/// What went wrong with a channel.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The channel name breaks the shared-memory name rules.
    #[error("invalid channel name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: venom_shm::NameError,
    },
    /// A live daemon already serves this channel.
    #[error("channel {name} is already served by live process {pid}")]
    AlreadyExists {
        /// The channel name.
        name: String,
        /// The serving daemon.
        pid: u32,
    },
    /// No channel of that name exists.
    #[error("channel {name} does not exist")]
    NotFound {
        /// The channel name.
        name: String,
    },
    /// The channel's permissions do not admit this process.
    #[error("permission denied for channel {name}")]
    PermissionDenied {
        /// The channel name.
        name: String,
    },
    /// The region is not (yet) a channel: its daemon never finished initialising it.
    #[error("channel {name} was never initialised by a daemon")]
    NotInitialized {
        /// The channel name.
        name: String,
    },
    /// The region does not start with the magic `VNOM`.
    #[error("not a VenomMemory channel (magic {found:#010x})")]
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// A layout version this build does not understand.
    #[error("channel layout version {found}, this build understands {expected}")]
    IncompatibleVersion {
        /// Version in the header.
        found: u32,
        /// Version of this build.
        expected: u32,
    },
    /// Made by a process of another pointer width or byte order.
    #[error("channel made on another ABI (marker {found:#010x}, expected {expected:#010x})")]
    AbiMismatch {
        /// Marker in the header.
        found: u32,
        /// This build's marker.
        expected: u32,
    },
    /// A header field that no daemon writes (sizes, offsets, counts out of bounds).
    #[error("corrupt channel: {reason}")]
    Corrupt {
        /// Which field was inconsistent.
        reason: &'static str,
    },
    /// Every client entry is held by a live process.
    #[error("channel is full: all {max_clients} client entries are held by live processes")]
    ChannelFull {
        /// The channel's client limit.
        max_clients: u32,
    },
    /// The command queue is full; nothing was sent.
    #[error("command queue is full")]
    QueueFull,
    /// A command, value or reply larger than the channel allows; nothing was sent or written.
    #[error("{len} bytes offered, at most {max} allowed")]
    TooLarge {
        /// Bytes offered.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The caller's buffer is too small; nothing was copied and nothing was lost.
    #[error("{needed} bytes to deliver, buffer holds {got}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Buffer length.
        got: usize,
    },
    /// Nothing arrived within the time allowed.
    #[error("timed out")]
    Timeout,
    /// The daemon closed the channel or died.
    #[error("the daemon is gone (channel closed or its process died)")]
    Disconnected,
    /// The shared value is not of the type asked for.
    #[error("type mismatch: expected {expected}, found {found}")]
    TypeMismatch {
        /// What the caller's type is (size, alignment, tag).
        expected: String,
        /// What the memory holds.
        found: String,
    },
    /// An offset/length outside the shared value (the C++ class's `invalid_argument`).
    #[error("range {offset}..{offset}+{len} is outside the {size}-byte value")]
    OutOfBounds {
        /// Start of the range.
        offset: usize,
        /// Length of the range.
        len: usize,
        /// Size of the value.
        size: usize,
    },
    /// A shared-memory error not covered above.
    #[error(transparent)]
    Shm(venom_shm::Error),
    /// An error of the data seqlock.
    #[error(transparent)]
    Seqlock(#[from] venom_seqlock::Error),
    /// An error of the command queue.
    #[error(transparent)]
    Queue(venom_mpsc::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl From<venom_shm::Error> for Error {
    fn from(e: venom_shm::Error) -> Self {
        match e {
            venom_shm::Error::InvalidName { name, reason } => Error::InvalidName { name, reason },
            venom_shm::Error::NotFound { name } => Error::NotFound { name },
            venom_shm::Error::PermissionDenied { name } => Error::PermissionDenied { name },
            other => Error::Shm(other),
        }
    }
}

impl From<venom_mpsc::Error> for Error {
    fn from(e: venom_mpsc::Error) -> Self {
        match e {
            venom_mpsc::Error::Full => Error::QueueFull,
            venom_mpsc::Error::Timeout => Error::Timeout,
            venom_mpsc::Error::TooLarge { len, max } => Error::TooLarge { len, max },
            venom_mpsc::Error::BufferTooSmall { needed, got } => {
                Error::BufferTooSmall { needed, got }
            }
            other => Error::Queue(other),
        }
    }
}
