//! VenomMemory: same-host IPC over POSIX shared memory.
//!
//! One **daemon** ([`DaemonChannel`]) creates a named channel and publishes latest-value data
//! that any number of **shells** ([`ShellChannel`]) read without locks; shells send commands
//! and make requests that the daemon answers to the requesting shell alone.
//!
//! * [`DaemonChannel`]: `create`, `write_data`, `try_recv_command`, `run`, `reply`, stats.
//! * [`ShellChannel`]: `connect`, `read_data`, `try_send_command`, `request`, waits.
//! * [`SharedMemory<T>`]: one named plain-data value any process may read or write.
//! * [`SharedBytes`]: the same, sized at run time (size, alignment, tag), for the C API.
//! * [`ChannelConfig`] (the seed's three fields), [`ChannelOptions`] and [`ShellOptions`]
//!   (everything else), each finished by its `*_with` constructor.
//! * [`ClientId`], [`RequestId`]: typed ids for [`DaemonChannel::reply`].
//! * [`inspect`]: regions as a bystander sees them (what the `venom` tool shows).
//! * [`Error`]: what went wrong, in variants a caller can act on; [`ErrorKind`] its flat kind.
//!
//! A daemon and a shell (in one process here; usually two): data, a command, a request.
//!
//! ```
//! use std::time::Duration;
//! use venom_channel::{ChannelConfig, DaemonChannel, ErrorKind, ShellChannel};
//! # let name = venom_shm::testing::unique_name("doc_channel");
//!
//! // The daemon: create the channel and publish the latest value.
//! let daemon = DaemonChannel::create(&name, ChannelConfig::default())?;
//! daemon.write_data(b"state v1")?;
//!
//! // A shell: connect, read a consistent snapshot, send a command.
//! let shell = ShellChannel::connect(&name)?;
//! let mut buf = [0u8; 64];
//! let n = shell.read_data(&mut buf);
//! assert_eq!(&buf[..n], b"state v1");
//! shell.try_send_command(b"PING")?;
//!
//! // The daemon receives it (waiting at most a second), with the sender's id.
//! let mut cmd = [0u8; 64];
//! let got = daemon.recv_command_timeout(&mut cmd, Duration::from_secs(1))?.unwrap();
//! assert_eq!((got.client_id.get(), &cmd[..got.len]), (shell.client_id(), &b"PING"[..]));
//!
//! // Requests: the daemon serves them in `run` (here on a thread) until stopped.
//! let stop = daemon.stop_handle();
//! std::thread::scope(|s| {
//!     s.spawn(|| daemon.run(|_client, req| [b"re: ", req].concat()));
//!     let mut reply = [0u8; 64];
//!     let n = shell.request(b"status?", &mut reply).unwrap();
//!     assert_eq!(&reply[..n], b"re: status?");
//!     stop.stop();
//! });
//!
//! // Errors have a flat kind (what the C API's status codes mirror).
//! let too_big = vec![0u8; shell.max_command_len() + 1];
//! assert_eq!(shell.try_send_command(&too_big).unwrap_err().kind(), ErrorKind::TooLarge);
//! # Ok::<(), venom_channel::Error>(())
//! ```
//!
//! # Copying rules
//! No call copies part of a message into a caller's buffer. Each reports the length needed
//! instead ([`Error::BufferTooSmall`]) and loses nothing, except the seed signatures that have
//! no room for an error: [`ShellChannel::read_data`] returns 0 (the data stays readable), and
//! [`DaemonChannel::try_recv_command`] drops a command longer than the buffer and counts it
//! in [`Stats::dropped`].

#![cfg_attr(loom, allow(dead_code))]

// Under `--cfg loom` only the modules that hold the channel's own protocols are compiled (the
// rest maps regions and runs the primitives over raw memory); `model` exposes them to
// `tests/loom_channel.rs`.
#[cfg(all(feature = "async", not(loom)))]
pub mod asynchronous;
mod cell_lock;
mod config;
#[cfg(not(loom))]
mod daemon;
mod error;
mod ids;
mod init;
#[cfg(not(loom))]
pub mod inspect;
mod layout;
#[cfg(loom)]
#[doc(hidden)]
pub mod model;
#[cfg(not(loom))]
mod receive;
mod registry;
mod rpc;
#[cfg(not(loom))]
mod shared_bytes;
#[cfg(not(loom))]
mod shared_memory;
#[cfg(not(loom))]
mod shell;
mod stop;
mod summary;
#[cfg(not(loom))]
mod views;

pub use config::{
    ChannelConfig, ChannelOptions, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SPIN, MAX_CLIENTS,
    ShellOptions, Trust,
};
#[cfg(not(loom))]
pub use daemon::{DaemonChannel, Stats, StopHandle};
pub use error::{Error, ErrorKind, Result};
pub use ids::{ClientId, RequestId};
pub use layout::{ABI_MARKER, HEADER_SIZE, LAYOUT_VERSION, MAGIC};
#[cfg(not(loom))]
pub use receive::{Command, CommandView};
#[cfg(not(loom))]
pub use shared_bytes::{
    DEFAULT_WRITE_TIMEOUT, MAX_ALIGN, MAX_TAG_LEN, SharedBytes, SharedMemoryOptions,
};
#[cfg(not(loom))]
pub use shared_memory::SharedMemory;
#[cfg(not(loom))]
pub use shell::ShellChannel;
pub use venom_seqlock::Snapshot;

/// The user guide, `docs/USAGE.md`: each of its Rust snippets is compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/USAGE.md")]
pub struct UsageGuide;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<DaemonChannel>();
        assert_send_sync::<ShellChannel>();
        assert_send_sync::<StopHandle>();
        assert_send_sync::<SharedMemory<u64>>();
        assert_send_sync::<SharedBytes>();
    }
}
