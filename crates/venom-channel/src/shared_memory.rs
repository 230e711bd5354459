//! [`SharedMemory<T>`]: one named plain-data value shared by any number of processes, with the
//! feature set of the C++ `atom::connection::SharedMemory<T>` and its failure modes made safe.
//!
//! Built on `venom-shm` and the multi-writer `venom-seqlock` with two slots: any process may
//! write (writers exclude each other through the lock word, which records the holder's pid);
//! readers never take the lock and never wait for a writer; and because the newest value is
//! never the one being written, a writer killed mid-write never exposes a torn value: readers
//! keep the last whole value, and the next writer takes the dead holder's lock over within
//! milliseconds.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytemuck::Pod;
use venom_seqlock::{Config, Seqlock};
use venom_shm::{Access, CreateOptions, ShmRegion};

use crate::error::{Error, Result};

/// "VSMT".
const MAGIC: u32 = 0x5653_4D54;
const LAYOUT_VERSION: u32 = 1;
const HEADER: usize = 128;
/// Longest type tag, in bytes.
pub const MAX_TAG_LEN: usize = 64;
/// How long `write` and friends wait for the lock.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `read` retries before it returns the value it has (it never returns a torn one).
const READ_PATIENCE: Duration = Duration::from_secs(1);

/// The region header: type fingerprint and creator.
#[repr(C, align(64))]
#[derive(Debug)]
struct Header {
    magic: AtomicU32,
    layout_version: AtomicU32,
    size: AtomicU32,
    align: AtomicU32,
    creator_pid: AtomicU32,
    tag_len: AtomicU32,
    _reserved: AtomicU64,
    tag: [AtomicU64; MAX_TAG_LEN / 8],
    _pad: [AtomicU64; 4],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<Header>() == HEADER);
    assert!(offset_of!(Header, magic) == 0);
    assert!(offset_of!(Header, size) == 8);
    assert!(offset_of!(Header, align) == 12);
    assert!(offset_of!(Header, creator_pid) == 16);
    assert!(offset_of!(Header, tag_len) == 20);
    assert!(offset_of!(Header, tag) == 32);
};

/// Options for [`SharedMemory`]: the type tag, the mode, and who removes the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMemoryOptions {
    tag: String,
    mode: u32,
    unlink_on_drop: bool,
}

impl Default for SharedMemoryOptions {
    fn default() -> Self {
        Self {
            tag: String::new(),
            mode: 0o600,
            unlink_on_drop: true,
        }
    }
}

impl SharedMemoryOptions {
    /// Empty tag, mode `0o600`, the creator removes the name when it drops.
    pub fn new() -> Self {
        Self::default()
    }
    /// A tag stored with the value (a type name or version, up to 64 bytes); an opener with
    /// another tag gets [`Error::TypeMismatch`]. Longer tags are refused at creation.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_owned();
        self
    }
    /// Permission bits of the region (default `0o600`).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    /// Whether the creating handle removes the name when it drops (default `true`); with
    /// `false` the value outlives every handle until [`SharedMemory::unlink`].
    pub fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.unlink_on_drop = unlink;
        self
    }
}

/// A named `T` in shared memory, readable and writable from any process.
///
/// ```
/// use venom_channel::SharedMemory;
/// # let name = venom_shm::testing::unique_name("doc_sm");
/// let a = SharedMemory::<[u32; 4]>::create(&name)?;
/// let b = SharedMemory::<[u32; 4]>::open(&name)?; // usually another process
/// a.write(&[1, 2, 3, 4])?;
/// assert_eq!(b.read(), [1, 2, 3, 4]);
/// b.write_partial(&9u32, 4)?;
/// assert_eq!(a.read_partial::<u32>(4)?, 9);
/// assert!(b.write_partial(&9u32, 16).is_err()); // out of bounds: an error, never truncated
/// # Ok::<(), venom_channel::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedMemory<T: Pod> {
    // Field order is drop order: the view before the region.
    lock: Seqlock<'static>,
    name: String,
    creator: bool,
    region: ShmRegion,
    _type: PhantomData<fn() -> T>,
}

fn region_name(name: &str) -> String {
    format!("/venom_sm_{}", name.strip_prefix('/').unwrap_or(name))
}

fn describe(size: usize, align: usize, tag: &str) -> String {
    format!("{size} bytes, align {align}, tag {tag:?}")
}

impl<T: Pod> SharedMemory<T> {
    fn layout() -> Result<(Config, usize)> {
        let config = Config::multi(core::mem::size_of::<T>().max(1), 2);
        Ok((config, HEADER + config.region_size()?))
    }

    /// Creates the value `name` (region `/venom_sm_<name>`), zero-initialised.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if a live process created it (a name whose creator died is
    /// reclaimed), [`Error::InvalidName`], [`Error::PermissionDenied`], [`Error::Shm`].
    pub fn create(name: &str) -> Result<Self> {
        Self::create_with(name, &SharedMemoryOptions::new())
    }

    /// Opens the existing value `name`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::TypeMismatch`] naming both types, [`Error::BadMagic`],
    /// [`Error::IncompatibleVersion`], [`Error::NotInitialized`], [`Error::Corrupt`].
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, &SharedMemoryOptions::new())
    }

    /// Opens `name`, creating it if it does not exist.
    ///
    /// # Errors
    /// Those of [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(name: &str) -> Result<Self> {
        Self::open_or_create_with(name, &SharedMemoryOptions::new())
    }

    /// [`open_or_create`](Self::open_or_create) with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    pub fn open_or_create_with(name: &str, options: &SharedMemoryOptions) -> Result<Self> {
        for _ in 0..8 {
            match Self::open_with(name, options) {
                Err(Error::NotFound { .. }) => {}
                other => return other,
            }
            match Self::create_with(name, options) {
                Err(Error::AlreadyExists { .. }) => {} // created meanwhile: open it
                other => return other,
            }
        }
        Self::open_with(name, options)
    }

    /// [`create`](Self::create) with options.
    ///
    /// # Errors
    /// As [`create`](Self::create); [`Error::TooLarge`] for a tag over 64 bytes.
    pub fn create_with(name: &str, options: &SharedMemoryOptions) -> Result<Self> {
        if options.tag.len() > MAX_TAG_LEN {
            return Err(Error::TooLarge {
                len: options.tag.len(),
                max: MAX_TAG_LEN,
            });
        }
        let (config, total) = Self::layout()?;
        let shm_name = region_name(name);
        let create = CreateOptions::new()
            .mode(options.mode)
            .unlink_on_drop(options.unlink_on_drop);
        let region = match ShmRegion::create(&shm_name, total, create) {
            Ok(r) => r,
            Err(venom_shm::Error::AlreadyExists { .. }) => {
                Self::reclaim_if_dead(name, &shm_name)?;
                ShmRegion::create(&shm_name, total, create)?
            }
            Err(e) => return Err(e.into()),
        };
        // SAFETY: fresh mapping of `total >= HEADER` bytes, page-aligned; the reference is
        // kept only inside `Self` beside the region (see `lock`).
        let header = unsafe { &*region.as_ptr().cast::<Header>() };
        header
            .creator_pid
            .store(venom_shm::wait::current_pid(), Ordering::Relaxed);
        header
            .layout_version
            .store(LAYOUT_VERSION, Ordering::Relaxed);
        header
            .size
            .store(core::mem::size_of::<T>() as u32, Ordering::Relaxed);
        header
            .align
            .store(core::mem::align_of::<T>() as u32, Ordering::Relaxed);
        header
            .tag_len
            .store(options.tag.len() as u32, Ordering::Relaxed);
        let mut tag = [0u8; MAX_TAG_LEN];
        tag[..options.tag.len()].copy_from_slice(options.tag.as_bytes());
        for (w, chunk) in header.tag.iter().zip(tag.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            w.store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
        // SAFETY: the seqlock range follows the header inside the region (`total`), 64-aligned;
        // the view lives in `Self`, declared before the region, so it never outlives it.
        let lock = unsafe { Seqlock::init(region.as_ptr().add(HEADER), total - HEADER, config) }?;
        lock.writer()?.write(bytemuck::bytes_of(&T::zeroed()))?;
        // SYNC POINT: publishes the header and the first value to `open`'s Acquire.
        header.magic.store(MAGIC, Ordering::Release);
        Ok(Self {
            lock,
            name: name.to_owned(),
            creator: true,
            region,
            _type: PhantomData,
        })
    }

    /// [`open`](Self::open) with options (the tag to expect).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(name: &str, options: &SharedMemoryOptions) -> Result<Self> {
        let region = ShmRegion::open_with_min_len(&region_name(name), Access::ReadWrite, HEADER)
            .map_err(|e| match e {
                venom_shm::Error::TooSmall { .. } => Error::NotInitialized {
                    name: name.to_owned(),
                },
                other => other.into(),
            })?;
        // SAFETY: at least `HEADER` bytes (checked by the open), page-aligned, atomics only.
        let header = unsafe { &*region.as_ptr().cast::<Header>() };
        crate::init::await_header(
            name,
            &header.magic,
            MAGIC,
            &header.layout_version,
            LAYOUT_VERSION,
        )?;
        let (size, align) = (
            header.size.load(Ordering::Relaxed) as usize,
            header.align.load(Ordering::Relaxed) as usize,
        );
        let tag_len = (header.tag_len.load(Ordering::Relaxed) as usize).min(MAX_TAG_LEN);
        let mut tag = [0u8; MAX_TAG_LEN];
        for (w, chunk) in header.tag.iter().zip(tag.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        let found_tag = String::from_utf8_lossy(&tag[..tag_len]).into_owned();
        let (want_size, want_align) = (core::mem::size_of::<T>(), core::mem::align_of::<T>());
        if size != want_size || align != want_align || found_tag != options.tag {
            return Err(Error::TypeMismatch {
                expected: describe(want_size, want_align, &options.tag),
                found: describe(size, align, &found_tag),
            });
        }
        let (config, total) = Self::layout()?;
        if region.len() < total {
            return Err(Error::Corrupt {
                reason: "region smaller than its value needs",
            });
        }
        // SAFETY: the seqlock range lies inside the region (checked), 64-aligned; validated
        // by `from_raw`; the view lives in `Self` before the region.
        let lock = unsafe { Seqlock::from_raw(region.as_ptr().add(HEADER), total - HEADER) }?;
        if lock.capacity() != config.capacity || lock.slot_count() != config.slots {
            return Err(Error::Corrupt {
                reason: "seqlock does not match the value's type",
            });
        }
        Ok(Self {
            lock,
            name: name.to_owned(),
            creator: false,
            region,
            _type: PhantomData,
        })
    }

    fn reclaim_if_dead(name: &str, shm_name: &str) -> Result<()> {
        if let Ok(r) = ShmRegion::open_with_min_len(shm_name, Access::ReadOnly, HEADER) {
            // SAFETY: at least `HEADER` bytes, page-aligned, read atomically; the reference
            // does not outlive `r`.
            let header = unsafe { &*r.as_ptr().cast::<Header>() };
            let pid = header.creator_pid.load(Ordering::Relaxed);
            if pid != 0 && venom_shm::wait::process_alive(pid) {
                return Err(Error::AlreadyExists {
                    name: name.to_owned(),
                    pid,
                });
            }
        }
        match ShmRegion::unlink_name(shm_name) {
            Ok(()) | Err(venom_shm::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the name `name` (handles that exist keep working).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::InvalidName`], [`Error::PermissionDenied`].
    pub fn unlink(name: &str) -> Result<()> {
        Ok(ShmRegion::unlink_name(&region_name(name))?)
    }

    /// Writes the whole value, waiting up to [`DEFAULT_WRITE_TIMEOUT`] for another writer.
    ///
    /// # Errors
    /// [`Error::Timeout`] if a live writer holds the lock that long.
    pub fn write(&self, value: &T) -> Result<()> {
        self.write_timeout(value, DEFAULT_WRITE_TIMEOUT)
    }

    /// Writes the whole value, waiting at most `timeout` for another writer (a writer that
    /// died holding the lock is taken over within milliseconds).
    ///
    /// # Errors
    /// [`Error::Timeout`].
    pub fn write_timeout(&self, value: &T, timeout: Duration) -> Result<()> {
        self.lock
            .write_timeout(bytemuck::bytes_of(value), timeout)
            .map(drop)
            .map_err(timeout_error)
    }

    /// Reads the whole value: never torn, never waits for a lock, never blocks a writer.
    /// Should the memory be corrupt (scribbled by another process), returns the zero value;
    /// [`try_read`](Self::try_read) reports that instead.
    pub fn read(&self) -> T {
        self.try_read(READ_PATIENCE)
            .or_else(|| self.try_read(READ_PATIENCE))
            .unwrap_or_else(T::zeroed)
    }

    /// Reads the whole value, retrying at most `timeout` while writes overlap; `None` if no
    /// consistent snapshot was had in time (or the memory is corrupt).
    pub fn try_read(&self, timeout: Duration) -> Option<T> {
        let mut value = T::zeroed();
        match self
            .lock
            .read_timeout(bytemuck::bytes_of_mut(&mut value), timeout)
        {
            Ok(s) if s.len == core::mem::size_of::<T>() => Some(value),
            _ => None,
        }
    }

    /// Reads the value and applies `change` to it under the writer lock, then publishes it:
    /// a read-modify-write no other writer can interleave with.
    ///
    /// # Errors
    /// [`Error::Timeout`] (lock), [`Error::Corrupt`].
    pub fn update(&self, change: impl FnOnce(&mut T)) -> Result<()> {
        let mut w = self
            .lock
            .writer_timeout(DEFAULT_WRITE_TIMEOUT)
            .map_err(timeout_error)?;
        w.update_with(|slot| {
            let mut value = T::zeroed();
            let bytes = bytemuck::bytes_of_mut(&mut value);
            // The slot holds exactly one `T` (the value is always whole-size).
            let _ = slot.read_at(0, bytes);
            change(&mut value);
            let _ = slot.write_at(0, bytemuck::bytes_of(&value));
        })?;
        Ok(())
    }

    fn check(&self, offset: usize, len: usize) -> Result<()> {
        let size = core::mem::size_of::<T>();
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok(()),
            _ => Err(Error::OutOfBounds { offset, len, size }),
        }
    }

    /// Writes `data` at byte `offset` of the value, under the writer lock; the rest of the
    /// value is kept.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if `offset + size_of::<U>()` exceeds the value (nothing
    /// written); [`Error::Timeout`].
    pub fn write_partial<U: Pod>(&self, data: &U, offset: usize) -> Result<()> {
        let bytes = bytemuck::bytes_of(data);
        self.check(offset, bytes.len())?;
        let mut w = self
            .lock
            .writer_timeout(DEFAULT_WRITE_TIMEOUT)
            .map_err(timeout_error)?;
        w.update_with(|slot| slot.write_at(offset, bytes))?
            .1
            .map_err(Error::from)
    }

    /// Reads a `U` at byte `offset` of a consistent snapshot.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`]; [`Error::Timeout`] if no consistent snapshot was had in time.
    pub fn read_partial<U: Pod>(&self, offset: usize) -> Result<U> {
        self.check(offset, core::mem::size_of::<U>())?;
        let value = self.try_read(READ_PATIENCE).ok_or(Error::Timeout)?;
        let bytes = bytemuck::bytes_of(&value);
        Ok(bytemuck::pod_read_unaligned(
            &bytes[offset..offset + core::mem::size_of::<U>()],
        ))
    }

    /// Writes `bytes` at the start of the value, keeping the rest.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `bytes` is longer than the value (nothing written);
    /// [`Error::Timeout`].
    pub fn write_span(&self, bytes: &[u8]) -> Result<()> {
        let size = core::mem::size_of::<T>();
        if bytes.len() > size {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: size,
            });
        }
        let mut w = self
            .lock
            .writer_timeout(DEFAULT_WRITE_TIMEOUT)
            .map_err(timeout_error)?;
        w.update_with(|slot| slot.write_at(0, bytes))?
            .1
            .map_err(Error::from)
    }

    /// Copies the first `min(buf.len(), size())` bytes of a consistent snapshot into `buf` and
    /// returns how many: a prefix read, as the C++ `readSpan` does. (A buffer shorter than the
    /// value asks for fewer bytes; nothing is silently cut from what was asked.) Returns 0 if
    /// no snapshot could be had.
    pub fn read_span(&self, buf: &mut [u8]) -> usize {
        match self.try_read(READ_PATIENCE) {
            Some(value) => {
                let bytes = bytemuck::bytes_of(&value);
                let n = buf.len().min(bytes.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                n
            }
            None => 0,
        }
    }

    /// Sets the whole value to zero.
    ///
    /// # Errors
    /// [`Error::Timeout`].
    pub fn clear(&self) -> Result<()> {
        self.write(&T::zeroed())
    }

    /// Whether a writer holds the lock right now.
    pub fn is_occupied(&self) -> bool {
        self.lock.is_locked()
    }

    /// Blocks until the value changes (a write from any process), at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`].
    pub fn wait_for_change(&self, timeout: Duration) -> Result<()> {
        let since = self.lock.version();
        self.lock
            .wait_for_change(since, Some(timeout))
            .map(drop)
            .map_err(timeout_error)
    }

    /// The name given at creation or opening.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `size_of::<T>()`.
    pub fn size(&self) -> usize {
        core::mem::size_of::<T>()
    }

    /// Whether this handle created the value.
    pub fn is_creator(&self) -> bool {
        self.creator
    }

    /// Start of the mapped region (diagnostics; access it only atomically).
    pub fn as_ptr(&self) -> *const u8 {
        self.region.as_ptr()
    }
}

fn timeout_error(e: venom_seqlock::Error) -> Error {
    match e {
        venom_seqlock::Error::Timeout => Error::Timeout,
        other => other.into(),
    }
}
