//! Latest value: consistent snapshots per second taken by this process (CPU 0) while a writer
//! process (CPU 1) rewrites the value back to back or once per millisecond; beside it the
//! reader's copy rate with the writer idle, a plain-`memcpy` single-buffer seqlock (the
//! floor), `copy_from_slice` itself, and `SharedMemory<T>`.

use std::time::{Duration, Instant};
use venom_shm::sync::{AtomicU64, Ordering, fence};

use venom_benches::harness::{CpuMeter, await_cond, spawn_role};
use venom_benches::{Run, Shm, pin_to_cpu};
use venom_channel::{ChannelConfig, ChannelOptions, DaemonChannel, Error, SharedMemory};

use crate::Opts;
use crate::rtt::{channel_name, connect};

/// Sizes of the latest-value table.
pub(crate) const SIZES: [usize; 4] = [64, 4096, 256 * 1024, 4 * 1024 * 1024];

/// How the writer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Back to back.
    B2b,
    /// Once per millisecond.
    Khz,
    /// Once, then idle.
    Idle,
}

impl Pace {
    pub(crate) fn arg(self) -> &'static str {
        match self {
            Self::B2b => "b2b",
            Self::Khz => "1khz",
            Self::Idle => "idle",
        }
    }
    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "b2b" => Self::B2b,
            "1khz" => Self::Khz,
            _ => Self::Idle,
        }
    }
    /// Writes with `write(i)` until `stop` is set.
    fn drive(self, stop: &AtomicU64, mut write: impl FnMut(usize)) {
        let mut next = Instant::now();
        let mut i = 0;
        while stop.load(Ordering::Relaxed) == 0 {
            if i == 0 || self != Self::Idle {
                write(i);
                i += 1;
            }
            match self {
                Self::B2b => {}
                Self::Khz => {
                    next += Duration::from_millis(1);
                    if let Some(d) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(d);
                    }
                }
                Self::Idle => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

/// Counts successful reads for the measurement window (the clock is read every `batch`
/// calls: every call for large values, whose failed reads may block).
fn count_for(window: Duration, size: usize, mut read: impl FnMut() -> bool) -> f64 {
    let batch = if size <= 4096 { 8 } else { 1 };
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(50) {
        read();
    }
    let (mut ok, start) = (0u64, Instant::now());
    while start.elapsed() < window {
        for _ in 0..batch {
            ok += u64::from(read());
        }
    }
    ok as f64 / start.elapsed().as_secs_f64()
}

/// Second process: a daemon writing the channel's data (`name size slots pace ctl`).
pub(crate) fn write_venom(name: &str, size: usize, slots: u32, pace: &str, ctl: &str) {
    pin_to_cpu(1);
    let ctl = Shm::open(ctl);
    let d = DaemonChannel::create_with(
        name,
        &ChannelOptions::new(ChannelConfig {
            data_size: size,
            cmd_slots: 8,
            max_clients: 2,
        })
        .data_slots(slots),
    )
    .expect("create channel");
    let values = [vec![0xAAu8; size], vec![0x55u8; size]];
    Pace::parse(pace).drive(&ctl.words()[1], |i| {
        d.write_data(&values[i & 1]).expect("write");
    });
}

/// VenomMemory snapshots per second: `ShellChannel::read_data_checked` against a daemon's writes.
pub(crate) fn venom(opts: &Opts, size: usize, slots: u32, pace: Pace) -> Run {
    let name = channel_name("snap");
    let ctl = Shm::create("ctl", 4096);
    let mut child = spawn_role(
        "write-venom",
        &[
            &name,
            &size.to_string(),
            &slots.to_string(),
            pace.arg(),
            ctl.name(),
        ],
    );
    let shell = connect(&name);
    await_cond("first write", || shell.data_version() != 0);
    let mut buf = vec![0u8; size];
    let cpu = CpuMeter::start(child.id());
    let rate = count_for(opts.window, size, || {
        match shell.read_data_checked(&mut buf) {
            Ok(n) => n == size,
            Err(Error::Timeout) => false,
            Err(e) => panic!("read: {e}"),
        }
    });
    let run = Run::rate(rate, cpu.stop());
    ctl.words()[1].store(1, Ordering::Relaxed);
    child.wait().expect("writer exits");
    run
}

/// The floor's single-buffer seqlock: sequence word on line 0 of `shm`, data from byte 4096.
struct RawSeqlock<'a> {
    seq: &'a AtomicU64,
    data: *mut u8,
    size: usize,
}

impl<'a> RawSeqlock<'a> {
    fn new(shm: &'a Shm, size: usize) -> Self {
        assert!(shm.len() >= 4096 + size);
        Self {
            seq: &shm.words()[8],
            // SAFETY: 4096 + size bytes are mapped (checked above).
            data: unsafe { shm.as_ptr().add(4096) },
            size,
        }
    }

    fn write(&self, src: &[u8]) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        // SAFETY: `size` bytes are mapped at `data`. This is the floor the issue names: a
        // plain memcpy into memory another *process* reads concurrently. The reader sees
        // arbitrary bytes while a write is under way and discards them by the sequence check;
        // no Rust object of this process aliases the mapping. The library never does this:
        // its copies are per-byte atomic (venom_shm::atomic_bytes).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.data, self.size) };
        self.seq.store(s + 2, Ordering::Release);
    }

    fn read(&self, dst: &mut [u8]) -> bool {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 == 1 {
            return false;
        }
        // SAFETY: as in `write`; `dst` is our own buffer of `size` bytes.
        unsafe { std::ptr::copy_nonoverlapping(self.data, dst.as_mut_ptr(), self.size) };
        fence(Ordering::Acquire);
        self.seq.load(Ordering::Relaxed) == s1
    }
}

/// Second process: the floor's writer (`shm size pace`).
pub(crate) fn write_raw(name: &str, size: usize, pace: &str) {
    pin_to_cpu(1);
    let shm = Shm::open(name);
    let lock = RawSeqlock::new(&shm, size);
    let values = [vec![0xAAu8; size], vec![0x55u8; size]];
    Pace::parse(pace).drive(&shm.words()[1], |i| lock.write(&values[i & 1]));
}

/// Floor: plain-`memcpy` single-buffer seqlock across processes.
pub(crate) fn raw(opts: &Opts, size: usize, pace: Pace) -> Run {
    let shm = Shm::create("rawsnap", 4096 + size);
    let mut child = spawn_role("write-raw", &[shm.name(), &size.to_string(), pace.arg()]);
    let lock = RawSeqlock::new(&shm, size);
    await_cond("first write", || lock.seq.load(Ordering::Acquire) >= 2);
    let mut buf = vec![0u8; size];
    let cpu = CpuMeter::start(child.id());
    let rate = count_for(opts.window, size, || lock.read(&mut buf));
    let run = Run::rate(rate, cpu.stop());
    shm.words()[1].store(1, Ordering::Relaxed);
    child.wait().expect("writer exits");
    run
}

/// `copy_from_slice` per second between two 64-byte aligned private buffers.
pub(crate) fn memcpy(opts: &Opts, size: usize) -> Run {
    #[repr(C, align(64))]
    struct Line([u8; 64]);
    let src: Vec<Line> = (0..size.div_ceil(64)).map(|_| Line([1; 64])).collect();
    let dst: Vec<Line> = (0..size.div_ceil(64)).map(|_| Line([0; 64])).collect();
    // SAFETY: both vectors hold `size.div_ceil(64) * 64 >= size` initialised bytes, and are
    // not used otherwise while these slices live.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts(src.as_ptr().cast::<u8>(), size),
            std::slice::from_raw_parts_mut(dst.as_ptr().cast::<u8>().cast_mut(), size),
        )
    };
    let cpu = CpuMeter::start(std::process::id());
    let rate = count_for(opts.window, size, || {
        dst.copy_from_slice(std::hint::black_box(src));
        std::hint::black_box(&mut *dst);
        true
    });
    Run::rate(rate, cpu.stop())
}

/// The typed value of the `SharedMemory<T>` rows: 64 bytes.
pub(crate) type Value = [u64; 8];

/// Second process: opens `SharedMemory<Value>` `name` and writes it at 1 kHz (`write`) or
/// reads it back to back (`read`) until the control region's stop word is set.
pub(crate) fn shared_memory_peer(name: &str, what: &str, ctl: &str) {
    pin_to_cpu(1);
    let ctl = Shm::open(ctl);
    let sm = SharedMemory::<Value>::open(name).expect("open");
    let stop = &ctl.words()[1];
    ctl.words()[0].store(1, Ordering::Release);
    if what == "write" {
        Pace::Khz.drive(stop, |i| sm.write(&[i as u64; 8]).expect("write"));
    } else {
        while stop.load(Ordering::Relaxed) == 0 {
            std::hint::black_box(sm.read());
        }
    }
}

/// `SharedMemory<[u64; 8]>`: `read()` per second while another process writes at 1 kHz
/// (`read`), or `write()` per second while another process reads back to back (`write`).
pub(crate) fn shared_memory(opts: &Opts, what: &str) -> Run {
    let name = channel_name("sm");
    let ctl = Shm::create("smctl", 4096);
    let sm = SharedMemory::<Value>::create(&name).expect("create");
    let peer_role = if what == "read" { "write" } else { "read" };
    let mut child = spawn_role("shared-memory", &[&name, peer_role, ctl.name()]);
    await_cond("peer", || ctl.words()[0].load(Ordering::Acquire) == 1);
    let cpu = CpuMeter::start(child.id());
    let mut i = 0u64;
    let rate = count_for(opts.window, 64, || {
        if what == "read" {
            std::hint::black_box(sm.read());
        } else {
            i += 1;
            sm.write(&[i; 8]).expect("write");
        }
        true
    });
    let run = Run::rate(rate, cpu.stop());
    ctl.words()[1].store(1, Ordering::Relaxed);
    child.wait().expect("peer exits");
    run
}
