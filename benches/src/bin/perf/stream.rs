//! One-way streams of 64-byte messages: a producer process (CPU 1) sends as fast as it can,
//! this process (CPU 0) receives; messages per second from the first to the last received.

use std::io::{Read, Write};
use std::time::Instant;
use venom_shm::sync::{AtomicU64, Ordering};

use venom_benches::harness::{CpuMeter, await_cond, spawn_role};
use venom_benches::{Run, Shm, pin_to_cpu};
use venom_channel::{ChannelConfig, ChannelOptions, DaemonChannel};
use venom_mpsc::{Config, Queue};

use crate::Opts;
use crate::rtt::{MSG, channel_name, connect};

/// Ring slots of the raw SPSC floor.
const RING: u64 = 1024;
/// Messages per publication in batched mode.
const BATCH: u64 = 32;
/// Command-queue slots of the VenomMemory streams.
const QUEUE_SLOTS: u32 = 1024;

/// The raw ring: control line, consumer's head, producer's tail, then the slots.
fn ring_parts(w: &[AtomicU64]) -> (&AtomicU64, &AtomicU64, &AtomicU64, &[AtomicU64]) {
    (&w[0], &w[8], &w[16], &w[24..24 + (RING as usize) * 8])
}

/// Second process: produce `n` messages into the raw ring (`batched`: publish every 32).
pub(crate) fn produce_raw(name: &str, n: u64, batched: bool) {
    pin_to_cpu(1);
    let shm = Shm::open(name);
    let (ready, head, tail, slots) = ring_parts(shm.words());
    ready.store(1, Ordering::Release);
    let mut cached_head = 0u64;
    let mut i = 0u64;
    while i < n {
        while i - cached_head >= RING {
            cached_head = head.load(Ordering::Acquire);
            std::hint::spin_loop();
        }
        let slot = &slots[((i % RING) * 8) as usize..][..8];
        for w in slot {
            w.store(i, Ordering::Relaxed);
        }
        i += 1;
        if !batched || i.is_multiple_of(BATCH) || i == n {
            tail.store(i, Ordering::Release);
        }
    }
}

/// Raw pipelined SPSC ring of 64-byte slots: the floor.
pub(crate) fn spsc(opts: &Opts, batched: bool) -> Run {
    let shm = Shm::create("ring", 4096 + (RING as usize) * 64);
    let n = opts.messages;
    let mut child = spawn_role(
        "produce-raw",
        &[shm.name(), &n.to_string(), if batched { "1" } else { "0" }],
    );
    let (ready, head, tail, slots) = ring_parts(shm.words());
    await_cond("ring producer", || ready.load(Ordering::Acquire) == 1);
    let cpu = CpuMeter::start(child.id());
    let mut start = None;
    let (mut i, mut sum) = (0u64, 0u64);
    while i < n {
        let t = tail.load(Ordering::Acquire);
        if t == i {
            std::hint::spin_loop();
            continue;
        }
        start.get_or_insert_with(Instant::now);
        while i < t {
            let slot = &slots[((i % RING) * 8) as usize..][..8];
            for w in slot {
                sum = sum.wrapping_add(w.load(Ordering::Relaxed));
            }
            i += 1;
            if !batched {
                head.store(i, Ordering::Release);
            }
        }
        if batched {
            head.store(i, Ordering::Release);
        }
    }
    let rate = n as f64 / start.unwrap().elapsed().as_secs_f64();
    std::hint::black_box(sum);
    let run = Run::rate(rate, cpu.stop());
    child.wait().expect("producer exits");
    run
}

/// Second process: send `n` 64-byte commands through a channel's shell.
pub(crate) fn produce_venom(name: &str, n: u64, batched: bool) {
    pin_to_cpu(1);
    let shell = connect(name);
    send_all(n, batched, |burst| match burst {
        [one] => usize::from(shell.try_send_command(one).is_ok()),
        many => shell.try_send_commands(many).unwrap_or(0),
    });
}

/// Second process: send `n` 64-byte messages straight into a venom-mpsc queue, one by one or
/// in bursts of [`BATCH`] (`try_send_batch`).
pub(crate) fn produce_queue(name: &str, n: u64, batched: bool) {
    pin_to_cpu(1);
    let shm = Shm::open(name);
    // SAFETY: the queue occupies the whole region, initialised by the receiver before it
    // passed the name; accessed only through the queue.
    let q = unsafe { Queue::from_raw(shm.as_ptr(), shm.len()) }.expect("queue");
    let p = q.producer(1);
    send_all(n, batched, |burst| match burst {
        [one] => usize::from(p.try_send(one).is_ok()),
        many => p.try_send_batch(many).unwrap_or(0),
    });
}

/// Sends `n` 64-byte messages through `send` (given one message, or a burst of up to
/// [`BATCH`]; it returns how many went), spinning while nothing goes.
fn send_all(n: u64, batched: bool, mut send: impl FnMut(&[&[u8]]) -> usize) {
    let msg = [7u8; MSG];
    let burst = [&msg[..]; BATCH as usize];
    let mut sent = 0;
    while sent < n {
        let want = if batched { (n - sent).min(BATCH) } else { 1 };
        match send(&burst[..want as usize]) {
            0 => std::hint::spin_loop(),
            got => sent += got as u64,
        }
    }
}

/// `ShellChannel::try_send_command` → `DaemonChannel::try_recv_command`, one by one, or
/// `try_send_commands` → `try_recv_commands_with` in bursts of [`BATCH`].
pub(crate) fn venom_commands(opts: &Opts, batched: bool) -> Run {
    venom_senders(opts, 1, batched)
}

/// [`venom_commands`] from `producers` processes at once (each a shell sending its share of
/// the messages; all pinned to CPU 1, so on two cores they take turns on one).
pub(crate) fn venom_producers(opts: &Opts, producers: u64) -> Run {
    venom_senders(opts, producers, false)
}

fn venom_senders(opts: &Opts, producers: u64, batched: bool) -> Run {
    let name = channel_name("cmd");
    let d = DaemonChannel::create_with(
        &name,
        &ChannelOptions::new(ChannelConfig {
            data_size: 64,
            cmd_slots: QUEUE_SLOTS as usize,
            max_clients: 16,
        }),
    )
    .expect("create channel");
    let share = opts.messages / producers;
    let n = share * producers;
    let mut children: Vec<_> = (0..producers)
        .map(|_| {
            let burst = if batched { "1" } else { "0" };
            spawn_role("produce-venom", &[&name, &share.to_string(), burst])
        })
        .collect();
    let cpu = CpuMeter::start(children[0].id());
    let mut buf = [0u8; MSG];
    let mut start = None;
    let mut i = 0;
    while i < n {
        let got = if batched {
            d.try_recv_commands_with(BATCH as usize, |view, _| {
                let _ = view.copy_to(&mut buf);
            }) as u64
        } else {
            let got = d.try_recv_command(&mut buf);
            debug_assert!(got.is_none_or(|(_, len)| len == MSG));
            u64::from(got.is_some())
        };
        if got == 0 {
            std::hint::spin_loop();
            continue;
        }
        start.get_or_insert_with(Instant::now);
        i += got;
    }
    let rate = n as f64 / start.unwrap().elapsed().as_secs_f64();
    let run = Run::rate(rate, cpu.stop());
    for child in &mut children {
        child.wait().expect("producer exits");
    }
    run
}

/// venom-mpsc across processes: `try_send` → `try_recv` one by one, or `drain` in batches.
pub(crate) fn venom_queue(opts: &Opts, batched: bool) -> Run {
    let config = Config::new(
        QUEUE_SLOTS,
        (MSG + venom_mpsc::SLOT_HEADER_SIZE).next_power_of_two() as u32,
    );
    let shm = Shm::create("q", config.region_size().expect("size"));
    // SAFETY: our fresh region, exactly the queue's size, used only through the queue.
    let q = unsafe { Queue::init(shm.as_ptr(), shm.len(), config) }.expect("queue");
    let mut c = q.consumer().expect("consumer");
    let n = opts.messages;
    let burst = if batched { "1" } else { "0" };
    let mut child = spawn_role("produce-queue", &[shm.name(), &n.to_string(), burst]);
    let cpu = CpuMeter::start(child.id());
    let mut buf = [0u8; MSG];
    let mut start = None;
    let mut i = 0u64;
    while i < n {
        let got = if batched {
            c.drain(BATCH as usize, |r| {
                let _ = r.copy_to(&mut buf);
            })
            .expect("drain") as u64
        } else {
            u64::from(c.try_recv(&mut buf).expect("recv").is_some())
        };
        if got == 0 {
            std::hint::spin_loop();
            continue;
        }
        start.get_or_insert_with(Instant::now);
        i += got;
    }
    let rate = n as f64 / start.unwrap().elapsed().as_secs_f64();
    let run = Run::rate(rate, cpu.stop());
    child.wait().expect("producer exits");
    run
}

/// Second process: write `n` 64-byte messages to a Unix socket (`unix <path>`) or to stdout
/// (`pipe`), one write each.
pub(crate) fn produce_kernel(kind: &str, path: &str, n: u64) {
    pin_to_cpu(1);
    let msg = [9u8; MSG];
    let mut out: Box<dyn Write> = if kind == "unix" {
        let listener = std::os::unix::net::UnixListener::bind(path).expect("bind");
        Box::new(listener.accept().expect("accept").0)
    } else {
        Box::new(std::io::stdout().lock())
    };
    for _ in 0..n {
        out.write_all(&msg).expect("write");
    }
}

/// Unix-socket or pipe stream, one write and one read per 64-byte message.
pub(crate) fn kernel(opts: &Opts, kind: &str) -> Run {
    use std::process::{Command, Stdio};
    let n = opts.messages / 4; // about 1 M/s: keep the run short
    let path = format!("/tmp/vbench_stream_{}.sock", std::process::id());
    let _ = std::fs::remove_file(&path);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--role", "produce-kernel", kind, &path, &n.to_string()])
        .stdout(if kind == "pipe" {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("spawn producer");
    let mut input: Box<dyn Read> = if kind == "unix" {
        let start = Instant::now();
        loop {
            match std::os::unix::net::UnixStream::connect(&path) {
                Ok(s) => break Box::new(s),
                Err(e) if start.elapsed().as_secs() > 10 => panic!("connect: {e}"),
                Err(_) => std::thread::yield_now(),
            }
        }
    } else {
        Box::new(child.stdout.take().unwrap())
    };
    let cpu = CpuMeter::start(child.id());
    let mut buf = [0u8; MSG];
    input.read_exact(&mut buf).expect("read");
    let start = Instant::now();
    for _ in 1..n {
        input.read_exact(&mut buf).expect("read");
    }
    let rate = (n - 1) as f64 / start.elapsed().as_secs_f64();
    let run = Run::rate(rate, cpu.stop());
    drop(input);
    child.wait().expect("producer exits");
    let _ = std::fs::remove_file(&path);
    run
}
