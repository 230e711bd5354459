//! [`DaemonChannel`]: creates and serves a channel.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use venom_mpsc::{Consumer, Received};
use venom_shm::{Access, CreateOptions, ShmRegion};

use crate::config::{ChannelBuilder, ChannelConfig};
use crate::error::{Error, Result};
use crate::layout::{COMMAND_PREFIX, REPLY_OK, REPLY_PREFIX, REPLY_TOO_LARGE, STATE_CLOSED};
use crate::views::Views;

/// How long the daemon waits for the data or a mailbox's writer lock (held only by itself,
/// so this bounds nothing but a takeover from a previous, dead daemon).
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// The region name of channel `name`: `/venom_<name>`.
pub(crate) fn region_name(name: &str) -> String {
    format!("/venom_{}", name.strip_prefix('/').unwrap_or(name))
}

/// The serving side of a channel: publishes data, receives commands, answers requests.
/// Dropping it closes the channel (shells get [`Error::Disconnected`]) and removes the name.
///
/// `Send + Sync`: share it with threads by reference or in an `Arc`.
#[derive(Debug, Clone)]
pub struct DaemonChannel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    // Field order is drop order: everything that points into the mapping before `region`.
    consumer: Mutex<Consumer<'static>>,
    views: Views,
    stop: AtomicBool,
    stats: Counters,
    spin: u32,
    name: String,
    region: ShmRegion,
}

#[derive(Debug, Default)]
struct Counters {
    writes: AtomicU64,
    commands: AtomicU64,
    requests: AtomicU64,
    dropped: AtomicU64,
    /// The consumer's count, copied whenever it is used (so `stats` never waits for a
    /// `run` that holds the consumer while it sleeps).
    abandoned: AtomicU64,
}

/// What the daemon has done so far (this handle's view).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Values published with `write_data` / `write_value`.
    pub writes: u64,
    /// Commands and requests received.
    pub commands: u64,
    /// Requests answered.
    pub requests: u64,
    /// Commands dropped by [`DaemonChannel::try_recv_command`] because they did not fit the
    /// caller's buffer (use [`DaemonChannel::recv_command`] to lose nothing).
    pub dropped: u64,
    /// Commands whose sender died mid-send (skipped, never delivered).
    pub abandoned: u64,
}

/// The locked consumer; publishes its abandoned count when released.
struct ConsumerGuard<'d> {
    guard: MutexGuard<'d, Consumer<'static>>,
    abandoned: &'d AtomicU64,
}

impl core::ops::Deref for ConsumerGuard<'_> {
    type Target = Consumer<'static>;
    fn deref(&self) -> &Self::Target {
        &self.guard
    }
}

impl core::ops::DerefMut for ConsumerGuard<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.guard
    }
}

impl Drop for ConsumerGuard<'_> {
    fn drop(&mut self) {
        self.abandoned
            .store(self.guard.abandoned(), Ordering::Relaxed);
    }
}

/// The next message, split into its queue slot and what its prefix says.
fn next_command<'c>(
    consumer: &'c mut Consumer<'static>,
) -> Result<Option<(Received<'c, 'static>, Command)>> {
    let Some(received) = consumer.try_recv_ref()? else {
        return Ok(None);
    };
    let mut prefix = [0u8; COMMAND_PREFIX];
    if received.read_at(0, &mut prefix).is_err() {
        // Shorter than its prefix: no shell sends that. Dropping `received` releases it.
        return Err(Error::Corrupt {
            reason: "command shorter than its prefix",
        });
    }
    let id = u64::from_le_bytes(prefix);
    let cmd = Command {
        client_id: received.sender(),
        len: received.len() - COMMAND_PREFIX,
        request_id: (id != 0).then_some(id),
    };
    Ok(Some((received, cmd)))
}

/// A command received, in place: read it with [`copy_to`](Self::copy_to) or
/// [`to_vec`](Self::to_vec).
#[derive(Debug)]
pub struct CommandView<'r, 'c, 'a> {
    received: &'r Received<'c, 'a>,
}

impl CommandView<'_, '_, '_> {
    /// The sending shell's client id.
    pub fn client_id(&self) -> u32 {
        self.received.sender()
    }
    /// Length of the command.
    pub fn len(&self) -> usize {
        self.received.len() - COMMAND_PREFIX
    }
    /// Whether the command is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies the command to the start of `buf`; returns its length.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] (nothing copied).
    pub fn copy_to(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.len();
        let got = buf.len();
        let dst = buf
            .get_mut(..len)
            .ok_or(Error::BufferTooSmall { needed: len, got })?;
        self.received.read_at(COMMAND_PREFIX, dst)?;
        Ok(len)
    }
    /// The command as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len()];
        let _ = self.received.read_at(COMMAND_PREFIX, &mut v);
        v
    }
}

/// Who sent a command, how long it is, and whether it awaits a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The sending shell's client id.
    pub client_id: u32,
    /// Length of the command.
    pub len: usize,
    /// The request it belongs to, if the shell awaits a reply ([`DaemonChannel::reply`]).
    pub request_id: Option<u64>,
}

/// Stops a running [`DaemonChannel::run`] from any thread (or from its handler).
#[derive(Debug, Clone)]
pub struct StopHandle {
    inner: Arc<Inner>,
}

impl StopHandle {
    /// Makes `run` return after the command it is handling, waking it if it sleeps.
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::Release);
        self.inner.views.queue.ring();
    }
}

impl DaemonChannel {
    /// Creates channel `name` (region `/venom_<name>`) with default tuning.
    ///
    /// A name left by a daemon that died is reclaimed; one served by a live daemon is
    /// [`Error::AlreadyExists`].
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`], [`Error::PermissionDenied`],
    /// [`Error::Corrupt`] for sizes that describe no valid channel, [`Error::Shm`] (e.g. not
    /// enough space in `/dev/shm`).
    pub fn create(name: &str, config: ChannelConfig) -> Result<Self> {
        ChannelBuilder::new(config).create(name)
    }

    pub(crate) fn create_with(name: &str, builder: &ChannelBuilder) -> Result<Self> {
        let layout = builder.geometry()?.layout()?;
        let shm_name = region_name(name);
        let options = CreateOptions::new().mode(builder.mode);
        let mut reclaimed = false;
        let region = loop {
            match ShmRegion::create(&shm_name, layout.total, options) {
                Ok(r) => break r,
                Err(venom_shm::Error::AlreadyExists { .. }) if !reclaimed => {
                    reclaim_if_dead(name, &shm_name)?;
                    reclaimed = true;
                }
                Err(venom_shm::Error::AlreadyExists { .. }) => {
                    return Err(Error::AlreadyExists {
                        name: name.to_owned(),
                        pid: 0,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        };
        // SAFETY: `region` is our fresh exclusive mapping of `layout.total` bytes, stored in
        // `Inner` after the views, so it outlives them.
        let views = unsafe { Views::init(&region, layout) }?;
        let consumer = views.queue.consumer()?;
        Ok(Self {
            inner: Arc::new(Inner {
                consumer: Mutex::new(consumer),
                views,
                stop: AtomicBool::new(false),
                stats: Counters::default(),
                spin: builder.spin,
                name: name.to_owned(),
                region,
            }),
        })
    }

    /// The channel name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Start of the mapped region (for diagnostics; access it only atomically).
    pub fn as_ptr(&self) -> *const u8 {
        self.inner.region.as_ptr()
    }

    /// Most bytes of data [`write_data`](Self::write_data) accepts.
    pub fn data_size(&self) -> usize {
        self.inner.views.data.capacity()
    }

    /// Most bytes of a command a shell may send.
    pub fn max_command_len(&self) -> usize {
        self.inner.views.queue.payload_size() - COMMAND_PREFIX
    }

    /// Publishes `bytes` as the latest data (all shells see it; readers never block this).
    ///
    /// # Errors
    /// [`Error::TooLarge`] beyond `data_size` (nothing written, nothing truncated).
    pub fn write_data(&self, bytes: &[u8]) -> Result<()> {
        let data = &self.inner.views.data;
        if bytes.len() > data.capacity() {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: data.capacity(),
            });
        }
        data.write_timeout(bytes, LOCK_WAIT)?;
        self.inner.stats.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Publishes a `#[repr(C)]` plain-data value (read it with
    /// [`ShellChannel::read_value`](crate::ShellChannel::read_value)).
    ///
    /// # Errors
    /// As [`write_data`](Self::write_data).
    pub fn write_value<T: bytemuck::Pod>(&self, value: &T) -> Result<()> {
        self.write_data(bytemuck::bytes_of(value))
    }

    /// The version of the latest data (each write adds one).
    pub fn data_version(&self) -> u64 {
        self.inner.views.data.version()
    }

    fn consumer(&self) -> ConsumerGuard<'_> {
        // A poisoned lock only means another thread panicked while receiving; the consumer's
        // state lives in shared memory and stays consistent.
        ConsumerGuard {
            guard: self
                .inner
                .consumer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            abandoned: &self.inner.stats.abandoned,
        }
    }

    /// Receives the next command into `buf` without blocking (the seed's API).
    ///
    /// Returns the sender's client id and the command's length. **A command longer than
    /// `buf` is dropped** (counted in [`Stats::dropped`]) rather than truncated: this
    /// signature has no room for an error. Use [`recv_command`](Self::recv_command) to keep
    /// such a command queued and learn its length, or a buffer of
    /// [`max_command_len`](Self::max_command_len) bytes.
    pub fn try_recv_command(&self, buf: &mut [u8]) -> Option<(u32, usize)> {
        let mut consumer = self.consumer();
        loop {
            let (received, cmd) = next_command(&mut consumer).ok()??;
            if cmd.len > buf.len() {
                drop(received);
                self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // In bounds: `cmd.len` fits `buf` and is the message's length past its prefix.
            let _ = received.read_at(COMMAND_PREFIX, &mut buf[..cmd.len]);
            self.inner.stats.commands.fetch_add(1, Ordering::Relaxed);
            return Some((cmd.client_id, cmd.len));
        }
    }

    /// Receives the next command into `buf` without blocking; nothing is ever lost.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] with the length needed: the command stays queued.
    /// [`Error::Queue`] / [`Error::Corrupt`] for a corrupt message (dropped; the next call
    /// goes on).
    pub fn recv_command(&self, buf: &mut [u8]) -> Result<Option<Command>> {
        let mut consumer = self.consumer();
        let Some((received, cmd)) = next_command(&mut consumer)? else {
            return Ok(None);
        };
        if cmd.len > buf.len() {
            std::mem::forget(received); // stays queued
            return Err(Error::BufferTooSmall {
                needed: cmd.len,
                got: buf.len(),
            });
        }
        let _ = received.read_at(COMMAND_PREFIX, &mut buf[..cmd.len]);
        self.inner.stats.commands.fetch_add(1, Ordering::Relaxed);
        Ok(Some(cmd))
    }

    /// Hands the next command to `f` in place (zero-copy: read it through the
    /// [`CommandView`]); its queue slot is released when `f` returns.
    ///
    /// # Errors
    /// [`Error::Queue`] / [`Error::Corrupt`] for a corrupt message (dropped).
    pub fn with_next_command<R>(
        &self,
        f: impl FnOnce(&CommandView<'_, '_, '_>, Command) -> R,
    ) -> Result<Option<R>> {
        let mut consumer = self.consumer();
        let Some((received, cmd)) = next_command(&mut consumer)? else {
            return Ok(None);
        };
        let out = f(
            &CommandView {
                received: &received,
            },
            cmd,
        );
        self.inner.stats.commands.fetch_add(1, Ordering::Relaxed);
        Ok(Some(out))
    }

    /// Sends the reply to request `request_id` of `client_id` (delivered to that shell alone).
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a client id the channel does not have. A reply longer than the
    /// channel's response size is not truncated: the shell gets [`Error::TooLarge`].
    pub fn reply(&self, client_id: u32, request_id: u64, bytes: &[u8]) -> Result<()> {
        let views = &self.inner.views;
        let mailbox = client_id
            .checked_sub(1)
            .and_then(|i| views.mailboxes.get(i as usize))
            .ok_or(Error::Corrupt {
                reason: "reply to a client id the channel does not have",
            })?;
        let room = mailbox.capacity() - REPLY_PREFIX;
        let fits = bytes.len() <= room;
        let len = if fits {
            REPLY_PREFIX + bytes.len()
        } else {
            REPLY_PREFIX
        };
        let mut w = mailbox.writer_timeout(LOCK_WAIT)?;
        w.write_with(len, |slot| {
            let mut prefix = [0u8; REPLY_PREFIX];
            prefix[..8].copy_from_slice(&request_id.to_le_bytes());
            let status = if fits { REPLY_OK } else { REPLY_TOO_LARGE };
            prefix[8..12].copy_from_slice(&status.to_le_bytes());
            prefix[12..16].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            // In bounds: `len` covers the prefix and, when it fits, the bytes.
            let _ = slot.write_at(0, &prefix);
            if fits {
                let _ = slot.write_at(REPLY_PREFIX, bytes);
            }
        })?;
        self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A handle that stops [`run`](Self::run) from another thread or from the handler.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            inner: self.inner.clone(),
        }
    }

    /// Serves commands until stopped: each command (fire-and-forget or request) goes to
    /// `handler(client_id, bytes)`; for a request, what the handler returns is the reply,
    /// delivered to the requesting shell alone. Sleeps on the queue's doorbell when idle
    /// (after the spin budget), so an idle daemon uses no CPU.
    ///
    /// Returns when a [`StopHandle`] is used.
    ///
    /// # Errors
    /// Only for a reply that cannot be written (lock of a mailbox held by a live process).
    pub fn run<R: AsRef<[u8]>>(&self, mut handler: impl FnMut(u32, &[u8]) -> R) -> Result<()> {
        let mut buf = vec![0u8; self.max_command_len()];
        let mut spins = 0u32;
        loop {
            if self.inner.stop.load(Ordering::Acquire) {
                self.inner.stop.store(false, Ordering::Relaxed);
                return Ok(());
            }
            match self.recv_command(&mut buf) {
                Ok(Some(cmd)) => {
                    spins = 0;
                    let answer = handler(cmd.client_id, &buf[..cmd.len]);
                    if let Some(id) = cmd.request_id {
                        match self.reply(cmd.client_id, id, answer.as_ref()) {
                            // A shell id from a scribbled message: nobody to answer.
                            Ok(()) | Err(Error::Corrupt { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(None) if spins < self.inner.spin => {
                    spins += 1;
                    std::hint::spin_loop();
                }
                Ok(None) => {
                    spins = 0;
                    // Sleep on the doorbell; a message, or a `StopHandle` ringing it, wakes us.
                    if let Ok(r) = self.consumer().recv_ref_timeout(None) {
                        std::mem::forget(r); // leave it queued: the loop receives it
                    }
                }
                // Never larger than the buffer, which holds the largest command; a corrupt
                // message was dropped by the queue.
                Err(_) => {}
            }
        }
    }

    /// Counters of what this daemon has done.
    pub fn stats(&self) -> Stats {
        let s = &self.inner.stats;
        Stats {
            writes: s.writes.load(Ordering::Relaxed),
            commands: s.commands.load(Ordering::Relaxed),
            requests: s.requests.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            abandoned: s.abandoned.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.views.close();
    }
}

/// The name exists: if its daemon is gone (or it never became a channel), remove it.
fn reclaim_if_dead(name: &str, shm_name: &str) -> Result<()> {
    use crate::layout::ChannelHeader;
    let region = match ShmRegion::open(shm_name, Access::ReadOnly) {
        Ok(r) => r,
        Err(venom_shm::Error::NotFound { .. }) => return Ok(()), // gone meanwhile
        Err(venom_shm::Error::TooSmall { .. }) => {
            let _ = ShmRegion::unlink_name(shm_name);
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if region.len() >= core::mem::size_of::<ChannelHeader>() {
        // SAFETY: the region holds a header-sized prefix, page-aligned, read atomically; the
        // reference does not outlive `region`.
        let header = unsafe { &*region.as_ptr().cast::<ChannelHeader>() };
        // A daemon that is still initialising has written its pid first: give it a moment.
        let mut pid = header.daemon_pid.load(Ordering::Relaxed);
        for _ in 0..100 {
            if pid != 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
            pid = header.daemon_pid.load(Ordering::Relaxed);
        }
        let closed = header.state.load(Ordering::Acquire) == STATE_CLOSED;
        if pid != 0 && !closed && venom_shm::wait::process_alive(pid) {
            return Err(Error::AlreadyExists {
                name: name.to_owned(),
                pid,
            });
        }
    }
    match ShmRegion::unlink_name(shm_name) {
        Ok(()) | Err(venom_shm::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
