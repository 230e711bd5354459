//! The error type of `venom-shm`.

use crate::name::NameError;

/// What went wrong with a shared-memory region.
///
/// Each errno a caller can act on has its own variant; [`Error::Io`] holds only the rest.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name breaks one of the rules of [`validate_name`](crate::validate_name).
    #[error("invalid shared-memory name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: NameError,
    },
    /// `create` found an object of that name already (`EEXIST`).
    #[error("shared-memory object {name} already exists")]
    AlreadyExists {
        /// The object's name, with its leading `/`.
        name: String,
    },
    /// `open` found no object of that name (`ENOENT`).
    #[error("shared-memory object {name} does not exist")]
    NotFound {
        /// The object's name, with its leading `/`.
        name: String,
    },
    /// The object's permissions do not allow this access (`EACCES`/`EPERM`).
    #[error("permission denied for shared-memory object {name}")]
    PermissionDenied {
        /// The object's name, with its leading `/`.
        name: String,
    },
    /// The name is taken by something that is not a shared-memory object (a symlink, a FIFO,
    /// a directory): refused at once, never followed or waited on.
    #[error("{name} is a {kind}, not a shared-memory object")]
    NotARegion {
        /// The canonical name.
        name: String,
        /// What it is.
        kind: &'static str,
    },
    /// The object belongs to a user this process does not trust (see `Trust`).
    #[error("{name} is owned by uid {uid}, which this process does not trust")]
    UntrustedOwner {
        /// The canonical name.
        name: String,
        /// The owner.
        uid: u32,
    },
    /// The shared-memory filesystem has less free space than the region needs.
    ///
    /// Raised before the object is sized, so the caller gets this error instead of a `SIGBUS`
    /// on the first touch of a page that cannot be backed.
    #[error("shared-memory filesystem has {available} bytes free, region needs {requested} bytes")]
    InsufficientSpace {
        /// Bytes the region needs.
        requested: u64,
        /// Bytes free on the filesystem when checked.
        available: u64,
    },
    /// A length of zero, or one that does not fit this address space.
    #[error("invalid region length {len}: {reason}")]
    InvalidLength {
        /// The length asked for.
        len: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The existing object is shorter than needed (an empty object is always too short).
    #[error("shared-memory object {name} is {len} bytes, at least {min} needed")]
    TooSmall {
        /// The object's name, with its leading `/`.
        name: String,
        /// The object's real size, from `fstat`.
        len: u64,
        /// The least size accepted.
        min: u64,
    },
    /// Any other operating-system error.
    #[error("{op} failed for shared-memory object {name}")]
    Io {
        /// The system call that failed.
        op: &'static str,
        /// The object's name, with its leading `/`.
        name: String,
        /// The error the system reported.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// Maps an errno from `op` on `name` to the variant a caller can act on.
    pub(crate) fn from_errno(op: &'static str, name: &str, errno: rustix::io::Errno) -> Self {
        use rustix::io::Errno;
        let name = name.to_owned();
        match errno {
            Errno::EXIST => Error::AlreadyExists { name },
            Errno::NOENT => Error::NotFound { name },
            Errno::ACCESS | Errno::PERM => Error::PermissionDenied { name },
            other => Error::Io {
                op,
                name,
                source: other.into(),
            },
        }
    }
}
