//! Two processes sharing one `venom-shm` region.
//!
//! Run `cargo run -p venom-examples --example shm_demo`: the process creates a region, starts a
//! second copy of itself as the reader, and publishes a counter ten times; the reader prints
//! each value it sees. Words are accessed only through atomics.

use std::process::Command;
use std::time::{Duration, Instant};
use venom_shm::sync::{AtomicU64, Ordering};

use venom_shm::{Access, CreateOptions, ShmRegion};

const ROUNDS: u64 = 10;

fn words(region: &ShmRegion) -> &[AtomicU64] {
    assert!(region.len() >= 16);
    // SAFETY: the mapping is page-aligned and at least 16 bytes long (asserted), lives as long
    // as `region` (the borrow), and both processes access these two words only atomically.
    unsafe { core::slice::from_raw_parts(region.as_ptr().cast::<AtomicU64>(), 2) }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice()
        && role == "reader"
    {
        return reader(name);
    }
    let name = format!("venom_shm_demo_{}", std::process::id());
    let region = ShmRegion::create(&name, 4096, CreateOptions::new())?;
    println!("[writer pid {}] created /{name}", std::process::id());
    let mut reader = Command::new(std::env::current_exe()?)
        .args(["reader", &name])
        .spawn()?;
    let [counter, acked] = words(&region) else {
        unreachable!()
    };
    for i in 1..=ROUNDS {
        counter.store(i, Ordering::Release);
        println!("[writer] published {i}");
        // Wait until the reader has seen it (or give up after a while).
        let deadline = Instant::now() + Duration::from_secs(5);
        while acked.load(Ordering::Acquire) < i && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = reader.wait()?;
    println!("[writer] reader exited: {status}");
    Ok(())
}

fn reader(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let region = ShmRegion::open(name, Access::ReadWrite)?;
    println!(
        "[reader pid {}] opened /{name}, {} bytes",
        std::process::id(),
        region.len()
    );
    let [counter, acked] = words(&region) else {
        unreachable!()
    };
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen < ROUNDS && Instant::now() < deadline {
        let now = counter.load(Ordering::Acquire);
        if now != seen {
            seen = now;
            println!("[reader] saw {seen}");
            acked.store(seen, Ordering::Release);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
