//! Chaos across real processes: well-behaved shells send numbered commands and requests and
//! read the data while producers are SIGKILLed at random instants, a shell is SIGSTOPped and
//! continued, the daemon is SIGKILLed mid-write and restarted, and a scribbler writes random
//! bytes into the command queue, the registry and the request cells of other clients.
//!
//! `cargo run --release -p venom-examples --example chaos -- --short` (CI, about 20 s), or
//! `-- --seconds N` for a long run (the phases scale with it).
//!
//! Checked, outside the scribbling window: no command of a sender lost, duplicated or
//! reordered (per sender, the daemon sees 1, 2, 3, … — a producer killed mid-send only ends
//! its own sequence); every reply is the one asked for; no torn data; no call blocks past its
//! timeout. Inside the window, errors and lost commands are counted (a peer with write access
//! can garble the queue; that is the trust model), and afterwards the daemon must serve the
//! shells again, with sequences checked strictly once more. Measured: each shell's recovery
//! after a daemon death (from its first failed call to its next answered request), how soon a
//! restarted daemon is ready, and how long the daemon takes to answer once the scribbler
//! stops.
//!
//! Not exercised: scribbling a well-behaved shell's own registry entry or cell (a writer there
//! can forge its replies: shared memory cannot authenticate a peer, see `docs/RELIABILITY.md`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use venom_channel::{ChannelConfig, ChannelOptions, DaemonChannel, Error, ShellChannel};

/// Well-behaved shells (client ids 2 and 3; the parent's own shell is client 1).
const SHELLS: u32 = 2;
/// Producer ids of killed producers start here.
const VICTIM_IDS: u32 = 1000;
/// Every request's timeout, and how much later a call may return before it counts as blocked.
const TIMEOUT: Duration = Duration::from_secs(2);
const SLACK: Duration = Duration::from_millis(500);
const MAX_CLIENTS: usize = 32;

fn config() -> ChannelConfig {
    ChannelConfig {
        data_size: 64,
        cmd_slots: 64,
        max_clients: MAX_CLIENTS,
    }
}

/// A command or request: kind (`C`, `R`), sender id, sequence number.
fn message(kind: u8, id: u32, seq: u64) -> [u8; 13] {
    let mut m = [0u8; 13];
    m[0] = kind;
    m[1..5].copy_from_slice(&id.to_le_bytes());
    m[5..].copy_from_slice(&seq.to_le_bytes());
    m
}

fn parse(bytes: &[u8]) -> Option<(u8, u32, u64)> {
    let b: &[u8; 13] = bytes.try_into().ok()?;
    let id = u32::from_le_bytes(b[1..5].try_into().ok()?);
    Some((b[0], id, u64::from_le_bytes(b[5..].try_into().ok()?)))
}

/// The data the daemon publishes: its write number in all eight words (a torn read mixes two).
fn pattern(version: u64) -> [u8; 64] {
    let mut v = [0u8; 64];
    for w in v.chunks_mut(8) {
        w.copy_from_slice(&version.to_le_bytes());
    }
    v
}

/// A small xorshift generator (no dependency needed for chaos).
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let t = Instant::now().elapsed().as_nanos() as u64;
        Self(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()) ^ t.rotate_left(17) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "daemon" => daemon(&arg(1)),
        "shell" => shell(
            &arg(1),
            arg(2).parse().expect("id"),
            arg(3).parse().expect("secs"),
            Duration::from_millis(arg(4).parse().expect("stopped ms")),
        ),
        "victim" => victim(&arg(1), arg(2).parse().expect("id")),
        _ => std::process::exit(parent(&args)),
    }
}

fn ready() {
    let mut out = std::io::stdout();
    let _ = out.write_all(b"ready\n");
    let _ = out.flush();
}

/// The daemon: checks every sender's sequence, answers requests, writes data back to back.
fn daemon(name: &str) {
    let d = DaemonChannel::create_with(name, &ChannelOptions::new(config()).spin(1 << 12))
        .expect("create channel (reclaiming a dead daemon's)");
    ready();
    let mut last: HashMap<u32, u64> = HashMap::new();
    let (mut violations, mut tolerated, mut commands) = (0u64, 0u64, 0u64);
    let mut scribbling = false;
    let mut version = 0u64;
    let mut buf = [0u8; 256];
    loop {
        version += 1;
        d.write_data(&pattern(version)).expect("write data");
        let cmd = match d.recv_command_timeout(&mut buf, Duration::from_micros(200)) {
            Ok(Some(cmd)) => cmd,
            Ok(None) => continue,
            Err(e) => {
                if !scribbling {
                    eprintln!("[daemon] receive error outside the scribbling window: {e}");
                    violations += 1;
                }
                tolerated += 1;
                continue;
            }
        };
        let bytes = &buf[..cmd.len];
        if let Some(id) = cmd.request_id {
            let reply: Vec<u8> = match bytes {
                b"quit" | b"report" => format!("{violations} {tolerated} {commands}").into_bytes(),
                b"scribble-begin" | b"scribble-end" => {
                    scribbling = bytes == b"scribble-begin";
                    last.clear(); // sequences restart from what comes next
                    b"ok".to_vec()
                }
                other => other.to_vec(),
            };
            let _ = d.reply(cmd.client_id, id, &reply);
            if bytes == b"quit" {
                return;
            }
            continue;
        }
        commands += 1;
        let ok = match parse(bytes) {
            Some((b'C', id, seq)) => {
                let fine = last.get(&id).is_none_or(|&l| seq == l + 1);
                if !fine && !scribbling {
                    eprintln!("[daemon] sender {id}: {seq} after {:?}", last.get(&id));
                }
                last.insert(id, seq);
                fine
            }
            _ => false,
        };
        if !ok {
            if scribbling {
                tolerated += 1;
            } else {
                violations += 1;
            }
        }
    }
}

/// A well-behaved shell: numbered commands, a request every 8 commands, a data read each
/// round, for `secs`; reconnects when its daemon dies. Prints a summary line; exits 1 on a
/// violation. `stopped`: how long the parent keeps shell 1 SIGSTOPped (a call may take that
/// much longer).
fn shell(name: &str, id: u32, secs: u64, stopped: Duration) {
    let connect = || {
        let mut last_error = String::new();
        loop {
            match ShellChannel::connect(name) {
                Ok(s) => return s,
                Err(e) => {
                    if e.to_string() != last_error {
                        last_error = e.to_string();
                        eprintln!("[shell {id}] connect: {last_error}");
                    }
                    std::thread::yield_now();
                }
            }
        }
    };
    let mut shell = connect();
    ready();
    let end = Instant::now() + Duration::from_secs(secs);
    let (mut seq, mut req, mut violations, mut errors, mut torn_checks) = (0u64, 0u64, 0, 0, 0);
    let mut recoveries: Vec<u128> = Vec::new();
    let mut lost_at: Option<Instant> = None;
    let (mut resp, mut data) = ([0u8; 64], [0u8; 64]);
    while Instant::now() < end {
        seq += 1;
        let t = Instant::now();
        loop {
            match shell.try_send_command(&message(b'C', id, seq)) {
                Ok(()) => break,
                Err(Error::Disconnected) => {
                    // The daemon died: its queue is gone; start again with the next daemon.
                    lost_at.get_or_insert_with(Instant::now);
                    drop(shell);
                    shell = connect();
                }
                // Full, or garbled by the scribbler: the same command again.
                Err(Error::QueueFull) => std::thread::yield_now(),
                Err(_) => errors += 1,
            }
            if t.elapsed() > Duration::from_secs(10) + stopped {
                eprintln!("[shell {id}] command {seq} could not be sent for 10 s");
                violations += 1;
                break;
            }
        }
        if seq % 8 == 0 {
            req += 1;
            let ask = message(b'R', id, req);
            let t = Instant::now();
            let got = shell.request_timeout(&ask, &mut resp, TIMEOUT);
            if t.elapsed() > TIMEOUT + SLACK + stopped {
                eprintln!("[shell {id}] a request blocked {:?}", t.elapsed());
                violations += 1;
            }
            match got {
                Ok(n) if resp[..n] == ask => {
                    if let Some(at) = lost_at.take() {
                        recoveries.push(at.elapsed().as_millis());
                    }
                }
                // A cell the scribbler writes (a client above the well-behaved ones) can be
                // given any reply: that is the trust model, not a fault.
                Ok(_) if shell.client_id() > 1 + SHELLS => errors += 1,
                Ok(n) => {
                    eprintln!(
                        "[shell {id}] wrong reply {:?} (client {})",
                        &resp[..n],
                        shell.client_id()
                    );
                    violations += 1;
                }
                Err(Error::Disconnected) => {
                    lost_at.get_or_insert_with(Instant::now);
                    drop(shell);
                    shell = connect();
                }
                Err(_) => errors += 1,
            }
        }
        match shell.read_data_checked(&mut data) {
            Ok(64) => {
                torn_checks += 1;
                if data.chunks(8).any(|w| w != &data[..8]) {
                    eprintln!("[shell {id}] torn data");
                    violations += 1;
                }
            }
            Ok(_) | Err(_) => errors += 1,
        }
    }
    println!(
        "shell {id}: {seq} commands, {req} requests, {torn_checks} reads, {errors} errors, \
         {violations} violations, recoveries (ms) {recoveries:?}"
    );
    std::process::exit(i32::from(violations > 0));
}

/// A producer that sends numbered commands as fast as it can until it is killed.
fn victim(name: &str, id: u32) {
    let Ok(shell) = ShellChannel::connect(name) else {
        return;
    };
    ready();
    let mut seq = 0u64;
    loop {
        seq += 1;
        while shell.try_send_command(&message(b'C', id, seq)).is_err() {
            std::thread::yield_now();
        }
    }
}

fn spawn(role: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let exe = std::env::current_exe().expect("own executable");
    let mut child = Command::new(exe)
        .arg(role)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    (child, out)
}

fn signal(child: &Child, sig: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

fn median_max(v: &mut [u128]) -> String {
    v.sort_unstable();
    match (v.get(v.len() / 2), v.last()) {
        (Some(m), Some(x)) => format!("median {m} ms, max {x} ms over {}", v.len()),
        _ => "none".into(),
    }
}

/// Writes random bytes at random offsets of the queue, the registry entries and the cells of
/// clients above the well-behaved ones, for `d`.
fn scribble(name: &str, rng: &mut Rng, d: Duration) -> u64 {
    use venom_shm::sync::{AtomicU64, Ordering};
    let region =
        venom_shm::ShmRegion::open(&format!("/venom_{name}"), venom_shm::Access::ReadWrite)
            .expect("open the channel's region");
    let base = region.as_ptr();
    // SAFETY: header words at fixed offsets of the channel header (see docs/ARCHITECTURE.md);
    // 8-aligned, inside the region, read atomically.
    let word = |off: usize| unsafe { (*base.add(off).cast::<AtomicU64>()).load(Ordering::Relaxed) };
    let (queue, registry, cells, stride) = (
        word(40) as usize,
        word(48) as usize,
        word(56) as usize,
        word(72) as usize,
    );
    let first = 1 + SHELLS as usize; // entries of clients above the well-behaved ones
    let ranges = [
        (queue, registry - queue),
        (registry + 64 * first, 64 * (MAX_CLIENTS - first)),
        (cells + stride * first, stride * (MAX_CLIENTS - first)),
    ];
    let end = Instant::now() + d;
    let mut writes = 0;
    while Instant::now() < end {
        let (start, len) = ranges[rng.below(3) as usize];
        let off = (start + rng.below(len as u64) as usize) & !7;
        // SAFETY: `off` lies inside one of the ranges above, inside the region, 8-aligned;
        // every process accesses the region atomically.
        unsafe { (*base.add(off).cast::<AtomicU64>()).store(rng.next(), Ordering::Relaxed) };
        writes += 1;
        if writes % 64 == 0 {
            std::thread::yield_now();
        }
    }
    writes
}

/// Asks the daemon for its counts (violations, tolerated, commands) and prints them; 1 if it
/// saw a violation or did not answer.
fn report(me: &ShellChannel, who: &str) -> i32 {
    let mut resp = [0u8; 64];
    match me.request_timeout(b"report", &mut resp, TIMEOUT) {
        Ok(n) => {
            let text = String::from_utf8_lossy(&resp[..n]).into_owned();
            println!("[chaos] {who}: violations, tolerated, commands = {text}");
            i32::from(!text.starts_with("0 "))
        }
        Err(e) => {
            eprintln!("[chaos] {who}: no report ({e})");
            1
        }
    }
}

fn parent(args: &[String]) -> i32 {
    let secs: u64 = if args.iter().any(|a| a == "--short") {
        12
    } else {
        args.iter()
            .position(|a| a == "--seconds")
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(120)
    };
    let name = format!("chaos_{}", std::process::id());
    let mut rng = Rng::new();
    let (mut daemon, _daemon_out) = spawn("daemon", &[&name]);
    let me = ShellChannel::connect(&name).expect("connect");
    let shell_secs = secs.to_string();
    let phase = Duration::from_secs(secs) / 5;
    let stop = phase / 2; // shell 1 only
    let mut shells: Vec<_> = (0..SHELLS)
        .map(|i| {
            let stopped = if i == 0 { stop.as_millis() } else { 0 };
            spawn(
                "shell",
                &[
                    &name,
                    &(i + 1).to_string(),
                    &shell_secs,
                    &stopped.to_string(),
                ],
            )
        })
        .collect();
    let mut daemon_recoveries = Vec::new();

    // 1. Producers killed at random instants.
    let (mut killed, mut next_id) = (0u32, VICTIM_IDS);
    let until = Instant::now() + phase;
    while Instant::now() < until {
        next_id += 1;
        let (mut v, _out) = spawn("victim", &[&name, &next_id.to_string()]);
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        let _ = v.kill();
        let _ = v.wait();
        killed += 1;
    }
    println!("[chaos] phase 1: {killed} producers SIGKILLed at random instants");

    // 2. A shell stopped and continued.
    signal(&shells[0].0, rustix::process::Signal::STOP);
    std::thread::sleep(phase / 2);
    signal(&shells[0].0, rustix::process::Signal::CONT);
    println!(
        "[chaos] phase 2: shell 1 SIGSTOPped for {:?}, continued",
        phase / 2
    );

    // The first daemon saw phases 1 and 2: its counts before it is killed.
    let mut failures = 0;
    failures += report(&me, "first daemon (phases 1-2)");

    // 3. The daemon killed mid-write (it writes back to back) and restarted.
    let mut restarts = 0;
    let until = Instant::now() + phase;
    let mut daemon_out;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50 + rng.below(200)));
        let _ = daemon.kill();
        let _ = daemon.wait();
        let died = Instant::now();
        (daemon, daemon_out) = spawn("daemon", &[&name]);
        drop(daemon_out);
        daemon_recoveries.push(died.elapsed().as_millis());
        restarts += 1;
    }
    println!(
        "[chaos] phase 3: daemon SIGKILLed and restarted {restarts} times; a new daemon ready after: {}",
        median_max(&mut daemon_recoveries)
    );

    // 4. The scribbler (this process, as a shell of the restarted daemon).
    let me = ShellChannel::connect(&name).unwrap_or(me);
    let mut resp = [0u8; 64];
    let ask = |me: &ShellChannel, what: &[u8], resp: &mut [u8]| {
        let t = Instant::now();
        loop {
            match me.request_timeout(what, resp, TIMEOUT) {
                Ok(n) => return Some(n),
                Err(_) if t.elapsed() < Duration::from_secs(30) => {}
                Err(e) => {
                    eprintln!("[chaos] request {:?}: {e}", String::from_utf8_lossy(what));
                    return None;
                }
            }
        }
    };
    if ask(&me, b"scribble-begin", &mut resp).is_none() {
        failures += 1;
    }
    let writes = scribble(&name, &mut rng, phase);
    let stopped = Instant::now();
    let answered = ask(&me, b"report", &mut resp).is_some();
    let recovered = stopped.elapsed();
    // Let what was queued while scribbling drain before sequences count strictly again.
    std::thread::sleep(Duration::from_millis(200));
    if !answered || ask(&me, b"scribble-end", &mut resp).is_none() {
        failures += 1;
    }
    println!(
        "[chaos] phase 4: {writes} random 8-byte writes into the queue, registry and cells; \
         the daemon answered {:.1} ms after the last",
        recovered.as_secs_f64() * 1e3
    );

    for (mut s, out) in shells.drain(..) {
        for line in out.lines().map_while(Result::ok) {
            println!("[chaos] {line}");
        }
        let status = s.wait().expect("shell exits");
        if !status.success() {
            eprintln!("[chaos] a shell reported a violation ({status})");
            failures += 1;
        }
    }
    match ask(&me, b"quit", &mut resp) {
        Some(n) => {
            let text = String::from_utf8_lossy(&resp[..n]).into_owned();
            println!("[chaos] last daemon: violations, tolerated, commands = {text}");
            if !text.starts_with("0 ") {
                failures += 1;
            }
        }
        None => failures += 1,
    }
    if failures > 0 {
        let _ = daemon.kill();
    }
    let _ = daemon.wait();
    let _ = venom_shm::ShmRegion::unlink_name(&format!("/venom_{name}"));
    println!(
        "[chaos] {}",
        if failures == 0 { "passed" } else { "FAILED" }
    );
    i32::from(failures > 0)
}
