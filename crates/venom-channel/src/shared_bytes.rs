//! [`SharedBytes`]: one named value of a size, alignment and tag chosen at run time, shared by
//! any number of processes — the engine under [`SharedMemory<T>`](crate::SharedMemory) and
//! what the C, Python and Dart bindings use.
//!
//! Built on `venom-shm` and the multi-writer `venom-seqlock` with two slots: any process may
//! write (writers exclude each other through the lock word, which records the holder's pid);
//! readers never take the lock and never wait for a writer; and because the newest value is
//! never the one being written, a writer killed mid-write never exposes a torn value: readers
//! keep the last whole value, and the next writer takes the dead holder's lock over within
//! milliseconds.

use std::sync::Arc;
use std::time::Duration;

use venom_seqlock::{Config, Seqlock, SlotWriter};
use venom_shm::sync::{AtomicU32, AtomicU64, Ordering};
use venom_shm::{Access, CreateOptions, OpenOptions, ShmRegion, Trust};

use crate::error::{Error, Result};
use crate::layout::shared_region_name;

/// "VSMT".
pub(crate) const MAGIC: u32 = 0x5653_4D54;
const LAYOUT_VERSION: u32 = 1;
const HEADER: usize = 128;
/// Longest type tag, in bytes.
pub const MAX_TAG_LEN: usize = 64;
/// How long `write` and friends wait for the lock.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The creator's start time (0: unknown): with its pid, it names one process.
    creator_start: AtomicU64,
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

/// Options for [`SharedMemory`](crate::SharedMemory) and [`SharedBytes`]: the type tag, the mode, and who removes the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMemoryOptions {
    tag: String,
    mode: u32,
    unlink_on_drop: bool,
    trust: Trust,
}

impl Default for SharedMemoryOptions {
    fn default() -> Self {
        Self {
            tag: String::new(),
            mode: 0o600,
            unlink_on_drop: true,
            trust: Trust::own(),
        }
    }
}

impl SharedMemoryOptions {
    /// Empty tag, mode `0o600`, the creator removes the name when it drops.
    pub fn new() -> Self {
        Self::default()
    }
    /// A tag stored with the value (a type name or version, up to 64 bytes); an opener with
    /// another tag gets [`Error::TypeMismatch`]. Longer tags are [`Error::InvalidConfig`].
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
    /// `false` the value outlives every handle until [`SharedBytes::unlink`].
    pub fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.unlink_on_drop = unlink;
        self
    }
    /// Whose values to open: by default only this process's user's; another user's is
    /// [`Error::UntrustedOwner`] unless trusted here.
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self
    }
}

/// How long `read` retries before it gives up (it never returns a torn value).
pub(crate) const READ_PATIENCE: Duration = Duration::from_secs(1);
/// The largest alignment a value may ask for.
pub const MAX_ALIGN: usize = 4096;

/// A named value of `size` bytes in shared memory, readable and writable from any process;
/// its fingerprint (size, alignment, tag) is checked by every opener.
///
/// ```
/// use venom_channel::{SharedBytes, SharedMemoryOptions};
/// # let name = venom_shm::testing::unique_name("doc_sb");
/// let options = SharedMemoryOptions::new().tag("pose v1");
/// let a = SharedBytes::create(&name, 16, 8, &options)?;
/// let b = SharedBytes::open(&name, 16, 8, &options)?; // usually another process
/// a.write(&[7; 16])?;
/// let mut buf = [0u8; 16];
/// b.read(&mut buf)?;
/// assert_eq!(buf, [7; 16]);
/// b.write_at(8, &[1, 2])?;
/// let mut two = [0u8; 2];
/// a.read_at(8, &mut two)?;
/// assert_eq!(two, [1, 2]);
/// assert!(SharedBytes::open(&name, 32, 8, &options).is_err()); // another size: TypeMismatch
/// # Ok::<(), venom_channel::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedBytes {
    // Field order is drop order: the view before the region.
    pub(crate) lock: Seqlock<'static>,
    size: usize,
    align: usize,
    name: String,
    creator: bool,
    /// Held for its mapping, which the views point into (read only by `as_ptr`).
    #[cfg_attr(not(any(feature = "test-util", feature = "async")), allow(dead_code))]
    pub(crate) region: Arc<ShmRegion>,
}

fn describe(size: usize, align: usize, tag: &str) -> String {
    format!("{size} bytes, align {align}, tag {tag:?}")
}

/// The seqlock shape and region size of a value of `size` bytes.
fn layout(size: usize, align: usize, options: &SharedMemoryOptions) -> Result<(Config, usize)> {
    if size == 0 || u32::try_from(size).is_err() {
        return Err(Error::config(format!(
            "value size {size} must be 1 ..= {}",
            u32::MAX
        )));
    }
    if !align.is_power_of_two() || align > MAX_ALIGN {
        return Err(Error::config(format!(
            "alignment {align} must be a power of two up to {MAX_ALIGN}"
        )));
    }
    if options.tag.len() > MAX_TAG_LEN {
        return Err(Error::config(format!(
            "tag of {} bytes, at most {MAX_TAG_LEN} allowed",
            options.tag.len()
        )));
    }
    let config = Config::multi(size, 2);
    let total = config
        .region_size()
        .ok()
        .and_then(|n| n.checked_add(HEADER))
        .ok_or_else(|| Error::config(format!("value size {size} is too large")))?;
    Ok((config, total))
}

impl SharedBytes {
    /// Creates the value `name` (region `/venom_sm_<name>`) of `size` bytes aligned to
    /// `align`, zero-initialised.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if a live process created it (a name whose creator died is
    /// reclaimed), [`Error::InvalidConfig`] (size 0, alignment not a power of two, tag over 64
    /// bytes), [`Error::InvalidName`], [`Error::PermissionDenied`], [`Error::InsufficientSpace`].
    pub fn create(
        name: &str,
        size: usize,
        align: usize,
        options: &SharedMemoryOptions,
    ) -> Result<Self> {
        let (config, total) = layout(size, align, options)?;
        let shm_name = shared_region_name(name);
        let create = CreateOptions::new()
            .mode(options.mode)
            .prefault(true)
            .unlink_on_drop(options.unlink_on_drop);
        let region = match ShmRegion::create(&shm_name, total, create) {
            Ok(r) => r,
            Err(venom_shm::Error::AlreadyExists { .. }) => {
                crate::init::reclaim_if_dead(name, &shm_name, HEADER, live_creator)?;
                ShmRegion::create(&shm_name, total, create)?
            }
            Err(e) => return Err(e.into()),
        };
        let header = header_of(&region);
        header.store(size, align, &options.tag);
        // SAFETY: the seqlock range follows the header inside the region (`total`), 64-aligned;
        // the view lives in `Self`, declared before the region, so it never outlives it.
        let lock = unsafe { Seqlock::init(region.as_ptr().add(HEADER), total - HEADER, config) }?;
        lock.writer()?.write(&vec![0; size])?;
        // SYNC POINT [H1] (`init::publish_magic`): publishes the header and the first value to
        // `open`'s look at the magic [H2].
        crate::init::publish_magic(&header.magic, MAGIC);
        Ok(Self {
            lock,
            size,
            align,
            name: name.to_owned(),
            creator: true,
            region: Arc::new(region),
        })
    }

    /// Opens the existing value `name`, which must have this size, alignment and tag.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::TypeMismatch`] naming both fingerprints,
    /// [`Error::BadMagic`], [`Error::IncompatibleVersion`], [`Error::NotInitialized`],
    /// [`Error::Corrupt`], [`Error::InvalidConfig`].
    pub fn open(
        name: &str,
        size: usize,
        align: usize,
        options: &SharedMemoryOptions,
    ) -> Result<Self> {
        let (config, total) = layout(size, align, options)?;
        let region = open_region(name, Access::ReadWrite, options.trust)?;
        let header = header_of(&region);
        let (found_size, found_align, found_tag) = header.fingerprint();
        if found_size != size || found_align != align || found_tag != options.tag {
            return Err(Error::TypeMismatch {
                expected: describe(size, align, &options.tag),
                found: describe(found_size, found_align, &found_tag),
            });
        }
        if region.len() < total {
            return Err(Error::Corrupt {
                reason: "region smaller than its value needs",
            });
        }
        // SAFETY: the seqlock range lies inside the region (checked), 64-aligned; validated
        // by `from_raw`; the view lives in `Self` before the region.
        let lock = unsafe { Seqlock::from_raw(region.as_ptr().add(HEADER), total - HEADER) }?;
        if lock.max_len() != config.max_len || lock.slot_count() != config.slots {
            return Err(Error::Corrupt {
                reason: "seqlock does not match the value's size",
            });
        }
        Ok(Self {
            lock,
            size,
            align,
            name: name.to_owned(),
            creator: false,
            region: Arc::new(region),
        })
    }

    /// Opens `name`, creating it if it does not exist.
    ///
    /// # Errors
    /// Those of [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(
        name: &str,
        size: usize,
        align: usize,
        options: &SharedMemoryOptions,
    ) -> Result<Self> {
        for _ in 0..8 {
            match Self::open(name, size, align, options) {
                // Absent, or being created right now: create it (or open it next round).
                Err(Error::NotFound { .. } | Error::NotInitialized { .. }) => {}
                other => return other,
            }
            match Self::create(name, size, align, options) {
                Err(Error::AlreadyExists { .. }) => {} // created meanwhile: open it
                other => return other,
            }
        }
        Self::open(name, size, align, options)
    }

    /// Removes the name `name` (handles that exist keep working).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::InvalidName`], [`Error::PermissionDenied`].
    pub fn unlink(name: &str) -> Result<()> {
        Ok(ShmRegion::unlink_name(&shared_region_name(name))?)
    }

    fn check(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(Error::OutOfBounds {
                offset,
                len,
                size: self.size,
            }),
        }
    }

    /// Writes the whole value (`bytes` must be exactly [`size`](Self::size) long), waiting up
    /// to [`DEFAULT_WRITE_TIMEOUT`] for another writer.
    ///
    /// # Errors
    /// As [`write_timeout`](Self::write_timeout).
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        self.write_timeout(bytes, DEFAULT_WRITE_TIMEOUT)
    }

    /// Writes the whole value, waiting at most `timeout` for another writer (a writer that
    /// died holding the lock is taken over within milliseconds).
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if `bytes` is not [`size`](Self::size) long (nothing written);
    /// [`Error::Timeout`].
    pub fn write_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
        if bytes.len() != self.size {
            return Err(Error::TypeMismatch {
                expected: format!("{} bytes", self.size),
                found: format!("{} bytes", bytes.len()),
            });
        }
        self.lock.write_timeout(bytes, timeout)?;
        Ok(())
    }

    /// Copies a consistent snapshot of the whole value into the start of `buf`, retrying at
    /// most `timeout` while writes overlap; never torn, never waits for a lock.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] (nothing copied), [`Error::Timeout`], [`Error::Poisoned`],
    /// [`Error::Corrupt`].
    pub fn read_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<()> {
        let got = buf.len();
        let dst = buf.get_mut(..self.size).ok_or(Error::BufferTooSmall {
            needed: self.size,
            got,
        })?;
        // One attempt first: the usual read settles at once, with no clock and no error to
        // build (a small value's read costs little more than its copy).
        if let Ok(s) = self.lock.try_read(dst)
            && s.len == self.size
        {
            return Ok(());
        }
        let s = self.lock.read_timeout(dst, timeout)?;
        if s.len != self.size {
            return Err(Error::Corrupt {
                reason: "value of another size than its header says",
            });
        }
        Ok(())
    }

    /// [`read_timeout`](Self::read_timeout) with a one-second patience.
    ///
    /// # Errors
    /// As [`read_timeout`](Self::read_timeout).
    pub fn read(&self, buf: &mut [u8]) -> Result<()> {
        self.read_timeout(buf, READ_PATIENCE)
    }

    /// Writes `bytes` at byte `offset` of the value, under the writer lock (waiting up to
    /// [`DEFAULT_WRITE_TIMEOUT`]); the rest of the value is kept.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] (nothing written), [`Error::Timeout`].
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        self.check(offset, bytes.len())?;
        self.update_slot(|slot| slot.write_at(offset, bytes))?
            .map_err(Error::from)
    }

    /// Copies `buf.len()` bytes at byte `offset` of a consistent snapshot into `buf`.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`], and those of [`read`](Self::read).
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        let mut value = vec![0; self.size];
        self.read(&mut value)?;
        buf.copy_from_slice(&value[offset..offset + buf.len()]);
        Ok(())
    }

    /// Reads the value, lets `change` edit it, and publishes it, under the writer lock: a
    /// read-modify-write no other writer can interleave with.
    ///
    /// # Errors
    /// [`Error::Timeout`] (lock), [`Error::Corrupt`].
    pub fn update(&self, change: impl FnOnce(&mut [u8])) -> Result<()> {
        let mut value = vec![0; self.size];
        self.update_slot(|slot| {
            // The slot holds exactly one value (values are always whole-size).
            let _ = slot.read_at(0, &mut value);
            change(&mut value);
            let _ = slot.write_at(0, &value);
        })
    }

    /// Runs `f` on a copy of the current value's slot under the writer lock, then publishes.
    pub(crate) fn update_slot<R>(&self, f: impl FnOnce(&mut SlotWriter<'_>) -> R) -> Result<R> {
        let mut w = self.lock.writer_timeout(DEFAULT_WRITE_TIMEOUT)?;
        Ok(w.update_with(f)?.1)
    }

    /// Sets the whole value to zero.
    ///
    /// # Errors
    /// [`Error::Timeout`].
    pub fn clear(&self) -> Result<()> {
        self.write(&vec![0; self.size])
    }

    /// Whether a writer holds the lock right now.
    pub fn is_occupied(&self) -> bool {
        self.lock.is_locked()
    }

    /// The value's version: each write adds one.
    pub fn version(&self) -> u64 {
        self.lock.version()
    }

    /// Blocks until the value's version differs from `since` (a write from any process),
    /// and returns the new version.
    ///
    /// # Errors
    /// [`Error::Corrupt`].
    pub fn wait_for_change(&self, since: u64) -> Result<u64> {
        Ok(self.lock.wait_for_change(since)?)
    }

    /// [`wait_for_change`](Self::wait_for_change), for at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`].
    pub fn wait_for_change_timeout(&self, since: u64, timeout: Duration) -> Result<u64> {
        Ok(self.lock.wait_for_change_timeout(since, timeout)?)
    }

    /// The name given at creation or opening.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes of the value.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The value's alignment (part of its fingerprint).
    pub fn align(&self) -> usize {
        self.align
    }

    /// Whether this handle created the value.
    pub fn is_creator(&self) -> bool {
        self.creator
    }

    /// Start of the mapped region (tests only; access it only atomically).
    #[cfg(feature = "test-util")]
    pub fn as_ptr(&self) -> *const u8 {
        self.region.as_ptr()
    }
}

impl Header {
    /// Stores the fingerprint and the creator (before the magic).
    fn store(&self, size: usize, align: usize, tag: &str) {
        let r = Ordering::Relaxed;
        self.creator_pid.store(venom_shm::wait::current_pid(), r);
        self.creator_start
            .store(venom_shm::wait::current_start_time(), r);
        self.layout_version.store(LAYOUT_VERSION, r);
        self.size.store(size as u32, r);
        self.align.store(align as u32, r);
        self.tag_len.store(tag.len() as u32, r);
        let mut bytes = [0u8; MAX_TAG_LEN];
        bytes[..tag.len()].copy_from_slice(tag.as_bytes());
        for (w, chunk) in self.tag.iter().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            w.store(u64::from_ne_bytes(b), r);
        }
    }

    /// Size, alignment and tag, as stored.
    fn fingerprint(&self) -> (usize, usize, String) {
        let r = Ordering::Relaxed;
        let tag_len = (self.tag_len.load(r) as usize).min(MAX_TAG_LEN);
        let mut tag = [0u8; MAX_TAG_LEN];
        for (w, chunk) in self.tag.iter().zip(tag.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&w.load(r).to_ne_bytes());
        }
        (
            self.size.load(r) as usize,
            self.align.load(r) as usize,
            String::from_utf8_lossy(&tag[..tag_len]).into_owned(),
        )
    }
}

/// Opens value `name` (`access`, owners `trust` accepts) and waits for its creator to publish
/// the header.
fn open_region(name: &str, access: Access, trust: Trust) -> Result<ShmRegion> {
    let options = OpenOptions::new(access).min_len(HEADER).trust(trust);
    let region = ShmRegion::open_with(&shared_region_name(name), options).map_err(|e| match e {
        venom_shm::Error::TooSmall { .. } => Error::NotInitialized {
            name: name.to_owned(),
        },
        other => other.into(),
    })?;
    let header = header_of(&region);
    // SYNC POINT [H2] (`init::look_magic`, in `await_header`): pairs with [H1] in `create`.
    crate::init::await_header(
        name,
        &header.magic,
        MAGIC,
        &header.layout_version,
        LAYOUT_VERSION,
    )?;
    Ok(region)
}

/// The header at the start of a value's region (every region of a value is opened or created
/// with at least `HEADER` bytes).
fn header_of(region: &ShmRegion) -> &Header {
    debug_assert!(region.len() >= HEADER);
    // SAFETY: at least `HEADER` bytes (the open's `min_len`, or the creation's size),
    // page-aligned, accessed atomically only; the reference borrows `region`.
    unsafe { &*region.as_ptr().cast::<Header>() }
}

/// Shared value `name` read as a bystander (read-only, under `trust`), without knowing its
/// type: `venom inspect`.
pub(crate) fn inspect(name: &str, trust: Trust) -> Result<crate::inspect::SharedInfo> {
    let region = open_region(name, Access::ReadOnly, trust)?;
    let header = header_of(&region);
    let (size, align, tag) = header.fingerprint();
    let (_, total) =
        layout(size, align, &SharedMemoryOptions::new()).map_err(|_| Error::Corrupt {
            reason: "the header's size or alignment describes no value",
        })?;
    if region.len() < total {
        return Err(Error::Corrupt {
            reason: "region smaller than its value needs",
        });
    }
    // SAFETY: the seqlock range lies inside the region (checked), 64-aligned, validated by
    // `from_raw`, and dropped before `region` (it does not leave this function).
    let lock = unsafe { Seqlock::from_raw(region.as_ptr().add(HEADER), total - HEADER) }?;
    let creator_pid = header.creator_pid.load(Ordering::Relaxed);
    Ok(crate::inspect::SharedInfo {
        size,
        align,
        tag,
        creator_pid,
        creator_alive: creator_pid != 0
            && venom_shm::wait::holder_alive(
                creator_pid,
                header.creator_start.load(Ordering::Relaxed),
            ),
        version: lock.version(),
        occupied: lock.is_locked(),
    })
}

/// The live creator of a shared value's region, if any.
fn live_creator(region: &ShmRegion) -> Option<u32> {
    let header = header_of(region);
    let pid = header.creator_pid.load(Ordering::Relaxed);
    let start = header.creator_start.load(Ordering::Relaxed);
    (pid != 0 && venom_shm::wait::holder_alive(pid, start)).then_some(pid)
}
