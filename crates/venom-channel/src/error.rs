//! The error type of `venom-channel`, and its flat [`ErrorKind`].
//!
//! Every error of the primitives underneath (`venom-shm`, `venom-seqlock`, `venom-mpsc`) is
//! flattened into one of these variants, so matching a channel error never needs those crates.

/// What went wrong with a channel or a shared value.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name breaks the shared-memory name rules.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: venom_shm::NameError,
    },
    /// A configuration or option value the caller gave cannot describe a channel or value.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Which value, and what it must be.
        reason: String,
    },
    /// `reply` to a client id the channel does not have.
    #[error("client id {client_id} does not exist on this channel")]
    UnknownClient {
        /// The id given.
        client_id: u32,
    },
    /// The name is taken: by a live daemon (its pid, when known), or a region that exists.
    #[error("{name} already exists{}", match pid { Some(p) => format!(" (served by live process {p})"), None => String::new() })]
    AlreadyExists {
        /// The name.
        name: String,
        /// The live process holding it, if known.
        pid: Option<u32>,
    },
    /// The name is taken by something that is not a shared-memory object (a symlink, a FIFO,
    /// a directory): refused at once, never followed or waited on.
    #[error("{name} is a {kind}, not a shared-memory object")]
    NotARegion {
        /// The region name.
        name: String,
        /// What it is.
        kind: &'static str,
    },
    /// The region belongs to a user this process does not trust (see
    /// [`ShellOptions::trust`](crate::ShellOptions::trust)).
    #[error(
        "{name} is owned by uid {uid}, which this process does not trust (trust it explicitly to connect)"
    )]
    UntrustedOwner {
        /// The region name.
        name: String,
        /// The owner.
        uid: u32,
    },
    /// No channel or value of that name exists.
    #[error("{name} does not exist")]
    NotFound {
        /// The name.
        name: String,
    },
    /// The region's permissions do not admit this process.
    #[error("permission denied for {name}")]
    PermissionDenied {
        /// The name.
        name: String,
    },
    /// The region is not (yet) initialised: its creator never finished.
    #[error("{name} was never initialised by its creator")]
    NotInitialized {
        /// The name.
        name: String,
    },
    /// The region does not start with the expected magic.
    #[error("not a VenomMemory region (magic {found:#010x})")]
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// A layout version this build does not understand.
    #[error("layout version {found}, this build understands {expected}")]
    IncompatibleVersion {
        /// Version in the header.
        found: u32,
        /// Version of this build.
        expected: u32,
    },
    /// Made by a process of another pointer width or byte order.
    #[error("made on another ABI (marker {found:#010x}, expected {expected:#010x})")]
    AbiMismatch {
        /// Marker in the header.
        found: u32,
        /// This build's marker.
        expected: u32,
    },
    /// Shared state no correct peer writes (sizes, offsets, lengths out of bounds).
    #[error("corrupt shared memory: {reason}")]
    Corrupt {
        /// What was inconsistent.
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
    /// A command, value or reply larger than allowed; nothing was sent or written.
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
    /// Nothing arrived (or no lock, or no consistent snapshot) within the time allowed.
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
    /// A writer process died in the middle of a write; readers keep the last whole value.
    #[error("writer process {pid} died in the middle of a write")]
    WriterDead {
        /// The dead writer's pid.
        pid: u32,
    },
    /// The value may be torn: a writer died mid-write and no whole value was written since.
    #[error("value may be torn: a writer died mid-write and no whole value was written since")]
    Poisoned,
    /// A role (the writer lock, the command consumer) is held by another live process.
    #[error("held by live process {pid}")]
    Busy {
        /// The holder.
        pid: u32,
    },
    /// The shared-memory filesystem has too little space for the region.
    #[error("shared-memory filesystem has {available} bytes free, region needs {requested} bytes")]
    InsufficientSpace {
        /// Bytes the region needs.
        requested: u64,
        /// Bytes free.
        available: u64,
    },
    /// `wait_reply_timeout` with no request waiting for its reply.
    #[error("no request is waiting for its reply")]
    NoPendingRequest,
    /// A system call failed for another reason.
    #[error("{op} failed for {name}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The region name.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What kind of [`Error`] happened, as a flat, `Copy` value: one kind per variant. The C API's
/// status codes map these one to one; new kinds are only ever appended.
///
/// ```
/// use venom_channel::{ErrorKind, ShellChannel};
/// let err = ShellChannel::connect("no_such_channel_anywhere").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`Error::InvalidName`].
    InvalidName,
    /// [`Error::InvalidConfig`].
    InvalidConfig,
    /// [`Error::UnknownClient`].
    UnknownClient,
    /// [`Error::AlreadyExists`].
    AlreadyExists,
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::PermissionDenied`].
    PermissionDenied,
    /// [`Error::NotInitialized`].
    NotInitialized,
    /// [`Error::BadMagic`].
    BadMagic,
    /// [`Error::IncompatibleVersion`].
    IncompatibleVersion,
    /// [`Error::AbiMismatch`].
    AbiMismatch,
    /// [`Error::Corrupt`].
    Corrupt,
    /// [`Error::ChannelFull`].
    ChannelFull,
    /// [`Error::QueueFull`].
    QueueFull,
    /// [`Error::TooLarge`].
    TooLarge,
    /// [`Error::BufferTooSmall`].
    BufferTooSmall,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::Disconnected`].
    Disconnected,
    /// [`Error::TypeMismatch`].
    TypeMismatch,
    /// [`Error::OutOfBounds`].
    OutOfBounds,
    /// [`Error::WriterDead`].
    WriterDead,
    /// [`Error::Poisoned`].
    Poisoned,
    /// [`Error::Busy`].
    Busy,
    /// [`Error::InsufficientSpace`].
    InsufficientSpace,
    /// [`Error::Io`].
    Io,
    /// [`Error::NoPendingRequest`].
    NoPendingRequest,
    /// [`Error::NotARegion`].
    NotARegion,
    /// [`Error::UntrustedOwner`].
    UntrustedOwner,
}

impl Error {
    /// The flat kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidName { .. } => ErrorKind::InvalidName,
            Error::InvalidConfig { .. } => ErrorKind::InvalidConfig,
            Error::UnknownClient { .. } => ErrorKind::UnknownClient,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::NotInitialized { .. } => ErrorKind::NotInitialized,
            Error::BadMagic { .. } => ErrorKind::BadMagic,
            Error::IncompatibleVersion { .. } => ErrorKind::IncompatibleVersion,
            Error::AbiMismatch { .. } => ErrorKind::AbiMismatch,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::ChannelFull { .. } => ErrorKind::ChannelFull,
            Error::QueueFull => ErrorKind::QueueFull,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
            Error::Timeout => ErrorKind::Timeout,
            Error::Disconnected => ErrorKind::Disconnected,
            Error::TypeMismatch { .. } => ErrorKind::TypeMismatch,
            Error::OutOfBounds { .. } => ErrorKind::OutOfBounds,
            Error::WriterDead { .. } => ErrorKind::WriterDead,
            Error::Poisoned => ErrorKind::Poisoned,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::InsufficientSpace { .. } => ErrorKind::InsufficientSpace,
            Error::Io { .. } => ErrorKind::Io,
            Error::NoPendingRequest => ErrorKind::NoPendingRequest,
            Error::NotARegion { .. } => ErrorKind::NotARegion,
            Error::UntrustedOwner { .. } => ErrorKind::UntrustedOwner,
        }
    }

    /// A configuration error.
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            reason: reason.into(),
        }
    }
}

impl From<venom_shm::Error> for Error {
    fn from(e: venom_shm::Error) -> Self {
        use venom_shm::Error as E;
        match e {
            E::InvalidName { name, reason } => Error::InvalidName { name, reason },
            E::AlreadyExists { name } => Error::AlreadyExists { name, pid: None },
            E::NotFound { name } => Error::NotFound { name },
            E::PermissionDenied { name } => Error::PermissionDenied { name },
            E::TooSmall { name, .. } => Error::NotInitialized { name },
            E::NotARegion { name, kind } => Error::NotARegion { name, kind },
            E::UntrustedOwner { name, uid } => Error::UntrustedOwner { name, uid },
            E::InsufficientSpace {
                requested,
                available,
            } => Error::InsufficientSpace {
                requested,
                available,
            },
            E::InvalidLength { len, reason } => {
                Error::config(format!("region length {len}: {reason}"))
            }
            E::Io { op, name, source } => Error::Io { op, name, source },
            other => Error::Io {
                op: "shared memory",
                name: String::new(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

impl From<venom_seqlock::Error> for Error {
    fn from(e: venom_seqlock::Error) -> Self {
        use venom_seqlock::Error as E;
        match e {
            E::TooLarge { len, max } => Error::TooLarge { len, max },
            E::BufferTooSmall { needed, got } => Error::BufferTooSmall { needed, got },
            E::Contended | E::Timeout => Error::Timeout,
            E::WriterDead { pid } => Error::WriterDead { pid },
            E::Poisoned => Error::Poisoned,
            E::WriterBusy { pid } => Error::Busy { pid },
            E::OutOfBounds { offset, len, max } => Error::OutOfBounds {
                offset,
                len,
                size: max,
            },
            E::IncompatibleVersion { found, expected } => {
                Error::IncompatibleVersion { found, expected }
            }
            E::Corrupt { reason } | E::InvalidGeometry { reason } => Error::Corrupt { reason },
            E::BadMagic { .. } => Error::Corrupt {
                reason: "no seqlock header where the data belongs",
            },
            E::RegionTooSmall { .. } => Error::Corrupt {
                reason: "region too small for its seqlock",
            },
            _ => Error::Corrupt {
                reason: "seqlock error",
            },
        }
    }
}

impl From<venom_mpsc::Error> for Error {
    fn from(e: venom_mpsc::Error) -> Self {
        use venom_mpsc::Error as E;
        match e {
            E::Full => Error::QueueFull,
            // The send stalled so long, each time, that the daemon stopped waiting for it:
            // nothing was sent, as after a timeout.
            E::Timeout | E::Stalled => Error::Timeout,
            E::TooLarge { len, max } => Error::TooLarge { len, max },
            E::BufferTooSmall { needed, got } => Error::BufferTooSmall { needed, got },
            E::ConsumerBusy { pid } => Error::Busy { pid },
            E::OutOfBounds { offset, len, max } => Error::OutOfBounds {
                offset,
                len,
                size: max,
            },
            E::IncompatibleVersion { found, expected } => {
                Error::IncompatibleVersion { found, expected }
            }
            E::Corrupt { reason } | E::InvalidGeometry { reason } => Error::Corrupt { reason },
            E::BadMagic { .. } => Error::Corrupt {
                reason: "no queue header where the commands belong",
            },
            E::RegionTooSmall { .. } => Error::Corrupt {
                reason: "region too small for its queue",
            },
            _ => Error::Corrupt {
                reason: "queue error",
            },
        }
    }
}
