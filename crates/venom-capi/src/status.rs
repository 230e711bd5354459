//! [`VenomStatus`], the thread-local last error, and the mapping from the Rust API's
//! [`ErrorKind`] (one status per kind).

use std::cell::RefCell;
use std::ffi::c_char;

use venom_channel::{Error, ErrorKind};

/// What a call did. 0 is success, positive values are outcomes that are not errors (nothing
/// to receive, nothing changed), negative values are errors. The numbers are part of the ABI:
/// they are never reused or reordered; new ones are appended.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenomStatus {
    /// Success.
    Ok = 0,
    /// Nothing to receive (a receive with timeout 0, or nothing came in time).
    Empty = 1,
    /// The data did not change since the version given.
    Unchanged = 2,
    /// A pointer argument that must not be NULL was NULL.
    NullArgument = -1,
    /// An argument out of range: a length above `PTRDIFF_MAX`, overlapping buffers, a handle
    /// already destroyed, an unknown value.
    InvalidArgument = -2,
    /// The name breaks the shared-memory name rules (or is not UTF-8).
    InvalidName = -3,
    /// A live daemon (or creator) already holds the name.
    AlreadyExists = -4,
    /// No channel or value of that name exists.
    NotFound = -5,
    /// The region's permissions do not admit this process.
    PermissionDenied = -6,
    /// The region was never initialised by its creator.
    NotInitialized = -7,
    /// The region is not a VenomMemory region.
    BadMagic = -8,
    /// A layout version this library does not understand.
    IncompatibleVersion = -9,
    /// Made by a process of another pointer width or byte order.
    AbiMismatch = -10,
    /// Shared memory no correct peer wrote.
    Corrupt = -11,
    /// Every client entry of the channel is held by a live process.
    ChannelFull = -12,
    /// The command queue is full; nothing was sent.
    QueueFull = -13,
    /// A command, value or reply larger than allowed; nothing was sent or written.
    TooLarge = -14,
    /// The caller's buffer is too small; nothing was copied, the length needed is returned.
    BufferTooSmall = -15,
    /// Nothing arrived, or no lock was had, in the time allowed.
    Timeout = -16,
    /// The daemon closed the channel or died.
    Disconnected = -17,
    /// The shared value has another size, alignment or tag.
    TypeMismatch = -18,
    /// An offset and length outside the shared value.
    OutOfBounds = -19,
    /// A system call failed (the last error message has the details).
    Io = -20,
    /// A role is held elsewhere: another process holds the lock, or `venom_daemon_run` is
    /// receiving on this daemon.
    Busy = -21,
    /// An option value that describes no channel or value (the message names it).
    InvalidConfig = -22,
    /// A reply to a client id the channel does not have.
    UnknownClient = -23,
    /// A writer process died in the middle of a write.
    WriterDead = -24,
    /// The value may be torn: a writer died mid-write and no whole value was written since.
    Poisoned = -25,
    /// The shared-memory filesystem has too little space for the region.
    InsufficientSpace = -26,
    /// `venom_shell_wait_reply` with no request waiting for its reply.
    NoPendingRequest = -27,
    /// The name is taken by a symlink, FIFO or other non-region (refused, never followed).
    NotARegion = -28,
    /// The region is owned by a user this process does not trust (see `VenomShellOptions`).
    UntrustedOwner = -29,
    /// An internal bug was caught at the library boundary (the message says where).
    Panic = -98,
    /// An error this version of the header does not know.
    Other = -99,
}

impl VenomStatus {
    /// The status with number `raw`, if there is one.
    pub fn from_raw(raw: i32) -> Option<Self> {
        ALL.into_iter().find(|s| *s as i32 == raw)
    }

    /// The status of an error kind: one per kind.
    pub fn of_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidName => Self::InvalidName,
            ErrorKind::InvalidConfig => Self::InvalidConfig,
            ErrorKind::UnknownClient => Self::UnknownClient,
            ErrorKind::AlreadyExists => Self::AlreadyExists,
            ErrorKind::NotFound => Self::NotFound,
            ErrorKind::PermissionDenied => Self::PermissionDenied,
            ErrorKind::NotInitialized => Self::NotInitialized,
            ErrorKind::BadMagic => Self::BadMagic,
            ErrorKind::IncompatibleVersion => Self::IncompatibleVersion,
            ErrorKind::AbiMismatch => Self::AbiMismatch,
            ErrorKind::Corrupt => Self::Corrupt,
            ErrorKind::ChannelFull => Self::ChannelFull,
            ErrorKind::QueueFull => Self::QueueFull,
            ErrorKind::TooLarge => Self::TooLarge,
            ErrorKind::BufferTooSmall => Self::BufferTooSmall,
            ErrorKind::Timeout => Self::Timeout,
            ErrorKind::Disconnected => Self::Disconnected,
            ErrorKind::TypeMismatch => Self::TypeMismatch,
            ErrorKind::OutOfBounds => Self::OutOfBounds,
            ErrorKind::WriterDead => Self::WriterDead,
            ErrorKind::Poisoned => Self::Poisoned,
            ErrorKind::Busy => Self::Busy,
            ErrorKind::InsufficientSpace => Self::InsufficientSpace,
            ErrorKind::Io => Self::Io,
            ErrorKind::NoPendingRequest => Self::NoPendingRequest,
            ErrorKind::NotARegion => Self::NotARegion,
            ErrorKind::UntrustedOwner => Self::UntrustedOwner,
            _ => Self::Other,
        }
    }

    /// A static, NUL-terminated description.
    fn text(self) -> &'static str {
        match self {
            Self::Ok => "ok\0",
            Self::Empty => "nothing to receive\0",
            Self::Unchanged => "unchanged\0",
            Self::NullArgument => "a required pointer argument was NULL\0",
            Self::InvalidArgument => "invalid argument\0",
            Self::InvalidName => "invalid name\0",
            Self::AlreadyExists => "already exists\0",
            Self::NotFound => "not found\0",
            Self::PermissionDenied => "permission denied\0",
            Self::NotInitialized => "never initialised by its creator\0",
            Self::BadMagic => "not a VenomMemory region\0",
            Self::IncompatibleVersion => "incompatible layout version\0",
            Self::AbiMismatch => "made on another ABI\0",
            Self::Corrupt => "corrupt shared memory\0",
            Self::ChannelFull => "channel full\0",
            Self::QueueFull => "command queue full\0",
            Self::TooLarge => "too large\0",
            Self::BufferTooSmall => "buffer too small\0",
            Self::Timeout => "timed out\0",
            Self::Disconnected => "daemon gone\0",
            Self::TypeMismatch => "type mismatch\0",
            Self::OutOfBounds => "out of bounds\0",
            Self::Io => "system call failed\0",
            Self::Busy => "busy\0",
            Self::InvalidConfig => "invalid configuration\0",
            Self::UnknownClient => "unknown client id\0",
            Self::WriterDead => "writer died mid-write\0",
            Self::Poisoned => "value may be torn\0",
            Self::InsufficientSpace => "not enough shared memory space\0",
            Self::NoPendingRequest => "no request waiting for its reply\0",
            Self::NotARegion => "not a shared-memory object\0",
            Self::UntrustedOwner => "owned by an untrusted user\0",
            Self::Panic => "internal panic\0",
            Self::Other => "other error\0",
        }
    }
}

/// Every status.
const ALL: [VenomStatus; 34] = [
    VenomStatus::Ok,
    VenomStatus::Empty,
    VenomStatus::Unchanged,
    VenomStatus::NullArgument,
    VenomStatus::InvalidArgument,
    VenomStatus::InvalidName,
    VenomStatus::AlreadyExists,
    VenomStatus::NotFound,
    VenomStatus::PermissionDenied,
    VenomStatus::NotInitialized,
    VenomStatus::BadMagic,
    VenomStatus::IncompatibleVersion,
    VenomStatus::AbiMismatch,
    VenomStatus::Corrupt,
    VenomStatus::ChannelFull,
    VenomStatus::QueueFull,
    VenomStatus::TooLarge,
    VenomStatus::BufferTooSmall,
    VenomStatus::Timeout,
    VenomStatus::Disconnected,
    VenomStatus::TypeMismatch,
    VenomStatus::OutOfBounds,
    VenomStatus::Io,
    VenomStatus::Busy,
    VenomStatus::InvalidConfig,
    VenomStatus::UnknownClient,
    VenomStatus::WriterDead,
    VenomStatus::Poisoned,
    VenomStatus::InsufficientSpace,
    VenomStatus::NoPendingRequest,
    VenomStatus::NotARegion,
    VenomStatus::UntrustedOwner,
    VenomStatus::Panic,
    VenomStatus::Other,
];

thread_local! {
    /// The last failure of this thread: its status and message.
    static LAST: RefCell<(VenomStatus, String)> = const { RefCell::new((VenomStatus::Ok, String::new())) };
}

/// Records `status` and `message` as this thread's last error; returns `status`.
pub(crate) fn fail(status: VenomStatus, message: impl Into<String>) -> VenomStatus {
    let message = message.into();
    LAST.with(|l| *l.borrow_mut() = (status, message));
    status
}

/// Records a Rust error as the last error; returns its status.
pub(crate) fn fail_with(e: &Error) -> VenomStatus {
    fail(VenomStatus::of_kind(e.kind()), e.to_string())
}

/// A description of `status` (any value: unknown ones give `"unknown status"`). The string is
/// static and NUL-terminated; never NULL, never freed.
#[unsafe(no_mangle)]
pub extern "C" fn venom_status_str(status: i32) -> *const c_char {
    let text = VenomStatus::from_raw(status).map_or("unknown status\0", VenomStatus::text);
    text.as_ptr().cast()
}

/// The status of this thread's last failed call (`VENOM_STATUS_OK` if none failed yet).
/// Successful calls leave it unchanged.
#[unsafe(no_mangle)]
pub extern "C" fn venom_last_error_code() -> i32 {
    LAST.with(|l| l.borrow().0 as i32)
}

/// Copies this thread's last error message (names, lengths, pids, OS error text) into `buf`
/// as a NUL-terminated string, `snprintf`-style: at most `len - 1` bytes and a NUL. Returns
/// the message's full length (without the NUL), so `venom_last_error_message(NULL, 0)` asks
/// for the size. Read it right after the failing call, on the same thread.
///
/// # Safety
/// `buf` is NULL with `len == 0`, or points to `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_last_error_message(buf: *mut c_char, len: usize) -> usize {
    crate::boundary::guard(|| {
        LAST.with(|l| {
            let last = l.borrow();
            let msg = last.1.as_bytes();
            if !buf.is_null() && len > 0 && len <= isize::MAX as usize {
                let n = msg.len().min(len - 1);
                // SAFETY: `buf` holds `len > n` writable bytes (caller); `msg` is ours.
                unsafe {
                    core::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
                    *buf.add(n) = 0;
                }
            }
            msg.len()
        })
    })
}
