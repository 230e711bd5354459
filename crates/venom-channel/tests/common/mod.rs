//! Helpers shared by this crate's integration tests (each test file includes it with
//! `mod common;`).
#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use venom_channel::{ShellChannel, ShellOptions};
use venom_shm::testing::{ShmGuard, spin_until};

/// How long a test waits for another process before it fails.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// Unlinks channel `name`'s region when dropped, also when the test fails.
pub(crate) fn guard(name: &str) -> ShmGuard {
    ShmGuard(format!("venom_{name}"))
}

/// Connects to channel `name`, waiting at most [`WAIT`] for a daemon process to create it.
pub(crate) fn connect_when_ready(name: &str) -> ShellChannel {
    connect_when_ready_with(name, &ShellOptions::new())
}

/// [`connect_when_ready`] with options.
pub(crate) fn connect_when_ready_with(name: &str, options: &ShellOptions) -> ShellChannel {
    let mut shell = None;
    assert!(
        spin_until(WAIT, || {
            shell = ShellChannel::connect_with(name, options).ok();
            shell.is_some()
        }),
        "daemon never came up"
    );
    shell.unwrap()
}
