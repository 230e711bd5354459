//! The measurement harness both benchmark binaries share (`perf` here, `venom-peers` in
//! `benches/peers`, which includes this file as a module): CPU pinning, self-spawned roles,
//! per-iteration timing, percentiles, CPU time of both processes, and the one-line record
//! format in which the peers binary hands its results to `perf`.
//!
//! Only `std` and `rustix` (thread) are used here, so that the peers package can include the
//! file without depending on the rest of the workspace.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Pins the calling thread to `cpu` (a warning if the machine refuses).
pub fn pin_to_cpu(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("warning: cannot pin to CPU {cpu}: {e}");
    }
}

/// Starts this executable again as `--role <role> <args…>`, its stdout discarded.
pub fn spawn_role(role: &str, args: &[&str]) -> Child {
    Command::new(std::env::current_exe().expect("own path"))
        .arg("--role")
        .arg(role)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn a second process of the benchmark")
}

/// `Some((role, args))` when this process was started by [`spawn_role`].
pub fn role_of_args() -> Option<(String, Vec<String>)> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("--role") {
        return None;
    }
    let role = args.next()?;
    Some((role, args.collect()))
}

/// CPU time a process has used so far (all its threads), from `/proc/<pid>/task/*/schedstat`
/// (nanoseconds, not clock ticks). `None` if the process is gone.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Samples the CPU time of this process and a peer over a timed window.
#[derive(Debug)]
pub struct CpuMeter {
    peer: u32,
    start: Instant,
    own: Duration,
    other: Duration,
}

impl CpuMeter {
    /// Starts the window now.
    pub fn start(peer: u32) -> Self {
        Self {
            peer,
            start: Instant::now(),
            own: cpu_time(std::process::id()).unwrap_or_default(),
            other: cpu_time(peer).unwrap_or_default(),
        }
    }

    /// CPU % of this process and of the peer since [`start`](Self::start) (100 = one CPU).
    pub fn stop(&self) -> (f64, f64) {
        let wall = self.start.elapsed().as_secs_f64();
        let pct = |now: Option<Duration>, then: Duration| {
            now.map_or(f64::NAN, |n| {
                100.0 * n.saturating_sub(then).as_secs_f64() / wall
            })
        };
        (
            pct(cpu_time(std::process::id()), self.own),
            pct(cpu_time(self.peer), self.other),
        )
    }
}

/// One run of one configuration. Fields not measured are NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// Median latency, ns.
    pub p50: f64,
    /// 99th percentile, ns.
    pub p99: f64,
    /// 99.9th percentile, ns.
    pub p999: f64,
    /// Operations per second.
    pub rate: f64,
    /// CPU % of the measuring process.
    pub cpu_a: f64,
    /// CPU % of the other process.
    pub cpu_b: f64,
}

impl Run {
    /// A run with only a rate.
    pub fn rate(rate: f64, (cpu_a, cpu_b): (f64, f64)) -> Self {
        Self {
            p50: f64::NAN,
            p99: f64::NAN,
            p999: f64::NAN,
            rate,
            cpu_a,
            cpu_b,
        }
    }
}

/// Per-iteration latencies of one run.
#[derive(Debug)]
pub struct Timer {
    ns: Vec<u64>,
    start: Instant,
}

impl Timer {
    /// Room for `n` samples; the throughput clock starts now.
    pub fn new(n: usize) -> Self {
        Self {
            ns: Vec::with_capacity(n),
            start: Instant::now(),
        }
    }

    /// Times one iteration of `f`.
    #[inline]
    pub fn time<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.ns.push(t.elapsed().as_nanos() as u64);
        r
    }

    /// Records one iteration that started at `start` (for code that cannot run in a closure,
    /// such as an `.await`).
    #[inline]
    pub fn record(&mut self, start: Instant) {
        self.ns.push(start.elapsed().as_nanos() as u64);
    }

    /// Percentiles and iterations per second (over the whole timed loop).
    pub fn finish(mut self, cpu: (f64, f64)) -> Run {
        let elapsed = self.start.elapsed().as_secs_f64();
        self.ns.sort_unstable();
        let n = self.ns.len();
        let at = |q: f64| self.ns[((n as f64 * q) as usize).min(n - 1)] as f64;
        Run {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            rate: n as f64 / elapsed,
            cpu_a: cpu.0,
            cpu_b: cpu.1,
        }
    }
}

/// Busy-waits `d` (between iterations of a scenario that wants the peer asleep).
pub fn spin_for(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Polls `cond` (yielding) until it holds; panics after 10 s so a broken peer fails loudly.
pub fn await_cond(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::yield_now();
    }
}

/// All runs of one configuration, as one line of text (`ROW\tgroup\tlabel\tp50,p99,…\t…`):
/// how the peers binary reports to `perf`.
pub fn row_line(group: &str, label: &str, runs: &[Run]) -> String {
    let mut s = format!("ROW\t{group}\t{label}");
    for r in runs {
        s.push_str(&format!(
            "\t{},{},{},{},{},{}",
            r.p50, r.p99, r.p999, r.rate, r.cpu_a, r.cpu_b
        ));
    }
    s
}

/// Parses a [`row_line`].
pub fn parse_row_line(line: &str) -> Option<(String, String, Vec<Run>)> {
    let mut f = line.split('\t');
    if f.next()? != "ROW" {
        return None;
    }
    let group = f.next()?.to_owned();
    let label = f.next()?.to_owned();
    let runs = f
        .map(|r| {
            let v: Vec<f64> = r.split(',').filter_map(|x| x.parse().ok()).collect();
            (v.len() == 6).then(|| Run {
                p50: v[0],
                p99: v[1],
                p999: v[2],
                rate: v[3],
                cpu_a: v[4],
                cpu_b: v[5],
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some((group, label, runs))
}
