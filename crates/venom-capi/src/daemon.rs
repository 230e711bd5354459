//! The daemon side: `venom_daemon_*`.

use std::ffi::{c_char, c_void};

use venom_channel::{
    ChannelConfig, ChannelOptions, ClientId, Command, DaemonChannel, RequestId, StopHandle,
};
use venom_shm::sync::{AtomicBool, Ordering};

use crate::boundary::{self, buffer, bytes, guard, status};
use crate::status::{VenomStatus, fail, fail_with};

/// `VenomCommand.request_id` of a fire-and-forget command (no reply expected).
pub const VENOM_NO_REQUEST: u64 = u64::MAX;

/// A daemon: serves one channel. Create it with `venom_daemon_create` or
/// `venom_daemon_create_with`, free it with `venom_daemon_destroy` (which closes the channel:
/// shells see `VENOM_STATUS_DISCONNECTED`). Every call may come from any thread.
#[derive(Debug)]
pub struct VenomDaemonHandle {
    daemon: DaemonChannel,
    stop: StopHandle,
    /// `venom_daemon_run` is receiving (so `venom_daemon_recv_command` is `BUSY`).
    running: AtomicBool,
}

/// The seed's channel shape (a struct passed by value to `venom_daemon_create`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VenomConfig {
    /// Most bytes of latest-value data.
    pub data_size: usize,
    /// Slots of the command queue (rounded up to a power of two).
    pub cmd_slots: usize,
    /// Most shells connected at once (1 ..= 65536).
    pub max_clients: usize,
}

/// Everything `venom_daemon_create_with` can tune. Fill it with
/// `venom_channel_options_default`, then change fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VenomChannelOptions {
    /// The seed's three sizes.
    pub config: VenomConfig,
    /// Most bytes of a reply (default 4096).
    pub response_size: usize,
    /// Bytes per command slot: a power of two, 64 ..= 1 MiB; commands may have 16 bytes less
    /// (default 256).
    pub command_slot_size: u32,
    /// Slots of the data seqlock (default 3; 1 saves memory).
    pub data_slots: u32,
    /// Permission bits of the region (default 0600).
    pub mode: u32,
    /// Polls before a waiting daemon sleeps (default 2000; `UINT32_MAX`: busy-poll).
    pub spin: u32,
}

/// One received command: who sent it, its length, and the request it belongs to.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct VenomCommand {
    /// The request to pass to `venom_daemon_reply`, or `VENOM_NO_REQUEST` for a
    /// fire-and-forget command.
    pub request_id: u64,
    /// Length of the command (with `VENOM_STATUS_BUFFER_TOO_SMALL`: the length needed).
    pub len: usize,
    /// The sending shell's client id (1 ..= max_clients).
    pub client_id: u32,
}

/// What a daemon has done so far.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct VenomStats {
    /// Values published.
    pub writes: u64,
    /// Commands and requests received.
    pub commands: u64,
    /// Requests answered.
    pub requests: u64,
    /// Commands dropped (too long for the seed's receive, or from a forged sender).
    pub dropped: u64,
    /// Commands whose sender died mid-send.
    pub abandoned: u64,
}

/// The serve loop's handler: called by `venom_daemon_run` on the caller's thread for each
/// command, with its bytes. For a request (`cmd->request_id != VENOM_NO_REQUEST`) write the
/// reply into `reply` (room for `reply_cap` bytes, the channel's response size) and set
/// `*reply_len`; a length above `reply_cap` reaches the shell as `VENOM_STATUS_TOO_LARGE`.
/// Return `VENOM_STATUS_OK` to go on; any other value stops the loop, which returns it. The
/// handler may call `venom_daemon_write_data`, `_reply`, `_stop` and `_stats` on this daemon.
/// It must not unwind (C++ exceptions) or `longjmp` out.
pub type VenomHandler = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        cmd: *const VenomCommand,
        bytes: *const u8,
        reply: *mut u8,
        reply_cap: usize,
        reply_len: *mut usize,
    ) -> i32,
>;

impl From<Command> for VenomCommand {
    fn from(c: Command) -> Self {
        Self {
            request_id: c
                .request_id
                .map_or(VENOM_NO_REQUEST, |r| u64::from(r.get())),
            len: c.len,
            client_id: c.client_id.get(),
        }
    }
}

impl VenomChannelOptions {
    fn to_rust(self) -> ChannelOptions {
        let c = self.config;
        ChannelOptions::new(ChannelConfig {
            data_size: c.data_size,
            cmd_slots: c.cmd_slots,
            max_clients: c.max_clients,
        })
        .response_size(self.response_size)
        .command_slot_size(self.command_slot_size)
        .data_slots(self.data_slots)
        .mode(self.mode)
        .spin(self.spin)
    }
}

fn create(name: &str, options: &ChannelOptions) -> Result<*mut VenomDaemonHandle, VenomStatus> {
    let daemon = DaemonChannel::create_with(name, options).map_err(|e| fail_with(&e))?;
    Ok(boundary::new_handle(VenomDaemonHandle {
        stop: daemon.stop_handle(),
        daemon,
        running: AtomicBool::new(false),
    }))
}

/// The seed's create: a channel `name` (region `/venom_<name>`) with `config` and default
/// tuning. Returns NULL on failure (the last error says why). Non-blocking.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_create(
    name: *const c_char,
    config: VenomConfig,
) -> *mut VenomDaemonHandle {
    guard(|| {
        // SAFETY: per the caller.
        let name = match unsafe { boundary::name(name) } {
            Ok(n) => n,
            Err(_) => return core::ptr::null_mut(),
        };
        let mut options = VenomChannelOptions::default_values();
        options.config = config;
        create(name, &options.to_rust()).unwrap_or(core::ptr::null_mut())
    })
}

impl VenomChannelOptions {
    fn default_values() -> Self {
        Self {
            config: VenomConfig {
                data_size: 4096,
                cmd_slots: 64,
                max_clients: 16,
            },
            response_size: 4096,
            command_slot_size: 256,
            data_slots: 3,
            mode: 0o600,
            spin: venom_channel::DEFAULT_SPIN,
        }
    }
}

/// Fills `out` with the defaults (4096-byte data, 64 command slots, 16 clients, 4096-byte
/// replies, 256-byte command slots, 3 data slots, mode 0600, spin 2000).
///
/// # Safety
/// `out` is NULL (nothing happens) or points to a writable `VenomChannelOptions`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_channel_options_default(out: *mut VenomChannelOptions) {
    guard(|| {
        // SAFETY: per the caller.
        if let Ok(out) = unsafe { boundary::out(out, "out") } {
            *out = VenomChannelOptions::default_values();
        }
    });
}

/// Creates channel `name` with `options` and stores the new handle in `*out` (only on
/// success). Non-blocking.
///
/// Returns `OK`, `NULL_ARGUMENT`, `INVALID_NAME`, `INVALID_CONFIG`, `ALREADY_EXISTS`,
/// `PERMISSION_DENIED`, `INSUFFICIENT_SPACE`, `IO`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `options` NULL or a valid `VenomChannelOptions`; `out`
/// NULL or a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_create_with(
    name: *const c_char,
    options: *const VenomChannelOptions,
    out: *mut *mut VenomDaemonHandle,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller, for each pointer.
        let (name, out) = unsafe { (boundary::name(name)?, boundary::out(out, "out")?) };
        // SAFETY: per the caller.
        let options = unsafe { options.as_ref() }.ok_or(VenomStatus::NullArgument);
        let options = options.map_err(|s| fail(s, "options is NULL"))?;
        *out = create(name, &options.to_rust())?;
        Ok(VenomStatus::Ok)
    })
}

/// Closes the channel (shells get `DISCONNECTED`), removes its name and frees the handle.
/// NULL is a no-op; a handle destroyed already is reported as the last error, not freed
/// again. Call it once, after every other call on the handle has returned.
///
/// # Safety
/// `handle` is NULL or a handle from `venom_daemon_create*`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_destroy(handle: *mut VenomDaemonHandle) {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::destroy_handle(handle, "daemon") });
}

/// The seed's write: publishes `len` bytes as the latest data. Nothing is written if the
/// data is larger than the channel's data size (or on any error; the last error says why:
/// `venom_daemon_try_write_data` returns it). Non-blocking.
///
/// # Safety
/// `handle` NULL or live; `data` NULL with `len == 0`, or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_write_data(
    handle: *mut VenomDaemonHandle,
    data: *const u8,
    len: usize,
) {
    // SAFETY: per the caller.
    let _ = unsafe { venom_daemon_try_write_data(handle, data, len) };
}

/// Publishes `len` bytes as the latest data. Non-blocking (readers never block it).
///
/// Returns `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`, `TOO_LARGE` (nothing written).
///
/// # Safety
/// As `venom_daemon_write_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_try_write_data(
    handle: *mut VenomDaemonHandle,
    data: *const u8,
    len: usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, data) = unsafe { (boundary::handle(handle)?, bytes(data, len, "data")?) };
        h.daemon.write_data(data).map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// The version of the latest data (each write adds one); 0 for a NULL handle.
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_data_version(handle: *mut VenomDaemonHandle) -> u64 {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.daemon.data_version()))
}

/// Most bytes of data; 0 for a NULL handle.
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_data_size(handle: *mut VenomDaemonHandle) -> usize {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.daemon.data_size()))
}

/// Most bytes of a command or request; 0 for a NULL handle.
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_max_command_len(handle: *mut VenomDaemonHandle) -> usize {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.daemon.max_command_len()))
}

/// Most bytes of a reply; 0 for a NULL handle.
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_response_size(handle: *mut VenomDaemonHandle) -> usize {
    // SAFETY: per the caller.
    guard(|| unsafe { boundary::handle(handle) }.map_or(0, |h| h.daemon.response_size()))
}

/// Receives the next command or request into `buf`, waiting at most `timeout_ns`
/// nanoseconds (0: do not wait; `VENOM_WAIT_FOREVER`: no limit). On `OK`, `*out` says who
/// sent it, its length, and the request id to reply to. Nothing is ever lost.
///
/// Returns `OK`; `EMPTY` (nothing within the timeout); `BUFFER_TOO_SMALL` (`out->len` is the
/// length needed; the command stays queued); `BUSY` (`venom_daemon_run` is receiving on this
/// daemon); `CORRUPT` (a scribbled message was dropped; call again); `NULL_ARGUMENT`.
/// Blocks up to `timeout_ns`.
///
/// # Safety
/// `handle` NULL or live; `buf` NULL with `cap == 0` or `cap` writable bytes; `out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_recv_command(
    handle: *mut VenomDaemonHandle,
    buf: *mut u8,
    cap: usize,
    timeout_ns: u64,
    out: *mut VenomCommand,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller, for each pointer.
        let (h, buf, out) = unsafe {
            (
                boundary::handle(handle)?,
                buffer(buf, cap, "buf")?,
                boundary::out(out, "out")?,
            )
        };
        if h.running.load(Ordering::Acquire) {
            return Err(fail(VenomStatus::Busy, "venom_daemon_run is receiving"));
        }
        let got = match boundary::timeout(timeout_ns) {
            Some(t) => h.daemon.recv_command_timeout(buf, t),
            None => h.daemon.recv_command(buf).map(Some),
        };
        match got {
            Ok(Some(cmd)) => {
                *out = cmd.into();
                Ok(VenomStatus::Ok)
            }
            Ok(None) => Ok(VenomStatus::Empty),
            Err(e @ venom_channel::Error::BufferTooSmall { needed, .. }) => {
                out.len = needed;
                Err(fail_with(&e))
            }
            Err(e) => Err(fail_with(&e)),
        }
    })
}

/// Receives up to `max` commands and requests without blocking, with one lock of the receiver
/// for all of them (the daemon's side of `venom_shell_try_send_commands`): the `i`th is copied
/// to `buf + i * stride` and described in `out[i]`; `*out_count` is how many. Non-blocking.
///
/// Returns `OK` (`*out_count` may be 0); `BUSY` (`venom_daemon_run` is receiving on this
/// daemon); `INVALID_ARGUMENT` (`stride` below `venom_daemon_max_command_len`, or `max *
/// stride` beyond `PTRDIFF_MAX`); `NULL_ARGUMENT`. A corrupt message is dropped and counted
/// (`venom_daemon_stats`), and the burst goes on.
///
/// # Safety
/// `handle` NULL or live; `buf` NULL with `max == 0`, or `max * stride` writable bytes; `out`
/// NULL with `max == 0`, or `max` writable `VenomCommand`s; `out_count` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_try_recv_commands(
    handle: *mut VenomDaemonHandle,
    buf: *mut u8,
    stride: usize,
    max: usize,
    out: *mut VenomCommand,
    out_count: *mut usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, count) = unsafe {
            (
                boundary::handle(handle)?,
                boundary::out(out_count, "out_count")?,
            )
        };
        *count = 0;
        if h.running.load(Ordering::Acquire) {
            return Err(fail(VenomStatus::Busy, "venom_daemon_run is receiving"));
        }
        let need = h.daemon.max_command_len();
        if max > 0 && stride < need {
            return Err(fail(
                VenomStatus::InvalidArgument,
                format!("stride {stride} is below the longest command ({need} bytes)"),
            ));
        }
        let total = stride
            .checked_mul(max)
            .ok_or_else(|| fail(VenomStatus::InvalidArgument, "max * stride overflows"))?;
        // SAFETY: `buf` holds `max * stride` writable bytes (caller).
        let buf = unsafe { buffer(buf, total, "buf")? };
        if max > 0 && out.is_null() {
            return Err(fail(VenomStatus::NullArgument, "out must not be NULL"));
        }
        let mut got = 0;
        h.daemon.try_recv_commands_with(max, |view, cmd| {
            // In bounds: `got < max`, each place is `stride` bytes, at least the longest
            // command; `out` holds `max` entries (caller).
            let _ = view.copy_to(&mut buf[got * stride..(got + 1) * stride]);
            // SAFETY: `got < max` and `out` holds `max` writable entries (caller).
            unsafe { out.add(got).write(cmd.into()) };
            got += 1;
        });
        *count = got;
        Ok(VenomStatus::Ok)
    })
}

/// Sends the reply to request `request_id` of client `client_id` (delivered to that shell
/// alone). A second reply to a request, or one to a request its shell gave up on, is
/// discarded (still `OK`). A reply longer than the response size reaches the shell as
/// `TOO_LARGE`. Non-blocking.
///
/// Returns `OK`, `UNKNOWN_CLIENT`, `NULL_ARGUMENT`, `INVALID_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `data` NULL with `len == 0`, or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_reply(
    handle: *mut VenomDaemonHandle,
    client_id: u32,
    request_id: u64,
    data: *const u8,
    len: usize,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, data) = unsafe { (boundary::handle(handle)?, bytes(data, len, "data")?) };
        let unknown = || {
            let e = venom_channel::Error::UnknownClient { client_id };
            fail_with(&e)
        };
        let client = ClientId::new(client_id).ok_or_else(unknown)?;
        let Ok(seq) = u32::try_from(request_id) else {
            return Err(fail(
                VenomStatus::InvalidArgument,
                format!("request id {request_id} is no request"),
            ));
        };
        h.daemon
            .reply(client, RequestId::new(seq), data)
            .map_err(|e| fail_with(&e))?;
        Ok(VenomStatus::Ok)
    })
}

/// Serves commands until `venom_daemon_stop` (or until the handler returns a status other
/// than `OK`): each command and request goes to `handler` on this thread; what it writes for
/// a request is the reply. Sleeps when idle (after the spin budget). Blocks.
///
/// Returns `OK` once stopped, the handler's status if it stopped the loop, `BUSY` if another
/// `venom_daemon_run` is active on this daemon, `NULL_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `handler` a function honouring the `VenomHandler` contract;
/// `user_data` whatever the handler expects.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_run(
    handle: *mut VenomDaemonHandle,
    handler: VenomHandler,
    user_data: *mut c_void,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let h = unsafe { boundary::handle(handle)? };
        let handler = handler.ok_or_else(|| fail(VenomStatus::NullArgument, "handler is NULL"))?;
        if h.running.swap(true, Ordering::AcqRel) {
            return Err(fail(
                VenomStatus::Busy,
                "venom_daemon_run is already running",
            ));
        }
        let result = serve(h, handler, user_data);
        h.running.store(false, Ordering::Release);
        result
    })
}

type RawHandler = unsafe extern "C" fn(
    *mut c_void,
    *const VenomCommand,
    *const u8,
    *mut u8,
    usize,
    *mut usize,
) -> i32;

/// `venom_daemon_run`'s loop: the Rust serve loop, calling the C handler and replying.
fn serve(
    h: &VenomDaemonHandle,
    handler: RawHandler,
    user_data: *mut c_void,
) -> Result<VenomStatus, VenomStatus> {
    let cap = h.daemon.response_size();
    let mut reply = vec![0u8; cap + 1];
    let mut stopped_with = VenomStatus::Ok as i32;
    h.daemon
        .serve(|cmd, bytes| {
            let c = VenomCommand::from(cmd);
            let mut len = 0usize;
            // SAFETY: the handler contract: `c` and `bytes` are readable for the call,
            // `reply` has `cap` writable bytes (one more, unused), `len` is writable.
            let rc = unsafe {
                handler(
                    user_data,
                    &c,
                    bytes.as_ptr(),
                    reply.as_mut_ptr(),
                    cap,
                    &mut len,
                )
            };
            if let Some(id) = cmd.request_id {
                // A length beyond the response size reaches the shell as TOO_LARGE.
                let _ = h
                    .daemon
                    .reply(cmd.client_id, id, &reply[..len.min(cap + 1)]);
            }
            if rc != VenomStatus::Ok as i32 {
                stopped_with = rc;
                h.stop.stop();
            }
        })
        .map_err(|e| fail_with(&e))?;
    Ok(VenomStatus::from_raw(stopped_with).unwrap_or(VenomStatus::Other))
}

/// Makes a running `venom_daemon_run` return after the command it is handling (a stop with
/// no loop running makes the next one return at once). Usable from any thread, from the
/// handler, and from a signal handler (atomic stores and a futex wake: no lock, no
/// allocation). NULL is a no-op.
///
/// # Safety
/// `handle` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_stop(handle: *mut VenomDaemonHandle) {
    // SAFETY: per the caller.
    if let Ok(h) = unsafe { boundary::handle(handle) } {
        h.stop.stop();
    }
}

/// Copies the daemon's counters into `*out`.
///
/// Returns `OK`, `NULL_ARGUMENT`.
///
/// # Safety
/// `handle` NULL or live; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn venom_daemon_stats(
    handle: *mut VenomDaemonHandle,
    out: *mut VenomStats,
) -> VenomStatus {
    status(|| {
        // SAFETY: per the caller.
        let (h, out) = unsafe { (boundary::handle(handle)?, boundary::out(out, "out")?) };
        let s = h.daemon.stats();
        *out = VenomStats {
            writes: s.writes,
            commands: s.commands,
            requests: s.requests,
            dropped: s.dropped,
            abandoned: s.abandoned,
        };
        Ok(VenomStatus::Ok)
    })
}
