//! Round trips: this process (CPU 0) asks, a second process (CPU 1) answers; each round trip
//! timed on its own. Floors (raw shared-memory code), VenomMemory `request` ↔ `run`, and the
//! kernel's Unix socket and pipe.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};
use venom_shm::sync::{AtomicU32, AtomicU64, Ordering, fence};

use venom_benches::harness::{CpuMeter, Timer, await_cond, spawn_role, spin_for};
use venom_benches::{Run, Shm, pin_to_cpu};
use venom_channel::{ChannelConfig, ChannelOptions, DaemonChannel, ShellChannel, ShellOptions};
use venom_shm::wait;

use crate::Opts;

/// Payload each way.
pub(crate) const MSG: usize = 64;
/// Pause between round trips when the server should be asleep as the request arrives.
pub(crate) const ASLEEP_GAP: Duration = Duration::from_micros(50);
/// Raw spin-then-sleep budget (≈ 1.1–1.5 µs, then FUTEX_WAIT).
const RAW_SPIN: Duration = Duration::from_nanos(1200);

/// How a raw side waits for its doorbell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Spin forever; the notifier makes no fence and no check.
    Busy,
    /// Spin [`RAW_SPIN`], then sleep on the futex.
    SpinSleep,
    /// Sleep on the futex at once.
    Sleep,
    /// VenomMemory rows only: the daemon and the shell both sleep at once (an awaited request
    /// then parks in the async reactor every time).
    Parked,
}

impl Wait {
    fn parse(s: &str) -> Self {
        match s {
            "busy" => Self::Busy,
            "spin" => Self::SpinSleep,
            "parked" => Self::Parked,
            _ => Self::Sleep,
        }
    }
    fn arg(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::SpinSleep => "spin",
            Self::Sleep => "sleep",
            Self::Parked => "parked",
        }
    }
}

/// A doorbell line: sequence number (the futex word) and the sleeper's flag.
#[repr(C, align(64))]
struct Bell {
    seq: AtomicU32,
    sleeping: AtomicU32,
}

#[repr(C, align(64))]
struct Payload([AtomicU64; MSG / 8]);

/// The raw request/response floor's region.
#[repr(C)]
struct Doorbells {
    ready: AtomicU64,
    _ctl: [AtomicU64; 7],
    req: Bell,
    req_data: Payload,
    resp: Bell,
    resp_data: Payload,
}

fn ring(bell: &Bell, seq: u32, how: Wait) {
    bell.seq.store(seq, Ordering::Release);
    if how != Wait::Busy {
        // Dekker pair with the sleeper's fence: it sees `seq`, or we see it asleep.
        fence(Ordering::SeqCst);
        if bell.sleeping.load(Ordering::Relaxed) != 0 {
            wait::futex_wake_all(&bell.seq);
        }
    }
}

fn await_bell(bell: &Bell, seq: u32, how: Wait) {
    let start = Instant::now();
    if how != Wait::Sleep {
        while bell.seq.load(Ordering::Acquire) != seq {
            std::hint::spin_loop();
            if how == Wait::SpinSleep && start.elapsed() > RAW_SPIN {
                break;
            }
        }
    }
    loop {
        let now = bell.seq.load(Ordering::Acquire);
        if now == seq {
            return;
        }
        bell.sleeping.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let now = bell.seq.load(Ordering::Acquire);
        if now != seq {
            wait::futex_wait(&bell.seq, now, Some(Duration::from_millis(100)));
        }
        bell.sleeping.store(0, Ordering::Relaxed);
    }
}

fn copy_words(dst: &Payload, src: &Payload) {
    for (d, s) in dst.0.iter().zip(&src.0) {
        d.store(s.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// Second process of the raw floors: `pingpong` or `doorbell <wait>`.
pub(crate) fn serve_raw(kind: &str, name: &str, how: &str) {
    pin_to_cpu(1);
    let shm = Shm::open(name);
    if kind == "pingpong" {
        let w = shm.words();
        let (ready, stop, word) = (&w[0], &w[1], &w[8]);
        ready.store(1, Ordering::Release);
        let mut next = 1u64;
        loop {
            while word.load(Ordering::Acquire) != next {
                if stop.load(Ordering::Relaxed) != 0 {
                    return;
                }
                std::hint::spin_loop();
            }
            word.store(next + 1, Ordering::Release);
            next += 2;
        }
    }
    // SAFETY: `Doorbells` is repr(C), atomics only, smaller than the region; both processes
    // use this view.
    let d = unsafe { shm.view::<Doorbells>() };
    let how = Wait::parse(how);
    d.ready.store(1, Ordering::Release);
    let mut seq = 1u32;
    loop {
        await_bell(&d.req, seq, how);
        // u32::MAX: stop.
        if d.req_data.0[0].load(Ordering::Relaxed) == u64::MAX {
            return;
        }
        copy_words(&d.resp_data, &d.req_data);
        ring(&d.resp, seq, how);
        seq = seq.wrapping_add(1);
    }
}

/// Cache-line ping-pong over one word.
pub(crate) fn pingpong(opts: &Opts) -> Run {
    let shm = Shm::create("pp", 4096);
    let mut child = spawn_role("raw", &["pingpong", shm.name(), "busy"]);
    let w = shm.words();
    await_cond("ping-pong server", || w[0].load(Ordering::Acquire) == 1);
    let word = &w[8];
    let mut v = 0u64;
    let rt = |v: &mut u64| {
        *v += 1;
        word.store(*v, Ordering::Release);
        *v += 1;
        while word.load(Ordering::Acquire) != *v {
            std::hint::spin_loop();
        }
    };
    for _ in 0..opts.warmup {
        rt(&mut v);
    }
    let cpu = CpuMeter::start(child.id());
    let mut t = Timer::new(opts.rounds);
    for _ in 0..opts.rounds {
        t.time(|| rt(&mut v));
    }
    let run = t.finish(cpu.stop());
    w[1].store(1, Ordering::Relaxed);
    child.wait().expect("server exits");
    run
}

/// Request/response over two doorbell lines with a 64-byte payload each way.
pub(crate) fn doorbell(opts: &Opts, how: Wait) -> Run {
    let shm = Shm::create("db", 4096);
    let mut child = spawn_role("raw", &["doorbell", shm.name(), how.arg()]);
    // SAFETY: as in `serve_raw`.
    let d = unsafe { shm.view::<Doorbells>() };
    await_cond("doorbell server", || d.ready.load(Ordering::Acquire) == 1);
    let mut seq = 0u32;
    let gap = how == Wait::Sleep;
    // The client sleeps only in the spin-then-sleep floor; with the server asleep it spins,
    // so that one futex wake (the server's) is measured, as for VenomMemory's shell.
    let client_wait = if how == Wait::SpinSleep {
        Wait::SpinSleep
    } else {
        Wait::Busy
    };
    let rt = |seq: &mut u32, tag: u64| {
        *seq = seq.wrapping_add(1);
        for w in &d.req_data.0 {
            w.store(tag, Ordering::Relaxed);
        }
        ring(&d.req, *seq, how);
        await_bell(&d.resp, *seq, client_wait);
        let mut sum = 0u64;
        for w in &d.resp_data.0 {
            sum = sum.wrapping_add(w.load(Ordering::Relaxed));
        }
        debug_assert_eq!(sum, tag.wrapping_mul(8));
    };
    for i in 0..opts.warmup {
        rt(&mut seq, i as u64);
    }
    let cpu = CpuMeter::start(child.id());
    let mut t = Timer::new(opts.rounds);
    for i in 0..opts.rounds {
        if gap {
            spin_for(ASLEEP_GAP);
        }
        t.time(|| rt(&mut seq, i as u64));
    }
    let run = t.finish(cpu.stop());
    d.req_data.0[0].store(u64::MAX, Ordering::Relaxed);
    ring(&d.req, seq.wrapping_add(1), how);
    child.wait().expect("server exits");
    run
}

/// VenomMemory's spin settings per mode: (daemon, shell).
pub(crate) fn venom_spins(how: Wait) -> (u32, u32) {
    match how {
        Wait::Busy => (u32::MAX, u32::MAX),
        Wait::SpinSleep => (venom_channel::DEFAULT_SPIN, venom_channel::DEFAULT_SPIN),
        Wait::Sleep => (0, venom_channel::DEFAULT_SPIN),
        Wait::Parked => (0, 0),
    }
}

/// Second process: a VenomMemory daemon answering every request with as many bytes as it
/// carried (at most 64), for up to `max_clients` shells.
pub(crate) fn serve_venom(name: &str, spin: u32, max_clients: usize) {
    pin_to_cpu(1);
    let d = DaemonChannel::create_with(
        name,
        &ChannelOptions::new(ChannelConfig {
            data_size: 64,
            cmd_slots: 64,
            max_clients,
        })
        .spin(spin),
    )
    .expect("create channel");
    let stop = d.stop_handle();
    let reply = [0x5Au8; MSG];
    d.run(|_, cmd| {
        if cmd == b"quit" {
            stop.stop();
        }
        &reply[..cmd.len().min(MSG)]
    })
    .expect("run");
}

/// A unique channel name for one benchmark run.
pub(crate) fn channel_name(tag: &str) -> String {
    use venom_shm::sync::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "vbench_{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Connects to a daemon being started by another process.
pub(crate) fn connect(name: &str) -> ShellChannel {
    connect_with(name, &ShellOptions::new())
}

/// [`connect`] with options.
pub(crate) fn connect_with(name: &str, options: &ShellOptions) -> ShellChannel {
    let start = Instant::now();
    loop {
        match ShellChannel::connect_with(name, options) {
            Ok(s) => return s,
            Err(e) if start.elapsed() > Duration::from_secs(10) => panic!("connect: {e}"),
            Err(_) => std::thread::yield_now(),
        }
    }
}

/// `ShellChannel::request` ↔ `DaemonChannel::run`, 64 bytes each way.
pub(crate) fn venom(opts: &Opts, how: Wait) -> Run {
    venom_among(opts, how, 0, MSG)
}

/// Bytes of the inline rows' requests and replies: the most that travel inside their cell's
/// header line (one cache line each way).
pub(crate) const INLINE_MSG: usize = 56;

/// [`venom`] with 56-byte requests and replies, which travel inside their header lines.
pub(crate) fn venom_inline(opts: &Opts, how: Wait) -> Run {
    venom_among(opts, how, 0, INLINE_MSG)
}

/// [`venom`], busy-poll, with `idle` other shells connected (this process holds them, sending
/// nothing): what a request costs as the number of connected shells grows.
pub(crate) fn venom_idle(opts: &Opts, idle: u32) -> Run {
    venom_among(opts, Wait::Busy, idle, MSG)
}

/// [`venom`] with `idle` other shells connected, `size` bytes each way.
fn venom_among(opts: &Opts, how: Wait, idle: u32, size: usize) -> Run {
    let (daemon_spin, shell_spin) = venom_spins(how);
    let name = channel_name("rpc");
    let max = (idle + 1).max(4).to_string();
    let mut child = spawn_role("venom-daemon", &[&name, &daemon_spin.to_string(), &max]);
    let options = ShellOptions::new().spin(shell_spin);
    let shell = connect_with(&name, &options);
    let others: Vec<ShellChannel> = (0..idle).map(|_| connect_with(&name, &options)).collect();
    let (req, mut resp) = (&[0xA5u8; MSG][..size], [0u8; MSG]);
    for _ in 0..opts.warmup {
        shell.request(req, &mut resp).expect("request");
    }
    let gap = matches!(how, Wait::Sleep | Wait::Parked);
    let cpu = CpuMeter::start(child.id());
    let mut t = Timer::new(opts.rounds);
    for _ in 0..opts.rounds {
        if gap {
            spin_for(ASLEEP_GAP);
        }
        let n = t.time(|| shell.request(req, &mut resp).expect("request"));
        debug_assert_eq!(n, size);
    }
    let run = t.finish(cpu.stop());
    drop(others);
    let _ = shell.request(b"quit", &mut resp);
    child.wait().expect("daemon exits");
    run
}

/// `ShellChannel::request_into_async` awaited on a current-thread tokio runtime ↔
/// `DaemonChannel::run`, 64 bytes each way: the same daemon as [`venom`], the whole timed loop
/// inside one task.
pub(crate) fn venom_async(opts: &Opts, how: Wait) -> Run {
    let (daemon_spin, shell_spin) = venom_spins(how);
    let name = channel_name("rpc_async");
    let mut child = spawn_role("venom-daemon", &[&name, &daemon_spin.to_string(), "4"]);
    let shell = connect_with(&name, &ShellOptions::new().spin(shell_spin));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let timeout = venom_channel::DEFAULT_REQUEST_TIMEOUT;
    let run = rt.block_on(async {
        let (req, mut resp) = ([0xA5u8; MSG], [0u8; MSG]);
        for _ in 0..opts.warmup {
            shell
                .request_into_async(&req, &mut resp, timeout)
                .await
                .expect("request");
        }
        let gap = matches!(how, Wait::Sleep | Wait::Parked);
        let cpu = CpuMeter::start(child.id());
        let mut t = Timer::new(opts.rounds);
        for _ in 0..opts.rounds {
            if gap {
                spin_for(ASLEEP_GAP);
            }
            let start = Instant::now();
            let n = shell
                .request_into_async(&req, &mut resp, timeout)
                .await
                .expect("request");
            t.record(start);
            debug_assert_eq!(n, MSG);
        }
        t.finish(cpu.stop())
    });
    let mut resp = [0u8; MSG];
    let _ = shell.request(b"quit", &mut resp);
    child.wait().expect("daemon exits");
    run
}

/// Second process: echo 64-byte messages over a Unix socket (`unix <path>`) or two pipes
/// (`pipe`, on fds 0 and 1 of this process).
pub(crate) fn serve_echo(kind: &str, path: &str) {
    pin_to_cpu(1);
    let mut buf = [0u8; MSG];
    if kind == "unix" {
        let listener = UnixListener::bind(path).expect("bind");
        let (mut s, _) = listener.accept().expect("accept");
        while s.read_exact(&mut buf).is_ok() && s.write_all(&buf).is_ok() {}
    } else {
        let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
        while input.read_exact(&mut buf).is_ok() && output.write_all(&buf).is_ok() {
            let _ = output.flush();
        }
    }
}

fn echo_rounds(opts: &Opts, child: u32, w: &mut impl Write, r: &mut impl Read) -> Run {
    let mut buf = [0x11u8; MSG];
    for _ in 0..opts.warmup {
        w.write_all(&buf).unwrap();
        r.read_exact(&mut buf).unwrap();
    }
    let cpu = CpuMeter::start(child);
    let mut t = Timer::new(opts.rounds);
    for _ in 0..opts.rounds {
        t.time(|| {
            w.write_all(&buf).unwrap();
            r.read_exact(&mut buf).unwrap();
        });
    }
    t.finish(cpu.stop())
}

/// Unix-socket echo, blocking, 64 bytes.
pub(crate) fn unix(opts: &Opts) -> Run {
    let path = format!("/tmp/vbench_{}.sock", std::process::id());
    let _ = std::fs::remove_file(&path);
    let mut child = spawn_role("echo", &["unix", &path]);
    let start = Instant::now();
    let mut s = loop {
        match UnixStream::connect(&path) {
            Ok(s) => break s,
            Err(e) if start.elapsed() > Duration::from_secs(10) => panic!("connect: {e}"),
            Err(_) => std::thread::yield_now(),
        }
    };
    let mut r = s.try_clone().unwrap();
    let run = echo_rounds(opts, child.id(), &mut s, &mut r);
    drop((s, r));
    child.wait().expect("server exits");
    let _ = std::fs::remove_file(&path);
    run
}

/// Pipe echo (one pipe each way), blocking, 64 bytes.
pub(crate) fn pipe(opts: &Opts) -> Run {
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--role", "echo", "pipe", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn echo");
    let mut w = child.stdin.take().unwrap();
    let mut r = child.stdout.take().unwrap();
    let run = echo_rounds(opts, child.id(), &mut w, &mut r);
    drop((w, r));
    child.wait().expect("server exits");
    run
}
