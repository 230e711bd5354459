//! [`ShmRegion`]: one mapped POSIX shared-memory object.

use core::ffi::c_void;
use core::ptr::{self, NonNull};
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, Stat, fchmod, fstat, ftruncate};
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

use crate::error::{Error, Result};
use crate::name::validate_name;

/// Where Linux keeps POSIX shared-memory objects.
const SHM_DIR: &str = "/dev/shm";

/// How a region is mapped by [`ShmRegion::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Readable and writable (`O_RDWR`, `PROT_READ | PROT_WRITE`).
    ReadWrite,
    /// Readable only (`O_RDONLY`, `PROT_READ`): a store into the mapping faults.
    ReadOnly,
}

/// Options for [`ShmRegion::create`].
///
/// ```
/// use venom_shm::CreateOptions;
/// let opts = CreateOptions::new().mode(0o640).prefault(true).unlink_on_drop(false);
/// assert_eq!(opts.permissions(), 0o640);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    mode: u32,
    prefault: bool,
    unlink_on_drop: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl CreateOptions {
    /// Mode `0o600` (owner only), no prefault, unlink when the creating handle drops.
    pub const fn new() -> Self {
        Self {
            mode: 0o600,
            prefault: false,
            unlink_on_drop: true,
        }
    }

    /// Sets the permission bits of the new object (only the low 9 bits are used).
    ///
    /// The mode is applied with `fchmod` after creation, so the process umask does not narrow
    /// it.
    pub const fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Reserves every page of the object (`fallocate`) and maps them up front
    /// (`MAP_POPULATE`).
    ///
    /// Without it, pages are allocated on first touch; with it, running out of space is an
    /// [`Error::InsufficientSpace`] at creation, never later, and the first writes do not fault.
    pub const fn prefault(mut self, prefault: bool) -> Self {
        self.prefault = prefault;
        self
    }

    /// Whether dropping the creating [`ShmRegion`] unlinks the name (default `true`).
    pub const fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.unlink_on_drop = unlink;
        self
    }

    /// The permission bits that will be applied.
    pub const fn permissions(&self) -> u32 {
        self.mode
    }
}

/// Whose regions a process accepts when it opens one: its own user's always; another
/// user's only when named here (root's, for clients of a system daemon, or one uid).
///
/// ```
/// use venom_shm::Trust;
/// let t = Trust::own().also_root().also_uid(1000);
/// assert!(t.accepts(0) && t.accepts(1000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trust {
    uid: Option<u32>,
    root: bool,
}

impl Trust {
    /// Only this process's effective user.
    pub const fn own() -> Self {
        Self {
            uid: None,
            root: false,
        }
    }

    /// Also regions owned by root (uid 0): a system daemon's.
    pub const fn also_root(mut self) -> Self {
        self.root = true;
        self
    }

    /// Also regions owned by `uid`.
    pub const fn also_uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Whether a region owned by `owner` is accepted.
    pub fn accepts(&self, owner: u32) -> bool {
        owner == rustix::process::geteuid().as_raw()
            || (self.root && owner == 0)
            || self.uid == Some(owner)
    }
}

/// How [`ShmRegion::open_with`] opens an existing object.
///
/// ```
/// use venom_shm::{Access, OpenOptions, Trust};
/// let opts = OpenOptions::new(Access::ReadOnly).min_len(128).trust(Trust::own().also_root());
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    access: Access,
    min_len: usize,
    trust: Trust,
}

impl OpenOptions {
    /// Mapped with `access`, at least one byte, owned by this process's user.
    pub const fn new(access: Access) -> Self {
        Self {
            access,
            min_len: 1,
            trust: Trust::own(),
        }
    }

    /// Refuses an object shorter than `min_len` bytes ([`Error::TooSmall`]) before mapping it.
    pub const fn min_len(mut self, min_len: usize) -> Self {
        self.min_len = min_len;
        self
    }

    /// Which owners to accept (default: this process's user only).
    pub const fn trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self
    }
}

/// A mapped POSIX shared-memory object.
///
/// The mapping stays valid until the handle drops, even if the name is unlinked meanwhile.
/// The bytes may be changed at any time by any process that maps the object, so this type only
/// exposes a raw pointer: build atomics over it, never `&[u8]`.
///
/// One hazard no mapping can rule out: if another process shrinks the object with `ftruncate`,
/// touching the lost pages raises `SIGBUS`. Give objects a restrictive mode
/// ([`CreateOptions::mode`]) so only trusted processes can do that.
#[derive(Debug)]
pub struct ShmRegion {
    ptr: NonNull<u8>,
    len: usize,
    name: String,
    access: Access,
    creator: bool,
    unlink_on_drop: bool,
    /// The object's identity: a name is unlinked only while it still names this inode.
    dev: u64,
    ino: u64,
}

// SAFETY: the handle owns its mapping; it holds only a pointer and plain fields, and the pointer
// is never turned into references by this type. Moving it to another thread is like moving a
// `Vec`'s allocation.
unsafe impl Send for ShmRegion {}
// SAFETY: every `&self` method only reads the handle's own plain fields; what callers do with
// the raw pointer is governed by their own `unsafe` contracts.
unsafe impl Sync for ShmRegion {}

impl ShmRegion {
    /// Creates the object `name` exclusively (`O_CREAT | O_EXCL`), sizes it to `len` bytes and
    /// maps it read-write. The new bytes are zero.
    ///
    /// # Errors
    /// * [`Error::InvalidName`] if `name` breaks a rule of [`validate_name`](crate::validate_name);
    /// * [`Error::InvalidLength`] if `len` is zero or does not fit this address space;
    /// * [`Error::InsufficientSpace`] if `/dev/shm` has less than `len` bytes free;
    /// * [`Error::AlreadyExists`] if the name is taken;
    /// * [`Error::PermissionDenied`], or [`Error::Io`] for other system errors.
    ///
    /// Nothing is left behind on failure: an object created before a later step failed is
    /// unlinked again.
    ///
    /// # Examples
    /// ```
    /// use venom_shm::{CreateOptions, Error, ShmRegion};
    /// # let name = venom_shm::testing::unique_name("doc_create");
    /// let region = ShmRegion::create(&name, 1 << 16, CreateOptions::new().prefault(true))?;
    /// assert_eq!(region.len(), 1 << 16);
    /// assert!(matches!(
    ///     ShmRegion::create(&name, 64, CreateOptions::new()),
    ///     Err(Error::AlreadyExists { .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn create(name: &str, len: usize, options: CreateOptions) -> Result<Self> {
        let name = canonical(name)?;
        let len64 = u64::try_from(len).map_err(|_| Error::InvalidLength {
            len: u64::MAX,
            reason: "does not fit in 64 bits",
        })?;
        if len == 0 {
            return Err(Error::InvalidLength {
                len: 0,
                reason: "a region needs at least one byte",
            });
        }
        if len > isize::MAX as usize {
            return Err(Error::InvalidLength {
                len: len64,
                reason: "larger than the address space allows",
            });
        }
        check_free_space(len64)?;

        let fd = open_path(
            &name,
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
            Mode::from_raw_mode(options.mode),
        )?;
        let stat = fstat(&fd).map_err(|e| Error::from_errno("fstat", &name, e))?;
        // From here on, a failure must unlink the half-made object (and only it).
        let unlink_guard = UnlinkGuard(Some((&name, identity(&stat))));

        fchmod(&fd, Mode::from_raw_mode(options.mode))
            .map_err(|e| Error::from_errno("fchmod", &name, e))?;
        ftruncate(&fd, len64).map_err(|e| Error::from_errno("ftruncate", &name, e))?;
        if options.prefault {
            rustix::fs::fallocate(&fd, rustix::fs::FallocateFlags::empty(), 0, len64).map_err(
                |e| match e {
                    rustix::io::Errno::NOSPC => Error::InsufficientSpace {
                        requested: len64,
                        available: shm_available_bytes().unwrap_or(0),
                    },
                    other => Error::from_errno("fallocate", &name, other),
                },
            )?;
        }
        let ptr = map(&fd, len, Access::ReadWrite, options.prefault, &name)?;
        core::mem::forget(unlink_guard);
        Ok(Self {
            ptr,
            len,
            name,
            access: Access::ReadWrite,
            creator: true,
            unlink_on_drop: options.unlink_on_drop,
            dev: identity(&stat).0,
            ino: identity(&stat).1,
        })
    }

    /// Opens the existing object `name` and maps all of it, if it is a regular file owned by
    /// this process's user (see [`open_with`](Self::open_with)).
    ///
    /// # Errors
    /// As [`open_with`](Self::open_with).
    ///
    /// # Examples
    /// ```
    /// use venom_shm::{Access, Error, ShmRegion};
    /// # let name = venom_shm::testing::unique_name("doc_open");
    /// assert!(matches!(ShmRegion::open(&name, Access::ReadOnly), Err(Error::NotFound { .. })));
    /// ```
    pub fn open(name: &str, access: Access) -> Result<Self> {
        Self::open_with(name, OpenOptions::new(access))
    }

    /// Opens the existing object `name` and maps all of it.
    ///
    /// The object is opened with `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC` and checked with
    /// `fstat` before anything is mapped: a symlink, a FIFO or any other non-regular file is
    /// an error at once (never a hang), an object owned by a user `options` does not trust is
    /// refused, and the size comes from `fstat`, so an empty object is an error here rather
    /// than a `SIGBUS` later.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::NotFound`], [`Error::NotARegion`],
    /// [`Error::UntrustedOwner`], [`Error::PermissionDenied`] (the object's mode does not grant
    /// the access), [`Error::TooSmall`], [`Error::Io`].
    pub fn open_with(name: &str, options: OpenOptions) -> Result<Self> {
        let name = canonical(name)?;
        let flags = match options.access {
            Access::ReadWrite => OFlags::RDWR,
            Access::ReadOnly => OFlags::RDONLY,
        };
        let fd = open_path(&name, flags, Mode::empty())?;
        let stat = fstat(&fd).map_err(|e| Error::from_errno("fstat", &name, e))?;
        check_regular(&name, &stat)?;
        if !options.trust.accepts(stat.st_uid) {
            return Err(Error::UntrustedOwner {
                name,
                uid: stat.st_uid,
            });
        }
        // `st_size` is never negative for a shm object; treat a negative one as empty.
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        let min = (options.min_len as u64).max(1);
        if size < min {
            return Err(Error::TooSmall {
                name,
                len: size,
                min,
            });
        }
        let len = usize::try_from(size)
            .ok()
            .filter(|&l| l <= isize::MAX as usize)
            .ok_or(Error::InvalidLength {
                len: size,
                reason: "object is larger than the address space allows",
            })?;
        let ptr = map(&fd, len, options.access, false, &name)?;
        let (dev, ino) = identity(&stat);
        Ok(Self {
            ptr,
            len,
            name,
            access: options.access,
            creator: false,
            unlink_on_drop: false,
            dev,
            ino,
        })
    }

    /// Removes the name `name`; mappings that exist stay valid until they are dropped.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::Io`].
    pub fn unlink_name(name: &str) -> Result<()> {
        let name = canonical(name)?;
        rustix::fs::unlinkat(CWD, path_of(&name).as_str(), AtFlags::empty())
            .map_err(|e| Error::from_errno("shm_unlink", &name, e))
    }

    /// Removes this region's name now, if it still names this region's object (a successor
    /// that replaced it is left alone); the mapping stays valid. After this the handle no
    /// longer unlinks on drop.
    ///
    /// # Errors
    /// As [`unlink_name`](Self::unlink_name); [`Error::NotFound`] if the name is gone or names
    /// another object now.
    pub fn unlink(&mut self) -> Result<()> {
        self.unlink_on_drop = false;
        unlink_if_same(&self.name, (self.dev, self.ino))
    }

    /// Removes `name` if it is an empty object (size 0) of this user, created more than
    /// `min_age` ago: left by a creator that died between creating and sizing it. A younger
    /// one is being created right now and is left alone (`Ok(false)`), as is anything else.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::Io`].
    pub fn unlink_if_stale_empty(name: &str, min_age: std::time::Duration) -> Result<bool> {
        let name = canonical(name)?;
        let path = path_of(&name);
        let stat = match rustix::fs::statat(CWD, path.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) => s,
            Err(rustix::io::Errno::NOENT) => return Ok(false),
            Err(e) => return Err(Error::from_errno("stat", &name, e)),
        };
        let changed = std::time::UNIX_EPOCH
            + std::time::Duration::new(stat.st_ctime as u64, stat.st_ctime_nsec as u32);
        let old = std::time::SystemTime::now()
            .duration_since(changed)
            .is_ok_and(|age| age >= min_age);
        if check_regular(&name, &stat).is_err()
            || stat.st_size != 0
            || !Trust::own().accepts(stat.st_uid)
            || !old
        {
            return Ok(false);
        }
        Ok(unlink_if_same(&name, identity(&stat)).is_ok())
    }

    /// Makes this handle unlink the name when it drops (or stop doing so).
    pub fn set_unlink_on_drop(&mut self, unlink: bool) {
        self.unlink_on_drop = unlink;
    }

    /// Length of the mapping in bytes (never zero).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Start of the mapping: page-aligned, valid for [`len`](Self::len) bytes while `self`
    /// lives, writable only with [`Access::ReadWrite`].
    ///
    /// Another process may change any byte at any time: access it only through atomics.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The canonical name, with its leading `/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How the region is mapped.
    pub fn access(&self) -> Access {
        self.access
    }

    /// Whether this handle created the object (rather than opened it).
    pub fn is_creator(&self) -> bool {
        self.creator
    }
}

impl Drop for ShmRegion {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `map`, owned by this handle; no
        // reference into it can outlive `self`, since the type hands out only raw pointers whose
        // users promise not to use them past the region's life.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast::<c_void>(), self.len) };
        if self.unlink_on_drop {
            let _ = unlink_if_same(&self.name, (self.dev, self.ino));
        }
    }
}

/// Free bytes on the shared-memory filesystem (`statvfs("/dev/shm")`: `f_bavail * f_frsize`).
///
/// # Errors
/// [`Error::Io`] if `/dev/shm` cannot be queried.
pub fn shm_available_bytes() -> Result<u64> {
    let st = rustix::fs::statvfs(SHM_DIR).map_err(|e| Error::from_errno("statvfs", SHM_DIR, e))?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

fn canonical(name: &str) -> Result<String> {
    validate_name(name).map_err(|reason| Error::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

fn check_free_space(requested: u64) -> Result<()> {
    // A system without /dev/shm keeps shm objects elsewhere; there the check cannot be made.
    let Ok(available) = shm_available_bytes() else {
        return Ok(());
    };
    if requested > available {
        return Err(Error::InsufficientSpace {
            requested,
            available,
        });
    }
    Ok(())
}

fn map(
    fd: &OwnedFd,
    len: usize,
    access: Access,
    populate: bool,
    name: &str,
) -> Result<NonNull<u8>> {
    let prot = match access {
        Access::ReadWrite => ProtFlags::READ | ProtFlags::WRITE,
        Access::ReadOnly => ProtFlags::READ,
    };
    let flags = if populate {
        MapFlags::SHARED | MapFlags::POPULATE
    } else {
        MapFlags::SHARED
    };
    // SAFETY: a fresh mapping at an address the kernel chooses (null hint) aliases no Rust
    // object; `len` is non-zero and no larger than the object (checked by the callers).
    let ptr = unsafe { mmap(ptr::null_mut(), len, prot, flags, fd, 0) }
        .map_err(|e| Error::from_errno("mmap", name, e))?;
    NonNull::new(ptr.cast::<u8>()).ok_or(Error::Io {
        op: "mmap",
        name: name.to_owned(),
        source: std::io::Error::other("mmap returned null"),
    })
}

/// Unlinks a half-created object unless forgotten.
struct UnlinkGuard<'a>(Option<(&'a str, (u64, u64))>);

impl Drop for UnlinkGuard<'_> {
    fn drop(&mut self) {
        if let Some((name, id)) = self.0 {
            let _ = unlink_if_same(name, id);
        }
    }
}

/// The file of canonical name `name` (`/x` → `/dev/shm/x`).
fn path_of(name: &str) -> String {
    format!("{SHM_DIR}{name}")
}

/// `shm_open` as glibc does it, plus `O_NOFOLLOW | O_NONBLOCK`: a symlink is refused and a
/// FIFO cannot block the open.
fn open_path(name: &str, flags: OFlags, mode: Mode) -> Result<OwnedFd> {
    let flags = flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    rustix::fs::openat(CWD, path_of(name).as_str(), flags, mode).map_err(|e| match e {
        rustix::io::Errno::LOOP => Error::NotARegion {
            name: name.to_owned(),
            kind: "symlink",
        },
        other => Error::from_errno("shm_open", name, other),
    })
}

/// A region is a regular file.
fn check_regular(name: &str, stat: &Stat) -> Result<()> {
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => return Ok(()),
        FileType::Fifo => "FIFO",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Socket => "socket",
        FileType::CharacterDevice | FileType::BlockDevice => "device",
        FileType::Unknown => "unknown file type",
    };
    Err(Error::NotARegion {
        name: name.to_owned(),
        kind,
    })
}

/// `(st_dev, st_ino)`.
#[allow(clippy::unnecessary_cast)] // their widths differ between targets
fn identity(stat: &Stat) -> (u64, u64) {
    (stat.st_dev as u64, stat.st_ino as u64)
}

/// Unlinks `name` only while it names the object `id` (a successor created since is kept).
/// Between the check and the unlink a successor could still appear; the window is one system
/// call wide, not the lifetime of a process.
fn unlink_if_same(name: &str, id: (u64, u64)) -> Result<()> {
    let path = path_of(name);
    let stat = rustix::fs::statat(CWD, path.as_str(), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::from_errno("stat", name, e))?;
    if identity(&stat) != id {
        return Err(Error::NotFound {
            name: name.to_owned(),
        });
    }
    rustix::fs::unlinkat(CWD, path.as_str(), AtFlags::empty())
        .map_err(|e| Error::from_errno("shm_unlink", name, e))
}
