//! Cross-process latest-value throughput: a writer process (pinned to CPU 1) rewrites a value,
//! this process (pinned to CPU 0) takes consistent snapshots for a fixed window; single- and
//! three-slot seqlocks; writer back to back and at 1 kHz; 64 B, 4 KiB, 256 KiB and 4 MiB.
//! Beside it, in the same run: the reader's own copy rate with the writer idle, and plain
//! `copy_from_slice` between the same kind of buffers.
//!
//! `cargo bench -p venom-benches --bench seqlock_xproc` (3 runs each; `VENOM_BENCH_SECS` sets
//! the window, default 1 s).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use venom_benches::{Spread, pin_to_cpu, repeat, size_label, window};
use venom_seqlock::{Config, Error, Seqlock};
use venom_shm::{Access, CreateOptions, ShmRegion};

const SIZES: [usize; 4] = [64, 4096, 256 * 1024, 4 * 1024 * 1024];
const RUNS: usize = 3;

fn view(region: &ShmRegion) -> Seqlock<'_> {
    // SAFETY: read-write mapping of `len` bytes for the life of `region`, accessed only
    // through the seqlock by both processes.
    unsafe { Seqlock::from_raw(region.as_ptr(), region.len()) }.expect("seqlock")
}

fn ctl_word(region: &ShmRegion) -> &AtomicU64 {
    // SAFETY: the control region is page-aligned and at least 8 bytes; accessed atomically.
    unsafe { &*region.as_ptr().cast::<AtomicU64>() }
}

/// Child: write values of `size` bytes until told to stop (ctl word = 1), back to back or
/// one per millisecond.
fn writer(name: &str, ctl: &str, size: usize, paced: bool) {
    pin_to_cpu(1);
    let region = ShmRegion::open(name, Access::ReadWrite).expect("open");
    let ctl = ShmRegion::open(ctl, Access::ReadWrite).expect("open ctl");
    let lock = view(&region);
    let mut w = lock.writer().expect("writer lock");
    let values = [vec![0xAAu8; size], vec![0x55u8; size]];
    let mut i = 0usize;
    let mut next = Instant::now();
    while ctl_word(&ctl).load(Ordering::Relaxed) == 0 {
        w.write(&values[i & 1]).expect("write");
        i += 1;
        if paced {
            next += Duration::from_millis(1);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
    }
}

/// Consistent snapshots per second taken while a writer process runs (or, with `mode` idle,
/// after one write).
fn measure(size: usize, slots: u32, mode: &str) -> f64 {
    let id = format!("venom_bench_{}_{size}_{slots}_{mode}", std::process::id());
    let config = Config::multi(size, slots);
    let region = ShmRegion::create(&id, config.region_size().unwrap(), CreateOptions::new())
        .expect("create");
    let ctl_name = format!("{id}_ctl");
    let ctl = ShmRegion::create(&ctl_name, 64, CreateOptions::new()).expect("create ctl");
    // SAFETY: as in `view`, on the fresh region.
    let lock = unsafe { Seqlock::init(region.as_ptr(), region.len(), config) }.expect("init");
    let mut child = if mode == "idle" {
        lock.writer().unwrap().write(&vec![1u8; size]).unwrap();
        None
    } else {
        Some(
            Command::new(std::env::current_exe().unwrap())
                .args(["--writer", &id, &ctl_name, &size.to_string(), mode])
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn writer"),
        )
    };
    while lock.version() == 0 {
        std::hint::spin_loop();
    }
    let mut buf = vec![0u8; size];
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(100) {
        let _ = lock.try_read(&mut buf);
    }
    let (mut ok, start) = (0u64, Instant::now());
    let win = window();
    while start.elapsed() < win {
        for _ in 0..16 {
            match lock.try_read(&mut buf) {
                Ok(_) => ok += 1,
                Err(Error::Contended) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
    let rate = ok as f64 / start.elapsed().as_secs_f64();
    ctl_word(&ctl).store(1, Ordering::Relaxed);
    if let Some(c) = child.as_mut() {
        c.wait().expect("writer exits");
    }
    rate
}

/// `copy_from_slice` per second between two 64-byte aligned buffers of `size` bytes.
fn memcpy_rate(size: usize) -> f64 {
    #[repr(C, align(64))]
    struct Line([u8; 64]);
    let src: Vec<Line> = (0..size.div_ceil(64)).map(|_| Line([1; 64])).collect();
    let mut dst = vec![0u8; size];
    // SAFETY: `src` holds `size.div_ceil(64) * 64 >= size` initialised bytes.
    let src = unsafe { std::slice::from_raw_parts(src.as_ptr().cast::<u8>(), size) };
    let (mut n, start, win) = (0u64, Instant::now(), window());
    while start.elapsed() < win {
        for _ in 0..16 {
            dst.copy_from_slice(std::hint::black_box(src));
            std::hint::black_box(&mut dst);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--writer") {
        let size = args[4].parse().unwrap();
        return writer(&args[2], &args[3], size, args[5] == "1khz");
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list`
    }
    pin_to_cpu(0);
    println!(
        "| size | slots | writer | snapshots/s | GB/s | reader copy rate (writer idle) /s | ratio | memcpy /s | reader idle ÷ memcpy |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for size in SIZES {
        let memcpy = repeat(RUNS, || memcpy_rate(size));
        for slots in [1u32, 3] {
            let idle = repeat(RUNS, || measure(size, slots, "idle"));
            for mode in ["b2b", "1khz"] {
                let s: Spread = repeat(RUNS, || measure(size, slots, mode));
                let gbs = Spread {
                    median: s.median * size as f64,
                    min: s.min * size as f64,
                    max: s.max * size as f64,
                };
                println!(
                    "| {} | {slots} | {} | {} | {} | {} | {:.2} | {} | {:.2} |",
                    size_label(size),
                    if mode == "b2b" {
                        "back to back"
                    } else {
                        "1 kHz"
                    },
                    s.show(1.0, 0),
                    gbs.show(1e9, 2),
                    idle.show(1.0, 0),
                    s.median / idle.median,
                    memcpy.show(1.0, 0),
                    idle.median / memcpy.median,
                );
            }
        }
    }
}
