//! Command-queue throughput: one producer thread (CPU 1), one consumer thread (CPU 0), 64-byte
//! messages, received one at a time and in batches; beside a raw single-producer ring of
//! 64-byte slots (the floor), in the same run. Median and spread of 3 runs.
//!
//! `cargo bench -p venom-benches --bench mpsc` (`VENOM_BENCH_MSGS` sets the count, default 5M).

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use venom_benches::{pin_to_cpu, repeat};
use venom_mpsc::{Config, Error, OwnedQueue};

const RUNS: usize = 3;
const CAP: usize = 1024;

fn count() -> u64 {
    std::env::var("VENOM_BENCH_MSGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000)
}

/// Messages per second through the queue; `batch`: consumer drains up to 256 at a time.
fn venom(batch: bool) -> f64 {
    let n = count();
    let q = OwnedQueue::new(Config::new(CAP as u32, 128)).unwrap();
    let start = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            pin_to_cpu(1);
            let tx = q.view().producer(1);
            let mut msg = [0u8; 64];
            for i in 0..n {
                msg[..8].copy_from_slice(&i.to_le_bytes());
                while let Err(e) = tx.try_send(&msg) {
                    assert_eq!(e, Error::Full);
                    std::hint::spin_loop();
                }
            }
        });
        pin_to_cpu(0);
        let mut rx = q.view().consumer().unwrap();
        let mut buf = [0u8; 112];
        let mut got = 0;
        while got < n {
            if batch {
                got += rx
                    .drain(256, |r| {
                        r.copy_to(&mut buf).unwrap();
                    })
                    .unwrap() as u64;
            } else if rx.try_recv(&mut buf).unwrap().is_some() {
                got += 1;
            }
        }
        std::hint::black_box(buf);
    });
    n as f64 / start.elapsed().as_secs_f64()
}

/// The floor: a single-producer ring of 64-byte slots, one publish per message; the consumer
/// publishes its position per message or once per batch.
#[repr(C, align(64))]
struct Slot([AtomicU64; 8]);

#[repr(C, align(128))]
struct Pos(AtomicU64);

fn raw_ring(batch: bool) -> f64 {
    let n = count();
    let slots: Vec<Slot> = (0..CAP).map(|_| Slot(Default::default())).collect();
    let (head, tail) = (Pos(AtomicU64::new(0)), Pos(AtomicU64::new(0)));
    let start = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            pin_to_cpu(1);
            let mut cached_head = 0;
            for i in 0..n {
                while i - cached_head >= CAP as u64 {
                    cached_head = head.0.load(Ordering::Acquire);
                    std::hint::spin_loop();
                }
                let slot = &slots[(i as usize) & (CAP - 1)];
                for (k, w) in slot.0.iter().enumerate() {
                    w.store(i + k as u64, Ordering::Relaxed);
                }
                tail.0.store(i + 1, Ordering::Release);
            }
        });
        pin_to_cpu(0);
        let mut buf = [0u64; 8];
        let mut pos = 0;
        while pos < n {
            let avail = tail.0.load(Ordering::Acquire);
            let end = if batch { avail } else { avail.min(pos + 1) };
            while pos < end {
                let slot = &slots[(pos as usize) & (CAP - 1)];
                for (b, w) in buf.iter_mut().zip(&slot.0) {
                    *b = w.load(Ordering::Relaxed);
                }
                pos += 1;
                if !batch {
                    head.0.store(pos, Ordering::Release);
                }
            }
            if batch {
                head.0.store(pos, Ordering::Release);
            }
            std::hint::black_box(&buf);
        }
    });
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("| transport, 64 B messages | one by one, M msg/s | batched, M msg/s |");
    println!("|---|---|---|");
    let raw1 = repeat(RUNS, || raw_ring(false));
    let rawb = repeat(RUNS, || raw_ring(true));
    let v1 = repeat(RUNS, || venom(false));
    let vb = repeat(RUNS, || venom(true));
    println!(
        "| raw SPSC ring (floor) | {} | {} |",
        raw1.show(1e6, 1),
        rawb.show(1e6, 1)
    );
    println!("| venom-mpsc | {} | {} |", v1.show(1e6, 1), vb.show(1e6, 1));
    println!(
        "| ratio venom ÷ floor | {:.2} | {:.2} |",
        v1.median / raw1.median,
        vb.median / rawb.median
    );
}
