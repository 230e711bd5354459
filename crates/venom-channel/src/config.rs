//! [`ChannelConfig`] (the seed's three fields), [`ChannelOptions`] for the daemon's tuning and
//! [`ShellOptions`] for a shell's. Every options type is finished the same way: passed by
//! reference to the `*_with` constructor (`DaemonChannel::create_with`,
//! `ShellChannel::connect_with`, `SharedMemory::create_with`, …).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::layout::Geometry;
pub use venom_shm::Trust;

/// The shape of a channel, as the seed programs build it with a struct literal.
///
/// ```
/// use venom_channel::ChannelConfig;
/// let config = ChannelConfig { data_size: 64 * 1024, cmd_slots: 128, max_clients: 16 };
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Most bytes of latest-value data.
    pub data_size: usize,
    /// Slots of the command queue (rounded up to a power of two).
    pub cmd_slots: usize,
    /// Most shells connected at once (1 ..= 65 536).
    pub max_clients: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            data_size: 4096,
            cmd_slots: 64,
            max_clients: 16,
        }
    }
}

/// The daemon's tuning beyond [`ChannelConfig`]: command slot size, reply size, data slots,
/// permissions, and the spin budget before sleeping. Used by
/// [`DaemonChannel::create_with`](crate::DaemonChannel::create_with).
///
/// ```no_run
/// use venom_channel::{ChannelConfig, ChannelOptions, DaemonChannel};
/// let options = ChannelOptions::new(ChannelConfig::default())
///     .command_slot_size(1024)
///     .response_size(64 * 1024)
///     .mode(0o660)
///     .spin(u32::MAX); // busy-poll: lowest latency, one core per waiting side
/// let daemon = DaemonChannel::create_with("camera", &options)?;
/// # Ok::<(), venom_channel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelOptions {
    pub(crate) config: ChannelConfig,
    pub(crate) cmd_slot_size: u32,
    pub(crate) response_size: usize,
    pub(crate) data_slots: u32,
    pub(crate) mode: u32,
    pub(crate) spin: u32,
    pub(crate) prefault: bool,
}

/// Polls before a blocking call sleeps, by default (about a few microseconds).
pub const DEFAULT_SPIN: u32 = 2_000;
/// `request`'s time limit.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The most shells a channel admits.
pub const MAX_CLIENTS: usize = 65_536;

impl ChannelOptions {
    /// Defaults: 256-byte command slots (commands up to 240 bytes), replies up to 4 KiB, three
    /// data slots (readers are never starved by a writer rewriting large values back to back),
    /// mode `0o600`, spin [`DEFAULT_SPIN`], every page allocated at creation.
    pub fn new(config: ChannelConfig) -> Self {
        Self {
            config,
            cmd_slot_size: 256,
            response_size: 4096,
            data_slots: 3,
            mode: 0o600,
            spin: DEFAULT_SPIN,
            prefault: true,
        }
    }

    /// Whether every page of the region is allocated at creation (default `true`): running
    /// out of `/dev/shm` is then [`Error::InsufficientSpace`] up front, never a `SIGBUS` on a
    /// later first touch (a `write_data`, a `connect`, a request). `false` saves the memory of
    /// pages never used, at that risk.
    pub fn prefault(mut self, prefault: bool) -> Self {
        self.prefault = prefault;
        self
    }

    /// Bytes per command slot: a power of two, 64 ..= 1 MiB; commands may have
    /// `size - 16` bytes (a 16-byte slot header).
    pub fn command_slot_size(mut self, size: u32) -> Self {
        self.cmd_slot_size = size;
        self
    }

    /// Most bytes of a reply to `request`.
    pub fn response_size(mut self, size: usize) -> Self {
        self.response_size = size;
        self
    }

    /// Slots of the data seqlock: 1 saves memory; ≥ 2 keeps large values readable while the
    /// daemon rewrites them back to back.
    pub fn data_slots(mut self, slots: u32) -> Self {
        self.data_slots = slots;
        self
    }

    /// Permission bits of the region (default `0o600`: the daemon's user only).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Polls before the daemon's `run` or `recv_command` sleeps on its futex. `u32::MAX`
    /// never sleeps (busy-poll); 0 sleeps at once.
    pub fn spin(mut self, spins: u32) -> Self {
        self.spin = spins;
        self
    }

    /// The sizes these options describe.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the value that cannot be.
    pub(crate) fn geometry(&self) -> Result<Geometry> {
        let c = &self.config;
        if c.max_clients == 0 || c.max_clients > MAX_CLIENTS {
            return Err(Error::config(format!(
                "max_clients is {}, must be 1..={MAX_CLIENTS}",
                c.max_clients
            )));
        }
        let cmd_slots = c
            .cmd_slots
            .max(1)
            .checked_next_power_of_two()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| Error::config(format!("cmd_slots {} is too large", c.cmd_slots)))?;
        let g = Geometry {
            data_size: c.data_size,
            data_slots: self.data_slots,
            cmd_slots,
            cmd_slot_size: self.cmd_slot_size,
            max_clients: c.max_clients as u32,
            response_size: self.response_size,
        };
        g.layout().map_err(Error::config)?;
        Ok(g)
    }
}

/// A shell's tuning, given at connect time
/// ([`ShellChannel::connect_with`](crate::ShellChannel::connect_with)).
///
/// ```no_run
/// use venom_channel::{ShellChannel, ShellOptions};
/// let shell = ShellChannel::connect_with("camera", &ShellOptions::new().spin(u32::MAX))?;
/// # Ok::<(), venom_channel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellOptions {
    pub(crate) spin: u32,
    pub(crate) trust: Trust,
}

impl Default for ShellOptions {
    fn default() -> Self {
        Self {
            spin: DEFAULT_SPIN,
            trust: Trust::own(),
        }
    }
}

impl ShellOptions {
    /// Spin [`DEFAULT_SPIN`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Polls before a blocking call (`request`, `wait_for_data`) sleeps on its futex.
    /// `u32::MAX` never sleeps (busy-poll; the daemon then skips the wake-up check when it
    /// replies); 0 sleeps at once.
    pub fn spin(mut self, spins: u32) -> Self {
        self.spin = spins;
        self
    }

    /// Whose channels to connect to. By default only a channel created by this process's
    /// user: one owned by another user is [`Error::UntrustedOwner`](crate::Error::UntrustedOwner)
    /// unless trusted here (`Trust::own().also_root()` for a system daemon's channels,
    /// `.also_uid(uid)` for one user's).
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self
    }
}
