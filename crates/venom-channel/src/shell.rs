//! [`ShellChannel`]: connects to a channel, reads data, sends commands, makes requests.

use std::sync::Arc;
use std::time::Duration;

use venom_mpsc::Producer;
use venom_seqlock::Snapshot;
use venom_shm::wait::Deadline;
use venom_shm::{Access, OpenOptions, ShmRegion};

use crate::cell_lock::{CellGuard, CellLock};
use crate::config::{DEFAULT_REQUEST_TIMEOUT, ShellOptions};
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::layout::channel_region_name;
use crate::rpc::ShellWait;
use crate::views::Views;

/// How often a blocked shell checks that its daemon is still there.
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(20);

/// A client of a channel. `Send + Sync`: share one among threads in an `Arc` (requests from
/// several threads are served one at a time).
///
/// Dropping it frees its client entry.
#[derive(Debug)]
pub struct ShellChannel {
    // Field order is drop order: views before `region`.
    pub(crate) views: Views,
    producer: Producer<'static>,
    client_id: ClientId,
    /// One request at a time: the cell's lock and request numbering.
    pub(crate) requests: CellLock,
    pub(crate) spin: u32,
    name: String,
    /// Held for its mapping, which the views point into (shared with the async reactor while
    /// a future is parked on a word of it).
    #[cfg_attr(not(any(feature = "test-util", feature = "async")), allow(dead_code))]
    pub(crate) region: Arc<ShmRegion>,
}

/// How many polls a waiting shell makes between checks of its deadline and its daemon.
const CHECK_EVERY: u32 = 1 << 14;

impl ShellChannel {
    /// Connects to channel `name`, waiting briefly for a daemon still initialising it, and
    /// claims a client entry (reclaiming entries of dead processes first if all are taken).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::NotInitialized`],
    /// [`Error::BadMagic`], [`Error::IncompatibleVersion`], [`Error::AbiMismatch`],
    /// [`Error::Corrupt`] (each header check its own), [`Error::Disconnected`] if the daemon
    /// is gone, [`Error::ChannelFull`], [`Error::NotARegion`] (a symlink, a FIFO…),
    /// [`Error::UntrustedOwner`] (another user's channel: see [`ShellOptions::trust`]).
    pub fn connect(name: &str) -> Result<Self> {
        Self::connect_with(name, &ShellOptions::new())
    }

    /// [`connect`](Self::connect) with options (the spin budget of blocking calls).
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_with(name: &str, options: &ShellOptions) -> Result<Self> {
        let open_options = OpenOptions::new(Access::ReadWrite).trust(options.trust);
        let region = ShmRegion::open_with(&channel_region_name(name), open_options).map_err(
            |e| match e {
                venom_shm::Error::TooSmall { .. } => Error::NotInitialized {
                    name: name.to_owned(),
                },
                other => other.into(),
            },
        )?;
        // SAFETY: `region` is stored in the returned shell after the views, so it outlives
        // them.
        let views = unsafe { Views::attach(&region, name) }?;
        if views.disconnected() {
            return Err(Error::Disconnected);
        }
        let client_id = views.registry.claim()?;
        let producer = views.queue.producer(client_id.get());
        // Continue the entry's numbering: a reply meant for an earlier holder of the entry is
        // never taken for one of ours.
        let seq = views.cells[client_id.entry()].request_seq();
        Ok(Self {
            producer,
            client_id,
            requests: CellLock::new(seq),
            spin: options.spin,
            name: name.to_owned(),
            views,
            region: Arc::new(region),
        })
    }

    /// This shell's client id: unique among the channel's live shells (1..=max_clients).
    pub fn client_id(&self) -> u32 {
        self.client_id.get()
    }

    /// This shell's client id, typed.
    pub fn id(&self) -> ClientId {
        self.client_id
    }

    /// The channel name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start of the mapped region (tests only; access it only atomically).
    #[cfg(feature = "test-util")]
    pub fn as_ptr(&self) -> *const u8 {
        self.region.as_ptr()
    }

    /// Most bytes of data the channel holds.
    pub fn data_size(&self) -> usize {
        self.views.data.max_len()
    }

    /// Most bytes of a command or a request.
    pub fn max_command_len(&self) -> usize {
        self.views.queue.payload_size()
    }

    /// Most bytes of a reply (size `request`'s buffer to it).
    pub fn response_size(&self) -> usize {
        self.views.cells[self.client_id.entry()].reply_capacity()
    }

    /// Copies a consistent snapshot of the latest data into `buf` and returns its length
    /// (the seed's API). Never torn; never blocks the daemon.
    ///
    /// Returns 0, copying nothing, when there is no data yet, when `buf` is too small (the
    /// data stays there to read with a larger buffer: see [`data_size`](Self::data_size)),
    /// or on an error; [`read_data_checked`](Self::read_data_checked) tells these apart.
    pub fn read_data(&self, buf: &mut [u8]) -> usize {
        self.read_data_checked(buf).unwrap_or(0)
    }

    /// Like [`read_data`](Self::read_data), with errors. Retries while writes overlap the
    /// copy (bounded: a writer stuck mid-write is an error, never a hang).
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] with the length needed (nothing copied),
    /// [`Error::WriterDead`], [`Error::Timeout`], [`Error::Corrupt`].
    pub fn read_data_checked(&self, buf: &mut [u8]) -> Result<usize> {
        Ok(self.views.data.read(buf)?)
    }

    /// Reads only if the data changed since version `since` (`Ok(None)`, nothing copied,
    /// otherwise). Versions come from [`Snapshot::version`] or
    /// [`data_version`](Self::data_version).
    ///
    /// # Errors
    /// As [`read_data_checked`](Self::read_data_checked).
    pub fn read_data_if_changed(&self, since: u64, buf: &mut [u8]) -> Result<Option<Snapshot>> {
        Ok(self.views.data.read_if_changed(since, buf)?)
    }

    /// The version of the latest data (each daemon write adds one; 0: none yet).
    pub fn data_version(&self) -> u64 {
        self.views.data.version()
    }

    /// Blocks until the data's version differs from `since` (spinning briefly, then sleeping
    /// on a futex), and returns the new version.
    ///
    /// # Errors
    /// [`Error::Disconnected`] if the daemon closes or dies meanwhile.
    pub fn wait_for_data(&self, since: u64) -> Result<u64> {
        self.wait_for_data_deadline(since, Deadline::after(None))
    }

    /// [`wait_for_data`](Self::wait_for_data), for at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Disconnected`] if the daemon closes or dies meanwhile.
    pub fn wait_for_data_timeout(&self, since: u64, timeout: Duration) -> Result<u64> {
        self.wait_for_data_deadline(since, Deadline::after(Some(timeout)))
    }

    fn wait_for_data_deadline(&self, since: u64, deadline: Deadline) -> Result<u64> {
        for _ in 0..self.spin {
            let v = self.views.data.version();
            if v != since {
                return Ok(v);
            }
            std::hint::spin_loop();
        }
        loop {
            let slice = deadline
                .remaining()
                .map_or(LIVENESS_SLICE, |r| r.min(LIVENESS_SLICE));
            match self.views.data.wait_for_change_timeout(since, slice) {
                Ok(v) => return Ok(v),
                Err(venom_seqlock::Error::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
            if self.views.disconnected() {
                return Err(Error::Disconnected);
            }
            if deadline.expired() {
                return Err(Error::Timeout);
            }
        }
    }

    /// Reads the data as a `#[repr(C)]` plain-data value written with
    /// [`DaemonChannel::write_value`](crate::DaemonChannel::write_value).
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if the data is not exactly `size_of::<T>()` bytes (or none was
    /// written yet); those of [`read_data_checked`](Self::read_data_checked).
    pub fn read_value<T: bytemuck::Pod>(&self) -> Result<T> {
        let mut value = T::zeroed();
        let size = core::mem::size_of::<T>();
        let buf = bytemuck::bytes_of_mut(&mut value);
        match self.read_data_checked(buf) {
            Ok(n) if n == size => Ok(value),
            Ok(n) => Err(Error::TypeMismatch {
                expected: format!("{size} bytes"),
                found: format!("{n} bytes"),
            }),
            Err(Error::BufferTooSmall { needed, .. }) => Err(Error::TypeMismatch {
                expected: format!("{size} bytes"),
                found: format!("{needed} bytes"),
            }),
            Err(e) => Err(e),
        }
    }

    /// Sends a fire-and-forget command to the daemon.
    ///
    /// # Errors
    /// [`Error::QueueFull`], [`Error::TooLarge`] (beyond
    /// [`max_command_len`](Self::max_command_len); nothing sent), [`Error::Disconnected`]
    /// (the daemon closed the channel, or the queue is full and its daemon died),
    /// [`Error::Timeout`] (this process stalled mid-send past
    /// [`venom_mpsc::LIVE_BOUND`] every time it tried, so the daemon skipped the command each
    /// time; nothing sent). A send that stalls once is sent again by itself, in order.
    pub fn try_send_command(&self, cmd: &[u8]) -> Result<()> {
        self.check_sendable(cmd)?;
        match self.producer.try_send(cmd) {
            Ok(()) => Ok(()),
            // A daemon that died without closing the channel leaves the queue to fill: say
            // why it is full (the liveness check costs system calls, so only now).
            Err(venom_mpsc::Error::Full) if self.views.disconnected() => Err(Error::Disconnected),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a burst of fire-and-forget commands, in order: as many as the queue has room for,
    /// from the first, with one claim of the queue and one doorbell check for all of them
    /// (the daemon is woken at most once). Returns how many were sent; send the rest again.
    ///
    /// # Errors
    /// As [`try_send_command`](Self::try_send_command): [`Error::QueueFull`] if not even the
    /// first fits, [`Error::TooLarge`] if any is too long (nothing sent),
    /// [`Error::Disconnected`].
    ///
    /// ```no_run
    /// # use venom_channel::ShellChannel;
    /// let shell = ShellChannel::connect("sensors")?;
    /// let cmds: [&[u8]; 3] = [b"a", b"b", b"c"];
    /// let mut next = 0;
    /// while next < cmds.len() {
    ///     next += shell.try_send_commands(&cmds[next..])?;
    /// }
    /// # Ok::<(), venom_channel::Error>(())
    /// ```
    pub fn try_send_commands(&self, cmds: &[&[u8]]) -> Result<usize> {
        match cmds.iter().max_by_key(|c| c.len()) {
            Some(longest) => self.check_sendable(longest)?,
            None => return Ok(0),
        }
        match self.producer.try_send_batch(cmds) {
            Ok(n) => Ok(n),
            Err(venom_mpsc::Error::Full) if self.views.disconnected() => Err(Error::Disconnected),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn check_sendable(&self, cmd: &[u8]) -> Result<()> {
        if self.views.header.is_closed() {
            return Err(Error::Disconnected);
        }
        let max = self.max_command_len();
        if cmd.len() > max {
            return Err(Error::TooLarge {
                len: cmd.len(),
                max,
            });
        }
        Ok(())
    }

    /// Sends `cmd` as a request and waits (at most [`DEFAULT_REQUEST_TIMEOUT`]) for the
    /// daemon's reply, copied into `resp`; returns the reply's length.
    ///
    /// # Errors
    /// As [`request_timeout`](Self::request_timeout).
    pub fn request(&self, cmd: &[u8], resp: &mut [u8]) -> Result<usize> {
        self.request_timeout(cmd, resp, DEFAULT_REQUEST_TIMEOUT)
    }

    /// Sends `cmd` as a request and waits at most `timeout` for the reply. Each request
    /// carries a sequence number: a late reply to an earlier, timed-out request is never taken
    /// for this one.
    ///
    /// Requests travel through this shell's own request cell, not the command queue, so a
    /// round trip touches no memory other shells write. The daemon still handles this shell's
    /// earlier fire-and-forget commands before the request.
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Disconnected`] (daemon closed or died);
    /// [`Error::TooLarge`] (command too long, or the reply exceeded the channel's response
    /// size, with its length); [`Error::BufferTooSmall`] (the reply did not fit `resp`: its
    /// length is returned, nothing copied); [`Error::Corrupt`] (the reply's memory was
    /// scribbled on).
    pub fn request_timeout(&self, cmd: &[u8], resp: &mut [u8], timeout: Duration) -> Result<usize> {
        self.check_sendable(cmd)?;
        let mut req = self.requests.lock();
        self.post(&mut req, cmd);
        self.await_reply(&mut req, resp, timeout)
    }

    /// Waits at most `timeout` more for the reply to this shell's latest request, after
    /// [`request_timeout`](Self::request_timeout) returned [`Error::Timeout`] or
    /// [`Error::BufferTooSmall`]: the way to wait in slices (to stay responsive to Ctrl-C, say)
    /// without sending the request twice.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use venom_channel::{ChannelConfig, DaemonChannel, Error, ShellChannel};
    /// # let name = venom_shm::testing::unique_name("doc_wait_reply");
    /// # let daemon = DaemonChannel::create(&name, ChannelConfig::default())?;
    /// let shell = ShellChannel::connect(&name)?;
    /// let mut resp = [0u8; 16];
    /// let slice = Duration::from_millis(1);
    /// assert!(matches!(shell.request_timeout(b"slow", &mut resp, slice), Err(Error::Timeout)));
    /// // … the daemon answers later …
    /// # let mut buf = [0u8; 16];
    /// # let cmd = daemon.recv_command(&mut buf)?;
    /// # daemon.reply(cmd.client_id, cmd.request_id.unwrap(), b"done")?;
    /// let n = shell.wait_reply_timeout(&mut resp, Duration::from_secs(5))?;
    /// assert_eq!(&resp[..n], b"done");
    /// # Ok::<(), venom_channel::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NoPendingRequest`] if the latest request was answered (or none was sent);
    /// those of [`request_timeout`](Self::request_timeout).
    pub fn wait_reply_timeout(&self, resp: &mut [u8], timeout: Duration) -> Result<usize> {
        let mut req = self.requests.lock();
        if !req.pending() {
            return Err(Error::NoPendingRequest);
        }
        self.await_reply(&mut req, resp, timeout)
    }

    /// Posts `cmd` as the next request in this shell's cell (held by `req`) and wakes the
    /// daemon if it sleeps.
    pub(crate) fn post(&self, req: &mut CellGuard<'_>, cmd: &[u8]) {
        let (seq, answered) = req.next_request();
        let wait = ShellWait::of_this_process(self.spin == u32::MAX);
        self.cell().post(seq, cmd, wait, answered);
        self.views.flag_request(self.client_id.entry());
        if !self.views.header.daemon_busy() {
            self.views.queue.notify();
        }
    }

    /// This shell's request cell.
    pub(crate) fn cell(&self) -> &crate::rpc::Cell<'static> {
        &self.views.cells[self.client_id.entry()]
    }

    /// Looks once for the reply to the latest request: `Ok(None)` if it has not come. The
    /// request stays pending on [`Error::BufferTooSmall`] (the reply is kept for a larger
    /// buffer), and is settled by the reply or any other error.
    pub(crate) fn try_take_reply(
        &self,
        req: &mut CellGuard<'_>,
        resp: &mut [u8],
    ) -> Result<Option<usize>> {
        let got = self.cell().take_reply(req.seq(), resp);
        // A well-formed reply says the daemon is done reading the request (it copied it
        // before replying), so the next request needs no "being written" marker; a corrupt
        // one may be a scribbler's, written while the daemon still copies: keep the marker.
        if matches!(
            got,
            Ok(Some(_)) | Err(Error::BufferTooSmall { .. } | Error::TooLarge { .. })
        ) {
            req.set_answered();
        }
        match got {
            Ok(None) => Ok(None),
            Err(e @ Error::BufferTooSmall { .. }) => Err(e),
            done => {
                req.set_pending(false);
                done
            }
        }
    }

    /// Waits for the reply to request `req.seq` (spinning, then sleeping in slices that check
    /// the daemon), at most `timeout`. The request stays pending on [`Error::Timeout`] and
    /// [`Error::BufferTooSmall`] (the reply is kept for a larger buffer).
    fn await_reply(
        &self,
        req: &mut CellGuard<'_>,
        resp: &mut [u8],
        timeout: Duration,
    ) -> Result<usize> {
        let seq = req.seq();
        let cell = self.cell();
        // The clock is first read when the reply is not there within a few thousand polls
        // (tens of microseconds): a busy round trip never reads it.
        let mut deadline = None;
        let mut polls = 0u32;
        loop {
            if let Some(n) = self.try_take_reply(req, resp)? {
                return Ok(n);
            }
            polls = polls.wrapping_add(1);
            if polls < self.spin {
                std::hint::spin_loop();
                if !polls.is_multiple_of(CHECK_EVERY) {
                    continue;
                }
            }
            let deadline = *deadline.get_or_insert_with(|| Deadline::after(Some(timeout)));
            if polls >= self.spin {
                let slice = deadline
                    .remaining()
                    .map_or(LIVENESS_SLICE, |r| r.min(LIVENESS_SLICE));
                cell.sleep_for_reply(seq, slice);
                if cell.has_reply(seq) {
                    continue;
                }
            }
            self.check_daemon(req)?;
            if deadline.expired() {
                return Err(Error::Timeout);
            }
        }
    }

    /// [`Error::Disconnected`] (settling the latest request) if the daemon closed or died.
    pub(crate) fn check_daemon(&self, req: &mut CellGuard<'_>) -> Result<()> {
        if self.views.disconnected() {
            req.set_pending(false);
            return Err(Error::Disconnected);
        }
        Ok(())
    }
}

impl Drop for ShellChannel {
    fn drop(&mut self) {
        self.views.registry.release(self.client_id);
    }
}
