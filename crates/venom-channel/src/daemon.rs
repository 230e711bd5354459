//! [`DaemonChannel`]: creates and serves a channel.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use venom_shm::sync::Ordering;
use venom_shm::wait::Deadline;
use venom_shm::{CreateOptions, ShmRegion};

use crate::config::{ChannelConfig, ChannelOptions};
use crate::error::{Error, Result};
use crate::ids::{ClientId, RequestId};
use crate::layout::{ChannelHeader, HEADER_SIZE, channel_region_name};
use crate::receive::{Command, CommandView, Dest, Ledger, Receiver};
use crate::views::Views;

/// The serving side of a channel: publishes data, receives commands, answers requests.
/// Dropping the last clone closes the channel (shells get [`Error::Disconnected`]) and
/// removes the name.
///
/// `Send + Sync`: share it with threads by reference, in an `Arc`, or by cloning it.
#[derive(Debug, Clone)]
pub struct DaemonChannel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    // Field order is drop order: everything that points into the mapping before `region`.
    receiver: Mutex<Receiver>,
    /// The data's writer lock, held for the daemon's life (it is the only legitimate writer):
    /// a forged owner word cannot lock it out of `write_data`.
    writer: Mutex<venom_seqlock::Writer<'static>>,
    ledger: Ledger,
    views: Views,
    stop: crate::stop::StopFlag,
    spin: u32,
    name: String,
    /// Held for its mapping, which the views point into (shared with the async reactor while
    /// a future is parked on a word of it).
    #[cfg_attr(not(any(feature = "test-util", feature = "async")), allow(dead_code))]
    region: Arc<ShmRegion>,
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
    /// Commands dropped: by [`DaemonChannel::try_recv_command`] because they did not fit the
    /// caller's buffer, or because their sender id named no client.
    pub dropped: u64,
    /// Commands whose sender died mid-send (skipped, never delivered).
    pub abandoned: u64,
}

/// Stops a running [`DaemonChannel::run`] from any thread (or from its handler). It does not
/// keep the channel open: once the daemon is dropped, `stop` does nothing.
#[derive(Debug, Clone)]
pub struct StopHandle {
    inner: Weak<Inner>,
}

impl StopHandle {
    /// Makes `run` return after the command it is handling, waking it if it sleeps.
    pub fn stop(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.stop.raise();
            inner.views.queue.ring();
        }
    }
}

/// The locked receiver; publishes the consumer's abandoned count when released.
struct ReceiverGuard<'d> {
    guard: MutexGuard<'d, Receiver>,
    ledger: &'d Ledger,
}

impl Drop for ReceiverGuard<'_> {
    fn drop(&mut self) {
        let abandoned = self.guard.consumer.abandoned();
        self.ledger.abandoned.store(abandoned, Ordering::Relaxed);
    }
}

impl DaemonChannel {
    /// Creates channel `name` (region `/venom_<name>`) with default tuning.
    ///
    /// A name left by a daemon that died is reclaimed; one served by a live daemon is
    /// [`Error::AlreadyExists`].
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`], [`Error::InvalidConfig`],
    /// [`Error::PermissionDenied`], [`Error::InsufficientSpace`], [`Error::Io`].
    pub fn create(name: &str, config: ChannelConfig) -> Result<Self> {
        Self::create_with(name, &ChannelOptions::new(config))
    }

    /// Creates channel `name` with `options` (slot sizes, reply size, mode, spin budget).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn create_with(name: &str, options: &ChannelOptions) -> Result<Self> {
        let layout = options.geometry()?.layout().map_err(Error::config)?;
        let shm_name = channel_region_name(name);
        let region_options = CreateOptions::new()
            .mode(options.mode)
            .prefault(options.prefault);
        let mut reclaimed = false;
        let region = loop {
            match ShmRegion::create(&shm_name, layout.total, region_options) {
                Ok(r) => break r,
                Err(venom_shm::Error::AlreadyExists { .. }) if !reclaimed => {
                    crate::init::reclaim_if_dead(name, &shm_name, HEADER_SIZE, live_daemon)?;
                    reclaimed = true;
                }
                Err(venom_shm::Error::AlreadyExists { .. }) => {
                    return Err(Error::AlreadyExists {
                        name: name.to_owned(),
                        pid: None,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        };
        // SAFETY: `region` is our fresh exclusive mapping of `layout.total` bytes, stored in
        // `Inner` after the views, so it outlives them.
        let views = unsafe { Views::init(&region, layout, options.spin == u32::MAX) }?;
        // The consumer role and the writer lock are held before any shell can see the channel.
        let receiver = Receiver::new(views.queue.consumer()?, &views);
        let writer = Mutex::new(views.data.writer()?);
        views.publish();
        Ok(Self {
            inner: Arc::new(Inner {
                receiver: Mutex::new(receiver),
                writer,
                ledger: Ledger::new(&views),
                views,
                stop: crate::stop::StopFlag::default(),
                spin: options.spin,
                name: name.to_owned(),
                region: Arc::new(region),
            }),
        })
    }

    /// The channel name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Start of the mapped region (tests only; access it only atomically).
    #[cfg(feature = "test-util")]
    pub fn as_ptr(&self) -> *const u8 {
        self.inner.region.as_ptr()
    }

    /// Most bytes of data [`write_data`](Self::write_data) accepts.
    pub fn data_size(&self) -> usize {
        self.inner.views.data.max_len()
    }

    /// Most bytes of a command or request a shell may send.
    pub fn max_command_len(&self) -> usize {
        self.inner.views.queue.payload_size()
    }

    /// Most bytes of a reply: a longer one reaches its shell as [`Error::TooLarge`].
    pub fn response_size(&self) -> usize {
        self.inner.views.cells[0].reply_capacity()
    }

    /// Publishes `bytes` as the latest data (all shells see it; readers never block this).
    ///
    /// # Errors
    /// [`Error::TooLarge`] beyond `data_size` (nothing written, nothing truncated).
    pub fn write_data(&self, bytes: &[u8]) -> Result<()> {
        let data = &self.inner.views.data;
        if bytes.len() > data.max_len() {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: data.max_len(),
            });
        }
        // A poisoned mutex only means a thread panicked while writing; the seqlock's own
        // state says whether that value is whole.
        let mut writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        writer.write(bytes)?;
        self.inner.ledger.writes.fetch_add(1, Ordering::Relaxed);
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

    fn receiver(&self) -> ReceiverGuard<'_> {
        // A poisoned lock only means another thread panicked while receiving; the receiver's
        // state stays consistent (shared memory, and counters updated after each step).
        ReceiverGuard {
            guard: self
                .inner
                .receiver
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            ledger: &self.inner.ledger,
        }
    }

    /// Receives the next command or request into `buf` without blocking (the seed's API).
    ///
    /// Returns the sender's client id and the command's length. **A command longer than
    /// `buf` is dropped** (counted in [`Stats::dropped`]) rather than truncated: this
    /// signature has no room for an error. Use [`recv_command_timeout`] to keep such a
    /// command queued and learn its length, or a buffer of
    /// [`max_command_len`](Self::max_command_len) bytes. A request received here gets no
    /// reply (its shell times out): answer requests through `recv_command*` and
    /// [`reply`](Self::reply), or [`run`](Self::run).
    ///
    /// [`recv_command_timeout`]: Self::recv_command_timeout
    pub fn try_recv_command(&self, buf: &mut [u8]) -> Option<(u32, usize)> {
        let inner = &*self.inner;
        let mut rx = self.receiver();
        let mut dest = Dest::CopyOrDrop(buf);
        // Each corrupt message is dropped by the queue; a bounded number of them is skipped.
        for _ in 0..=inner.views.queue.capacity() {
            match rx
                .guard
                .next(&inner.views, &inner.ledger, &mut dest, |_, c| c)
            {
                Ok(got) => return got.map(|c| (c.client_id.get(), c.len)),
                Err(_) => continue,
            }
        }
        None
    }

    /// Receives the next command or request into `buf`, waiting for one as long as it takes
    /// (spinning briefly, then sleeping on the queue's doorbell). Nothing is ever lost.
    ///
    /// # Errors
    /// As [`recv_command_timeout`](Self::recv_command_timeout).
    pub fn recv_command(&self, buf: &mut [u8]) -> Result<Command> {
        let mut rx = self.receiver();
        let mut dest = Dest::Copy(buf);
        loop {
            if let Some(cmd) = self.wait_next(&mut rx, &mut dest, None, false, |_, c| c)? {
                return Ok(cmd);
            }
        }
    }

    /// Receives the next command or request into `buf`, waiting at most `timeout` (zero: one
    /// non-blocking attempt). `Ok(None)`: nothing came in time. Nothing is ever lost.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] with the length needed: the command stays queued (the
    /// request stays pending). [`Error::Corrupt`] for a corrupt message or request (dropped;
    /// the next call goes on).
    pub fn recv_command_timeout(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<Option<Command>> {
        let mut rx = self.receiver();
        let mut dest = Dest::Copy(buf);
        self.wait_next(&mut rx, &mut dest, Some(timeout), false, |_, c| c)
    }

    /// Hands the next command or request to `f` in place, without blocking (zero-copy for
    /// commands: read it through the [`CommandView`]); a command's queue slot is released
    /// when `f` returns. `Ok(None)`: nothing to receive.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a corrupt message or request (dropped).
    pub fn try_recv_command_with<R>(
        &self,
        f: impl FnOnce(&CommandView<'_, '_, '_>, Command) -> R,
    ) -> Result<Option<R>> {
        let inner = &*self.inner;
        let mut rx = self.receiver();
        rx.guard
            .next(&inner.views, &inner.ledger, &mut Dest::InPlace, f)
    }

    /// Hands up to `max` commands and requests, in the order
    /// [`try_recv_command_with`](Self::try_recv_command_with) would, to `f` in place, without
    /// blocking, with one lock of the receiver for all of them; returns how many. The
    /// receiving side of [`ShellChannel::try_send_commands`](crate::ShellChannel::try_send_commands)
    /// for a daemon that drains bursts. A corrupt message or request is dropped (and counted in
    /// [`Stats`]) and the burst goes on. `f` runs with the receiver locked: it must not receive
    /// from this channel itself.
    ///
    /// ```
    /// # use venom_channel::{ChannelConfig, DaemonChannel, ShellChannel};
    /// # let name = venom_shm::testing::unique_name("doc_recv_commands");
    /// let daemon = DaemonChannel::create(&name, ChannelConfig::default())?;
    /// let shell = ShellChannel::connect(&name)?;
    /// assert_eq!(shell.try_send_commands(&[b"a", b"bb", b"ccc"])?, 3);
    /// let mut lens = Vec::new();
    /// let n = daemon.try_recv_commands_with(32, |_, cmd| lens.push(cmd.len));
    /// assert_eq!((n, lens), (3, vec![1, 2, 3]));
    /// # Ok::<(), venom_channel::Error>(())
    /// ```
    pub fn try_recv_commands_with(
        &self,
        max: usize,
        mut f: impl FnMut(&CommandView<'_, '_, '_>, Command),
    ) -> usize {
        let inner = &*self.inner;
        let mut rx = self.receiver();
        let (mut got, mut dropped) = (0, 0);
        // Each corrupt message is dropped by the queue; a bounded number of them is passed over.
        while got < max && dropped <= inner.views.queue.capacity() {
            match rx
                .guard
                .next(&inner.views, &inner.ledger, &mut Dest::InPlace, &mut f)
            {
                Ok(Some(())) => got += 1,
                Ok(None) => break,
                Err(_) => dropped += 1,
            }
        }
        got
    }

    /// One receive attempt: `Ok(None)` if nothing came. `BufferTooSmall` is returned (the
    /// message stays); other errors (a corrupt message, dropped) are returned unless
    /// `stoppable` (a serve loop goes on).
    fn receive_once<R>(
        &self,
        rx: &mut ReceiverGuard<'_>,
        dest: &mut Dest<'_>,
        stoppable: bool,
        f: impl FnOnce(&CommandView<'_, '_, '_>, Command) -> R,
    ) -> Result<Option<R>> {
        let inner = &*self.inner;
        match rx.guard.next(&inner.views, &inner.ledger, dest, f) {
            Ok(got) => Ok(got),
            Err(e @ Error::BufferTooSmall { .. }) => Err(e),
            Err(e) if !stoppable => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// Whether a [`StopHandle`] was used since the last look (and forgets it).
    pub(crate) fn take_stop(&self) -> bool {
        self.inner.stop.take()
    }

    /// Polls the receiver (spin budget), then sleeps on the doorbell, until a message comes,
    /// `timeout` passes (`None`: no limit) or, if `stoppable`, a [`StopHandle`] is used:
    /// `Ok(None)` for the last two. Corrupt messages are dropped and, unless `stoppable`,
    /// reported.
    fn wait_next<R>(
        &self,
        rx: &mut ReceiverGuard<'_>,
        dest: &mut Dest<'_>,
        timeout: Option<Duration>,
        stoppable: bool,
        mut f: impl FnMut(&CommandView<'_, '_, '_>, Command) -> R,
    ) -> Result<Option<R>> {
        let inner = &*self.inner;
        let views = &inner.views;
        let spin = if timeout == Some(Duration::ZERO) {
            0
        } else {
            inner.spin
        };
        // The clock is read only when the first poll finds nothing (a busy loop never reads it).
        let mut deadline = None;
        let mut spins = 0u32;
        loop {
            if stoppable && self.take_stop() {
                return Ok(None);
            }
            if let Some(out) = self.receive_once(rx, dest, stoppable, &mut f)? {
                return Ok(Some(out));
            }
            if spins < spin || spin == u32::MAX {
                spins = spins.saturating_add(1);
                std::hint::spin_loop();
                continue;
            }
            let deadline = *deadline.get_or_insert_with(|| Deadline::after(timeout));
            let remaining = deadline.remaining();
            if remaining == Some(Duration::ZERO) {
                return Ok(None);
            }
            // A `StopHandle` rings the doorbell too. After a nap the daemon looks once and
            // sleeps again (no new spin): an idle daemon's periodic naps cost ~nothing.
            rx.guard.wait(views, remaining);
        }
    }

    /// Sends the reply to request `request_id` of `client_id` (delivered to that shell alone).
    ///
    /// Each request is answered once: a second reply to it, or a reply to a request its shell
    /// has given up on (timed out and sent another), is discarded.
    ///
    /// # Errors
    /// [`Error::UnknownClient`] for a client id the channel does not have. A reply longer
    /// than [`response_size`](Self::response_size) is not truncated: the shell gets
    /// [`Error::TooLarge`].
    pub fn reply(&self, client_id: ClientId, request_id: RequestId, bytes: &[u8]) -> Result<()> {
        let inner = &*self.inner;
        let entry = client_id.entry();
        let cell = inner.views.cells.get(entry).ok_or(Error::UnknownClient {
            client_id: client_id.get(),
        })?;
        let seq = request_id.get();
        inner.ledger.settle(entry, seq, |wait| {
            // Counted before the reply is written: a locked instruction after it would wait
            // for the reply's line to arrive from the shell's core (measured: 10 ns a round
            // trip), and a shell that has its reply sees the count.
            inner.ledger.requests.fetch_add(1, Ordering::Relaxed);
            cell.write_reply(seq, bytes, wait);
        });
        Ok(())
    }

    /// A handle that stops [`run`](Self::run) from another thread or from the handler.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Serves commands until stopped: each command (fire-and-forget or request) goes to
    /// `handler(client_id, bytes)`; for a request, what the handler returns is the reply,
    /// delivered to the requesting shell alone. Sleeps on the queue's doorbell when idle
    /// (after the spin budget), so an idle daemon uses no CPU. The handler runs without the
    /// receiver locked, so it may use this channel.
    ///
    /// Returns when a [`StopHandle`] is used.
    ///
    /// # Errors
    /// None in practice (the `Result` leaves room for the future).
    pub fn run<R: AsRef<[u8]>>(&self, mut handler: impl FnMut(u32, &[u8]) -> R) -> Result<()> {
        self.serve(|cmd, bytes| {
            let answer = handler(cmd.client_id.get(), bytes);
            if let Some(id) = cmd.request_id {
                // Cannot fail: the id comes from this channel.
                let _ = self.reply(cmd.client_id, id, answer.as_ref());
            }
        })
    }

    /// Like [`run`](Self::run), handing the handler the whole [`Command`] (sender, length,
    /// request id); the handler answers requests itself with [`reply`](Self::reply) — now,
    /// later, or from another thread.
    ///
    /// ```
    /// # use venom_channel::{ChannelConfig, DaemonChannel, ShellChannel};
    /// # let name = venom_shm::testing::unique_name("doc_serve");
    /// let daemon = DaemonChannel::create(&name, ChannelConfig::default())?;
    /// let shell = ShellChannel::connect(&name)?;
    /// let stop = daemon.stop_handle();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         daemon.serve(|cmd, bytes| {
    ///             if let Some(id) = cmd.request_id {
    ///                 let _ = daemon.reply(cmd.client_id, id, &[bytes.len() as u8]);
    ///             }
    ///         })
    ///     });
    ///     let mut reply = [0u8; 1];
    ///     shell.request(b"four", &mut reply).unwrap();
    ///     assert_eq!(reply, [4]);
    ///     stop.stop();
    /// });
    /// # Ok::<(), venom_channel::Error>(())
    /// ```
    ///
    /// # Errors
    /// None in practice (the `Result` leaves room for the future).
    pub fn serve(&self, mut handler: impl FnMut(Command, &[u8])) -> Result<()> {
        let mut buf = vec![0u8; self.max_command_len()];
        loop {
            let cmd = {
                let mut rx = self.receiver();
                let mut dest = Dest::Copy(&mut buf);
                match self.wait_next(&mut rx, &mut dest, None, true, |_, c| c)? {
                    Some(cmd) => cmd,
                    None => return Ok(()),
                }
            };
            handler(cmd, &buf[..cmd.len]);
        }
    }

    /// Counters of what this daemon has done.
    pub fn stats(&self) -> Stats {
        let l = &self.inner.ledger;
        Stats {
            writes: l.writes.load(Ordering::Relaxed),
            commands: l.commands.load(Ordering::Relaxed),
            requests: l.requests.load(Ordering::Relaxed),
            dropped: l.dropped.load(Ordering::Relaxed),
            abandoned: l.abandoned.load(Ordering::Relaxed),
        }
    }
}

/// The daemon's side of `asynchronous`: one receive step at a time, the receiver locked only
/// within each step (never across an `.await`).
#[cfg(feature = "async")]
impl DaemonChannel {
    /// One non-blocking receive into `buf` (`Ok(None)`: nothing); see
    /// [`receive_once`](Self::receive_once).
    pub(crate) fn try_next(&self, buf: &mut [u8], stoppable: bool) -> Result<Option<Command>> {
        let mut rx = self.receiver();
        self.receive_once(&mut rx, &mut Dest::Copy(buf), stoppable, |_, c| c)
    }

    /// The spin budget of blocking receives.
    pub(crate) fn spin(&self) -> u32 {
        self.inner.spin
    }

    /// Announces the daemon as sleeping on the doorbell: `None` if a command, a request or a
    /// ring is there to be looked at now.
    pub(crate) fn register_sleeper(&self) -> Result<Option<venom_mpsc::Sleeper<'static>>> {
        let mut rx = self.receiver();
        match rx.guard.register_sleeper(&self.inner.views)? {
            venom_mpsc::Wake::Sleep(s) => Ok(Some(s)),
            _ => Ok(None),
        }
    }

    /// The mapping the channel lies in.
    pub(crate) fn region(&self) -> &Arc<ShmRegion> {
        &self.inner.region
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.views.close();
    }
}

/// The live daemon of a channel region, if any: waits briefly for the pid of a daemon that is
/// still initialising (it writes its pid first); a closed channel has none.
pub(crate) fn live_daemon(region: &ShmRegion) -> Option<u32> {
    // SAFETY: the region holds at least a header (`reclaim_if_dead`'s `min_len`), page-aligned,
    // read atomically; the reference does not outlive `region`.
    let header = unsafe { &*region.as_ptr().cast::<ChannelHeader>() };
    let mut pid = header.daemon_pid.load(Ordering::Relaxed);
    for _ in 0..100 {
        if pid != 0 {
            break;
        }
        // Polling a process that is initialising a region: a short nap, not synchronisation.
        std::thread::sleep(Duration::from_millis(2));
        pid = header.daemon_pid.load(Ordering::Relaxed);
    }
    let closed = header.is_closed();
    (pid != 0 && !closed && header.daemon_alive()).then_some(pid)
}
