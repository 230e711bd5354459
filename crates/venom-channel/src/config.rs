//! [`ChannelConfig`] (the seed's three fields) and [`ChannelBuilder`] for everything else.

use std::time::Duration;

use crate::layout::Geometry;

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
    /// Most shells connected at once.
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

/// Tuning beyond [`ChannelConfig`]: command slot size, reply size, data slots, permissions,
/// and the spin budget before sleeping.
///
/// ```no_run
/// use venom_channel::{ChannelBuilder, ChannelConfig};
/// let daemon = ChannelBuilder::new(ChannelConfig::default())
///     .command_slot_size(1024)
///     .response_size(64 * 1024)
///     .mode(0o660)
///     .spin(u32::MAX) // busy-poll: lowest latency, one core per waiting side
///     .create("camera")?;
/// # Ok::<(), venom_channel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelBuilder {
    pub(crate) config: ChannelConfig,
    pub(crate) cmd_slot_size: u32,
    pub(crate) response_size: usize,
    pub(crate) data_slots: u32,
    pub(crate) mode: u32,
    pub(crate) spin: u32,
}

/// Polls before a blocking call sleeps, by default (about a few microseconds).
pub const DEFAULT_SPIN: u32 = 2_000;
/// `request`'s time limit.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl ChannelBuilder {
    /// Defaults: 256-byte command slots (commands up to 232 bytes), replies up to 4 KiB, three
    /// data slots (readers are never starved by a writer rewriting large values back to back),
    /// mode `0o600`, spin [`DEFAULT_SPIN`].
    pub fn new(config: ChannelConfig) -> Self {
        Self {
            config,
            cmd_slot_size: 256,
            response_size: 4096,
            data_slots: 3,
            mode: 0o600,
            spin: DEFAULT_SPIN,
        }
    }

    /// Bytes per command slot: a power of two, 64 ..= 1 MiB; commands may have
    /// `size - 24` bytes.
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

    /// Polls before a blocking call (the daemon's `run`, a shell's `request` or wait) sleeps
    /// on its futex. `u32::MAX` never sleeps (busy-poll); 0 sleeps at once.
    pub fn spin(mut self, spins: u32) -> Self {
        self.spin = spins;
        self
    }

    pub(crate) fn geometry(&self) -> crate::Result<Geometry> {
        let to_u32 =
            |v: usize, what| u32::try_from(v).map_err(|_| crate::Error::Corrupt { reason: what });
        let cmd_slots = self
            .config
            .cmd_slots
            .max(1)
            .checked_next_power_of_two()
            .ok_or(crate::Error::Corrupt {
                reason: "cmd_slots too large",
            })?;
        Ok(Geometry {
            data_size: self.config.data_size,
            data_slots: self.data_slots,
            cmd_slots: to_u32(cmd_slots, "cmd_slots too large")?,
            cmd_slot_size: self.cmd_slot_size,
            max_clients: to_u32(self.config.max_clients, "max_clients too large")?,
            response_size: self.response_size,
        })
    }
}
