//! [`ShellChannel`]: connects to a channel, reads data, sends commands, makes requests.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use venom_mpsc::Producer;
use venom_seqlock::Snapshot;
use venom_shm::wait::{self, Deadline};
use venom_shm::{Access, ShmRegion};

use crate::config::{DEFAULT_REQUEST_TIMEOUT, DEFAULT_SPIN};
use crate::daemon::region_name;
use crate::error::{Error, Result};
use crate::views::Views;

/// How often a blocked shell checks that its daemon is still there.
const LIVENESS_SLICE: Duration = Duration::from_millis(20);

/// A client of a channel. `Send + Sync`: share one among threads in an `Arc` (requests from
/// several threads are served one at a time).
///
/// Dropping it frees its client entry.
#[derive(Debug)]
pub struct ShellChannel {
    // Field order is drop order: views before `region`.
    views: Views,
    producer: Producer<'static>,
    entry: usize,
    client_id: u32,
    requests: Mutex<Requests>,
    spin: u32,
    name: String,
    region: ShmRegion,
}

#[derive(Debug)]
struct Requests {
    /// Sequence number of this entry's newest request.
    seq: u32,
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
    /// is gone, [`Error::ChannelFull`].
    pub fn connect(name: &str) -> Result<Self> {
        let region =
            ShmRegion::open(&region_name(name), Access::ReadWrite).map_err(|e| match e {
                venom_shm::Error::TooSmall { .. } => Error::NotInitialized {
                    name: name.to_owned(),
                },
                other => other.into(),
            })?;
        // SAFETY: `region` is stored in the returned shell after the views, so it outlives
        // them.
        let views = unsafe { Views::attach(&region, name) }?;
        if views.disconnected() {
            return Err(Error::Disconnected);
        }
        let entry = claim_entry(&views)?;
        let client_id = entry as u32 + 1;
        let producer = views.queue.producer(client_id);
        // Continue the entry's numbering: a reply meant for an earlier holder of the entry is
        // never taken for one of ours.
        let seq = views.cells[entry].request.seq.load(Ordering::Relaxed);
        Ok(Self {
            producer,
            entry,
            client_id,
            requests: Mutex::new(Requests { seq }),
            spin: DEFAULT_SPIN,
            name: name.to_owned(),
            views,
            region,
        })
    }

    /// This shell's client id: unique among the channel's live shells (1..=max_clients).
    pub fn client_id(&self) -> u32 {
        self.client_id
    }

    /// The channel name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start of the mapped region (for diagnostics; access it only atomically).
    pub fn as_ptr(&self) -> *const u8 {
        self.region.as_ptr()
    }

    /// Sets the number of polls before a blocking call sleeps (`u32::MAX`: busy-poll, never
    /// sleep; the daemon then skips the wake-up check when it replies).
    pub fn set_spin(&mut self, spins: u32) {
        self.spin = spins;
    }

    /// Most bytes of data the channel holds.
    pub fn data_size(&self) -> usize {
        self.views.data.capacity()
    }

    /// Most bytes of a command or a request.
    pub fn max_command_len(&self) -> usize {
        self.views.queue.payload_size()
    }

    /// Copies a consistent snapshot of the latest data into `buf` and returns its length
    /// (the seed's API). Never torn; never blocks the daemon.
    ///
    /// Returns 0, copying nothing, when there is no data yet, when `buf` is too small (the
    /// data stays there to read with a larger buffer: see [`data_size`](Self::data_size)),
    /// or on an error; [`try_read_data`](Self::try_read_data) tells these apart.
    pub fn read_data(&self, buf: &mut [u8]) -> usize {
        self.try_read_data(buf).unwrap_or(0)
    }

    /// Like [`read_data`](Self::read_data), with errors.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] with the length needed (nothing copied),
    /// [`Error::Seqlock`] (writer died mid-write, timeout, corrupt).
    pub fn try_read_data(&self, buf: &mut [u8]) -> Result<usize> {
        self.views.data.read(buf).map_err(|e| match e {
            venom_seqlock::Error::BufferTooSmall { needed, got } => {
                Error::BufferTooSmall { needed, got }
            }
            other => other.into(),
        })
    }

    /// Reads only if the data changed since version `since` (`Ok(None)`, nothing copied,
    /// otherwise). Versions come from [`Snapshot::version`] or
    /// [`data_version`](Self::data_version).
    ///
    /// # Errors
    /// As [`try_read_data`](Self::try_read_data).
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
    /// [`Error::Timeout`]; [`Error::Disconnected`] if the daemon closes or dies meanwhile.
    pub fn wait_for_data(&self, since: u64, timeout: Option<Duration>) -> Result<u64> {
        let deadline = Deadline::after(timeout);
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
            match self.views.data.wait_for_change(since, Some(slice)) {
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
    /// written yet); those of [`try_read_data`](Self::try_read_data).
    pub fn read_value<T: bytemuck::Pod>(&self) -> Result<T> {
        let mut value = T::zeroed();
        let size = core::mem::size_of::<T>();
        let buf = bytemuck::bytes_of_mut(&mut value);
        match self.try_read_data(buf) {
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
    /// [`max_command_len`](Self::max_command_len); nothing sent), [`Error::Disconnected`].
    pub fn try_send_command(&self, cmd: &[u8]) -> Result<()> {
        self.check_sendable(cmd)?;
        self.producer.try_send(cmd).map_err(Error::from)
    }

    fn check_sendable(&self, cmd: &[u8]) -> Result<()> {
        if self.views.header.state.load(Ordering::Acquire) == crate::layout::STATE_CLOSED {
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
        // The clock is first read when the reply is not there within a few thousand polls
        // (tens of microseconds): a busy round trip never reads it.
        let mut deadline = None;
        let mut req = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        req.seq = req.seq.wrapping_add(1);
        let seq = req.seq;
        let cell = &self.views.cells[self.entry];
        let busy = self.spin == u32::MAX;
        cell.post(seq, cmd, busy);
        if self.views.header.daemon_busy.load(Ordering::Relaxed) == 0 {
            self.views.queue.notify();
        }
        let mut polls = 0u32;
        loop {
            if let Some(n) = cell.take_reply(seq, resp)? {
                return Ok(n);
            }
            polls = polls.wrapping_add(1);
            if polls < self.spin {
                std::hint::spin_loop();
                if polls % CHECK_EVERY != 0 {
                    continue;
                }
            }
            let deadline = *deadline.get_or_insert_with(|| Deadline::after(Some(timeout)));
            if polls >= self.spin {
                let slice = deadline
                    .remaining()
                    .map_or(LIVENESS_SLICE, |r| r.min(LIVENESS_SLICE));
                cell.sleep_for_reply(seq, slice);
                if cell.reply.seq.load(Ordering::Relaxed) == seq {
                    continue;
                }
            }
            if self.views.disconnected() {
                return Err(Error::Disconnected);
            }
            if deadline.expired() {
                return Err(Error::Timeout);
            }
        }
    }
}

impl Drop for ShellChannel {
    fn drop(&mut self) {
        let entry = &self.views.registry[self.entry];
        let _ = entry.pid.compare_exchange(
            wait::current_pid(),
            0,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }
}

/// Claims a free registry entry, or one whose process is dead.
fn claim_entry(views: &Views) -> Result<usize> {
    let me = wait::current_pid();
    let registry = views.registry;
    let take = |i: usize| {
        // The daemon polls the cells below the high-water mark.
        views
            .header
            .clients_hwm
            .fetch_max(i as u32 + 1, Ordering::Relaxed);
        i
    };
    for (i, e) in registry.iter().enumerate() {
        if e.pid
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(take(i));
        }
    }
    for (i, e) in registry.iter().enumerate() {
        let pid = e.pid.load(Ordering::Relaxed);
        if pid != 0
            && !wait::process_alive(pid)
            && e.pid
                .compare_exchange(pid, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return Ok(take(i));
        }
    }
    Err(Error::ChannelFull {
        max_clients: registry.len() as u32,
    })
}
