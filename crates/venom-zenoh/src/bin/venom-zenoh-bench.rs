//! The bridge's figures beside raw Zenoh in the same run, on loopback:
//!
//! * `rtt/bridge`: a shell's request on the imported channel, answered by the exported daemon
//!   (shell → importer → Zenoh query → exporter → daemon and back), against `rtt/zenoh`: a
//!   raw Zenoh query answered by a queryable that echoes, same payload (64 bytes);
//! * `data/bridge`: data versions per second written by the daemon and delivered into the
//!   imported channel, against `data/zenoh`: raw put/subscribe of the same payload, both with
//!   congestion control *drop* (latest value);
//! * `lat/bridge` / `lat/zenoh`: end-to-end latency of one data update (written → seen by a
//!   reader), one update at a time.
//!
//! `venom-zenoh-bench [--rounds N] [--runs R]` (defaults 2000 and 3). Run it inside a network
//! namespace of its own to be sure nothing leaves the machine:
//! `unshare -n sh -c 'ip link set lo up && venom-zenoh-bench'`.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use venom_channel::{ChannelConfig, DaemonChannel, ShellChannel};
use venom_shm::sync::{AtomicU64, Ordering};
use venom_zenoh::{BridgeOptions, Exporter, Importer, open_session};
use zenoh::Wait;
use zenoh::qos::CongestionControl;

const PAYLOAD: usize = 64;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn options(listen: Option<u16>, connect: Option<u16>) -> BridgeOptions {
    BridgeOptions {
        listen: listen
            .map(|p| vec![format!("tcp/127.0.0.1:{p}")])
            .unwrap_or_default(),
        connect: connect
            .map(|p| vec![format!("tcp/127.0.0.1:{p}")])
            .unwrap_or_default(),
        ..BridgeOptions::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Nanoseconds since the benchmark's start, carried in a payload's first 8 bytes.
fn stamp(epoch: Instant) -> [u8; PAYLOAD] {
    let mut p = [0u8; PAYLOAD];
    p[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_le_bytes());
    p
}

fn age(epoch: Instant, payload: &[u8]) -> Duration {
    let mut b = [0u8; 8];
    b.copy_from_slice(&payload[..8]);
    let sent = Duration::from_nanos(u64::from_le_bytes(b));
    epoch.elapsed().saturating_sub(sent)
}

struct Raw {
    a: zenoh::Session,
    b: zenoh::Session,
}

impl Raw {
    fn open() -> Self {
        let port = free_port();
        let a = open_session(&options(Some(port), None)).expect("zenoh session");
        let b = open_session(&options(None, Some(port))).expect("zenoh session");
        Self { a, b }
    }

    fn rtt(&self, rounds: usize) -> Vec<Duration> {
        let _echo = self
            .a
            .declare_queryable("bench/raw/req")
            .callback(|q| {
                let p = q
                    .payload()
                    .map(|p| p.to_bytes().into_owned())
                    .unwrap_or_default();
                let _ = q.reply(q.key_expr().clone(), p).wait();
            })
            .wait()
            .unwrap();
        let ask = || {
            let replies = self
                .b
                .get("bench/raw/req")
                .payload(vec![7u8; PAYLOAD])
                .timeout(Duration::from_secs(5))
                .wait()
                .unwrap();
            replies.recv().is_ok_and(|r| r.result().is_ok())
        };
        while !ask() {} // until the queryable is known to the other session
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                assert!(ask());
                t.elapsed()
            })
            .collect()
    }

    fn throughput(&self, window: Duration) -> f64 {
        let got = Arc::new(AtomicU64::new(0));
        let _sub = {
            let got = got.clone();
            self.b
                .declare_subscriber("bench/raw/data")
                .callback(move |_| {
                    got.fetch_add(1, Ordering::Relaxed);
                })
                .wait()
                .unwrap()
        };
        let publisher = self
            .a
            .declare_publisher("bench/raw/data")
            .congestion_control(CongestionControl::Drop)
            .wait()
            .unwrap();
        while got.load(Ordering::Relaxed) == 0 {
            publisher.put(vec![1u8; PAYLOAD]).wait().unwrap();
        }
        let (start, before) = (Instant::now(), got.load(Ordering::Relaxed));
        while start.elapsed() < window {
            publisher.put(vec![1u8; PAYLOAD]).wait().unwrap();
        }
        (got.load(Ordering::Relaxed) - before) as f64 / start.elapsed().as_secs_f64()
    }

    fn latency(&self, rounds: usize, epoch: Instant) -> Vec<Duration> {
        let (tx, rx) = mpsc::channel();
        let _sub = self
            .b
            .declare_subscriber("bench/raw/lat")
            .callback(move |s| {
                let _ = tx.send(age(epoch, &s.payload().to_bytes()));
            })
            .wait()
            .unwrap();
        let publisher = self.a.declare_publisher("bench/raw/lat").wait().unwrap();
        loop {
            publisher.put(stamp(epoch).to_vec()).wait().unwrap();
            if rx.recv_timeout(Duration::from_millis(50)).is_ok() {
                break;
            }
        }
        (0..rounds)
            .map(|_| {
                publisher.put(stamp(epoch).to_vec()).wait().unwrap();
                rx.recv().unwrap()
            })
            .collect()
    }
}

struct Bridged {
    daemon: Arc<DaemonChannel>,
    shell: ShellChannel,
    importer: Importer,
    _exporter: Exporter,
    server: Option<std::thread::JoinHandle<()>>,
    names: [String; 2],
}

impl Bridged {
    fn open() -> Self {
        let id = std::process::id();
        let names = [format!("vbench_zenoh_{id}"), format!("vbench_zenohl_{id}")];
        let config = ChannelConfig {
            data_size: PAYLOAD,
            cmd_slots: 64,
            max_clients: 4,
        };
        let daemon = Arc::new(DaemonChannel::create(&names[0], config).expect("channel"));
        let server = {
            let d = daemon.clone();
            std::thread::spawn(move || {
                let _ = d.serve(|cmd, bytes| {
                    if let Some(r) = cmd.request_id {
                        let _ = d.reply(cmd.client_id, r, bytes);
                    }
                });
            })
        };
        let port = free_port();
        let exporter = Exporter::start(&names[..1], &options(Some(port), None)).unwrap();
        let importer = Importer::start(
            &[(names[0].clone(), names[1].clone())],
            &options(None, Some(port)),
        )
        .unwrap();
        let shell = loop {
            if let Ok(s) = ShellChannel::connect(&names[1]) {
                break s;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Self {
            daemon,
            shell,
            importer,
            _exporter: exporter,
            server: Some(server),
            names,
        }
    }

    fn rtt(&self, rounds: usize) -> Vec<Duration> {
        let mut buf = [0u8; 4096];
        let req = [7u8; PAYLOAD];
        while self
            .shell
            .request_timeout(&req, &mut buf, Duration::from_secs(1))
            .is_err()
        {}
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                self.shell
                    .request_timeout(&req, &mut buf, Duration::from_secs(5))
                    .unwrap();
                t.elapsed()
            })
            .collect()
    }

    fn throughput(&self, window: Duration) -> f64 {
        let delivered = || self.importer.stats().data_updates;
        let mut i = 0u64;
        let mut write = || {
            i += 1;
            let mut p = [1u8; PAYLOAD];
            p[..8].copy_from_slice(&i.to_le_bytes());
            self.daemon.write_data(&p).unwrap();
        };
        let first = delivered();
        while delivered() == first {
            write();
        }
        let (start, before) = (Instant::now(), delivered());
        while start.elapsed() < window {
            write();
        }
        (delivered() - before) as f64 / start.elapsed().as_secs_f64()
    }

    fn latency(&self, rounds: usize, epoch: Instant) -> Vec<Duration> {
        let mut buf = [0u8; PAYLOAD];
        (0..rounds)
            .map(|_| {
                let since = self.shell.data_version();
                self.daemon.write_data(&stamp(epoch)).unwrap();
                loop {
                    let v = self
                        .shell
                        .wait_for_data_timeout(since, Duration::from_secs(5))
                        .unwrap();
                    if self
                        .shell
                        .read_data_if_changed(since, &mut buf)
                        .ok()
                        .flatten()
                        .is_some()
                        && v != since
                    {
                        break age(epoch, &buf);
                    }
                }
            })
            .collect()
    }
}

impl Drop for Bridged {
    fn drop(&mut self) {
        self.daemon.stop_handle().stop();
        if let Some(t) = self.server.take() {
            let _ = t.join();
        }
        for n in &self.names {
            let _ = std::fs::remove_file(format!("/dev/shm/venom_{n}"));
        }
    }
}

fn main() {
    let mut rounds = 2000usize;
    let mut runs = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok()).expect("a number");
        match a.as_str() {
            "--rounds" => rounds = value(),
            "--runs" => runs = value(),
            other => panic!("unknown argument {other}"),
        }
    }
    let epoch = Instant::now();
    let window = Duration::from_secs(1);
    println!(
        "# venom-zenoh-bench: {PAYLOAD}-byte payloads, loopback TCP, {rounds} rounds, {runs} runs"
    );
    println!(
        "{:<13} {:>4} {:>12} {:>12}",
        "row", "run", "p50 / rate", "p99"
    );
    for run in 1..=runs {
        let raw = Raw::open();
        let bridged = Bridged::open();
        let rows: [(&str, Vec<Duration>); 4] = [
            ("rtt/zenoh", raw.rtt(rounds)),
            ("rtt/bridge", bridged.rtt(rounds)),
            ("lat/zenoh", raw.latency(rounds, epoch)),
            ("lat/bridge", bridged.latency(rounds, epoch)),
        ];
        for (name, samples) in rows {
            let (p50, p99) = summary(samples);
            println!(
                "{name:<13} {run:>4} {:>9.1} us {:>9.1} us",
                micros(p50),
                micros(p99)
            );
        }
        println!(
            "{:<13} {run:>4} {:>10.0}/s",
            "data/zenoh",
            raw.throughput(window)
        );
        println!(
            "{:<13} {run:>4} {:>10.0}/s",
            "data/bridge",
            bridged.throughput(window)
        );
    }
}
