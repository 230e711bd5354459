//! Shared pieces of the benchmarks: CPU pinning, statistics over runs, table formatting.
//!
//! The benchmarks themselves are this package's `[[bench]]` targets:
//! `cargo bench -p venom-benches --bench <name>`.

use std::time::Duration;

/// Pins the calling thread to `cpu` (no-op with a warning if the machine refuses).
pub fn pin_to_cpu(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("warning: cannot pin to CPU {cpu}: {e}");
    }
}

/// Median and spread of repeated measurements.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// Median of the runs.
    pub median: f64,
    /// Smallest run.
    pub min: f64,
    /// Largest run.
    pub max: f64,
}

impl Spread {
    /// Summarises `runs` (at least one).
    pub fn of(runs: &[f64]) -> Self {
        let mut v = runs.to_vec();
        v.sort_by(f64::total_cmp);
        Self {
            median: v[v.len() / 2],
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// `median (min–max)` with `digits` decimals, values divided by `scale`.
    pub fn show(&self, scale: f64, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median / scale,
            self.min / scale,
            self.max / scale,
            d = digits
        )
    }
}

/// Runs `f` `runs` times and summarises what it returns.
pub fn repeat(runs: usize, mut f: impl FnMut() -> f64) -> Spread {
    let v: Vec<f64> = (0..runs).map(|_| f()).collect();
    Spread::of(&v)
}

/// Human size label: 64 B, 4 KiB, 256 KiB, 4 MiB.
pub fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// How long each measurement window lasts (`VENOM_BENCH_SECS`, default 1 s).
pub fn window() -> Duration {
    std::env::var("VENOM_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs_f64)
}
