//! Waiting across processes, in one module: futex wait/wake on a 32-bit word in shared memory,
//! process ids and liveness, and the clock used for bounded waits. The primitives
//! (`venom-seqlock`, `venom-mpsc`) call only this for anything that is not an atomic.
//!
//! * Linux: `futex(FUTEX_WAIT/FUTEX_WAKE)` without `FUTEX_PRIVATE_FLAG`, so waiters and wakers
//!   may live in different processes. `EAGAIN` (the word already changed), `EINTR` and
//!   `ETIMEDOUT` are ordinary returns: every caller re-checks its condition in a loop.
//! * Other systems: a portable fallback that sleeps briefly instead of blocking on the word.
//! * `cfg(loom)`: a model of the futex (park/unpark with an atomic re-check, as the kernel's
//!   hash-bucket lock guarantees), a fixed pid that is always alive, and deadlines that never
//!   expire (loom has no clock; its tests bound runs by schedule, not by time).

use core::time::Duration;

use crate::sync::AtomicU32;

/// Sleeps while `*word == expected`, for at most `timeout` (forever if `None`).
/// May return early (spuriously); callers loop.
#[cfg(all(target_os = "linux", not(loom)))]
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    use rustix::thread::futex;
    let ts = timeout.map(|t| futex::Timespec {
        tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    // AGAIN / INTR / TIMEDOUT are all "go and look again".
    let _ = futex::wait(word.as_std(), futex::Flags::empty(), expected, ts.as_ref());
}

/// Wakes every thread sleeping in [`futex_wait`] on `word`, in any process.
#[cfg(all(target_os = "linux", not(loom)))]
pub fn futex_wake_all(word: &AtomicU32) {
    use rustix::thread::futex;
    let _ = futex::wake(word.as_std(), futex::Flags::empty(), i32::MAX as u32);
}

/// Portable fallback: no kernel wait queue, so sleep a little and let the caller re-check.
#[cfg(all(not(target_os = "linux"), not(loom)))]
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    use crate::sync::Ordering;
    if word.load(Ordering::Relaxed) == expected {
        let nap = Duration::from_micros(50);
        std::thread::sleep(timeout.map_or(nap, |t| t.min(nap)));
    }
}

/// Portable fallback: sleepers poll, so there is nobody to wake.
#[cfg(all(not(target_os = "linux"), not(loom)))]
pub fn futex_wake_all(_word: &AtomicU32) {}

#[cfg(loom)]
mod model {
    use loom::thread::Thread;
    /// A std atomic on purpose: time passing is not shared memory, and a loom atomic would
    /// synchronise what it should not.
    #[allow(clippy::disallowed_types)]
    pub(super) type TimeBudget = std::sync::atomic::AtomicU32;
    use std::sync::Mutex;
    loom::lazy_static! {
        /// Sleepers by futex address. A std mutex, invisible to loom: loom runs one thread at a
        /// time, and a loom mutex would add SeqCst synchronisation the kernel does not give,
        /// hiding missing fences in the code under test.
        pub(super) static ref SLEEPERS: Mutex<Vec<(usize, Thread)>> = Mutex::new(Vec::new());
        /// Bit `pid`: process `pid` was declared dead (see `declare_dead`). A loom atomic: the
        /// death of a process orders its last stores before a look that finds it gone.
        pub(super) static ref DEATHS: crate::sync::AtomicU64 = crate::sync::AtomicU64::new(0);
        /// How many `Stopwatch::exceeded` checks may still find their bound passed (see
        /// `let_time_pass`). A std atomic: time passing synchronises nothing.
        pub(super) static ref TIME: TimeBudget = TimeBudget::new(0);
    }
}

/// Loom models only: the next `checks` calls of [`Stopwatch::exceeded`] (from any thread of
/// the model) find their bound passed, as if the process doing the check had waited that long;
/// later ones do not (time stands still under loom, so a model that wants a stall to be noticed
/// grants a budget, which also keeps the explored executions finite).
#[cfg(loom)]
pub fn let_time_pass(checks: u32) {
    model::TIME.store(checks, std::sync::atomic::Ordering::Relaxed);
}

/// Loom model of `FUTEX_WAIT`. Like the kernel, the value check is atomic with respect to a
/// wake that follows a change of the word: the sleeper registers first, then reads the word
/// with a read-modify-write (which loom always resolves to the newest value) and parks only if
/// it is unchanged. The timeout is ignored, so a lost wake-up is a deadlock loom reports.
#[cfg(loom)]
pub fn futex_wait(word: &AtomicU32, expected: u32, _timeout: Option<Duration>) {
    use crate::sync::Ordering;
    let key = core::ptr::from_ref(word) as usize;
    let me = loom::thread::current();
    let registry = || model::SLEEPERS.lock().unwrap_or_else(|e| e.into_inner());
    registry().push((key, me.clone()));
    if word.fetch_add(0, Ordering::Relaxed) == expected {
        loom::thread::park();
    }
    registry().retain(|(k, t)| !(*k == key && t.id() == me.id()));
}

/// Loom model of `FUTEX_WAKE` (all waiters).
#[cfg(loom)]
pub fn futex_wake_all(word: &AtomicU32) {
    let key = core::ptr::from_ref(word) as usize;
    let sleepers = model::SLEEPERS.lock().unwrap_or_else(|e| e.into_inner());
    for (_, t) in sleepers.iter().filter(|(k, _)| *k == key) {
        t.unpark();
    }
}

/// This process's id, as recorded in lock words (never 0).
#[cfg(not(loom))]
pub fn current_pid() -> u32 {
    std::process::id()
}

/// Under loom every thread is in one process.
#[cfg(loom)]
pub fn current_pid() -> u32 {
    1
}

/// Whether process `pid` is alive: it exists (`kill(pid, 0)`; `EPERM` means it exists but
/// belongs to another user) and, on Linux, is not a zombie (`/proc/<pid>/stat` state `Z`/`X`:
/// exited but not yet reaped by its parent, which can take arbitrarily long). A pid of 0 or
/// one that does not fit `pid_t` is dead. Only slow paths call this.
#[cfg(not(loom))]
pub fn process_alive(pid: u32) -> bool {
    let Some(raw) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(raw) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::SRCH => return false,
        Err(_) => {}
    }
    !is_zombie(pid)
}

#[cfg(all(target_os = "linux", not(loom)))]
fn is_zombie(pid: u32) -> bool {
    // The state is the first field after the parenthesised command name, which may itself
    // contain spaces and parentheses: take the text after the last ')'.
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('Z' | 'X'))
}

#[cfg(all(not(target_os = "linux"), not(loom)))]
fn is_zombie(_pid: u32) -> bool {
    false
}

/// Under loom a process is alive until a model declares it dead ([`declare_dead`]).
#[cfg(loom)]
pub fn process_alive(pid: u32) -> bool {
    use crate::sync::Ordering;
    // Seeing a process dead comes after everything it did (see `declare_dead`).
    let dead = pid < 64 && model::DEATHS.load(Ordering::SeqCst) & (1 << pid) != 0;
    pid != 0 && !dead
}

/// Loom models only: from now on, process `pid` (below 64) counts as dead. A model's holder
/// that "crashes" holding a role declares itself dead once it stopped touching the structure.
///
/// The model of the kernel's ordering: a process's exit comes after all its stores, and
/// another process that finds it gone (`kill(pid, 0)` failing, `/proc`) looks after the exit
/// (system calls and the kernel's own locks order them), so declaring releases and observing
/// it in [`process_alive`] acquires. A taker-over therefore needs no ordering of its own to see
/// what the dead holder left. Both are `SeqCst` (on this one word): once a process is dead, a
/// later look never finds it alive, as `kill(pid, 0)` never does; an `Acquire` load could
/// keep reading the stale "alive" in loom's model, which the kernel never returns.
#[cfg(loom)]
pub fn declare_dead(pid: u32) {
    use crate::sync::Ordering;
    assert!(pid > 0 && pid < 64, "models declare pids 1..63 dead");
    model::DEATHS.fetch_or(1 << pid, Ordering::SeqCst);
}

/// When process `pid` started (`/proc/<pid>/stat` field 22: clock ticks since boot), `None`
/// if it is gone or unknown. With the pid it names one process: a pid reused later by another
/// process has another start time.
#[cfg(all(target_os = "linux", not(loom)))]
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name start with field 3 (the state).
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Without `/proc`, start times are unknown.
#[cfg(all(not(target_os = "linux"), not(loom)))]
pub fn process_start_time(_pid: u32) -> Option<u64> {
    None
}

/// Under loom every thread is one process, started at time 1.
#[cfg(loom)]
pub fn process_start_time(_pid: u32) -> Option<u64> {
    Some(1)
}

/// This process's start time (0 where start times are unknown), read once.
pub fn current_start_time() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *START.get_or_init(|| process_start_time(current_pid()).unwrap_or(0))
}

/// Bits of a [`holder_word`] that hold the pid (Linux pids are below 2^22).
pub const HOLDER_PID_BITS: u32 = 22;

/// A lock or role word that names its holder in 32 bits (so it can be a futex word and is
/// written by one compare-and-swap): the pid in the low 22 bits and, above, a 10-bit digest
/// of the holder's start time (1..=1023; 0: unknown). A pid reused by another process
/// almost always has another digest, so it no longer keeps a dead holder "alive" (one chance
/// in 1023 that it still does: the old, safe failure); a live holder is never taken for
/// dead. For this process (`pid` = [`current_pid`]) the digest is its own; for any other pid
/// (loom models' stand-in processes) it is 0.
pub fn holder_word(pid: u32) -> u32 {
    let pid = pid & ((1 << HOLDER_PID_BITS) - 1);
    #[cfg(not(loom))]
    if pid == current_pid() {
        return pid | (start_digest(current_start_time()) << HOLDER_PID_BITS);
    }
    pid
}

/// The pid named by a [`holder_word`].
pub fn holder_pid(word: u32) -> u32 {
    word & ((1 << HOLDER_PID_BITS) - 1)
}

/// Whether the holder named by a [`holder_word`] is alive: its process exists, is not a
/// zombie, and — when the word carries a digest and the start time can be read — started at
/// a time with that digest.
pub fn holder_word_alive(word: u32) -> bool {
    let (pid, digest) = (holder_pid(word), word >> HOLDER_PID_BITS);
    if digest == 0 {
        return process_alive(pid);
    }
    #[cfg(all(target_os = "linux", not(loom)))]
    {
        holder_state(pid).is_some_and(|(state, started)| {
            !matches!(state, Some('Z' | 'X')) && started.is_none_or(|s| start_digest(s) == digest)
        })
    }
    #[cfg(any(not(target_os = "linux"), loom))]
    {
        process_alive(pid)
    }
}

/// The 10-bit digest of a start time in a [`holder_word`]: 1..=1023, 0 for unknown (0).
#[cfg(not(loom))]
fn start_digest(start: u64) -> u32 {
    if start == 0 {
        0
    } else {
        (start % 1023) as u32 + 1
    }
}

/// Whether the holder recorded as `pid` and `start` (its start time, 0 if not recorded) is
/// alive: the process exists, is not a zombie, and — when `start` is known — started then, so
/// a pid reused by another process does not keep a dead holder "alive".
#[cfg(any(not(target_os = "linux"), loom))]
pub fn holder_alive(pid: u32, start: u64) -> bool {
    process_alive(pid) && (start == 0 || process_start_time(pid).is_none_or(|s| s == start))
}

/// Whether the holder recorded as `pid` and `start` (its start time, 0 if not recorded) is
/// alive: the process exists, is not a zombie, and — when `start` is known — started then, so
/// a pid reused by another process does not keep a dead holder "alive". One `kill(pid, 0)` and
/// one read of `/proc/<pid>/stat` (state and start time together).
#[cfg(all(target_os = "linux", not(loom)))]
pub fn holder_alive(pid: u32, start: u64) -> bool {
    holder_state(pid).is_some_and(|(state, started)| {
        !matches!(state, Some('Z' | 'X')) && (start == 0 || started.is_none_or(|s| s == start))
    })
}

/// `None` if process `pid` does not exist (`kill(pid, 0)`); else its state letter and start
/// time from one read of `/proc/<pid>/stat` (both `None` if it cannot be read).
#[cfg(all(target_os = "linux", not(loom)))]
fn holder_state(pid: u32) -> Option<(Option<char>, Option<u64>)> {
    let raw = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)?;
    if rustix::process::test_kill_process(raw) == Err(rustix::io::Errno::SRCH) {
        return None;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Some((None, None)); // exists (kill said so), nothing more to learn
    };
    // Fields after the parenthesised command name start with field 3 (the state).
    let mut fields = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace())
        .into_iter()
        .flatten();
    let state = fields.next().and_then(|s| s.chars().next());
    let started = fields.nth(22 - 4).and_then(|s| s.parse::<u64>().ok());
    Some((state, started))
}

/// A point in time after which a wait gives up.
///
/// ```
/// use std::time::Duration;
/// use venom_shm::wait::Deadline;
/// let d = Deadline::after(Some(Duration::ZERO));
/// assert!(d.expired());
/// assert_eq!(Deadline::after(None).remaining(), None);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    #[cfg(not(loom))]
    at: Option<std::time::Instant>,
}

impl Deadline {
    /// `timeout` from now; `None` waits forever.
    pub fn after(timeout: Option<Duration>) -> Self {
        #[cfg(not(loom))]
        {
            let now = std::time::Instant::now();
            Self {
                at: timeout.and_then(|t| now.checked_add(t)),
            }
        }
        #[cfg(loom)]
        {
            let _ = timeout;
            Self {}
        }
    }

    /// Time left, `None` for "forever"; `Some(ZERO)` once passed.
    pub fn remaining(&self) -> Option<Duration> {
        #[cfg(not(loom))]
        {
            self.at
                .map(|at| at.saturating_duration_since(std::time::Instant::now()))
        }
        #[cfg(loom)]
        {
            None
        }
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }
}

/// Measures how long a condition has held, to bound spinning before a liveness check.
///
/// ```
/// use std::time::Duration;
/// use venom_shm::wait::Stopwatch;
/// assert!(Stopwatch::start().exceeded(Duration::ZERO));
/// ```
#[derive(Debug)]
pub struct Stopwatch {
    #[cfg(not(loom))]
    start: std::time::Instant,
}

impl Stopwatch {
    /// Starts measuring now.
    pub fn start() -> Self {
        Self {
            #[cfg(not(loom))]
            start: std::time::Instant::now(),
        }
    }

    /// Whether at least `bound` has passed since `start` (under loom: while the model's
    /// budget of `let_time_pass` lasts, each call spending one).
    pub fn exceeded(&self, bound: Duration) -> bool {
        #[cfg(not(loom))]
        {
            self.start.elapsed() >= bound
        }
        #[cfg(loom)]
        {
            use std::sync::atomic::Ordering::Relaxed;
            let _ = bound;
            model::TIME
                .fetch_update(Relaxed, Relaxed, |left| left.checked_sub(1))
                .is_ok()
        }
    }
}
