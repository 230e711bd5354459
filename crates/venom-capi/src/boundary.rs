//! The library boundary: every export runs inside [`guard`] (no panic unwinds into C), and
//! every pointer, length, name and handle from C is checked here before a Rust reference or
//! slice exists.

use std::collections::HashSet;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Duration;

use crate::status::{VenomStatus, fail};

/// What an export returns when it cannot do its work (a panic, a NULL handle).
pub(crate) trait Fallback {
    /// The value.
    fn fallback() -> Self;
}

impl Fallback for VenomStatus {
    fn fallback() -> Self {
        VenomStatus::Panic
    }
}
impl<T> Fallback for *mut T {
    fn fallback() -> Self {
        core::ptr::null_mut()
    }
}
impl Fallback for usize {
    fn fallback() -> Self {
        0
    }
}
impl Fallback for u32 {
    fn fallback() -> Self {
        0
    }
}
impl Fallback for u64 {
    fn fallback() -> Self {
        0
    }
}
impl Fallback for bool {
    fn fallback() -> Self {
        false
    }
}
impl Fallback for () {
    fn fallback() {}
}

/// Runs `f`, turning a panic into the fallback value and a last error naming it.
pub(crate) fn guard<R: Fallback>(f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            fail(VenomStatus::Panic, format!("internal panic: {what}"));
            R::fallback()
        }
    }
}

/// Runs `f` as a status-returning export: `Err(status)` and `Ok(())` both become a status.
pub(crate) fn status(f: impl FnOnce() -> Result<VenomStatus, VenomStatus>) -> VenomStatus {
    guard(|| f().unwrap_or_else(|s| s))
}

type Checked<T> = Result<T, VenomStatus>;

fn null(what: &str) -> VenomStatus {
    fail(VenomStatus::NullArgument, format!("{what} is NULL"))
}

fn too_long(what: &str, len: usize) -> VenomStatus {
    fail(
        VenomStatus::InvalidArgument,
        format!("{what} length {len} exceeds PTRDIFF_MAX"),
    )
}

/// The input bytes `(ptr, len)`: NULL only with `len == 0`.
///
/// # Safety
/// Unless NULL, `ptr` points to `len` readable bytes that stay valid and unwritten for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Checked<&'a [u8]> {
    if len > isize::MAX as usize {
        return Err(too_long(what, len));
    }
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null(what)) };
    }
    // SAFETY: non-null, `len` readable bytes (caller), `len <= isize::MAX` (checked).
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// The output buffer `(ptr, cap)`: NULL only with `cap == 0` (a size query).
///
/// # Safety
/// Unless NULL, `ptr` points to `cap` writable bytes, used by nothing else for `'a`.
pub(crate) unsafe fn buffer<'a>(ptr: *mut u8, cap: usize, what: &str) -> Checked<&'a mut [u8]> {
    if cap > isize::MAX as usize {
        return Err(too_long(what, cap));
    }
    if ptr.is_null() {
        return if cap == 0 {
            Ok(&mut [])
        } else {
            Err(null(what))
        };
    }
    // SAFETY: non-null, `cap` writable bytes not aliased (caller), `cap <= isize::MAX`.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, cap) })
}

/// Whether two byte ranges overlap (an input and an output buffer must not).
pub(crate) fn overlap(a: &[u8], b: &[u8]) -> bool {
    let (a0, b0) = (a.as_ptr() as usize, b.as_ptr() as usize);
    !a.is_empty() && !b.is_empty() && a0 < b0 + b.len() && b0 < a0 + a.len()
}

/// An out-parameter.
///
/// # Safety
/// Unless NULL, `ptr` points to a writable, aligned `T` used by nothing else for `'a`.
pub(crate) unsafe fn out<'a, T>(ptr: *mut T, what: &str) -> Checked<&'a mut T> {
    // SAFETY: per the caller, a non-null `ptr` is a valid, exclusive `T`.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(what))
}

/// A name: non-NULL, NUL-terminated, UTF-8.
///
/// # Safety
/// Unless NULL, `ptr` points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn name<'a>(ptr: *const c_char) -> Checked<&'a str> {
    if ptr.is_null() {
        return Err(null("name"));
    }
    // SAFETY: non-null and NUL-terminated (caller).
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str()
        .map_err(|_| fail(VenomStatus::InvalidName, "name is not valid UTF-8"))
}

/// The owners a C caller trusts besides its own user: root if `root`, and `uid` unless
/// negative (or beyond `uint32_t`).
pub(crate) fn trust(root: bool, uid: i64) -> venom_channel::Trust {
    let mut t = venom_channel::Trust::own();
    if root {
        t = t.also_root();
    }
    if let Ok(uid) = u32::try_from(uid) {
        t = t.also_uid(uid);
    }
    t
}

/// `timeout_ns` as a Rust timeout: `None` for `VENOM_WAIT_FOREVER`.
pub(crate) fn timeout(ns: u64) -> Option<Duration> {
    (ns != u64::MAX).then(|| Duration::from_nanos(ns))
}

/// The handles that exist: `*_destroy` checks here, so destroying a handle twice is reported
/// (`VENOM_STATUS_INVALID_ARGUMENT` as the last error), never a double free. Other calls trust
/// the handle, as every C library does.
static LIVE: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn live() -> std::sync::MutexGuard<'static, Option<HashSet<usize>>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Moves `value` to the heap as a new handle.
pub(crate) fn new_handle<T>(value: T) -> *mut T {
    let ptr = Box::into_raw(Box::new(value));
    live().get_or_insert_with(HashSet::new).insert(ptr as usize);
    ptr
}

/// Frees a handle made by [`new_handle`]; NULL is a no-op; a pointer that is not a live
/// handle (destroyed already) is reported and left alone.
///
/// # Safety
/// `ptr` is NULL or was returned by [`new_handle`] for this `T`, and no other call on it is
/// running or will run.
pub(crate) unsafe fn destroy_handle<T>(ptr: *mut T, what: &str) {
    if ptr.is_null() {
        return;
    }
    let known = live()
        .as_mut()
        .is_some_and(|set| set.remove(&(ptr as usize)));
    if !known {
        fail(
            VenomStatus::InvalidArgument,
            format!("{what} handle {ptr:p} is not live (destroyed twice?)"),
        );
        return;
    }
    // SAFETY: a live handle from `new_handle` (checked), destroyed once (removed above).
    drop(unsafe { Box::from_raw(ptr) });
}

/// The handle behind `ptr`.
///
/// # Safety
/// `ptr` is NULL or a live handle of this type.
pub(crate) unsafe fn handle<'a, T>(ptr: *mut T) -> Checked<&'a T> {
    // SAFETY: per the caller, non-null means a live handle.
    unsafe { ptr.as_ref() }.ok_or_else(|| null("handle"))
}
