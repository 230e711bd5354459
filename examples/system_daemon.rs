//! Publishes CPU and memory usage (from `/proc/stat` and `/proc/meminfo`) as a `SystemStats`
//! every N ms, and answers `PING` (→ `PONG`), `INTERVAL <ms>` and `STOP`.
//!
//! `cargo run -p venom-examples --example system_daemon -- [channel] [interval_ms]`

use std::sync::Arc;
use std::time::Duration;
use venom_shm::sync::{AtomicBool, AtomicU64, Ordering};

use venom_channel::{ChannelConfig, DaemonChannel};
use venom_examples::{CHANNEL, SystemStats};

/// `(busy, total)` jiffies from the first line of `/proc/stat`.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// `(used, total)` KiB from `/proc/meminfo`.
fn memory() -> Option<(u64, u64)> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    let total = field("MemTotal:")?;
    Some((total - field("MemAvailable:")?, total))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let channel = args.get(1).map_or(CHANNEL, String::as_str).to_owned();
    let interval = Arc::new(AtomicU64::new(
        args.get(2).and_then(|a| a.parse().ok()).unwrap_or(500),
    ));
    let config = ChannelConfig {
        data_size: std::mem::size_of::<SystemStats>(),
        cmd_slots: 64,
        max_clients: 16,
    };
    let daemon = DaemonChannel::create(&channel, config)?;
    println!(
        "[daemon pid {}] serving channel {channel}",
        std::process::id()
    );

    // Publisher: a thread of its own, so commands are answered at once.
    let running = Arc::new(AtomicBool::new(true));
    let publisher = {
        let (daemon, running, interval) = (daemon.clone(), running.clone(), interval.clone());
        std::thread::spawn(move || {
            let mut last = cpu_times().unwrap_or((0, 1));
            let mut sample = 0;
            while running.load(Ordering::Relaxed) {
                let ms = interval.load(Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(ms));
                let now = cpu_times().unwrap_or(last);
                let (busy, total) = (now.0 - last.0, (now.1 - last.1).max(1));
                last = now;
                let (used, mem_total) = memory().unwrap_or((0, 1));
                sample += 1;
                let stats = SystemStats {
                    cpu_percent: 100.0 * busy as f32 / total as f32,
                    mem_percent: 100.0 * used as f32 / mem_total as f32,
                    mem_used_kib: used,
                    mem_total_kib: mem_total,
                    sample,
                    interval_ms: ms,
                };
                if let Err(e) = daemon.write_value(&stats) {
                    eprintln!("[daemon] publish failed: {e}");
                }
            }
        })
    };

    let stop = daemon.stop_handle();
    daemon.run(|client, cmd| {
        let text = String::from_utf8_lossy(cmd);
        let text = text.trim();
        println!("[daemon] client {client}: {text}");
        if text == "PING" {
            b"PONG".to_vec()
        } else if let Some(ms) = text.strip_prefix("INTERVAL ") {
            match ms.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => {
                    interval.store(ms, Ordering::Relaxed);
                    format!("interval {ms} ms").into_bytes()
                }
                _ => b"ERR interval must be a positive number of ms".to_vec(),
            }
        } else if text == "STOP" {
            stop.stop();
            b"stopping".to_vec()
        } else {
            b"ERR unknown command".to_vec()
        }
    })?;
    running.store(false, Ordering::Relaxed);
    let _ = publisher.join();
    println!("[daemon] stopped; channel removed");
    Ok(())
}
