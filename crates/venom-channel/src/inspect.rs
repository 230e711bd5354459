//! Looking at regions as a bystander, the way the `venom` command-line tool does: which
//! regions exist, what a channel's layout, configuration, counters and clients are, and
//! removing a channel whose daemon is gone. Regions are opened read-only, under the same trust
//! rules as the library (another user's region is refused unless trusted), and nothing is
//! read past what validation allows.
//!
//! ```
//! use venom_channel::inspect::{self, RegionKind};
//! use venom_channel::{ChannelConfig, DaemonChannel, Trust};
//! # let name = venom_shm::testing::unique_name("doc_inspect");
//! let daemon = DaemonChannel::create(&name, ChannelConfig::default())?;
//! daemon.write_data(b"hello")?;
//! let listed = inspect::regions()?.into_iter().find(|r| r.name == name).unwrap();
//! assert_eq!(listed.kind, RegionKind::Channel);
//! let info = inspect::channel(&name, Trust::own())?;
//! assert!(info.daemon_alive && !info.is_stale());
//! assert_eq!((info.data_version, info.stats.writes), (1, 1));
//! # Ok::<(), venom_channel::Error>(())
//! ```

use std::os::unix::fs::MetadataExt;

use venom_shm::sync::Ordering;
use venom_shm::{Access, OpenOptions, ShmRegion, Trust, wait};

use crate::daemon::Stats;
use crate::error::{Error, Result};
use crate::layout::{HEADER_SIZE, channel_region_name};
use crate::views::Views;

/// What a region is, by its name's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionKind {
    /// `/venom_<name>`: a daemon/shell channel.
    Channel,
    /// `/venom_sm_<name>`: a `SharedMemory<T>` / `SharedBytes` value.
    SharedValue,
}

/// One object under `/dev/shm` whose name says it is a VenomMemory region (nothing about it
/// is validated yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// The name the creator gave (without the `venom_` / `venom_sm_` prefix).
    pub name: String,
    /// Channel or shared value.
    pub kind: RegionKind,
    /// Its path.
    pub path: String,
    /// The owner's uid.
    pub owner: u32,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Whether it is a regular file (a FIFO or symlink under the name is not a region).
    pub regular: bool,
}

/// Every object under `/dev/shm` named like a VenomMemory region, sorted by name.
///
/// # Errors
/// [`Error::Io`] if `/dev/shm` cannot be read.
pub fn regions() -> Result<Vec<Region>> {
    let io = |e: std::io::Error| Error::Io {
        op: "read directory",
        name: "/dev/shm".into(),
        source: e,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/dev/shm").map_err(io)? {
        let entry = entry.map_err(io)?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let (kind, name) = if let Some(n) = file.strip_prefix("venom_sm_") {
            (RegionKind::SharedValue, n)
        } else if let Some(n) = file.strip_prefix("venom_") {
            (RegionKind::Channel, n)
        } else {
            continue;
        };
        // Not followed: a symlink is reported as what it is.
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue; // removed meanwhile
        };
        out.push(Region {
            name: name.to_owned(),
            kind,
            path: entry.path().to_string_lossy().into_owned(),
            owner: meta.uid(),
            mode: meta.mode() & 0o7777,
            size: meta.size(),
            regular: meta.file_type().is_file(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Where a channel's parts are, in bytes from the start of the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    /// The counters line.
    pub stats: usize,
    /// The data seqlock.
    pub data: usize,
    /// The command queue.
    pub queue: usize,
    /// The client registry.
    pub registry: usize,
    /// The first request/reply cell.
    pub cells: usize,
    /// Bytes per cell.
    pub cell_stride: usize,
    /// Bytes of the whole layout.
    pub total: usize,
}

/// A client entry that is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// Its client id.
    pub id: u32,
    /// The pid recorded in the entry.
    pub pid: u32,
    /// Whether that process is alive.
    pub alive: bool,
}

/// A validated channel, as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Layout version (this build's [`LAYOUT_VERSION`](crate::LAYOUT_VERSION)).
    pub layout_version: u32,
    /// Most bytes of data.
    pub data_size: usize,
    /// Slots of the data seqlock.
    pub data_slots: u32,
    /// Slots of the command queue.
    pub cmd_slots: u32,
    /// Bytes per command slot.
    pub cmd_slot_size: u32,
    /// Most bytes of a command.
    pub max_command_len: usize,
    /// Most bytes of a reply.
    pub response_size: usize,
    /// Client entries.
    pub max_clients: u32,
    /// Where everything is.
    pub offsets: Offsets,
    /// The daemon's pid.
    pub daemon_pid: u32,
    /// Whether that process is alive.
    pub daemon_alive: bool,
    /// Whether the daemon closed the channel.
    pub closed: bool,
    /// The held client entries.
    pub clients: Vec<Client>,
    /// Commands queued and not yet received.
    pub queue_depth: u64,
    /// The data's version (writes so far).
    pub data_version: u64,
    /// The daemon's counters.
    pub stats: Stats,
}

impl ChannelInfo {
    /// Whether its daemon is gone (closed the channel or died): `venom clean` removes these.
    pub fn is_stale(&self) -> bool {
        self.closed || !self.daemon_alive
    }
}

/// Opens channel `name` read-only (refusing owners `trust` does not accept) and validates it.
fn attach(name: &str, trust: Trust) -> Result<(Views, ShmRegion)> {
    let options = OpenOptions::new(Access::ReadOnly)
        .min_len(HEADER_SIZE)
        .trust(trust);
    let region =
        ShmRegion::open_with(&channel_region_name(name), options).map_err(|e| match e {
            venom_shm::Error::TooSmall { .. } => Error::NotInitialized {
                name: name.to_owned(),
            },
            other => other.into(),
        })?;
    // SAFETY: the views are dropped before `region` (returned together, views first, and the
    // callers keep both only for the duration of one inspection).
    let views = unsafe { Views::attach(&region, name) }?;
    Ok((views, region))
}

/// Channel `name`'s layout, configuration, daemon, clients, queue depth and counters.
///
/// # Errors
/// Those of [`ShellChannel::connect`](crate::ShellChannel::connect) for a region that is not a
/// valid channel ([`Error::NotFound`], [`Error::Corrupt`], [`Error::UntrustedOwner`], …).
pub fn channel(name: &str, trust: Trust) -> Result<ChannelInfo> {
    let (v, _region) = attach(name, trust)?;
    let h = v.header;
    let r = Ordering::Relaxed;
    let layout = h.load_layout(usize::MAX)?;
    let g = layout.geometry;
    let daemon_pid = h.daemon_pid.load(r);
    let clients = v
        .registry
        .entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let pid = e.pid.load(r);
            (pid != 0).then(|| Client {
                id: i as u32 + 1,
                pid,
                alive: wait::holder_alive(pid, e.start.load(r)),
            })
        })
        .collect();
    let s = v.stats;
    Ok(ChannelInfo {
        layout_version: h.layout_version.load(r),
        data_size: g.data_size,
        data_slots: g.data_slots,
        cmd_slots: g.cmd_slots,
        cmd_slot_size: g.cmd_slot_size,
        max_command_len: v.queue.payload_size(),
        response_size: g.response_size,
        max_clients: g.max_clients,
        offsets: Offsets {
            stats: HEADER_SIZE,
            data: layout.data_offset,
            queue: layout.queue_offset,
            registry: layout.registry_offset,
            cells: layout.cell_offset,
            cell_stride: layout.cell_stride,
            total: layout.total,
        },
        daemon_pid,
        daemon_alive: daemon_pid != 0 && h.daemon_alive(),
        closed: h.is_closed(),
        clients,
        queue_depth: v.queue.len_hint(),
        data_version: v.data.version(),
        stats: Stats {
            writes: s.writes.load(r),
            commands: s.commands.load(r),
            requests: s.requests.load(r),
            dropped: s.dropped.load(r),
            abandoned: s.abandoned.load(r),
        },
    })
}

/// A validated shared value, as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedInfo {
    /// Bytes of the value.
    pub size: usize,
    /// Its alignment.
    pub align: usize,
    /// Its tag.
    pub tag: String,
    /// The creator's pid.
    pub creator_pid: u32,
    /// Whether that process is alive (a value may outlive its creator on purpose).
    pub creator_alive: bool,
    /// Writes so far.
    pub version: u64,
    /// Whether a writer holds the lock now.
    pub occupied: bool,
}

/// Shared value `name`'s fingerprint, creator and version.
///
/// # Errors
/// [`Error::NotFound`], [`Error::Corrupt`], [`Error::UntrustedOwner`], … as for opening it.
pub fn shared(name: &str, trust: Trust) -> Result<SharedInfo> {
    crate::shared_bytes::inspect(name, trust)
}

/// Removes channel `name` if it is a valid channel of this user whose daemon is gone;
/// `Ok(false)` (nothing touched) if its daemon is alive.
///
/// # Errors
/// Those of [`channel`] (a region that does not validate is never removed).
pub fn remove_if_stale(name: &str) -> Result<bool> {
    let info = channel(name, Trust::own())?;
    if !info.is_stale() {
        return Ok(false);
    }
    match crate::init::reclaim_if_dead(
        name,
        &channel_region_name(name),
        HEADER_SIZE,
        crate::daemon::live_daemon,
    ) {
        Ok(()) => Ok(true),
        Err(Error::AlreadyExists { .. }) => Ok(false), // a daemon started meanwhile
        Err(e) => Err(e),
    }
}
