//! The consumer side: receiving (copying or zero-copy), batch drain, blocking receive on the
//! doorbell, and recovery from producers that died mid-send.

use core::time::Duration;

use venom_shm::barrier;
use venom_shm::wait::{self, Deadline, Stopwatch};

use crate::error::{Error, Result};
use crate::layout::{CANCELLED, LAP_MASK, Payload, SlotHeader, State, decode, encode};
use crate::queue::Queue;
#[cfg(not(loom))]
use crate::sync::spin_hint;
use crate::sync::{Ordering, fence};

/// How long a claimed slot may stay unstarted (`FREE` behind the tail) before the consumer
/// voids the claim. A live producer whose claim is voided simply claims again.
pub const CLAIM_BOUND: Duration = Duration::from_millis(2);

/// How long a slot may stay `WRITING` before the consumer checks that its producer lives.
pub const STUCK_BOUND: Duration = Duration::from_millis(2);

/// How long the consumer waits for a live producer that stays in the middle of a send
/// (stopped, descheduled, hostile) before it skips the slot. The producer learns it when it
/// publishes and sends the message again (see the queue's documentation): nothing is lost.
pub const LIVE_BOUND: Duration = Duration::from_millis(20);

/// How often a sleeping consumer looks again while a claim is pending (its producer might have
/// died and will then never ring the doorbell).
const PENDING_POLL: Duration = Duration::from_millis(1);

/// Takeover attempts of a consumer role whose holder is dead before `consumer()` gives up.
const TAKEOVER_ATTEMPTS: u32 = 64;

/// An empty-looking head is checked against the tail once per this many polls.
const TAIL_CHECK_EVERY: u32 = 64;

/// Polls of an empty queue before a blocking receive goes to sleep.
#[cfg(not(loom))]
const RECV_SPINS: u32 = 512;

/// Who sent a message and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// The sender id the producer was made with.
    pub sender: u32,
    /// The sending process.
    pub pid: u32,
    /// Length in bytes.
    pub len: usize,
}

/// The one consumer of a [`Queue`]: holds the consumer role (pid recorded in the header) until
/// dropped.
#[derive(Debug)]
pub struct Consumer<'a> {
    queue: Queue<'a>,
    /// The word this consumer wrote into the role (its pid and start-time digest).
    role: u32,
    head: u64,
    /// Where the consumer has been waiting, since when, and since its last liveness check.
    stall: Option<Stall>,
    /// Polls that found the head slot free (the tail is read only every
    /// `TAIL_CHECK_EVERY`-th time).
    free_polls: u32,
    abandoned: u64,
    skipped: u64,
    corrupt: u64,
}

/// The head slot the consumer has been waiting on.
#[derive(Debug)]
struct Stall {
    pos: u64,
    state: u64,
    since: Stopwatch,
    checked: Stopwatch,
}

impl<'a> Queue<'a> {
    /// Takes the consumer role, or fails with [`Error::ConsumerBusy`] if a live process holds
    /// it. A role left by a dead process is taken over, continuing where it stopped.
    ///
    /// # Errors
    /// [`Error::ConsumerBusy`].
    pub fn consumer(&self) -> Result<Consumer<'a>> {
        let role = &self.header.consumer.consumer;
        // Our pid and start-time digest: a later process reusing our pid is not us.
        let me = self.holder;
        // Bounded: a role word that keeps changing between dead holders (only a hostile process
        // writes it so) must not keep the caller looping.
        let mut taken = false;
        for _ in 0..TAKEOVER_ATTEMPTS {
            // SYNC POINT [C0]: pairs with the Release in `Consumer::drop` [C6]: the last
            // consumer's head and slot releases are visible.
            match role.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => taken = true,
                Err(holder) if !wait::holder_word_alive(holder) => {
                    // Relaxed: a dead consumer never released the role; its death, observed
                    // by `process_alive`, orders what it left (its head, its freed slots)
                    // before our look (modelled by `venom_shm::wait::declare_dead`; see
                    // `tests/loom_mpsc.rs::a_dead_consumer_is_taken_over`).
                    taken = role
                        .compare_exchange(holder, me, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok();
                }
                Err(holder) => {
                    return Err(Error::ConsumerBusy {
                        pid: wait::holder_pid(holder),
                    });
                }
            }
            if taken {
                break;
            }
        }
        if !taken {
            return Err(Error::ConsumerBusy {
                pid: wait::holder_pid(role.load(Ordering::Relaxed)),
            });
        }
        Ok(Consumer {
            queue: *self,
            role: me,
            head: self.header.consumer.head.load(Ordering::Relaxed),
            stall: None,
            free_polls: 0,
            abandoned: 0,
            skipped: 0,
            corrupt: 0,
        })
    }
}

impl Drop for Consumer<'_> {
    fn drop(&mut self) {
        // SYNC POINT [C6]: pairs with the Acquire in `Queue::consumer` [C0].
        let _ = self.queue.header.consumer.consumer.compare_exchange(
            self.role,
            0,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }
}

/// A ready message at the head.
struct Head<'a> {
    sh: &'a SlotHeader,
    payload: Payload<'a>,
    lap: u64,
    message: Message,
}

/// What the head slot holds.
enum Next<'a> {
    Ready(Head<'a>),
    Empty,
}

impl<'a> Consumer<'a> {
    /// The queue this consumer drains.
    pub fn queue(&self) -> Queue<'a> {
        self.queue
    }

    /// Messages skipped because their producer died mid-send (or never started after
    /// claiming a slot), since this consumer was made.
    pub fn abandoned(&self) -> u64 {
        self.abandoned
    }

    /// Messages of live producers skipped because they stayed mid-send past [`LIVE_BOUND`]
    /// (each such producer sends its message again when it resumes, so nothing is lost).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Messages dropped because their slot held an impossible length.
    pub fn corrupt(&self) -> u64 {
        self.corrupt
    }

    /// Copies the next message into `buf`, without blocking.
    ///
    /// # Errors
    /// * [`Error::BufferTooSmall`] with the length needed: the message stays queued;
    /// * [`Error::Corrupt`]: the head slot held garbage (a bad message is dropped first).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<Message>> {
        match self.try_recv_ref()? {
            None => Ok(None),
            Some(r) => r.copy_out(buf).map(Some),
        }
    }

    /// Borrows the next message in place, without blocking and without copying it; the slot
    /// is released when the [`Received`] is dropped. (Forgetting it with `mem::forget`
    /// leaves the message queued, to be received again.)
    ///
    /// # Errors
    /// [`Error::Corrupt`].
    pub fn try_recv_ref(&mut self) -> Result<Option<Received<'_, 'a>>> {
        match self.next()? {
            Next::Ready(h) => Ok(Some(Received {
                consumer: self,
                sh: h.sh,
                payload: h.payload,
                lap: h.lap,
                message: h.message,
            })),
            Next::Empty => Ok(None),
        }
    }

    /// Receives up to `max` messages in a row, handing each to `f` in place; returns how many.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (after the messages before it were handed over).
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(&Received<'_, 'a>)) -> Result<usize> {
        let mut n = 0;
        while n < max {
            match self.try_recv_ref()? {
                Some(r) => f(&r),
                None => break,
            }
            n += 1;
        }
        Ok(n)
    }

    /// Copies the next message into `buf`, sleeping on the doorbell while the queue is empty,
    /// for at most `timeout`. Returns [`Error::Timeout`] early if the doorbell is rung without
    /// a message ([`Queue::ring`]).
    ///
    /// # Errors
    /// [`Error::Timeout`], and those of [`try_recv`](Self::try_recv).
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Message> {
        self.wait_within(Some(timeout), || false)?;
        self.try_recv(buf)?.ok_or(Error::Timeout)
    }

    /// Like [`recv_timeout`](Self::recv_timeout) without a time limit (a ring without a
    /// message still returns [`Error::Timeout`]).
    ///
    /// # Errors
    /// As [`recv_timeout`](Self::recv_timeout).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<Message> {
        self.wait_within(None, || false)?;
        self.try_recv(buf)?.ok_or(Error::Timeout)
    }

    /// Like [`recv_timeout`](Self::recv_timeout), borrowing the message in place.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Corrupt`].
    pub fn recv_ref_timeout(&mut self, timeout: Duration) -> Result<Received<'_, 'a>> {
        self.wait_within(Some(timeout), || false)?;
        self.try_recv_ref()?.ok_or(Error::Timeout)
    }

    /// Sleeps on the doorbell until a message is ready at the head (left there) or `ready()`
    /// holds; see [`wait_until_timeout`](Self::wait_until_timeout).
    ///
    /// # Errors
    /// As [`wait_until_timeout`](Self::wait_until_timeout).
    pub fn wait_until(&mut self, ready: impl FnMut() -> bool) -> Result<()> {
        self.wait_within(None, ready)
    }

    /// Sleeps on the doorbell until a message is ready at the head (left there) or `ready()`
    /// holds, for at most `timeout`; returns [`Error::Timeout`] early if the doorbell is rung
    /// without either ([`Queue::ring`]).
    ///
    /// `ready` lets a consumer wait for events published beside the queue in the same shared
    /// memory: their publisher calls [`Queue::notify`] after publishing, and `ready` is
    /// checked after the consumer has announced that it sleeps, so no event is missed.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Corrupt`].
    pub fn wait_until_timeout(
        &mut self,
        timeout: Duration,
        ready: impl FnMut() -> bool,
    ) -> Result<()> {
        self.wait_within(Some(timeout), ready)
    }

    fn wait_within(
        &mut self,
        timeout: Option<Duration>,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Deadline::after(timeout);
        #[cfg(not(loom))]
        for _ in 0..RECV_SPINS {
            if self.peek()? || ready() {
                return Ok(());
            }
            spin_hint();
        }
        loop {
            let sleeper = match self.register_sleeper(&mut ready)? {
                Wake::Ready => return Ok(()),
                Wake::Rung => return Err(Error::Timeout),
                Wake::Sleep(s) => s,
            };
            let remaining = deadline.remaining();
            if remaining == Some(Duration::ZERO) {
                return Err(Error::Timeout);
            }
            let nap = match (sleeper.nap(), remaining) {
                (Some(n), Some(r)) => Some(n.min(r)),
                (n, r) => n.or(r),
            };
            wait::futex_wait(sleeper.word(), sleeper.ticket(), nap);
            drop(sleeper);
            // Rung without a message (`Queue::ring`): let the caller look at its own state.
            let bell = &self.queue.header.doorbell;
            if bell.rung.swap(0, Ordering::Relaxed) != 0 && !self.peek()? && !ready() {
                return Err(Error::Timeout);
            }
        }
    }

    /// The first half of a wait, for callers that sleep elsewhere (an async reactor): announces
    /// the consumer as sleeping on the doorbell, then looks once more. [`Wake::Ready`]: a
    /// message is ready at the head or `ready()` holds; [`Wake::Rung`]: the doorbell was rung
    /// without either ([`Queue::ring`]); [`Wake::Sleep`]: sleep on the [`Sleeper`]'s word while
    /// it holds its ticket (a producer that sends after this call sees the announcement and
    /// rings), then drop it and call again. [`wait_until`](Self::wait_until) is this in a
    /// loop.
    ///
    /// # Errors
    /// [`Error::Corrupt`].
    pub fn register_sleeper(&mut self, mut ready: impl FnMut() -> bool) -> Result<Wake<'a>> {
        // Make this poll look at the tail, so a dead claim is noticed between naps.
        self.free_polls = TAIL_CHECK_EVERY - 1;
        if self.peek()? || ready() {
            return Ok(Wake::Ready);
        }
        let header: &'a crate::layout::Header = self.queue.header;
        let bell = &header.doorbell;
        // Say how this consumer sleeps (a consumer of another process may have held the role).
        let heavy = u32::from(barrier::registered());
        if bell.heavy.load(Ordering::Relaxed) != heavy {
            bell.heavy.store(heavy, Ordering::Relaxed);
        }
        bell.sleeping.store(1, Ordering::Relaxed);
        let mut sleeper = Sleeper {
            bell,
            ticket: 0,
            pending: false,
        };
        // SYNC POINT [C3]: Dekker pair with the producer's SeqCst fence [P3]: either we see its
        // message below, or it sees us asleep and rings. `heavy` makes it pair with the
        // compiler fence of a producer that skipped its own (`venom_shm::barrier`).
        fence(Ordering::SeqCst);
        barrier::heavy();
        // SYNC POINT [C5]: pairs with `Queue::ring`'s Release bump [P5]: a ticket taken after a
        // ring comes with that ring's flag. (A producer's bump in `notify` carries nothing: its
        // message is seen through READY [P2]/[C1] by the look below.)
        sleeper.ticket = bell.futex.load(Ordering::Acquire);
        // A ring that came before our ticket would not wake us: look for it now (a ticket
        // that includes the ring's bump also shows its flag).
        if bell.rung.swap(0, Ordering::Relaxed) != 0 && !self.peek()? && !ready() {
            return Ok(Wake::Rung); // `sleeper` drops: no longer announced
        }
        if self.peek()? || ready() {
            return Ok(Wake::Ready);
        }
        sleeper.pending = header.tail.tail.load(Ordering::Relaxed) != self.head;
        Ok(Wake::Sleep(sleeper))
    }

    fn peek(&mut self) -> Result<bool> {
        Ok(matches!(self.next()?, Next::Ready(_)))
    }

    /// Looks at the head slot: a message ready, or nothing yet. Skips slots whose producer
    /// died or never started, and drops messages with impossible lengths.
    fn next(&mut self) -> Result<Next<'a>> {
        loop {
            let q = self.queue;
            let pos = self.head;
            let lap = q.shape.lap(pos);
            let (sh, payload) = q.slot(pos);
            // SYNC POINT [C1]: pairs with the producer's Release store of READY [P2].
            let state = sh.state.load(Ordering::Acquire);
            match decode(state) {
                Some((l, State::Ready(pid))) if l == lap => {
                    self.stall = None;
                    let meta = sh.meta.load(Ordering::Relaxed);
                    if meta & CANCELLED != 0 {
                        // The producer's fill closure panicked: nothing to deliver.
                        self.release(sh, lap);
                        self.abandoned += 1;
                        continue;
                    }
                    let len = (meta & 0xffff_ffff) as usize;
                    // While this message is handled, bring the next slot's lines over (with
                    // producers ahead they hold the next message): its misses overlap this
                    // one's work instead of following it.
                    q.prefetch_slot(pos.wrapping_add(1));
                    if len > q.shape.payload() {
                        self.release(sh, lap);
                        self.corrupt += 1;
                        return Err(Error::Corrupt {
                            reason: "message length exceeds the slot",
                        });
                    }
                    return Ok(Next::Ready(Head {
                        sh,
                        payload,
                        lap,
                        message: Message {
                            sender: (meta >> 32) as u32,
                            pid: wait::holder_pid(pid),
                            len,
                        },
                    }));
                }
                Some((l, State::Free)) if l == lap => {
                    // Usually just empty. Reading the tail to tell "empty" from "claimed, not
                    // started" would pull the producers' hottest cache line over on every
                    // poll, so look only after many polls found this slot free.
                    self.free_polls = self.free_polls.wrapping_add(1);
                    if !self.free_polls.is_multiple_of(TAIL_CHECK_EVERY) {
                        return Ok(Next::Empty);
                    }
                    let tail_word = &q.header.tail.tail;
                    let tail = tail_word.load(Ordering::Relaxed);
                    if tail.wrapping_sub(pos) > u64::from(q.shape.capacity) {
                        // A tail behind the head or more than a queue ahead was scribbled (no
                        // producer moves it there), and would keep every producer out: bring
                        // it back to the head. A real claim cannot race this: claims start
                        // from an in-range tail.
                        if tail_word
                            .compare_exchange(tail, pos, Ordering::Relaxed, Ordering::Relaxed)
                            .is_ok()
                        {
                            self.corrupt += 1;
                        }
                        return Ok(Next::Empty);
                    }
                    if tail == pos {
                        return Ok(Next::Empty);
                    }
                    // Claimed but not started: void the claim if it stays so.
                    if !self.stalled(pos, state, CLAIM_BOUND) {
                        return Ok(Next::Empty);
                    }
                    self.skip(sh, state, lap);
                }
                Some((l, State::Writing(pid))) if l == lap => {
                    if !self.stalled(pos, state, STUCK_BOUND) {
                        return Ok(Next::Empty);
                    }
                    if !wait::holder_word_alive(pid) {
                        self.skip(sh, state, lap);
                    } else if self
                        .stall
                        .as_ref()
                        .is_some_and(|s| s.since.exceeded(LIVE_BOUND))
                    {
                        self.set_aside(sh, state, lap, pid);
                    } else {
                        return Ok(Next::Empty);
                    }
                }
                Some((l, State::Skipped(pid))) if l == lap.wrapping_sub(1) & LAP_MASK => {
                    // Set aside a lap ago and not given back yet: a hole at this position.
                    let tail = q.header.tail.tail.load(Ordering::Relaxed);
                    if tail.wrapping_sub(pos) > u64::from(q.shape.capacity) {
                        return Err(self.repair(sh, state, pos, lap));
                    }
                    // Passing a hole gives producers a turn (in a one-slot queue the next
                    // position is the same hole).
                    if tail != pos || !self.free_hole(sh, state, pos, lap, pid) {
                        return Ok(Next::Empty);
                    }
                }
                _ => return Err(self.repair(sh, state, pos, lap)),
            }
        }
    }

    /// Whether the head has shown `state` for at least `bound` since it was first seen and
    /// since the last positive answer (which restarts that second clock: slow checks run at
    /// most once per `bound`).
    fn stalled(&mut self, pos: u64, state: u64, bound: Duration) -> bool {
        let stall = match &mut self.stall {
            Some(s) if s.pos == pos && s.state == state => s,
            other => other.insert(Stall {
                pos,
                state,
                since: Stopwatch::start(),
                checked: Stopwatch::start(),
            }),
        };
        // (At first sight too: never true with real time, but a loom model's time may pass.)
        if stall.checked.exceeded(bound) {
            stall.checked = Stopwatch::start();
            true
        } else {
            false
        }
    }

    /// Skips the head slot whose live producer stayed mid-send past [`LIVE_BOUND`]: the slot
    /// becomes `SKIPPED` (still the producer's, which sends the message again and gives the slot
    /// back), the position is passed.
    fn set_aside(&mut self, sh: &SlotHeader, seen: u64, lap: u64, pid: u32) {
        // SYNC POINT [C7]: Relaxed: the consumer read nothing of the slot and hands nothing
        // over; the producer's failed publication [P2] reads this state and keeps the slot.
        if sh
            .state
            .compare_exchange(
                seen,
                encode(lap, State::Skipped(pid)),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            self.advance();
            self.skipped += 1;
        }
        self.stall = None;
    }

    /// The head slot is still `SKIPPED` from the last lap (its producer has not given it back).
    /// Producers see the slot full, so the tail waits at the head. If the producer died, the
    /// slot is freed for this lap (`true`: look again); if it lives, the position is passed as
    /// a hole (tail and head move past it, the slot stays the producer's, `SKIPPED` at this
    /// lap). The caller saw the tail at the head (else the slot moved on meanwhile: given
    /// back, maybe claimed); nothing is done if it moved since.
    fn free_hole(&mut self, sh: &SlotHeader, seen: u64, pos: u64, lap: u64, pid: u32) -> bool {
        let tail = &self.queue.header.tail.tail;
        if !wait::holder_word_alive(pid) {
            // SYNC POINT [C8]: pairs with the next producer's Acquire load [P1]: what the dead
            // producer left in the slot (ordered before our look by its death) happens before
            // that producer's writes.
            return sh
                .state
                .compare_exchange(
                    seen,
                    encode(lap, State::Free),
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok();
        }
        if self.queue.shape.capacity == 1 {
            // The next position is this slot again: passing it would help nobody.
            return false;
        }
        // The slot is not free for this lap, so no producer claims `pos`: the tail moves only
        // if the slot was given back and claimed meanwhile, and then this fails.
        if tail
            .compare_exchange(
                pos,
                pos.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        let hole = encode(lap, State::Skipped(pid));
        if sh
            .state
            .compare_exchange(seen, hole, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            // Given back meanwhile (free for this lap, which nobody can claim now that the
            // tail passed it): free it for the next lap. Anything else is a scribble, left to
            // the repair when the head comes round.
            let _ = sh.state.compare_exchange(
                encode(lap, State::Free),
                encode((lap + 1) & LAP_MASK, State::Free),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        self.advance();
        false
    }

    /// The head slot holds a state no producer writes (another lap, or no state at all):
    /// another process scribbled on it. Put the slot back as its producers expect it — free for
    /// this lap if nobody claimed it, skipped (free for the next lap) if someone did: that
    /// claimant's message is lost — and count it; a tail scribbled out of range (behind the
    /// head, or more than a queue ahead) is brought back to the head first. The queue goes on
    /// at the next call.
    fn repair(&mut self, sh: &SlotHeader, seen: u64, pos: u64, lap: u64) -> Error {
        self.stall = None;
        let tail_word = &self.queue.header.tail.tail;
        let mut tail = tail_word.load(Ordering::Relaxed);
        let capacity = u64::from(self.queue.shape.capacity);
        if tail.wrapping_sub(pos) > capacity {
            // The tail was scribbled too (no producer moves it behind the head or more than a
            // queue ahead): claims past the head cannot be real; the queue restarts empty here.
            if tail_word
                .compare_exchange(tail, pos, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                return Error::Corrupt {
                    reason: "head slot holds a state of another lap",
                };
            }
            tail = pos;
        }
        let claimed = tail != pos;
        let fixed = if claimed {
            encode((lap + 1) & LAP_MASK, State::Free)
        } else {
            encode(lap, State::Free)
        };
        if sh
            .state
            .compare_exchange(seen, fixed, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.corrupt += 1;
            if claimed {
                self.advance();
            }
        }
        Error::Corrupt {
            reason: "head slot held an impossible state (repaired)",
        }
    }

    /// Frees an abandoned slot (its producer died mid-send, or never started), unless its
    /// producer moved it on meanwhile.
    fn skip(&mut self, sh: &SlotHeader, seen: u64, lap: u64) {
        let next = encode((lap + 1) & LAP_MASK, State::Free);
        // SYNC POINT [C9]: as [C8]: pairs with the next producer's Acquire load [P1], so what
        // a dead producer wrote in the slot (ordered before our look by its death) happens
        // before the next one's writes.
        if sh
            .state
            .compare_exchange(seen, next, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            self.advance();
            self.abandoned += 1;
        }
        self.stall = None;
    }

    /// Hands the slot at the head back to producers and moves on.
    fn release(&mut self, sh: &SlotHeader, lap: u64) {
        // SYNC POINT [C2]: pairs with the producer's Acquire load [P1].
        sh.state
            .store(encode((lap + 1) & LAP_MASK, State::Free), Ordering::Release);
        self.advance();
    }

    fn advance(&mut self) {
        self.head = self.head.wrapping_add(1);
        self.queue
            .header
            .consumer
            .head
            .store(self.head, Ordering::Relaxed);
    }
}

/// A message borrowed in place from its slot; the slot returns to producers when this drops.
///
/// The bytes live in shared memory, so they are read through [`copy_to`](Self::copy_to) and
/// [`read_at`](Self::read_at) (atomic word loads straight from the slot), never as `&[u8]`.
#[derive(Debug)]
pub struct Received<'c, 'a> {
    consumer: &'c mut Consumer<'a>,
    sh: &'a SlotHeader,
    payload: Payload<'a>,
    lap: u64,
    message: Message,
}

impl Received<'_, '_> {
    /// Sender, pid and length.
    pub fn message(&self) -> Message {
        self.message
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.message.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.message.len == 0
    }

    /// The sender id.
    pub fn sender(&self) -> u32 {
        self.message.sender
    }

    /// Copies the whole message to the start of `buf`; returns its length.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] (nothing copied).
    pub fn copy_to(&self, buf: &mut [u8]) -> Result<usize> {
        let (len, got) = (self.message.len, buf.len());
        let dst = buf
            .get_mut(..len)
            .ok_or(Error::BufferTooSmall { needed: len, got })?;
        self.payload.load(0, dst);
        Ok(len)
    }

    /// Copies `buf.len()` bytes starting at `offset` of the message.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`].
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        match offset.checked_add(buf.len()) {
            Some(end) if end <= self.message.len => {
                self.payload.load(offset, buf);
                Ok(())
            }
            _ => Err(Error::OutOfBounds {
                offset,
                len: buf.len(),
                max: self.message.len,
            }),
        }
    }

    /// The message as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.message.len];
        self.payload.load(0, &mut v);
        v
    }

    /// Copies into `buf` and releases the slot; on [`Error::BufferTooSmall`] the message
    /// stays queued.
    fn copy_out(self, buf: &mut [u8]) -> Result<Message> {
        match self.copy_to(buf) {
            Ok(_) => Ok(self.message),
            Err(e) => {
                core::mem::forget(self);
                Err(e)
            }
        }
    }
}

impl Drop for Received<'_, '_> {
    fn drop(&mut self) {
        self.consumer.release(self.sh, self.lap);
    }
}

/// What [`Consumer::register_sleeper`] found.
#[derive(Debug)]
pub enum Wake<'a> {
    /// A message is ready at the head, or the caller's `ready()` holds.
    Ready,
    /// The doorbell was rung without a message ([`Queue::ring`]).
    Rung,
    /// Nothing yet: sleep with this.
    Sleep(Sleeper<'a>),
}

/// The consumer announced as sleeping on the doorbell (until dropped), from
/// [`Consumer::register_sleeper`].
#[derive(Debug)]
#[must_use = "the consumer is announced as sleeping only while this lives"]
pub struct Sleeper<'a> {
    bell: &'a crate::layout::Doorbell,
    ticket: u32,
    /// A claim is still being written (its producer may die): look again soon.
    pending: bool,
}

impl<'a> Sleeper<'a> {
    /// The futex word to sleep on (the doorbell, in the shared header).
    pub fn word(&self) -> &'a crate::sync::AtomicU32 {
        &self.bell.futex
    }

    /// The value the word held when the queue was checked: sleep while it still does.
    pub fn ticket(&self) -> u32 {
        self.ticket
    }

    /// The longest to sleep: a short poll while a claim is still being written (a producer
    /// killed mid-send rings nobody), `None` for no limit.
    pub fn nap(&self) -> Option<Duration> {
        self.pending.then_some(PENDING_POLL)
    }
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        self.bell.sleeping.store(0, Ordering::Relaxed);
    }
}
