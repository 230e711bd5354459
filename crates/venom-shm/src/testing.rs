//! Helpers for this workspace's tests (feature `test-util`; not a stable API).
//!
//! Cross-process tests re-run their own test binary as a child: the parent builds the command
//! with [`spawn_self`], passing a role and arguments in the environment, and the same `#[test]`
//! function, finding [`child_role`] set, plays the child's part and returns.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environment variable that carries a child's role.
pub const ROLE_VAR: &str = "VENOM_TEST_ROLE";

/// A name no other test (in this or another process) uses: `vt_<tag>_<pid>_<n>_<nanos>`.
pub fn unique_name(tag: &str) -> String {
    // A process-local counter (not shared memory): a mutex, so loom builds need no atomic.
    static NEXT: std::sync::Mutex<u64> = std::sync::Mutex::new(0);
    let n = {
        let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        *next
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("vt_{tag}_{}_{n}_{nanos}", std::process::id())
}

/// Unlinks a shared-memory name when dropped, also when a test panics.
#[derive(Debug)]
pub struct ShmGuard(pub String);

impl Drop for ShmGuard {
    fn drop(&mut self) {
        let _ = crate::ShmRegion::unlink_name(&self.0);
    }
}

/// The role this process plays, if it was started by [`spawn_self`].
pub fn child_role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// The argument `key` given to this child by [`spawn_self`]'s caller with
/// `.env(arg_var(key), value)`.
///
/// # Panics
/// If the parent did not pass it (a bug in the test).
pub fn child_arg(key: &str) -> String {
    std::env::var(arg_var(key)).unwrap_or_else(|_| panic!("child argument {key} missing"))
}

/// The environment variable that carries child argument `key`.
pub fn arg_var(key: &str) -> String {
    format!("VENOM_TEST_ARG_{key}")
}

/// A command that re-runs exactly the test `test_path` (as printed by libtest, e.g.
/// `cross_process` or `module::name`) of the running test binary, with `role` set.
///
/// The child's stdout (libtest's report) is discarded; its stderr (panic messages) is kept.
///
/// # Panics
/// If the running executable cannot be found.
pub fn spawn_self(test_path: &str, role: &str) -> Command {
    let exe = std::env::current_exe().expect("current test executable");
    let mut cmd = Command::new(exe);
    cmd.args([test_path, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

/// In a child role: tells the parent ([`KillOnDrop::wait_ready`]) that it is ready, straight to
/// fd 1, because libtest may capture `println!` even in a child.
///
/// # Panics
/// If stdout cannot be written.
pub fn announce_ready() {
    let mut out = std::io::stdout();
    out.write_all(b"ready\n").expect("write ready line");
    out.flush().expect("flush ready line");
}

/// A child process that is killed (and reaped) when dropped, so a failing test leaves none
/// behind.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Spawns `cmd`.
    ///
    /// # Panics
    /// If the process cannot be started.
    pub fn spawn(cmd: &mut Command) -> Self {
        Self(cmd.spawn().expect("spawn child process"))
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Waits at most `timeout` for the child to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Reads the child's piped stdout until a line ends with `ready` (written by
    /// [`announce_ready`]) and returns the reader for the lines after it: a pipe read, never a
    /// sleep.
    ///
    /// # Panics
    /// If the child's stdout was not piped, or the child ends before it is ready.
    pub fn wait_ready(&mut self) -> BufReader<ChildStdout> {
        let mut out = BufReader::new(self.0.stdout.take().expect("child stdout is piped"));
        let mut line = String::new();
        while !line.ends_with("ready\n") {
            line.clear();
            let n = out.read_line(&mut line).expect("read child stdout");
            assert!(n > 0, "child ended before it was ready");
        }
        out
    }

    /// Sends `SIGKILL` and reaps the child.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.kill();
        }
    }
}

/// Spins (yielding the CPU) until `cond` holds or `timeout` passes; returns whether it held.
///
/// The timeout is a failure bound for a test, never a way to order events.
pub fn spin_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Whether the process runs as root (needed to drop to another user in permission tests).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Atomic access to words of memory under test, to scribble on headers the way a hostile
/// process could.
#[derive(Debug)]
pub struct Words<'a> {
    base: *mut u8,
    len: usize,
    _memory: core::marker::PhantomData<&'a ()>,
}

impl<'a> Words<'a> {
    /// The words of a heap region.
    pub fn of_heap(memory: &'a crate::HeapRegion) -> Self {
        Self {
            base: memory.as_ptr(),
            len: memory.len(),
            _memory: core::marker::PhantomData,
        }
    }

    /// The words of a mapped region.
    pub fn of_region(region: &'a crate::ShmRegion) -> Self {
        Self {
            base: region.as_ptr(),
            len: region.len(),
            _memory: core::marker::PhantomData,
        }
    }

    /// The 64-bit word at byte `offset`.
    ///
    /// # Panics
    /// If `offset` is misaligned or out of bounds.
    pub fn u64(&self, offset: usize) -> &'a crate::sync::AtomicU64 {
        assert!(
            offset.is_multiple_of(8) && offset + 8 <= self.len,
            "bad word offset {offset}"
        );
        // SAFETY: aligned and in bounds (asserted) of memory that outlives 'a and is accessed
        // only atomically.
        unsafe { &*self.base.add(offset).cast() }
    }

    /// The 32-bit word at byte `offset`.
    ///
    /// # Panics
    /// If `offset` is misaligned or out of bounds.
    pub fn u32(&self, offset: usize) -> &'a crate::sync::AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "bad word offset {offset}"
        );
        // SAFETY: as in `u64`.
        unsafe { &*self.base.add(offset).cast() }
    }
}
