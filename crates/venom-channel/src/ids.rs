//! Typed ids: a [`ClientId`] names a connected shell, a [`RequestId`] one of its requests, so
//! the two can never be swapped in [`DaemonChannel::reply`](crate::DaemonChannel::reply).

use core::num::NonZeroU32;

/// A shell's id on its channel: `1..=max_clients`, unique among the channel's live shells
/// ([`ShellChannel::client_id`](crate::ShellChannel::client_id) gives it as a plain `u32`, as
/// the seed does).
///
/// ```
/// use venom_channel::ClientId;
/// assert_eq!(ClientId::new(3).map(ClientId::get), Some(3));
/// assert_eq!(ClientId::new(0), None); // 0 is never a client
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(NonZeroU32);

impl ClientId {
    /// The id `id`, if it can be one (not 0).
    pub const fn new(id: u32) -> Option<Self> {
        match NonZeroU32::new(id) {
            Some(id) => Some(Self(id)),
            None => None,
        }
    }

    /// The id as the integer the seed API and the C API use.
    pub const fn get(self) -> u32 {
        self.0.get()
    }

    /// The id of registry entry `entry` (ids are entry + 1).
    pub(crate) fn of_entry(entry: usize) -> Self {
        let id = u32::try_from(entry).map_or(u32::MAX, |e| e.saturating_add(1));
        Self(NonZeroU32::new(id).unwrap_or(NonZeroU32::MAX))
    }

    /// The registry entry of this id.
    pub(crate) fn entry(self) -> usize {
        (self.0.get() - 1) as usize
    }
}

impl core::fmt::Display for ClientId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

/// Which request of a shell a [`Command`](crate::Command) is: the sequence number the shell
/// gave it. Hand it back to [`DaemonChannel::reply`](crate::DaemonChannel::reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(u32);

impl RequestId {
    /// The request with sequence number `seq` (as the C API passes it back).
    pub const fn new(seq: u32) -> Self {
        Self(seq)
    }

    /// The sequence number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl core::fmt::Display for RequestId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}
