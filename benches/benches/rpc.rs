//! Request/response round trips between two processes pinned to CPUs 0 (shell) and 1
//! (daemon): `ShellChannel::request` ↔ `DaemonChannel::run` in busy-poll mode (both sides spin)
//! and in blocking mode (both sleep on futexes at once), beside a Unix-socket echo, in the same
//! run. 64-byte requests and replies; each round trip timed separately; warm-up first;
//! median of 3 runs with the min–max spread of p50, p99, p99.9 and round trips per second.
//!
//! `cargo bench -p venom-benches --bench rpc` (`VENOM_BENCH_ROUNDS`, default 100000).
//! `-- --only busy|blocking|unix` runs one transport (e.g. under `strace -c -f`).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::time::{Duration, Instant};

use venom_benches::{Spread, pin_to_cpu};
use venom_channel::{ChannelBuilder, ChannelConfig, ShellChannel};

const RUNS: usize = 3;
const MSG: usize = 64;

fn rounds() -> usize {
    std::env::var("VENOM_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Percentiles (ns) and round trips per second of one run.
#[derive(Debug, Clone, Copy)]
struct Run {
    p50: f64,
    p99: f64,
    p999: f64,
    per_sec: f64,
}

fn summarise(mut ns: Vec<u64>, elapsed: Duration) -> Run {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)] as f64;
    Run {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        per_sec: ns.len() as f64 / elapsed.as_secs_f64(),
    }
}

fn daemon(name: &str, spin: u32) {
    pin_to_cpu(1);
    let d = ChannelBuilder::new(ChannelConfig {
        data_size: 64,
        cmd_slots: 64,
        max_clients: 4,
    })
    .spin(spin)
    .create(name)
    .expect("create");
    let stop = d.stop_handle();
    d.run(|_, cmd| {
        if cmd == b"quit" {
            stop.stop();
        }
        [0x5Au8; MSG]
    })
    .expect("run");
}

fn venom(spin: u32) -> Run {
    let name = format!("vbench_rpc_{}_{spin}", std::process::id());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--daemon", &name, &spin.to_string()])
        .spawn()
        .expect("spawn daemon");
    let mut shell = loop {
        match ShellChannel::connect(&name) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    shell.set_spin(spin);
    let (req, mut resp) = ([0xA5u8; MSG], [0u8; MSG]);
    for _ in 0..10_000 {
        shell.request(&req, &mut resp).expect("warm-up");
    }
    let n = rounds();
    let mut ns = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let len = shell.request(&req, &mut resp).expect("request");
        ns.push(t.elapsed().as_nanos() as u64);
        debug_assert_eq!(len, MSG);
    }
    let run = summarise(ns, start.elapsed());
    let _ = shell.request(b"quit", &mut resp);
    child.wait().expect("daemon exits");
    run
}

fn unix_server(path: &str) {
    pin_to_cpu(1);
    let listener = UnixListener::bind(path).expect("bind");
    let (mut s, _) = listener.accept().expect("accept");
    let mut buf = [0u8; MSG];
    while s.read_exact(&mut buf).is_ok() {
        if s.write_all(&buf).is_err() {
            break;
        }
    }
}

fn unix() -> Run {
    let path = format!("/tmp/vbench_unix_{}.sock", std::process::id());
    let _ = std::fs::remove_file(&path);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--unix-server", &path])
        .spawn()
        .expect("spawn server");
    let mut s = loop {
        match UnixStream::connect(&path) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    let mut buf = [0x11u8; MSG];
    for _ in 0..10_000 {
        s.write_all(&buf).unwrap();
        s.read_exact(&mut buf).unwrap();
    }
    let n = rounds();
    let mut ns = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        s.write_all(&buf).unwrap();
        s.read_exact(&mut buf).unwrap();
        ns.push(t.elapsed().as_nanos() as u64);
    }
    let run = summarise(ns, start.elapsed());
    drop(s);
    child.wait().expect("server exits");
    let _ = std::fs::remove_file(&path);
    run
}

fn row(label: &str, runs: &[Run]) {
    let s = |f: fn(&Run) -> f64| Spread::of(&runs.iter().map(f).collect::<Vec<_>>());
    println!(
        "| {label} | {} | {} | {} | {} |",
        s(|r| r.p50).show(1.0, 0),
        s(|r| r.p99).show(1.0, 0),
        s(|r| r.p999).show(1.0, 0),
        s(|r| r.per_sec).show(1e3, 0),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--daemon") => return daemon(&args[2], args[3].parse().unwrap()),
        Some("--unix-server") => return unix_server(&args[2]),
        _ => {}
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    pin_to_cpu(0);
    println!("| transport, 64 B each way | p50 ns | p99 ns | p99.9 ns | k round trips/s |");
    println!("|---|---|---|---|---|");
    let want = |t: &str| only.as_deref().is_none_or(|o| o == t);
    if want("busy") {
        let runs: Vec<Run> = (0..RUNS).map(|_| venom(u32::MAX)).collect();
        row("VenomMemory request↔run, busy-poll", &runs);
    }
    if want("blocking") {
        let runs: Vec<Run> = (0..RUNS).map(|_| venom(0)).collect();
        row("VenomMemory request↔run, both sleep (futex)", &runs);
    }
    if want("unix") {
        let runs: Vec<Run> = (0..RUNS).map(|_| unix()).collect();
        row("Unix socket echo, blocking", &runs);
    }
}
