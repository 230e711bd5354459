//! The C API of VenomMemory: `libvenom_memory.so` / `libvenom_memory.a` and the header
//! `include/venom_memory_rs.h` (generated from these sources by cbindgen, committed, and
//! checked for freshness by `tests/header.rs`).
//!
//! * The seed's eight functions keep their exact signatures (`venom_daemon_create`,
//!   `venom_shell_read_data` returning 0 on every failure, `venom_shell_send_command`
//!   returning `bool`, …), accept NULL handles, and set the last error when they fail.
//! * Everything else returns a [`VenomStatus`] (0 ok, positive non-error outcomes, negative
//!   errors, one per `venom_channel::ErrorKind`), writes out-parameters only on success, and
//!   leaves a message in a thread-local last error (`venom_last_error_message`).
//! * No panic crosses the boundary (every export runs inside a `catch_unwind` guard); every pointer, length and name is
//!   checked before a Rust reference exists; enums come in from C as integers.
//! * The library starts no thread: callbacks run on the caller's thread.
//!
//! See `docs/C_API.md` for the guide.

mod boundary;
pub mod daemon;
pub mod shared;
pub mod shell;
pub mod status;
pub mod version;

pub use daemon::{
    VENOM_NO_REQUEST, VenomChannelOptions, VenomCommand, VenomConfig, VenomDaemonHandle,
    VenomHandler, VenomStats,
};
pub use shared::{VenomSharedHandle, VenomSharedOptions};
pub use shell::{VenomShellHandle, VenomShellOptions};
pub use status::VenomStatus;
pub use version::VENOM_WAIT_FOREVER;
