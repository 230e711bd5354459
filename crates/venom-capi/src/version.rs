//! The library's version and the timeout constant.

use std::ffi::c_char;

/// `timeout_ns` that waits without limit (a wait that never ends still returns
/// `VENOM_STATUS_DISCONNECTED` when the daemon dies).
pub const VENOM_WAIT_FOREVER: u64 = u64::MAX;

/// The library's version as a static NUL-terminated string, e.g. `"0.1.0"`.
#[unsafe(no_mangle)]
pub extern "C" fn venom_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The library's version as `(major << 16) | (minor << 8) | patch`: compare it with
/// `VENOM_VERSION_NUMBER` at start-up to catch a header/library mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn venom_version_number() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR")) << 16
        | part(env!("CARGO_PKG_VERSION_MINOR")) << 8
        | part(env!("CARGO_PKG_VERSION_PATCH"))
}
