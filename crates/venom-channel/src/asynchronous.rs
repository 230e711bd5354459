//! `async` waits (feature `async`): a reply, new data, the next command, a shared value's
//! change — on any runtime, without blocking a thread, and without depending on a runtime.
//!
//! # How a wait reaches a waker
//!
//! Every wait of this crate ends on a futex word in shared memory, and a futex cannot be
//! registered with epoll. So each future does what the blocking call does, one step per
//! poll, and hands the futex word to `venom_shm::reactor`, one process-wide thread that sleeps
//! on the words of all parked futures at once (`futex_waitv`) and wakes their wakers:
//!
//! 1. **Fast path**: look (the reply header, the data version, the queue and cells). Already
//!    there: `Ready`, no system call, no lock beyond the blocking call's own.
//! 2. **Spin**: look again for the handle's spin budget (capped at [`POLL_SPINS`] per poll, so
//!    one poll never holds its runtime thread for more than tens of microseconds). A
//!    busy-polling handle (`spin(u32::MAX)`) never parks: it yields to its runtime
//!    (`wake_by_ref` + `Pending`) and looks again on the next poll.
//! 3. **Park**: announce the waiter exactly as a blocking waiter would (the reply cell's
//!    `sleeping` flag, the data's waiter count, the doorbell's `sleeping` flag), read the
//!    futex word *after* the announcement's fence, look once more, then park on that word and
//!    value. The waker side, seeing the announcement, makes its `FUTEX_WAKE`; the kernel
//!    compares the word inside `futex_waitv`, so no wake-up is lost between the look and the
//!    park.
//! 4. **Woken**: the reactor wakes the waker when the word changes or the entry's deadline
//!    passes (at most 20 ms away for a shell, 100 ms for the daemon, like the blocking calls'
//!    slices, so a dead daemon is noticed as `Disconnected` and timeouts are kept). The next
//!    poll withdraws the announcement and starts again at 1.
//!
//! See `docs/ASYNC.md` for the costs measured on each path.
//!
//! # Cancel safety
//!
//! Dropping a future withdraws its reactor entry and its announcement and releases what it
//! holds (a shell's request cell, the daemon's receiver): the handle stays usable. A dropped
//! request's reply is never taken by another request (each request has its own sequence
//! number; a late reply is discarded, as after [`Error::Timeout`]). A dropped
//! `recv_command_async` loses nothing: a command is taken from the queue only in the poll
//! that returns it.
//!
//! Requests from several tasks on one shell are served one at a time (the cell's lock wakes
//! the next task, or thread, when the reply is taken).

// The futures are written as `fn … -> impl Future + Send` rather than `async fn`: the `Send`
// in the signature is a promise to users (spawn them on any multi-thread runtime), checked by
// the compiler here rather than discovered at their call sites.
#![allow(clippy::manual_async_fn)]

use core::future::{Future, poll_fn};
use core::task::{Context, Poll};
use std::sync::Arc;
use std::time::{Duration, Instant};

use venom_shm::ShmRegion;
use venom_shm::reactor::{self, Parked};
use venom_shm::sync::AtomicU32;

use crate::config::DEFAULT_REQUEST_TIMEOUT;
use crate::daemon::DaemonChannel;
use crate::error::{Error, Result};
use crate::receive::Command;
use crate::shared_bytes::SharedBytes;
use crate::shared_memory::SharedMemory;
use crate::shell::{LIVENESS_SLICE, ShellChannel};

/// Most polls one `poll` of a future spends before parking (or, busy-polling, yielding).
pub const POLL_SPINS: u32 = 1 << 12;

/// The spin budget of one poll, and whether the handle busy-polls (never parks).
fn budget(spin: u32) -> (u32, bool) {
    (spin.min(POLL_SPINS), spin == u32::MAX)
}

/// A future's entry in the reactor.
#[derive(Debug, Default)]
struct Nap {
    parked: Option<Parked>,
}

impl Nap {
    /// Whether the future is parked and not yet woken (then `cx`'s waker is the one woken).
    fn waiting(&mut self, cx: &Context<'_>) -> bool {
        match &self.parked {
            Some(p) if p.pending(cx.waker()) => true,
            _ => {
                self.parked = None;
                false
            }
        }
    }

    fn park(
        &mut self,
        word: &AtomicU32,
        expected: u32,
        deadline: Instant,
        region: &Arc<ShmRegion>,
        cx: &Context<'_>,
    ) {
        self.parked = Some(reactor::park(word, expected, deadline, region, cx.waker()));
    }
}

/// `now + d`, saturating far in the future.
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

impl ShellChannel {
    /// [`request`](Self::request), awaited: sends `cmd` and resolves to the reply (at most
    /// [`DEFAULT_REQUEST_TIMEOUT`]). Allocates a buffer of
    /// [`response_size`](Self::response_size) bytes; [`request_into_async`] does not.
    ///
    /// ```
    /// # use venom_channel::{ChannelConfig, DaemonChannel, ShellChannel};
    /// # let name = venom_shm::testing::unique_name("doc_request_async");
    /// # let daemon = DaemonChannel::create(&name, ChannelConfig::default())?;
    /// # let stop = daemon.stop_handle();
    /// # let server = { let d = daemon.clone(); std::thread::spawn(move || d.run(|_, b| b.to_vec())) };
    /// let shell = ShellChannel::connect(&name)?;
    /// let reply = pollster::block_on(shell.request_async(b"ping"))?;
    /// assert_eq!(reply, b"ping");
    /// # stop.stop(); server.join().unwrap()?;
    /// # Ok::<(), venom_channel::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`request_timeout`](Self::request_timeout).
    ///
    /// [`request_into_async`]: Self::request_into_async
    pub fn request_async<'a>(
        &'a self,
        cmd: &'a [u8],
    ) -> impl Future<Output = Result<Vec<u8>>> + Send + 'a {
        self.request_timeout_async(cmd, DEFAULT_REQUEST_TIMEOUT)
    }

    /// [`request_async`](Self::request_async) with a timeout.
    ///
    /// # Errors
    /// As [`request_timeout`](Self::request_timeout).
    pub fn request_timeout_async<'a>(
        &'a self,
        cmd: &'a [u8],
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<u8>>> + Send + 'a {
        async move {
            let mut resp = vec![0u8; self.response_size()];
            let n = self.request_into_async(cmd, &mut resp, timeout).await?;
            resp.truncate(n);
            Ok(resp)
        }
    }

    /// [`request_timeout`](Self::request_timeout), awaited, into the caller's buffer: sends
    /// `cmd` and resolves to the reply's length in `resp`.
    ///
    /// Waits for the shell's request cell first if another request (task or thread) is in
    /// flight. Cancel-safe: dropping the future leaves the shell usable, and a late reply to
    /// the dropped request is never taken for a later one.
    ///
    /// # Errors
    /// As [`request_timeout`](Self::request_timeout).
    pub fn request_into_async<'a>(
        &'a self,
        cmd: &'a [u8],
        resp: &'a mut [u8],
        timeout: Duration,
    ) -> impl Future<Output = Result<usize>> + Send + 'a {
        async move {
            self.check_sendable(cmd)?;
            let mut req = poll_fn(|cx| self.requests.poll_lock(cx)).await;
            self.post(&mut req, cmd);
            let deadline = after(timeout);
            let seq = req.seq();
            let cell = self.cell();
            let (spin, busy) = budget(self.spin);
            let mut nap = Nap::default();
            let mut announced = Announced(None);
            poll_fn(move |cx| {
                if nap.waiting(cx) && !cell.has_reply(seq) {
                    return Poll::Pending;
                }
                announced.end();
                loop {
                    for _ in 0..spin {
                        if let Some(n) = self.try_take_reply(&mut req, resp)? {
                            return Poll::Ready(Ok(n));
                        }
                        std::hint::spin_loop();
                    }
                    if let Some(n) = self.try_take_reply(&mut req, resp)? {
                        return Poll::Ready(Ok(n));
                    }
                    self.check_daemon(&mut req)?;
                    let now = Instant::now();
                    if now >= deadline {
                        return Poll::Ready(Err(Error::Timeout));
                    }
                    if busy {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    let Some((word, value)) = cell.announce_sleep(seq) else {
                        continue; // the reply header moved meanwhile: look again
                    };
                    announced.0 = Some(cell);
                    let until = deadline.min(now + LIVENESS_SLICE);
                    nap.park(word, value, until, &self.region, cx);
                    return Poll::Pending;
                }
            })
            .await
        }
    }

    /// [`wait_for_data`](Self::wait_for_data), awaited: resolves to the data's version once
    /// it differs from `since`. Cancel-safe (wrap it in your runtime's timeout).
    ///
    /// # Errors
    /// [`Error::Disconnected`] if the daemon closes or dies meanwhile.
    pub fn wait_for_data_async(&self, since: u64) -> impl Future<Output = Result<u64>> + Send + '_ {
        wait_seqlock(
            &self.views.data,
            since,
            &self.region,
            self.spin,
            || match self.views.disconnected() {
                true => Err(Error::Disconnected),
                false => Ok(()),
            },
        )
    }
}

/// The reply cell's `sleeping` flag, withdrawn when the future moves on or is dropped.
struct Announced<'a>(Option<&'a crate::rpc::Cell<'static>>);

impl Announced<'_> {
    fn end(&mut self) {
        if let Some(cell) = self.0.take() {
            cell.end_sleep();
        }
    }
}

impl Drop for Announced<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

/// Waits until `lock`'s version differs from `since`; `check` runs before each park (the
/// daemon's liveness, for a channel's data).
fn wait_seqlock<'a>(
    lock: &'a venom_seqlock::Seqlock<'static>,
    since: u64,
    region: &'a Arc<ShmRegion>,
    spin: u32,
    mut check: impl FnMut() -> Result<()> + Send + 'a,
) -> impl Future<Output = Result<u64>> + Send + 'a {
    let (spin, busy) = budget(spin);
    let mut nap = Nap::default();
    let mut waiter = None;
    poll_fn(move |cx| {
        if nap.waiting(cx) && lock.version() == since {
            return Poll::Pending;
        }
        waiter.take(); // withdraws the announcement
        for _ in 0..spin {
            let v = lock.version();
            if v != since {
                return Poll::Ready(Ok(v));
            }
            std::hint::spin_loop();
        }
        check()?;
        if busy {
            let v = lock.version();
            if v != since {
                return Poll::Ready(Ok(v));
            }
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match lock.register_waiter(since) {
            Ok(v) => Poll::Ready(Ok(v)),
            Err(w) => {
                nap.park(w.word(), w.ticket(), after(LIVENESS_SLICE), region, cx);
                waiter.replace(w);
                Poll::Pending
            }
        }
    })
}

impl SharedBytes {
    /// [`wait_for_change`](Self::wait_for_change), awaited: resolves to the version once it
    /// differs from `since`. Cancel-safe.
    ///
    /// # Errors
    /// None in practice (the `Result` matches the blocking call).
    pub fn wait_for_change_async(
        &self,
        since: u64,
    ) -> impl Future<Output = Result<u64>> + Send + '_ {
        wait_seqlock(
            &self.lock,
            since,
            &self.region,
            crate::config::DEFAULT_SPIN,
            || Ok(()),
        )
    }
}

impl<T: bytemuck::Pod> SharedMemory<T> {
    /// [`wait_for_change`](Self::wait_for_change), awaited: resolves once the value changes
    /// after this call. Cancel-safe.
    ///
    /// # Errors
    /// None in practice (the `Result` matches the blocking call).
    pub fn wait_for_change_async(&self) -> impl Future<Output = Result<()>> + Send + '_ {
        let since = self.bytes.version();
        let wait = self.bytes.wait_for_change_async(since);
        async move { wait.await.map(drop) }
    }
}

impl DaemonChannel {
    /// [`recv_command`](Self::recv_command), awaited: resolves to the next command or request,
    /// copied into `buf`. Cancel-safe: a command is taken from the queue only by the poll that
    /// returns it.
    ///
    /// # Errors
    /// As [`recv_command_timeout`](Self::recv_command_timeout).
    pub fn recv_command_async<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = Result<Command>> + Send + 'a {
        async move {
            match self.next_async(buf, false).await {
                Ok(Some(cmd)) => Ok(cmd),
                Ok(None) => unreachable!("only a stoppable receive ends without a command"),
                Err(e) => Err(e),
            }
        }
    }

    /// [`serve`](Self::serve), awaited: hands each command or request to `handler(command,
    /// bytes)` and awaits the future it returns before receiving the next one; the handler
    /// answers requests with [`reply`](Self::reply) (clone the daemon into it). Ends when a
    /// [`StopHandle`](crate::StopHandle) is used.
    ///
    /// ```
    /// # use venom_channel::{ChannelConfig, DaemonChannel, ShellChannel};
    /// # let name = venom_shm::testing::unique_name("doc_serve_async");
    /// let daemon = DaemonChannel::create(&name, ChannelConfig::default())?;
    /// let shell = ShellChannel::connect(&name)?;
    /// let stop = daemon.stop_handle();
    /// let client = std::thread::spawn(move || {
    ///     let mut resp = [0u8; 8];
    ///     let n = shell.request(b"hello", &mut resp).unwrap();
    ///     stop.stop();
    ///     resp[..n].to_vec()
    /// });
    /// let replier = daemon.clone();
    /// pollster::block_on(daemon.serve_async(|cmd, bytes| {
    ///     let replier = replier.clone();
    ///     async move {
    ///         if let Some(id) = cmd.request_id {
    ///             let _ = replier.reply(cmd.client_id, id, &bytes[..2]);
    ///         }
    ///     }
    /// }))?;
    /// assert_eq!(client.join().unwrap(), b"he");
    /// # Ok::<(), venom_channel::Error>(())
    /// ```
    ///
    /// # Errors
    /// None in practice (as [`serve`](Self::serve)).
    pub async fn serve_async<F, Fut>(&self, mut handler: F) -> Result<()>
    where
        F: FnMut(Command, Vec<u8>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut buf = vec![0u8; self.max_command_len()];
        while let Some(cmd) = self.next_async(&mut buf, true).await? {
            handler(cmd, buf[..cmd.len].to_vec()).await;
        }
        Ok(())
    }
}

impl DaemonChannel {
    /// Receives the next command into `buf`, awaiting one; `Ok(None)` if `stoppable` and a
    /// [`StopHandle`](crate::StopHandle) was used.
    fn next_async<'a>(
        &'a self,
        buf: &'a mut [u8],
        stoppable: bool,
    ) -> impl Future<Output = Result<Option<Command>>> + Send + 'a {
        let (spin, busy) = budget(self.spin());
        let mut nap = Nap::default();
        let mut sleeper = None;
        poll_fn(move |cx| {
            if nap.waiting(cx) {
                return Poll::Pending;
            }
            sleeper.take(); // no longer announced
            loop {
                for _ in 0..=spin {
                    if stoppable && self.take_stop() {
                        return Poll::Ready(Ok(None));
                    }
                    if let Some(cmd) = self.try_next(buf, stoppable)? {
                        return Poll::Ready(Ok(Some(cmd)));
                    }
                    std::hint::spin_loop();
                }
                if busy {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let Some(s) = self.register_sleeper()? else {
                    continue; // a message, a request or a ring came meanwhile
                };
                let nap_for = s
                    .nap()
                    .map_or(crate::receive::MAX_NAP, |n| n.min(crate::receive::MAX_NAP));
                nap.park(s.word(), s.ticket(), after(nap_for), self.region(), cx);
                sleeper.replace(s);
                return Poll::Pending;
            }
        })
    }
}
