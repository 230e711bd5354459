//! The shell side: `venom_shell_*`.

use std::ffi::c_char;
use std::time::Duration;

use venom_channel::{Error, ShellChannel, ShellOptions};

use crate::boundary::{self, buffer, bytes, guard, status};
use crate::status::{VenomStatus, fail, fail_with};

/// A shell: one client of a channel. Connect with `venom_shell_connect` or
/// `venom_shell_connect_with`, free with `venom_shell_destroy`. Every call may come from any
/// thread (requests from several threads are served one at a time).
#[derive(Debug)]
pub struct VenomShellHandle {
    shell: ShellChannel,
}

/// A shell's tuning. Fill it with `venom_shell_options_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VenomShellOptions {
    /// Polls before a waiting call sleeps (default 2000; `UINT32_MAX`: busy-poll).
    pub spin: u32,
    /// Also accept channels owned by root (a system daemon's; default false). Channels of
    /// this process's user are always accepted; others are `VENOM_STATUS_UNTRUSTED_OWNER`.
    pub trust_root: bool,
    /// Also accept channels owned by this uid (-1, the default: none).
    pub trusted_uid: i64,
}

impl VenomShellOptions {
    /// The Rust options these stand for.
    fn to_rust(self) -> ShellOptions {
        ShellOptions::new()
            .spin(self.spin)
            .trust(crate::boundary::trust(self.trust_root, self.trusted_uid))
    }
}

fn connect(name: &str, options: &ShellOptions) -> Result<*mut VenomShellHandle, VenomStatus> {
    let shell = ShellChannel::connect_with(name, options).map_err(|e| fail_with(&e))?;
    Ok(boundary::new_handle(VenomShellHandle { shell }))
}

/// The seed's connect: a shell of channel `name`. Returns NULL on failure (the last error
/// says why). Waits at most half a second for a daemon still initialising the channel.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_connect(name: *const c_char) -> *mut VenomShellHandle {
    guard(|| {
        // SAFETY: per the caller.
        match unsafe { boundary::name(name) } {
            Ok(name) => connect(name, &ShellOptions::new()).unwrap_or(core::ptr::null_mut()),
            Err(_) => core::ptr::null_mut(),
        }
    })
}

/// Fills `out` with the defaults (spin 2000, only this user's channels).
///
/// # Safety
/// `out` is NULL (nothing happens) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_options_default(out: *mut VenomShellOptions) {
    guard(|| {
        // SAFETY: per the caller.
        if let Ok(out) = unsafe { boundary::out(out, "out") } {
            *out = VenomShellOptions {
                spin: venom_channel::DEFAULT_SPIN,
                trust_root: false,
                trusted_uid: -1,
            };
        }
    });
}

/// Connects to channel `name` with `options`; the handle goes to `*out` (only on success).
///
/// Returns `OK`, `NULL_ARGUMENT`, `INVALID_NAME`, `NOT_FOUND`, `PERMISSION_DENIED`,
/// `NOT_INITIALIZED`, `BAD_MAGIC`, `INCOMPATIBLE_VERSION`, `ABI_MISMATCH`, `CORRUPT`,
/// `DISCONNECTED`, `CHANNEL_FULL`.
///
/// # Safety
/// `name` NULL or NUL-terminated; `options` NULL or valid; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_connect_with(
    name: *const c_char,
    options: *const VenomShellOptions,
    out: *mut *mut VenomShellHandle,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller, for each pointer.
        let (name, out) = unsafe { (boundary::name(name)?, boundary::out(out, "out")?) };
        // SAFETY: per the caller.
        let options = unsafe { options.as_ref() }
            .ok_or_else(|| fail(VenomStatus::NullArgument, "options is NULL"))?;
        *out = connect(name, &options.to_rust())?;
        Ok(VenomStatus::Ok)
    })
}

/// Frees the shell's client entry and the handle. NULL is a no-op; a handle destroyed
/// already is reported as the last error, not freed again.
///
/// # Safety
/// `handle` NULL or a handle from `venom_shell_connect*`, with no call on it running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_destroy(handle: *mut VenomShellHandle) {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::destroy_handle(handle, "shell") });
}

/// The seed's read: copies a consistent snapshot of the latest data into `buf` and returns
/// its length. Returns 0, copying nothing, when there is no data yet, when `max_len` is too
/// small (see `venom_shell_data_size`), or on any error — never an error sentinel
/// (`venom_shell_try_read_data` tells these apart). Never torn; non-blocking.
///
/// # Safety
/// `handle` NULL or live; `buf` NULL with `max_len == 0`, or `max_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_read_data(
    handle: *mut VenomShellHandle,
    buf: *mut u8,
    max_len: usize,
) -> usize {
    let mut len = 0;
    // SAFETY: per the caller.
    match unsafe { venom_shell_try_read_data(handle, buf, max_len, &mut len) } {
        VenomStatus::Ok => len,
        _ => 0,
    }
}

/// Copies a consistent snapshot of the latest data into `buf`; its length goes to
/// `*out_len`. Non-blocking (bounded retries while writes overlap).
///
/// Returns `OK`; `BUFFER_TOO_SMALL` (`*out_len` is the length needed, nothing copied);
/// `WRITER_DEAD`, `TIMEOUT`, `CORRUPT`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `buf` NULL with `cap == 0`, or `cap` writable bytes; `out_len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_try_read_data(
    handle: *mut VenomShellHandle,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller, for each pointer.
        let (h, buf, out_len) = unsafe {
            (
                boundary::handle(handle)?,
                buffer(buf, cap, "buf")?,
                boundary::out(out_len, "out_len")?,
            )
        };
        match h.shell.read_data_checked(buf) {
            Ok(n) => {
                *out_len = n;
                Ok(VenomStatus::Ok)
            }
            Err(e) => Err(too_small_or(e, out_len)),
        }
    })
}

/// Reports `e`; for `BufferTooSmall` the needed length goes to `needed` first.
fn too_small_or(e: Error, needed: &mut usize) -> VenomStatus {
    if let Error::BufferTooSmall { needed: n, .. } = e {
        *needed = n;
    }
    fail_with(&e)
}

/// Copies the data only if its version differs from `since`: `OK` with `*out_len` and
/// `*out_version` set, or `UNCHANGED` (nothing copied). Non-blocking.
///
/// Returns `OK`, `UNCHANGED`, and the errors of `venom_shell_try_read_data`.
///
/// # Safety
/// As `venom_shell_try_read_data`; `out_version` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_read_data_if_changed(
    handle: *mut VenomShellHandle,
    since: u64,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
    out_version: *mut u64,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller, for each pointer.
        let (h, buf, out_len, out_version) = unsafe {
            (
                boundary::handle(handle)?,
                buffer(buf, cap, "buf")?,
                boundary::out(out_len, "out_len")?,
                boundary::out(out_version, "out_version")?,
            )
        };
        match h.shell.read_data_if_changed(since, buf) {
            Ok(Some(s)) => {
                (*out_len, *out_version) = (s.len, s.version);
                Ok(VenomStatus::Ok)
            }
            Ok(None) => Ok(VenomStatus::Unchanged),
            Err(e) => Err(too_small_or(e, out_len)),
        }
    })
}

/// The version of the latest data (0: none yet, or a NULL handle).
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_data_version(handle: *mut VenomShellHandle) -> u64 {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.shell.data_version()))
}

/// Waits until the data's version differs from `since`, at most `timeout_ns` (0: check once;
/// `VENOM_WAIT_FOREVER`: no limit — still ends with `DISCONNECTED` if the daemon goes), and
/// stores the new version in `*out_version`. Blocks up to `timeout_ns`.
///
/// Returns `OK`, `TIMEOUT`, `DISCONNECTED`, `NULL_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `out_version` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_wait_for_data(
    handle: *mut VenomShellHandle,
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
            Some(t) => h.shell.wait_for_data_timeout(since, t),
            None => h.shell.wait_for_data(since),
        };
        *out = got.map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// The seed's client id (1 ..= max_clients; 0 for a NULL handle).
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_id(handle: *mut VenomShellHandle) -> u32 {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.shell.client_id()))
}

/// The seed's send: queues a fire-and-forget command; `true` if it was queued, `false` on
/// any failure (queue full, too large, daemon gone, NULL: the last error says which;
/// `venom_shell_try_send_command` returns it). Non-blocking.
///
/// # Safety
/// `handle` NULL or live; `cmd` NULL with `len == 0`, or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_send_command(
    handle: *mut VenomShellHandle,
    cmd: *const u8,
    len: usize,
) -> bool {
    // SAFETY: per the caller.
    unsafe { venom_shell_try_send_command(handle, cmd, len) == VenomStatus::Ok }
}

/// Queues a fire-and-forget command. Non-blocking.
///
/// Returns `OK`, `QUEUE_FULL`, `TOO_LARGE` (beyond `venom_shell_max_command_len`; nothing
/// sent), `DISCONNECTED`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`.
///
/// # Safety
/// As `venom_shell_send_command`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_try_send_command(
    handle: *mut VenomShellHandle,
    cmd: *const u8,
    len: usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, cmd) = unsafe { (boundary::handle(handle)?, bytes(cmd, len, "cmd")?) };
        h.shell.try_send_command(cmd).map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// Queues up to `count` fire-and-forget commands, in order, with one claim of the queue and
/// at most one wake-up of the daemon for all of them: as many as the queue has room for, from
/// the first; `*out_sent` is how many went (send the rest again). Non-blocking.
///
/// Returns `OK` (at least one sent, or `count == 0`); `QUEUE_FULL` (not even the first);
/// `TOO_LARGE` (one of them beyond `venom_shell_max_command_len`: nothing sent);
/// `DISCONNECTED`; `NULL_ARGUMENT` (`cmds`, `lens` or `out_sent` NULL, or a `cmds[i]` NULL
/// with `lens[i] > 0`); `INVALID_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `cmds` and `lens` NULL with `count == 0`, or `count` readable
/// entries each; each `cmds[i]` NULL with `lens[i] == 0`, or `lens[i]` readable bytes;
/// `out_sent` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_try_send_commands(
    handle: *mut VenomShellHandle,
    cmds: *const *const u8,
    lens: *const usize,
    count: usize,
    out_sent: *mut usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller, for each pointer.
        let (h, sent) = unsafe {
            (
                boundary::handle(handle)?,
                boundary::out(out_sent, "out_sent")?,
            )
        };
        *sent = 0;
        if count == 0 {
            return Ok(VenomStatus::Ok);
        }
        if cmds.is_null() || lens.is_null() {
            return Err(fail(
                VenomStatus::NullArgument,
                "cmds and lens must not be NULL",
            ));
        }
        // SAFETY: `cmds` and `lens` hold `count` readable entries (caller), `i < count`; each
        // entry is a valid (pointer, length) pair (caller).
        let command = |i: usize| unsafe { bytes(*cmds.add(i), *lens.add(i), "cmds[i]") };
        // Every command checked first: a bad one means nothing is sent.
        let max = h.shell.max_command_len();
        for i in 0..count {
            let len = command(i)?.len();
            if len > max {
                return Err(fail_with(&Error::TooLarge { len, max }));
            }
        }
        // In bursts of up to `CHUNK`, from a stack array (no allocation on the send path).
        const CHUNK: usize = 32;
        let mut chunk: [&[u8]; CHUNK] = [&[]; CHUNK];
        while *sent < count {
            let n = (count - *sent).min(CHUNK);
            for (j, slot) in chunk[..n].iter_mut().enumerate() {
                *slot = command(*sent + j)?;
            }
            match h.shell.try_send_commands(&chunk[..n]) {
                Ok(k) => {
                    *sent += k;
                    if k < n {
                        break; // the queue is full: the caller sends the rest again
                    }
                }
                Err(Error::QueueFull) if *sent > 0 => break,
                Err(e) => return Err(fail_with(&e)),
            }
        }
        Ok(VenomStatus::Ok)
    })
}

/// Sends `cmd` as a request and waits at most `timeout_ns` (`VENOM_WAIT_FOREVER`: no limit,
/// still `DISCONNECTED` if the daemon goes) for the reply, copied into `resp`; its length
/// goes to `*out_len`. Blocks up to `timeout_ns`.
///
/// Returns `OK`; `TIMEOUT`; `DISCONNECTED`; `TOO_LARGE` (the command, or the daemon's reply
/// beyond the response size); `BUFFER_TOO_SMALL` (`*out_len` is the reply's length, nothing
/// copied); `CORRUPT`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (`cmd` and `resp` overlap).
///
/// # Safety
/// `handle` NULL or live; `cmd` NULL with `len == 0`, or `len` readable bytes; `resp` NULL
/// with `cap == 0`, or `cap` writable bytes; `out_len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_request(
    handle: *mut VenomShellHandle,
    cmd: *const u8,
    len: usize,
    resp: *mut u8,
    cap: usize,
    timeout_ns: u64,
    out_len: *mut usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller, for each pointer; the two buffers are checked for overlap
        // right after, before either is used.
        let (h, cmd, resp, out_len) = unsafe {
            (
                boundary::handle(handle)?,
                bytes(cmd, len, "cmd")?,
                buffer(resp, cap, "resp")?,
                boundary::out(out_len, "out_len")?,
            )
        };
        if boundary::overlap(cmd, resp) {
            return Err(fail(VenomStatus::InvalidArgument, "cmd and resp overlap"));
        }
        // "Forever" is a deadline past any clock: the wait still ends on `Disconnected`.
        let timeout = boundary::timeout(timeout_ns).unwrap_or(Duration::MAX);
        match h.shell.request_timeout(cmd, resp, timeout) {
            Ok(n) => {
                *out_len = n;
                Ok(VenomStatus::Ok)
            }
            Err(e) => Err(too_small_or(e, out_len)),
        }
    })
}

/// Waits at most `timeout_ns` more for the reply to this shell's latest request, after
/// `venom_shell_request` returned `TIMEOUT` or `BUFFER_TOO_SMALL`: waiting in slices this
/// way (to stay responsive to signals) never sends the request twice. Blocks up to
/// `timeout_ns`.
///
/// Returns those of `venom_shell_request`, and `NO_PENDING_REQUEST` if the latest request
/// was answered (or none was sent).
///
/// # Safety
/// `handle` NULL or live; `resp` NULL with `cap == 0`, or `cap` writable bytes; `out_len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_wait_reply(
    handle: *mut VenomShellHandle,
    resp: *mut u8,
    cap: usize,
    timeout_ns: u64,
    out_len: *mut usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller, for each pointer.
        let (h, resp, out_len) = unsafe {
            (
                boundary::handle(handle)?,
                buffer(resp, cap, "resp")?,
                boundary::out(out_len, "out_len")?,
            )
        };
        let timeout = boundary::timeout(timeout_ns).unwrap_or(Duration::MAX);
        match h.shell.wait_reply_timeout(resp, timeout) {
            Ok(n) => {
                *out_len = n;
                Ok(VenomStatus::Ok)
            }
            Err(e) => Err(too_small_or(e, out_len)),
        }
    })
}

/// Most bytes of data the channel holds (0 for a NULL handle).
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_data_size(handle: *mut VenomShellHandle) -> usize {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.shell.data_size()))
}

/// Most bytes of a command or request (0 for a NULL handle).
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_max_command_len(handle: *mut VenomShellHandle) -> usize {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.shell.max_command_len()))
}

/// Most bytes of a reply (0 for a NULL handle).
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_shell_response_size(handle: *mut VenomShellHandle) -> usize {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.shell.response_size()))
}
