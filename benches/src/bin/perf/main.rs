//! `perf`: VenomMemory beside the machine's floors, the kernel and the peers, in one run.
//!
//! ```text
//! cargo run --release -p venom-benches --bin perf            # everything; rewrites docs/PERFORMANCE.md
//! cargo run --release -p venom-benches --bin perf -- --only rtt --no-write   # one group, print only
//! ```
//!
//! Options: `--only rtt,py,stream,snap,sys,peers` (groups), `--rounds N` (timed round trips per
//! run, default 100 000), `--runs N` (default 3), `--window SECS` (snapshot windows, default
//! 0.5), `--no-write` (print the report instead of writing it), `--from FILE` (render the
//! report from results a run saved in `target/perf-results.tsv`, measuring nothing). `--scenario NAME` runs one
//! scenario once (what `strace` wraps); `--role …` is how the binary starts its second process.

mod ffi;
mod report;
mod rtt;
mod snap;
mod stream;
mod sys;

use std::path::{Path, PathBuf};
use std::time::Duration;

use venom_benches::harness::{parse_row_line, role_of_args, row_line};
use venom_benches::{Run, pin_to_cpu};

/// What one invocation measures.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub(crate) rounds: usize,
    pub(crate) warmup: usize,
    pub(crate) runs: usize,
    pub(crate) messages: u64,
    pub(crate) window: Duration,
    only: Option<Vec<String>>,
    write: bool,
    scenario: Option<String>,
    from: Option<PathBuf>,
}

impl Opts {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1).cloned())
        };
        let rounds = value("--rounds").map_or(100_000, |v| v.parse().expect("--rounds N"));
        Self {
            rounds,
            warmup: (rounds / 10).max(1_000),
            runs: value("--runs").map_or(3, |v| v.parse().expect("--runs N")),
            messages: 20 * rounds as u64,
            window: Duration::from_secs_f64(
                value("--window").map_or(0.5, |v| v.parse().expect("--window SECS")),
            ),
            only: value("--only").map(|v| v.split(',').map(str::to_owned).collect()),
            write: !args.iter().any(|a| a == "--no-write"),
            scenario: value("--scenario"),
            from: value("--from").map(PathBuf::from),
        }
    }

    /// Whether `--only` selects `what`: a group (`rtt`), or a row key (`rtt/venom-busy`)
    /// or its group.
    fn wants(&self, what: &str) -> bool {
        let group = what.split('/').next().unwrap_or(what);
        self.only.as_ref().is_none_or(|o| {
            o.iter()
                .any(|g| g == what || g == group || g.starts_with(&format!("{what}/")))
        })
    }
}

/// One measured configuration: its runs.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// Stable key the report looks rows up by, e.g. `rtt/venom-busy`.
    pub(crate) key: String,
    /// What the table shows.
    pub(crate) label: String,
    pub(crate) runs: Vec<Run>,
}

/// Steady-state syscalls per operation: (per operation, n, calls at n, calls at 2n); or why
/// they were not measured.
pub(crate) type Syscalls = Result<(f64, usize, u64, u64), String>;

/// Everything one invocation measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub(crate) rows: Vec<Row>,
    /// Per scenario.
    pub(crate) syscalls: Vec<(String, Syscalls)>,
    pub(crate) idle_cpu: Option<f64>,
    pub(crate) peers_error: Option<String>,
    pub(crate) opts_line: String,
}

impl Results {
    pub(crate) fn get(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    /// Everything measured, one record per line (rows in the peers' format).
    fn to_text(&self) -> String {
        let mut out = format!("OPTS\t{}\n", self.opts_line);
        for row in &self.rows {
            out.push_str(&row_line(&row.key, &row.label, &row.runs));
            out.push('\n');
        }
        for (name, v) in &self.syscalls {
            match v {
                Ok((per, n, a, b)) => out.push_str(&format!("SYS\t{name}\t{per}\t{n}\t{a}\t{b}\n")),
                Err(e) => out.push_str(&format!("SYSERR\t{name}\t{e}\n")),
            }
        }
        if let Some(cpu) = self.idle_cpu {
            out.push_str(&format!("IDLE\t{cpu}\n"));
        }
        if let Some(e) = &self.peers_error {
            out.push_str(&format!("PEERSERR\t{e}\n"));
        }
        out
    }

    /// Reads [`to_text`](Self::to_text)'s output back.
    fn parse(text: &str) -> Self {
        let mut r = Self::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["OPTS", opts] => r.opts_line = (*opts).to_owned(),
                ["SYS", name, per, n, a, b] => r.syscalls.push((
                    (*name).to_owned(),
                    Ok((
                        per.parse().unwrap_or(f64::NAN),
                        n.parse().unwrap_or(0),
                        a.parse().unwrap_or(0),
                        b.parse().unwrap_or(0),
                    )),
                )),
                ["SYSERR", name, e] => r.syscalls.push(((*name).to_owned(), Err((*e).to_owned()))),
                ["IDLE", v] => r.idle_cpu = v.parse().ok(),
                ["PEERSERR", e] => r.peers_error = Some((*e).to_owned()),
                _ => {
                    if let Some((key, label, runs)) = parse_row_line(line) {
                        r.rows.push(Row { key, label, runs });
                    }
                }
            }
        }
        r
    }
}

/// The configurations of one group, measured interleaved: run 1 of every configuration, then
/// run 2 of every configuration, … so that a slow phase of the VM (cross-CPU latency here
/// changes by up to 3× for seconds at a time) falls on all of them alike rather than on the
/// runs of one.
#[derive(Default)]
struct Plan<'a> {
    configs: Vec<(String, String, Measure<'a>)>,
}

/// One run of one configuration.
type Measure<'a> = Box<dyn FnMut() -> Run + 'a>;

impl<'a> Plan<'a> {
    fn add(&mut self, opts: &Opts, key: &str, label: &str, f: impl FnMut() -> Run + 'a) {
        if opts.wants(key) {
            self.configs
                .push((key.to_owned(), label.to_owned(), Box::new(f)));
        }
    }

    fn run(mut self, opts: &Opts, results: &mut Results) {
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); self.configs.len()];
        for i in 0..opts.runs {
            eprintln!("  run {} of {}", i + 1, opts.runs);
            for (c, (_, label, f)) in self.configs.iter_mut().enumerate() {
                let run = f();
                if run.p50.is_finite() {
                    eprintln!("    {label}: p50 {:.0} ns, {:.0} /s", run.p50, run.rate);
                } else {
                    eprintln!("    {label}: {:.0} /s", run.rate);
                }
                runs[c].push(run);
            }
        }
        for ((key, label, _), runs) in self.configs.into_iter().zip(runs) {
            results.rows.push(Row { key, label, runs });
        }
    }
}

fn serve_role(role: &str, a: &[String]) {
    let arg = |i: usize| a.get(i).map(String::as_str).unwrap_or("");
    let num = |i: usize| arg(i).parse::<u64>().expect("numeric argument");
    match role {
        "raw" => rtt::serve_raw(arg(0), arg(1), arg(2)),
        "venom-daemon" => rtt::serve_venom(arg(0), num(1) as u32, num(2) as usize),
        "echo" => rtt::serve_echo(arg(0), arg(1)),
        "produce-raw" => stream::produce_raw(arg(0), num(1), arg(2) == "1"),
        "produce-venom" => stream::produce_venom(arg(0), num(1), arg(2) == "1"),
        "produce-queue" => stream::produce_queue(arg(0), num(1), arg(2) == "1"),
        "produce-kernel" => stream::produce_kernel(arg(0), arg(1), num(2)),
        "write-venom" => snap::write_venom(arg(0), num(1) as usize, num(2) as u32, arg(3), arg(4)),
        "write-raw" => snap::write_raw(arg(0), num(1) as usize, arg(2)),
        "shared-memory" => snap::shared_memory_peer(arg(0), arg(1), arg(2)),
        other => panic!("unknown role {other}"),
    }
}

/// One scenario, once (for `strace`).
fn scenario(opts: &Opts, name: &str) {
    pin_to_cpu(0);
    let run = match name {
        "venom-busy" => rtt::venom(opts, rtt::Wait::Busy),
        "venom-spin" => rtt::venom(opts, rtt::Wait::SpinSleep),
        "venom-sleep" => rtt::venom(opts, rtt::Wait::Sleep),
        "venom-busy-56" => rtt::venom_inline(opts, rtt::Wait::Busy),
        "venom-spin-56" => rtt::venom_inline(opts, rtt::Wait::SpinSleep),
        "commands" => {
            let opts = Opts {
                messages: opts.rounds as u64,
                ..opts.clone()
            };
            stream::venom_commands(&opts, false)
        }
        other => panic!("unknown scenario {other}"),
    };
    println!("{run:?}");
}

/// Workspace root (this package is `benches/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// Builds and runs the peers binary (`benches/peers`), collecting its rows.
fn peers(opts: &Opts, results: &mut Results) {
    let manifest = root().join("benches/peers/Cargo.toml");
    eprintln!("  building benches/peers (iceoryx2) …");
    let built = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .status();
    if !matches!(built, Ok(s) if s.success()) {
        results.peers_error = Some(format!("`cargo build` of benches/peers failed: {built:?}"));
        return;
    }
    let exe = root().join("benches/peers/target/release/venom-peers");
    let out = std::process::Command::new(exe)
        .args([
            "--rounds",
            &opts.rounds.to_string(),
            "--runs",
            &opts.runs.to_string(),
        ])
        .stderr(std::process::Stdio::inherit())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                if let Some((key, label, runs)) = parse_row_line(line) {
                    results.rows.push(Row { key, label, runs });
                }
            }
        }
        Ok(o) => results.peers_error = Some(format!("venom-peers failed: {}", o.status)),
        Err(e) => results.peers_error = Some(format!("venom-peers did not start: {e}")),
    }
}

fn main() {
    if let Some((role, args)) = role_of_args() {
        return serve_role(&role, &args);
    }
    let opts = Opts::parse();
    if let Some(name) = &opts.scenario {
        return scenario(&opts, name);
    }
    if let Some(path) = &opts.from {
        let text = std::fs::read_to_string(path).expect("read saved results");
        return report::write(&Results::parse(&text), &root(), opts.write);
    }
    pin_to_cpu(0);
    let mut r = Results {
        opts_line: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        ..Results::default()
    };
    let o = &opts;
    if o.wants("rtt") {
        eprintln!("round trips, 64 B each way:");
        let mut plan = Plan::default();
        use rtt::Wait::*;
        plan.add(
            o,
            "rtt/pingpong",
            "floor: cache-line ping-pong, one word",
            || rtt::pingpong(o),
        );
        plan.add(
            o,
            "rtt/doorbell-busy",
            "floor: two doorbell lines + 64 B, busy-poll",
            || rtt::doorbell(o, Busy),
        );
        plan.add(
            o,
            "rtt/doorbell-spin",
            "floor: doorbells, spin 1.2 µs then futex",
            || rtt::doorbell(o, SpinSleep),
        );
        plan.add(
            o,
            "rtt/doorbell-sleep",
            "floor: doorbells, server asleep in futex",
            || rtt::doorbell(o, Sleep),
        );
        plan.add(
            o,
            "rtt/venom-busy",
            "VenomMemory request↔run, busy-poll",
            || rtt::venom(o, Busy),
        );
        plan.add(
            o,
            "rtt/venom-spin",
            "VenomMemory request↔run, spin then sleep (default)",
            || rtt::venom(o, SpinSleep),
        );
        plan.add(
            o,
            "rtt/venom-busy-56",
            "VenomMemory request↔run, 56 B each way (inline), busy-poll",
            || rtt::venom_inline(o, Busy),
        );
        plan.add(
            o,
            "rtt/venom-spin-56",
            "VenomMemory request↔run, 56 B each way (inline), spin then sleep (default)",
            || rtt::venom_inline(o, SpinSleep),
        );
        plan.add(
            o,
            "rtt/venom-sleep",
            "VenomMemory request↔run, daemon asleep",
            || rtt::venom(o, Sleep),
        );
        plan.add(
            o,
            "rtt/async-busy",
            "VenomMemory request_into_async (tokio) ↔ run, busy-poll",
            || rtt::venom_async(o, Busy),
        );
        plan.add(
            o,
            "rtt/async-spin",
            "VenomMemory request_into_async (tokio) ↔ run, spin then sleep",
            || rtt::venom_async(o, SpinSleep),
        );
        plan.add(
            o,
            "rtt/async-sleep",
            "VenomMemory request_into_async (tokio) ↔ run, daemon asleep",
            || rtt::venom_async(o, Sleep),
        );
        for idle in report::IDLE_SHELLS {
            let label = format!("VenomMemory request↔run, busy-poll, {idle} idle shells connected");
            plan.add(o, &format!("rtt/idle-{idle}"), &label, move || {
                rtt::venom_idle(o, idle)
            });
        }
        plan.add(
            o,
            "rtt/venom-parked",
            "VenomMemory request↔run, both sides asleep",
            || rtt::venom(o, Parked),
        );
        plan.add(
            o,
            "rtt/async-parked",
            "VenomMemory request_into_async (tokio) ↔ run, both sides asleep",
            || rtt::venom_async(o, Parked),
        );
        plan.add(
            o,
            "rtt/c-busy",
            "C request↔C serve loop (libvenom_memory), busy-poll",
            || ffi::c(o, Busy),
        );
        plan.add(
            o,
            "rtt/c-spin",
            "C request↔C serve loop (libvenom_memory), spin then sleep",
            || ffi::c(o, SpinSleep),
        );
        plan.add(o, "rtt/unix", "Unix socket echo, blocking", || rtt::unix(o));
        plan.add(o, "rtt/pipe", "pipe echo, blocking", || rtt::pipe(o));
        plan.run(o, &mut r);
    }
    if o.wants("py") {
        eprintln!("round trips from Python, 64 B each way:");
        let mut plan = Plan::default();
        plan.add(
            o,
            "py/venom",
            "Python Shell.request ↔ Rust daemon (default spin)",
            || ffi::python(o, "venom"),
        );
        plan.add(o, "py/pipe", "Python multiprocessing.Pipe echo", || {
            ffi::python(o, "pipe")
        });
        plan.add(o, "py/unix", "Python Unix socket echo", || {
            ffi::python(o, "unix")
        });
        plan.run(o, &mut r);
    }
    if o.wants("stream") {
        eprintln!("streams of 64 B messages:");
        let mut plan = Plan::default();
        plan.add(
            o,
            "stream/spsc",
            "floor: SPSC ring, publish per message",
            || stream::spsc(o, false),
        );
        plan.add(
            o,
            "stream/spsc-batched",
            "floor: SPSC ring, publish per 32",
            || stream::spsc(o, true),
        );
        plan.add(
            o,
            "stream/commands",
            "VenomMemory try_send_command → try_recv_command",
            || stream::venom_commands(o, false),
        );
        plan.add(
            o,
            "stream/commands-batched",
            "VenomMemory try_send_commands → try_recv_commands_with (bursts of 32)",
            || stream::venom_commands(o, true),
        );
        for producers in [2u64, 4, 8] {
            let label = format!(
                "VenomMemory try_send_command from {producers} producer processes → try_recv_command"
            );
            plan.add(
                o,
                &format!("stream/producers-{producers}"),
                &label,
                move || stream::venom_producers(o, producers),
            );
        }
        plan.add(
            o,
            "stream/queue",
            "venom-mpsc try_send → try_recv",
            || stream::venom_queue(o, false),
        );
        plan.add(
            o,
            "stream/queue-batched",
            "venom-mpsc try_send_batch(32) → drain(32)",
            || stream::venom_queue(o, true),
        );
        plan.add(
            o,
            "stream/unix",
            "Unix socket, one write per message",
            || stream::kernel(o, "unix"),
        );
        plan.add(o, "stream/pipe", "pipe, one write per message", || {
            stream::kernel(o, "pipe")
        });
        plan.run(o, &mut r);
    }
    if o.wants("snap") {
        eprintln!("latest value:");
        let mut plan = Plan::default();
        use snap::Pace::*;
        for size in snap::SIZES {
            let l = venom_benches::size_label(size);
            plan.add(
                o,
                &format!("snap/memcpy/{size}"),
                &format!("memcpy {l}"),
                move || snap::memcpy(o, size),
            );
            for pace in [B2b, Khz] {
                let p = pace.arg();
                plan.add(
                    o,
                    &format!("snap/raw/{size}/{p}"),
                    &format!("raw {l} {p}"),
                    move || snap::raw(o, size, pace),
                );
            }
            for slots in [1u32, 3] {
                for pace in [Idle, B2b, Khz] {
                    let p = pace.arg();
                    plan.add(
                        o,
                        &format!("snap/venom/{size}/{slots}/{p}"),
                        &format!("venom {l} {slots} slot(s) {p}"),
                        move || snap::venom(o, size, slots, pace),
                    );
                }
            }
        }
        plan.add(
            o,
            "snap/sm-read",
            "SharedMemory<[u64; 8]>::read, writer at 1 kHz",
            move || snap::shared_memory(o, "read"),
        );
        plan.add(
            o,
            "snap/sm-write",
            "SharedMemory<[u64; 8]>::write, reader back to back",
            move || snap::shared_memory(o, "write"),
        );
        plan.run(o, &mut r);
    }
    if o.wants("sys") {
        eprintln!("system calls per operation (strace -f -c):");
        for s in ["venom-busy", "venom-spin", "venom-sleep", "commands"] {
            let n = if s == "venom-sleep" {
                o.rounds / 5
            } else {
                o.rounds
            };
            let got = sys::syscalls_per_op(s, n);
            eprintln!("  {s}: {got:?}");
            r.syscalls.push((s.to_owned(), got));
        }
        eprintln!("idle daemon CPU over 5 s:");
        let cpu = sys::idle_daemon_cpu(Duration::from_secs(5));
        eprintln!("  {cpu:.3} %");
        r.idle_cpu = Some(cpu);
    }
    if o.wants("peers") {
        eprintln!("peers:");
        peers(o, &mut r);
    }
    let saved = root().join("target/perf-results.tsv");
    match std::fs::write(&saved, r.to_text()) {
        Ok(()) => eprintln!("results saved in {} (re-render: --from)", saved.display()),
        Err(e) => eprintln!("warning: cannot save results: {e}"),
    }
    report::write(&r, &root(), o.write);
}
