//! [`SharedMemory<T>`]: one named plain-data value shared by any number of processes, with the
//! feature set of the C++ `atom::connection::SharedMemory<T>` and its failure modes made safe.
//! A typed face over [`SharedBytes`], whose fingerprint is `T`'s size and alignment plus a tag.

use std::marker::PhantomData;
use std::time::Duration;

use bytemuck::Pod;

use crate::error::{Error, Result};
use crate::shared_bytes::{DEFAULT_WRITE_TIMEOUT, READ_PATIENCE, SharedBytes, SharedMemoryOptions};

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
    pub(crate) bytes: SharedBytes,
    _type: PhantomData<fn() -> T>,
}

impl<T: Pod> SharedMemory<T> {
    /// `T`'s size (at least 1: a zero-sized `T` is stored as one byte).
    fn size_of() -> usize {
        core::mem::size_of::<T>().max(1)
    }

    fn wrap(bytes: SharedBytes) -> Self {
        Self {
            bytes,
            _type: PhantomData,
        }
    }

    /// Creates the value `name` (region `/venom_sm_<name>`), zero-initialised.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if a live process created it (a name whose creator died is
    /// reclaimed), [`Error::InvalidName`], [`Error::PermissionDenied`],
    /// [`Error::InsufficientSpace`].
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

    /// [`create`](Self::create) with options.
    ///
    /// # Errors
    /// As [`create`](Self::create); [`Error::InvalidConfig`] for a tag over 64 bytes.
    pub fn create_with(name: &str, options: &SharedMemoryOptions) -> Result<Self> {
        let align = core::mem::align_of::<T>();
        SharedBytes::create(name, Self::size_of(), align, options).map(Self::wrap)
    }

    /// [`open`](Self::open) with options (the tag to expect).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(name: &str, options: &SharedMemoryOptions) -> Result<Self> {
        let align = core::mem::align_of::<T>();
        SharedBytes::open(name, Self::size_of(), align, options).map(Self::wrap)
    }

    /// [`open_or_create`](Self::open_or_create) with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    pub fn open_or_create_with(name: &str, options: &SharedMemoryOptions) -> Result<Self> {
        let align = core::mem::align_of::<T>();
        SharedBytes::open_or_create(name, Self::size_of(), align, options).map(Self::wrap)
    }

    /// Removes the name `name` (handles that exist keep working).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::InvalidName`], [`Error::PermissionDenied`].
    pub fn unlink(name: &str) -> Result<()> {
        SharedBytes::unlink(name)
    }

    /// The value's bytes (a zero-sized `T` is one byte).
    fn bytes_of(value: &T) -> &[u8] {
        let b = bytemuck::bytes_of(value);
        if b.is_empty() { &[0] } else { b }
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
        self.bytes.write_timeout(Self::bytes_of(value), timeout)
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
    /// consistent snapshot was had in time (or the memory is corrupt). The C++ `tryRead`.
    pub fn try_read(&self, timeout: Duration) -> Option<T> {
        self.read_timeout(timeout).ok()
    }

    /// [`try_read`](Self::try_read), saying why it failed.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Poisoned`], [`Error::Corrupt`].
    pub fn read_timeout(&self, timeout: Duration) -> Result<T> {
        let mut value = T::zeroed();
        let mut one = [0u8];
        let buf = match bytemuck::bytes_of_mut(&mut value) {
            [] => &mut one[..],
            b => b,
        };
        self.bytes.read_timeout(buf, timeout)?;
        Ok(value)
    }

    /// Reads the value and applies `change` to it under the writer lock, then publishes it:
    /// a read-modify-write no other writer can interleave with.
    ///
    /// # Errors
    /// [`Error::Timeout`] (lock), [`Error::Corrupt`].
    pub fn update(&self, change: impl FnOnce(&mut T)) -> Result<()> {
        self.bytes.update_slot(|slot| {
            let mut value = T::zeroed();
            // The slot holds exactly one `T` (the value is always whole-size).
            let _ = slot.read_at(0, bytemuck::bytes_of_mut(&mut value));
            change(&mut value);
            let _ = slot.write_at(0, bytemuck::bytes_of(&value));
        })
    }

    /// Writes `data` at byte `offset` of the value, under the writer lock; the rest of the
    /// value is kept.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if `offset + size_of::<U>()` exceeds the value (nothing
    /// written); [`Error::Timeout`].
    pub fn write_partial<U: Pod>(&self, data: &U, offset: usize) -> Result<()> {
        self.bytes.write_at(offset, bytemuck::bytes_of(data))
    }

    /// Reads a `U` at byte `offset` of a consistent snapshot.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`]; [`Error::Timeout`] if no consistent snapshot was had in time.
    pub fn read_partial<U: Pod>(&self, offset: usize) -> Result<U> {
        let len = core::mem::size_of::<U>();
        let size = core::mem::size_of::<T>();
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::OutOfBounds { offset, len, size });
        }
        let value = self.read_timeout(READ_PATIENCE)?;
        Ok(bytemuck::pod_read_unaligned(
            &bytemuck::bytes_of(&value)[offset..offset + len],
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
        self.bytes.write_at(0, bytes)
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
        self.bytes.clear()
    }

    /// Whether a writer holds the lock right now.
    pub fn is_occupied(&self) -> bool {
        self.bytes.is_occupied()
    }

    /// Blocks until the value changes (a write from any process).
    ///
    /// # Errors
    /// [`Error::Corrupt`].
    pub fn wait_for_change(&self) -> Result<()> {
        self.bytes.wait_for_change(self.bytes.version()).map(drop)
    }

    /// Blocks until the value changes, at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`].
    pub fn wait_for_change_timeout(&self, timeout: Duration) -> Result<()> {
        let since = self.bytes.version();
        self.bytes.wait_for_change_timeout(since, timeout).map(drop)
    }

    /// The name given at creation or opening.
    pub fn name(&self) -> &str {
        self.bytes.name()
    }

    /// `size_of::<T>()`.
    pub fn size(&self) -> usize {
        core::mem::size_of::<T>()
    }

    /// Whether this handle created the value.
    pub fn is_creator(&self) -> bool {
        self.bytes.is_creator()
    }

    /// The untyped value underneath.
    pub fn as_bytes(&self) -> &SharedBytes {
        &self.bytes
    }

    /// Start of the mapped region (tests only; access it only atomically).
    #[cfg(feature = "test-util")]
    pub fn as_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
}
