//! [`DaemonChannel`]: creates and serves a channel.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use venom_mpsc::{Consumer, Received};
use venom_shm::{Access, CreateOptions, ShmRegion};

use crate::config::{ChannelBuilder, ChannelConfig};
use crate::error::{Error, Result};
use crate::layout::STATE_CLOSED;
use crate::views::Views;

/// How long the daemon waits for the data's writer lock (held only by itself, so this bounds
/// nothing but a takeover from a previous, dead daemon).
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
    receiver: Mutex<Receiver>,
    /// Per client: `OWED | seq` while request `seq` awaits its one reply, else 0.
    owed: Vec<AtomicU64>,
    views: Views,
    stop: AtomicBool,
    stats: Counters,
    spin: u32,
    name: String,
    region: ShmRegion,
}

impl Counters {
    /// Counts a received command; called with the receiver locked, so a plain load and store
    /// (no locked instruction on the receive path) cannot lose a count.
    fn count_command(&self) {
        let n = self.commands.load(Ordering::Relaxed);
        self.commands.store(n + 1, Ordering::Relaxed);
    }
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

/// Marks an `owed` entry as holding a sequence number (low 32 bits).
const OWED: u64 = 1 << 32;
/// In an `owed` entry: the shell busy-polls for the reply.
const OWED_BUSY: u64 = 1 << 33;

/// What receives: the queue's consumer role and the daemon's memory of each request cell.
#[derive(Debug)]
struct Receiver {
    consumer: Consumer<'static>,
    /// Per client: the sequence number of the last request taken from its cell.
    taken: Vec<u32>,
    /// Where the next scan of the cells starts (round robin).
    next_cell: usize,
    /// Queue messages still to serve before the pending request (those sent before it).
    budget: Option<u32>,
    /// A request's bytes, for [`DaemonChannel::with_next_command`].
    scratch: Vec<u8>,
}

/// A request waiting in a cell.
#[derive(Debug, Clone, Copy)]
struct Pending {
    entry: usize,
    seq: u32,
    len: usize,
    /// The shell busy-polls for the reply (no wake-up needed).
    busy: bool,
}

/// The first cell, from `start` round robin, below the clients' high-water mark (read now)
/// whose request differs from the one last taken from it.
fn first_pending(views: &Views, taken: &[u32], start: usize) -> Option<Pending> {
    let hwm = (views.header.clients_hwm.load(Ordering::Relaxed) as usize).min(taken.len());
    (0..hwm).find_map(|k| {
        let entry = (start + k) % hwm;
        let (seq, len, busy) = views.cells[entry].pending(taken[entry])?;
        Some(Pending {
            entry,
            seq,
            len,
            busy,
        })
    })
}

/// What to receive next.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// Try the queue; if it holds nothing ready, this request (if any).
    Queue(Option<Pending>),
    /// This request.
    Request(Pending),
}

impl Receiver {
    /// The first cell (round robin) holding a request not yet taken.
    fn pending(&self, views: &Views) -> Option<Pending> {
        first_pending(views, &self.taken, self.next_cell)
    }

    /// Where to receive from next. A shell's fire-and-forget commands sent before a request
    /// reach the queue first, so while a request waits, up to a queue's worth of messages is
    /// served before it; then the request.
    fn pick(&mut self, views: &Views) -> Pick {
        let Some(p) = self.pending(views) else {
            self.budget = None;
            return Pick::Queue(None);
        };
        let budget = self.budget.get_or_insert(views.queue.capacity());
        if *budget == 0 || views.queue.len_hint() == 0 {
            return Pick::Request(p);
        }
        *budget -= 1;
        Pick::Queue(Some(p))
    }

    /// Copies request `p` into `dst` and marks it taken; `false` if the shell replaced it
    /// meanwhile (the next call sees the new one).
    fn take(
        &mut self,
        views: &Views,
        owed: &[AtomicU64],
        p: Pending,
        dst: &mut [u8],
    ) -> Result<bool> {
        let copied = views.cells[p.entry].copy_request(p.seq, p.len, dst);
        if !matches!(copied, Ok(false)) {
            self.mark_taken(p);
        }
        if copied? {
            let busy = if p.busy { OWED_BUSY } else { 0 };
            owed[p.entry].store(OWED | busy | u64::from(p.seq), Ordering::Relaxed);
            return Ok(true);
        }
        Ok(false)
    }

    /// Marks `p` taken without answering it (dropped, or answered by `take`).
    fn mark_taken(&mut self, p: Pending) {
        self.taken[p.entry] = p.seq;
        self.next_cell = p.entry + 1;
        self.budget = None;
    }
}

/// The locked receiver; publishes the consumer's abandoned count when released.
struct ReceiverGuard<'d> {
    guard: MutexGuard<'d, Receiver>,
    abandoned: &'d AtomicU64,
}

impl core::ops::Deref for ReceiverGuard<'_> {
    type Target = Receiver;
    fn deref(&self) -> &Self::Target {
        &self.guard
    }
}

impl core::ops::DerefMut for ReceiverGuard<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.guard
    }
}

impl Drop for ReceiverGuard<'_> {
    fn drop(&mut self) {
        self.abandoned
            .store(self.guard.consumer.abandoned(), Ordering::Relaxed);
    }
}

/// A queue message as a [`Command`].
fn queued(r: &Received<'_, 'static>) -> Command {
    Command {
        client_id: r.sender(),
        len: r.len(),
        request_id: None,
    }
}

/// A command received, in place: read it with [`copy_to`](Self::copy_to) or
/// [`to_vec`](Self::to_vec).
#[derive(Debug)]
pub struct CommandView<'r, 'c, 'a> {
    body: Body<'r, 'c, 'a>,
}

#[derive(Debug)]
enum Body<'r, 'c, 'a> {
    /// A command, still in its queue slot.
    Queue(&'r Received<'c, 'a>),
    /// A request, copied out of its cell.
    Request { client_id: u32, bytes: &'r [u8] },
}

impl CommandView<'_, '_, '_> {
    /// The sending shell's client id.
    pub fn client_id(&self) -> u32 {
        match &self.body {
            Body::Queue(r) => r.sender(),
            Body::Request { client_id, .. } => *client_id,
        }
    }
    /// Length of the command.
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Queue(r) => r.len(),
            Body::Request { bytes, .. } => bytes.len(),
        }
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
        match &self.body {
            Body::Queue(r) => r.read_at(0, dst)?,
            Body::Request { bytes, .. } => dst.copy_from_slice(bytes),
        }
        Ok(len)
    }
    /// The command as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len()];
        let _ = self.copy_to(&mut v);
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
        let views = unsafe { Views::init(&region, layout, builder.spin == u32::MAX) }?;
        let consumer = views.queue.consumer()?;
        let clients = views.cells.len();
        Ok(Self {
            inner: Arc::new(Inner {
                receiver: Mutex::new(Receiver {
                    consumer,
                    taken: vec![0; clients],
                    next_cell: 0,
                    budget: None,
                    scratch: vec![0; views.queue.payload_size()],
                }),
                owed: (0..clients).map(|_| AtomicU64::new(0)).collect(),
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

    /// Most bytes of a command or request a shell may send.
    pub fn max_command_len(&self) -> usize {
        self.inner.views.queue.payload_size()
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

    fn receiver(&self) -> ReceiverGuard<'_> {
        // A poisoned lock only means another thread panicked while receiving; the receiver's
        // state stays consistent (shared memory, and counters updated after each step).
        ReceiverGuard {
            guard: self
                .inner
                .receiver
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            abandoned: &self.inner.stats.abandoned,
        }
    }

    /// Receives the next command or request into `buf` without blocking (the seed's API).
    ///
    /// Returns the sender's client id and the command's length. **A command longer than
    /// `buf` is dropped** (counted in [`Stats::dropped`]) rather than truncated: this
    /// signature has no room for an error. Use [`recv_command`](Self::recv_command) to keep
    /// such a command queued and learn its length, or a buffer of
    /// [`max_command_len`](Self::max_command_len) bytes. A request received here gets no
    /// reply (its shell times out): answer requests through `recv_command` and
    /// [`reply`](Self::reply), or [`run`](Self::run).
    pub fn try_recv_command(&self, buf: &mut [u8]) -> Option<(u32, usize)> {
        let inner = &*self.inner;
        let mut rx = self.receiver();
        loop {
            let p = match rx.pick(&inner.views) {
                Pick::Request(p) => p,
                Pick::Queue(fallback) => match rx.consumer.try_recv_ref() {
                    Ok(Some(r)) => {
                        let cmd = queued(&r);
                        if let Some(dst) = buf.get_mut(..cmd.len) {
                            let _ = r.read_at(0, dst);
                            inner.stats.count_command();
                            return Some((cmd.client_id, cmd.len));
                        }
                        drop(r);
                        inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    Ok(None) => fallback?,
                    Err(_) => continue, // a corrupt message, dropped by the queue
                },
            };
            if p.len > buf.len() {
                rx.mark_taken(p);
                inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            } else if let Ok(true) = rx.take(&inner.views, &inner.owed, p, buf) {
                inner.stats.count_command();
                return Some((p.entry as u32 + 1, p.len));
            }
        }
    }

    /// Receives the next command or request into `buf` without blocking; nothing is ever
    /// lost.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] with the length needed: the command stays queued (the
    /// request stays pending). [`Error::Queue`] / [`Error::Corrupt`] for a corrupt message or
    /// request (dropped; the next call goes on).
    pub fn recv_command(&self, buf: &mut [u8]) -> Result<Option<Command>> {
        self.recv_locked(&mut self.receiver(), buf)
    }

    /// [`recv_command`](Self::recv_command) with the receiver already locked.
    fn recv_locked(&self, rx: &mut Receiver, buf: &mut [u8]) -> Result<Option<Command>> {
        let inner = &*self.inner;
        loop {
            let p = match rx.pick(&inner.views) {
                Pick::Request(p) => p,
                Pick::Queue(fallback) => match rx.consumer.try_recv_ref()? {
                    Some(r) => {
                        let cmd = queued(&r);
                        let Some(dst) = buf.get_mut(..cmd.len) else {
                            std::mem::forget(r); // stays queued
                            return Err(Error::BufferTooSmall {
                                needed: cmd.len,
                                got: buf.len(),
                            });
                        };
                        let _ = r.read_at(0, dst);
                        inner.stats.count_command();
                        return Ok(Some(cmd));
                    }
                    None => match fallback {
                        Some(p) => p,
                        None => return Ok(None),
                    },
                },
            };
            if p.len > buf.len() && p.len <= self.max_command_len() {
                return Err(Error::BufferTooSmall {
                    needed: p.len,
                    got: buf.len(),
                });
            }
            if rx.take(&inner.views, &inner.owed, p, buf)? {
                inner.stats.count_command();
                return Ok(Some(Command {
                    client_id: p.entry as u32 + 1,
                    len: p.len,
                    request_id: Some(u64::from(p.seq)),
                }));
            }
        }
    }

    /// Hands the next command or request to `f` in place (zero-copy for commands: read it
    /// through the [`CommandView`]); a command's queue slot is released when `f` returns.
    ///
    /// # Errors
    /// [`Error::Queue`] / [`Error::Corrupt`] for a corrupt message or request (dropped).
    pub fn with_next_command<R>(
        &self,
        f: impl FnOnce(&CommandView<'_, '_, '_>, Command) -> R,
    ) -> Result<Option<R>> {
        let inner = &*self.inner;
        let mut guard = self.receiver();
        let rx = &mut *guard;
        let p = loop {
            let p = match rx.pick(&inner.views) {
                Pick::Request(p) => p,
                Pick::Queue(fallback) => match rx.consumer.try_recv_ref()? {
                    Some(r) => {
                        let cmd = queued(&r);
                        let out = f(
                            &CommandView {
                                body: Body::Queue(&r),
                            },
                            cmd,
                        );
                        inner.stats.count_command();
                        return Ok(Some(out));
                    }
                    None => match fallback {
                        Some(p) => p,
                        None => return Ok(None),
                    },
                },
            };
            let mut scratch = std::mem::take(&mut rx.scratch);
            let took = rx.take(&inner.views, &inner.owed, p, &mut scratch);
            rx.scratch = scratch;
            if took? {
                break p;
            }
        };
        let cmd = Command {
            client_id: p.entry as u32 + 1,
            len: p.len,
            request_id: Some(u64::from(p.seq)),
        };
        let out = f(
            &CommandView {
                body: Body::Request {
                    client_id: cmd.client_id,
                    bytes: &rx.scratch[..p.len],
                },
            },
            cmd,
        );
        inner.stats.count_command();
        Ok(Some(out))
    }

    /// Sends the reply to request `request_id` of `client_id` (delivered to that shell alone).
    ///
    /// Each request is answered once: a second reply to it, or a reply to a request its shell
    /// has given up on (timed out and sent another), is discarded.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a client id the channel does not have. A reply longer than the
    /// channel's response size is not truncated: the shell gets [`Error::TooLarge`].
    pub fn reply(&self, client_id: u32, request_id: u64, bytes: &[u8]) -> Result<()> {
        let inner = &*self.inner;
        let entry = client_id
            .checked_sub(1)
            .map(|i| i as usize)
            .filter(|&i| i < inner.views.cells.len())
            .ok_or(Error::Corrupt {
                reason: "reply to a client id the channel does not have",
            })?;
        let Ok(seq) = u32::try_from(request_id) else {
            return Ok(()); // no request has such an id
        };
        let owed = &inner.owed[entry];
        let now = owed.load(Ordering::Relaxed);
        if now & !OWED_BUSY == OWED | request_id
            && owed
                .compare_exchange(now, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            inner.views.cells[entry].write_reply(seq, bytes, now & OWED_BUSY != 0);
            inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        }
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
    /// None in practice: replies go to cells the channel has (client ids come from it).
    pub fn run<R: AsRef<[u8]>>(&self, mut handler: impl FnMut(u32, &[u8]) -> R) -> Result<()> {
        let mut buf = vec![0u8; self.max_command_len()];
        let inner = &*self.inner;
        let views = &inner.views;
        loop {
            // The receiver stays locked while polling (one lock per command, not per poll),
            // and is released while the handler runs, which may use this channel.
            let cmd = {
                let mut guard = self.receiver();
                let rx = &mut *guard;
                let mut spins = 0u32;
                loop {
                    if inner.stop.load(Ordering::Acquire) {
                        inner.stop.store(false, Ordering::Relaxed);
                        return Ok(());
                    }
                    match self.recv_locked(rx, &mut buf) {
                        Ok(Some(cmd)) => break cmd,
                        // A corrupt message or request, dropped; never too large for `buf`,
                        // which holds the largest command.
                        Ok(None) | Err(_) if spins < inner.spin || inner.spin == u32::MAX => {
                            spins = spins.saturating_add(1);
                            std::hint::spin_loop();
                        }
                        Ok(None) | Err(_) => {
                            spins = 0;
                            // Sleep on the doorbell until a command or a request comes (their
                            // senders ring it), or a `StopHandle` rings it.
                            let (consumer, taken) = (&mut rx.consumer, &rx.taken);
                            let _ = consumer
                                .wait_until(None, || first_pending(views, taken, 0).is_some());
                        }
                    }
                }
            };
            let answer = handler(cmd.client_id, &buf[..cmd.len]);
            if let Some(id) = cmd.request_id {
                self.reply(cmd.client_id, id, answer.as_ref())?;
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
