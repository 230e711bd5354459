//! Shared values by size, alignment and tag: `venom_shared_*` (the runtime-sized twin of the
//! Rust `SharedMemory<T>` and the C++ seed's `SharedMemory<T>`; a C `struct` and a Rust type of
//! the same size, alignment and tag open the same value).

use std::ffi::{CStr, c_char};
use std::time::Duration;

use venom_channel::{SharedBytes, SharedMemoryOptions};

use crate::boundary::{self, buffer, bytes, guard, status};
use crate::status::{VenomStatus, fail, fail_with};

/// One named shared value. Any process may read (never torn, never blocked) and write
/// (writers exclude each other; a writer that died holding the lock is taken over). Every
/// call may come from any thread.
#[derive(Debug)]
pub struct VenomSharedHandle {
    value: SharedBytes,
}

/// Options of a shared value. Fill with `venom_shared_options_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VenomSharedOptions {
    /// A tag stored with the value (a type name or version, up to 64 bytes, NUL-terminated),
    /// or NULL for none; openers must give the same.
    pub tag: *const c_char,
    /// Permission bits of the region (default 0600).
    pub mode: u32,
    /// Whether destroying the creating handle removes the name (default true).
    pub unlink_on_drop: bool,
    /// Also open values owned by root (default false); this user's are always accepted.
    pub trust_root: bool,
    /// Also open values owned by this uid (-1, the default: none).
    pub trusted_uid: i64,
}

/// Fills `out` with the defaults (no tag, mode 0600, unlink on drop, only this user's values).
///
/// # Safety
/// `out` NULL (nothing happens) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_options_default(out: *mut VenomSharedOptions) {
    guard(|| {
        // SAFETY: per the caller.
        if let Ok(out) = unsafe { boundary::out(out, "out") } {
            *out = VenomSharedOptions {
                tag: core::ptr::null(),
                mode: 0o600,
                unlink_on_drop: true,
                trust_root: false,
                trusted_uid: -1,
            };
        }
    });
}

/// How to get the value.
#[derive(Clone, Copy)]
enum How {
    Create,
    Open,
    OpenOrCreate,
}

/// # Safety
/// As the `venom_shared_create` family.
unsafe fn open(
    how: How,
    name: *const c_char,
    size: usize,
    align: usize,
    options: *const VenomSharedOptions,
    out: *mut *mut VenomSharedHandle,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller, for each pointer.
        let (name, out) = unsafe { (boundary::name(name)?, boundary::out(out, "out")?) };
        // SAFETY: per the caller.
        let o = unsafe { options.as_ref() }
            .ok_or_else(|| fail(VenomStatus::NullArgument, "options is NULL"))?;
        let tag = if o.tag.is_null() {
            ""
        } else {
            // SAFETY: a non-NULL tag is NUL-terminated (caller).
            unsafe { CStr::from_ptr(o.tag) }
                .to_str()
                .map_err(|_| fail(VenomStatus::InvalidConfig, "tag is not valid UTF-8"))?
        };
        let opts = SharedMemoryOptions::new()
            .tag(tag)
            .mode(o.mode)
            .unlink_on_drop(o.unlink_on_drop)
            .trust(boundary::trust(o.trust_root, o.trusted_uid));
        let value = match how {
            How::Create => SharedBytes::create(name, size, align, &opts),
            How::Open => SharedBytes::open(name, size, align, &opts),
            How::OpenOrCreate => SharedBytes::open_or_create(name, size, align, &opts),
        }
        .map_err(|e| fail_with(&e))?;
        *out = boundary::new_handle(VenomSharedHandle { value });
        Ok(VenomStatus::Ok)
    })
}

/// Creates the value `name` (region `/venom_sm_<name>`) of `size` bytes aligned to `align`,
/// zero-initialised; the handle goes to `*out`. A name whose creator died is reclaimed.
///
/// Returns `OK`, `ALREADY_EXISTS`, `INVALID_CONFIG` (size 0, alignment not a power of two up
/// to 4096, tag over 64 bytes), `INVALID_NAME`, `PERMISSION_DENIED`, `INSUFFICIENT_SPACE`,
/// `NULL_ARGUMENT`.
///
/// # Safety
/// `name` NULL or NUL-terminated; `options` NULL or valid (its `tag` NULL or
/// NUL-terminated); `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_create(
    name: *const c_char,
    size: usize,
    align: usize,
    options: *const VenomSharedOptions,
    out: *mut *mut VenomSharedHandle,
) -> VenomStatus {
    // SAFETY: per the caller.
    unsafe { open(How::Create, name, size, align, options, out) }
}

/// Opens the existing value `name`, which must have this size, alignment and tag.
///
/// Returns `OK`, `NOT_FOUND`, `TYPE_MISMATCH` (the message names both fingerprints),
/// `BAD_MAGIC`, `INCOMPATIBLE_VERSION`, `NOT_INITIALIZED`, `CORRUPT`, `INVALID_CONFIG`,
/// `NULL_ARGUMENT`.
///
/// # Safety
/// As `venom_shared_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_open(
    name: *const c_char,
    size: usize,
    align: usize,
    options: *const VenomSharedOptions,
    out: *mut *mut VenomSharedHandle,
) -> VenomStatus {
    // SAFETY: per the caller.
    unsafe { open(How::Open, name, size, align, options, out) }
}

/// Opens `name`, creating it if it does not exist.
///
/// Returns those of `venom_shared_create` and `venom_shared_open`.
///
/// # Safety
/// As `venom_shared_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_open_or_create(
    name: *const c_char,
    size: usize,
    align: usize,
    options: *const VenomSharedOptions,
    out: *mut *mut VenomSharedHandle,
) -> VenomStatus {
    // SAFETY: per the caller.
    unsafe { open(How::OpenOrCreate, name, size, align, options, out) }
}

/// Frees the handle (the creator's also removes the name, unless its options said not to).
/// NULL is a no-op; a handle destroyed already is reported as the last error.
///
/// # Safety
/// `handle` NULL or a handle from `venom_shared_*`, with no call on it running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_destroy(handle: *mut VenomSharedHandle) {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::destroy_handle(handle, "shared value") });
}

/// Removes the name `name`; handles that exist keep working.
///
/// Returns `OK`, `NOT_FOUND`, `INVALID_NAME`, `PERMISSION_DENIED`, `NULL_ARGUMENT`.
///
/// # Safety
/// `name` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_unlink(name: *const c_char) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let name = unsafe { boundary::name(name)? };
        SharedBytes::unlink(name).map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// `timeout_ns` for a lock or snapshot wait (forever: a deadline past any clock).
fn wait(ns: u64) -> Duration {
    boundary::timeout(ns).unwrap_or(Duration::MAX)
}

/// Writes the whole value (`len` must be its size), waiting at most `timeout_ns` for another
/// writer. Blocks up to `timeout_ns`.
///
/// Returns `OK`, `TYPE_MISMATCH` (`len` is not the size; nothing written), `TIMEOUT`,
/// `NULL_ARGUMENT`, `INVALID_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `data` NULL with `len == 0`, or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_write(
    handle: *mut VenomSharedHandle,
    data: *const u8,
    len: usize,
    timeout_ns: u64,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, data) = unsafe { (boundary::handle(handle)?, bytes(data, len, "data")?) };
        h.value
            .write_timeout(data, wait(timeout_ns))
            .map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// Copies a consistent snapshot of the whole value into `buf` (`cap` at least the size),
/// retrying at most `timeout_ns` while writes overlap. Never torn, never waits for a lock.
///
/// Returns `OK`, `BUFFER_TOO_SMALL`, `TIMEOUT`, `POISONED`, `CORRUPT`, `NULL_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `buf` NULL with `cap == 0`, or `cap` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_read(
    handle: *mut VenomSharedHandle,
    buf: *mut u8,
    cap: usize,
    timeout_ns: u64,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, buf) = unsafe { (boundary::handle(handle)?, buffer(buf, cap, "buf")?) };
        h.value
            .read_timeout(buf, wait(timeout_ns))
            .map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// Writes `len` bytes at byte `offset` of the value under the writer lock (waiting up to
/// 10 s for another writer); the rest is kept.
///
/// Returns `OK`, `OUT_OF_BOUNDS` (nothing written), `TIMEOUT`, `NULL_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `data` NULL with `len == 0`, or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_write_at(
    handle: *mut VenomSharedHandle,
    offset: usize,
    data: *const u8,
    len: usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, data) = unsafe { (boundary::handle(handle)?, bytes(data, len, "data")?) };
        h.value.write_at(offset, data).map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// Copies `len` bytes at byte `offset` of a consistent snapshot into `buf`.
///
/// Returns `OK`, `OUT_OF_BOUNDS`, `TIMEOUT`, `NULL_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `buf` NULL with `len == 0`, or `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_read_at(
    handle: *mut VenomSharedHandle,
    offset: usize,
    buf: *mut u8,
    len: usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, buf) = unsafe { (boundary::handle(handle)?, buffer(buf, len, "buf")?) };
        h.value.read_at(offset, buf).map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// Sets the whole value to zero (waiting up to 10 s for another writer).
///
/// Returns `OK`, `TIMEOUT`, `NULL_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_clear(handle: *mut VenomSharedHandle) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let h = unsafe { boundary::handle(handle)? };
        h.value.clear().map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// Whether a writer holds the lock right now (false for a NULL handle).
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_is_occupied(handle: *mut VenomSharedHandle) -> bool {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.is_ok_and(|h| h.value.is_occupied()))
}

/// The value's version: each write adds one (0 for a NULL handle).
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_version(handle: *mut VenomSharedHandle) -> u64 {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.value.version()))
}

/// Waits until the value's version differs from `since` (a write from any process), at most
/// `timeout_ns`; the new version goes to `*out_version`. Blocks up to `timeout_ns`.
///
/// Returns `OK`, `TIMEOUT`, `NULL_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `out_version` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_wait_for_change(
    handle: *mut VenomSharedHandle,
    since: u64,
    timeout_ns: u64,
    out_version: *mut u64,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, out) = unsafe {
            (
                boundary::handle(handle)?,
                boundary::out(out_version, "out_version")?,
            )
        };
        let got = match boundary::timeout(timeout_ns) {
            Some(t) => h.value.wait_for_change_timeout(since, t),
            None => h.value.wait_for_change(since),
        };
        *out = got.map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// The value's size in bytes (0 for a NULL handle).
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_size(handle: *mut VenomSharedHandle) -> usize {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.value.size()))
}

/// Whether this handle created the value (false for a NULL handle).
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shared_is_creator(handle: *mut VenomSharedHandle) -> bool {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.is_ok_and(|h| h.value.is_creator()))
}
