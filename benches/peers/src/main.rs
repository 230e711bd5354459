//! iceoryx2 in VenomMemory's harness (`../src/harness.rs`): request-response, publish-subscribe
//! ping-pong (busy-poll) and event ping-pong (both sides blocked in `blocking_wait`), 64-byte
//! payloads, two processes pinned to CPUs 0 and 1, each round trip timed; a one-way
//! publish-subscribe stream of 64-byte samples (lossless: every sample checked in order), and a
//! blackboard entry read back to back while the other process updates it at 1 kHz. Prints one
//! `ROW` line per configuration for `perf` to read.
//!
//! `venom-peers --rounds N --runs R`

#[path = "../../src/harness.rs"]
#[allow(dead_code, unreachable_pub)]
mod harness;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{CpuMeter, Run, Timer, pin_to_cpu, role_of_args, row_line};
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;

type Payload = [u64; 8];
const STOP: u64 = u64::MAX;

fn service_name(kind: &str, tag: &str) -> ServiceName {
    format!("venom_bench/{kind}/{tag}")
        .as_str()
        .try_into()
        .expect("service name")
}

/// Starts the server role and waits for its "ready" line.
fn spawn_server(kind: &str, tag: &str) -> Child {
    spawn_role(&[kind, tag])
}

/// Starts this binary in role `args[0]` (with the rest as its arguments) and waits for its
/// "ready" line. Its stdin is a pipe: a role that waits for the end reads it to its end.
fn spawn_role(args: &[&str]) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--role")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the other process");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .expect("ready line");
    assert_eq!(line.trim(), "ready", "the other process failed to start");
    child
}

fn ready() {
    println!("ready");
    std::io::stdout().flush().unwrap();
}

/// Spins on `poll` until it yields, panicking after 10 s (a lost message).
fn spin<T>(mut poll: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = poll() {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no answer from the peer"
        );
        std::hint::spin_loop();
    }
}

struct Opts {
    rounds: usize,
    runs: usize,
}

impl Opts {
    /// Samples per stream run: as many as `perf`'s own stream rows send (`20 × rounds`).
    fn messages(&self) -> u64 {
        20 * self.rounds as u64
    }
}

/// Subscriber queue of the stream: as many samples in flight as VenomMemory's stream rows have
/// command slots.
const STREAM_BUFFER: usize = 1024;

fn stream_service(node: &Node<ipc::Service>, tag: &str) -> PortFactoryPubSub {
    node.service_builder(&service_name("stream", tag))
        .publish_subscribe::<Payload>()
        .subscriber_max_buffer_size(STREAM_BUFFER)
        .enable_safe_overflow(false)
        .open_or_create()
        .unwrap()
}

type PortFactoryPubSub =
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, Payload, ()>;

/// Second process: publishes `n` samples numbered 0.. as fast as the subscriber takes them.
/// A sample that reached no subscriber (its queue full) is sent again, so none is lost.
fn stream_publisher(tag: &str, n: u64) {
    pin_to_cpu(1);
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let service = stream_service(&node, tag);
    let publisher = service
        .publisher_builder()
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .unwrap();
    let t = Instant::now();
    while service.dynamic_config().number_of_subscribers() < 1 {
        assert!(t.elapsed() < Duration::from_secs(10), "no subscriber");
        std::thread::yield_now();
    }
    publisher.update_connections().unwrap();
    ready();
    for i in 0..n {
        while publisher.send_copy([i; 8]).unwrap() == 0 {
            std::hint::spin_loop();
        }
    }
    // Stay until the subscriber has everything (our samples live in our data segment).
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn stream(o: &Opts, tag: &str) -> Run {
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let service = stream_service(&node, tag);
    let sub = service
        .subscriber_builder()
        .buffer_size(STREAM_BUFFER)
        .create()
        .unwrap();
    let n = o.messages();
    let mut child = spawn_role(&["stream", tag, &n.to_string()]);
    let cpu = CpuMeter::start(child.id());
    let mut start = None;
    let mut next = 0u64;
    while next < n {
        match sub.receive().unwrap() {
            Some(s) => {
                start.get_or_insert_with(Instant::now);
                assert_eq!(s[0], next, "iceoryx2 stream lost or reordered a sample");
                next += 1;
            }
            None => std::hint::spin_loop(),
        }
    }
    let rate = n as f64 / start.unwrap().elapsed().as_secs_f64();
    let run = Run::rate(rate, cpu.stop());
    drop(child.stdin.take());
    child.wait().unwrap();
    run
}

/// How long the blackboard reader counts its reads.
const READ_WINDOW: Duration = Duration::from_millis(500);

fn blackboard_writer(tag: &str) {
    pin_to_cpu(1);
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let service = node
        .service_builder(&service_name("bb", tag))
        .blackboard_opener::<u64>()
        .open()
        .unwrap();
    let writer = service.writer_builder().create().unwrap();
    let entry = writer.entry::<Payload>(&0).unwrap();
    ready();
    // Writes at 1 kHz until stdin closes (the reader is done), then drops its ports.
    let (done, stop) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = done.send(());
    });
    let (mut i, start) = (0u64, Instant::now());
    while stop.try_recv().is_err() {
        i += 1;
        entry.update_with_copy([i; 8]);
        let due = Duration::from_millis(i);
        while start.elapsed() < due {
            std::hint::spin_loop();
        }
    }
}

fn blackboard(_o: &Opts, tag: &str) -> Run {
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let service = node
        .service_builder(&service_name("bb", tag))
        .blackboard_creator::<u64>()
        .add::<Payload>(0, [0; 8])
        .create()
        .unwrap();
    let reader = service.reader_builder().create().unwrap();
    let entry = reader.entry::<Payload>(&0).unwrap();
    let mut child = spawn_role(&["blackboard", tag]);
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(50) {
        std::hint::black_box(*entry.get());
    }
    let cpu = CpuMeter::start(child.id());
    let (mut reads, start) = (0u64, Instant::now());
    // Eight reads per look at the clock, as `perf`'s own snapshot rows count them.
    while start.elapsed() < READ_WINDOW {
        for _ in 0..8 {
            std::hint::black_box(*entry.get());
        }
        reads += 8;
    }
    let rate = reads as f64 / start.elapsed().as_secs_f64();
    let run = Run::rate(rate, cpu.stop());
    drop(child.stdin.take());
    child.wait().unwrap();
    run
}

fn measure(o: &Opts, child: &Child, mut rt: impl FnMut(u64)) -> Run {
    for i in 0..(o.rounds / 10).max(1000) {
        rt(i as u64);
    }
    let cpu = CpuMeter::start(child.id());
    let mut t = Timer::new(o.rounds);
    for i in 0..o.rounds {
        t.time(|| rt(i as u64));
    }
    t.finish(cpu.stop())
}

fn reqresp_server(tag: &str) {
    pin_to_cpu(1);
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let service = node
        .service_builder(&service_name("rr", tag))
        .request_response::<Payload, Payload>()
        .open_or_create()
        .unwrap();
    let server = service.server_builder().create().unwrap();
    ready();
    loop {
        if let Some(req) = server.receive().unwrap() {
            let v = *req;
            req.send_copy(v).unwrap();
            if v[0] == STOP {
                return;
            }
        } else {
            std::hint::spin_loop();
        }
    }
}

fn reqresp(o: &Opts, tag: &str) -> Run {
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let service = node
        .service_builder(&service_name("rr", tag))
        .request_response::<Payload, Payload>()
        .open_or_create()
        .unwrap();
    let client = service.client_builder().create().unwrap();
    let mut child = spawn_server("reqresp", tag);
    let run = measure(o, &child, |i| {
        let pending = client.send_copy([i; 8]).unwrap();
        let resp = spin(|| pending.receive().unwrap());
        debug_assert_eq!(resp[0], i);
    });
    let pending = client.send_copy([STOP; 8]).unwrap();
    spin(|| pending.receive().unwrap());
    child.wait().unwrap();
    run
}

fn pubsub_server(tag: &str) {
    pin_to_cpu(1);
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let open = |dir: &str| {
        node.service_builder(&service_name(dir, tag))
            .publish_subscribe::<Payload>()
            .open_or_create()
            .unwrap()
    };
    let (ping, pong) = (open("ping"), open("pong"));
    let sub = ping.subscriber_builder().create().unwrap();
    let publisher = pong.publisher_builder().create().unwrap();
    ready();
    loop {
        if let Some(s) = sub.receive().unwrap() {
            let v = *s;
            publisher.send_copy(v).unwrap();
            if v[0] == STOP {
                return;
            }
        } else {
            std::hint::spin_loop();
        }
    }
}

fn pubsub(o: &Opts, tag: &str) -> Run {
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let open = |dir: &str| {
        node.service_builder(&service_name(dir, tag))
            .publish_subscribe::<Payload>()
            .open_or_create()
            .unwrap()
    };
    let (ping, pong) = (open("ping"), open("pong"));
    let publisher = ping.publisher_builder().create().unwrap();
    let sub = pong.subscriber_builder().create().unwrap();
    let mut child = spawn_server("pubsub", tag);
    // The server's subscriber exists once it said ready; wait until we see it connected.
    let t = Instant::now();
    while ping.dynamic_config().number_of_subscribers() < 1 {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::yield_now();
    }
    let run = measure(o, &child, |i| {
        publisher.send_copy([i; 8]).unwrap();
        let s = spin(|| sub.receive().unwrap());
        debug_assert_eq!(s[0], i);
    });
    publisher.send_copy([STOP; 8]).unwrap();
    spin(|| sub.receive().unwrap());
    child.wait().unwrap();
    run
}

fn event_server(tag: &str) {
    pin_to_cpu(1);
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let open = |dir: &str| {
        node.service_builder(&service_name(dir, tag))
            .event()
            .open_or_create()
            .unwrap()
    };
    let (ping, pong) = (open("eping"), open("epong"));
    let listener = ping.listener_builder().create().unwrap();
    let notifier = pong.notifier_builder().create().unwrap();
    ready();
    loop {
        let mut stop = false;
        listener
            .blocking_wait(|e| stop |= e.id.as_value() == 2)
            .unwrap();
        notifier.notify().unwrap();
        if stop {
            return;
        }
    }
}

fn event(o: &Opts, tag: &str) -> Run {
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let open = |dir: &str| {
        node.service_builder(&service_name(dir, tag))
            .event()
            .open_or_create()
            .unwrap()
    };
    let (ping, pong) = (open("eping"), open("epong"));
    let notifier = ping.notifier_builder().create().unwrap();
    let listener = pong.listener_builder().create().unwrap();
    let mut child = spawn_server("event", tag);
    let t = Instant::now();
    while ping.dynamic_config().number_of_listeners() < 1 {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::yield_now();
    }
    let run = measure(o, &child, |_| {
        notifier.notify().unwrap();
        listener.blocking_wait(|_| {}).unwrap();
    });
    notifier
        .notify_with_custom_event_id(EventId::new(2))
        .unwrap();
    listener.blocking_wait(|_| {}).unwrap();
    child.wait().unwrap();
    run
}

fn main() {
    set_log_level(LogLevel::Error);
    if let Some((role, args)) = role_of_args() {
        return match role.as_str() {
            "reqresp" => reqresp_server(&args[0]),
            "pubsub" => pubsub_server(&args[0]),
            "event" => event_server(&args[0]),
            "stream" => stream_publisher(&args[0], args[1].parse().expect("count")),
            "blackboard" => blackboard_writer(&args[0]),
            other => panic!("unknown role {other}"),
        };
    }
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("number"))
    };
    let o = Opts {
        rounds: value("--rounds", 100_000),
        runs: value("--runs", 3),
    };
    pin_to_cpu(0);
    let pid = std::process::id();
    type Bench = fn(&Opts, &str) -> Run;
    let benches: [(&str, &str, Bench); 5] = [
        (
            "peer/iox2-reqresp",
            "iceoryx2 0.10 request-response, busy-poll",
            reqresp,
        ),
        (
            "peer/iox2-pubsub",
            "iceoryx2 0.10 publish-subscribe ping-pong, busy-poll",
            pubsub,
        ),
        (
            "peer/iox2-event",
            "iceoryx2 0.10 event ping-pong, both in blocking_wait (no payload)",
            event,
        ),
        (
            "peer/iox2-stream",
            "iceoryx2 0.10 publish-subscribe stream, 1024-sample queue, lossless",
            stream,
        ),
        (
            "peer/iox2-blackboard",
            "iceoryx2 0.10 blackboard entry get(), writer 1 kHz",
            blackboard,
        ),
    ];
    for (key, label, f) in benches {
        eprint!("  {label} …");
        let runs: Vec<Run> = (0..o.runs).map(|r| f(&o, &format!("{pid}_{r}"))).collect();
        let mut p50: Vec<f64> = runs.iter().map(|r| r.p50).collect();
        p50.sort_by(f64::total_cmp);
        let mut rate: Vec<f64> = runs.iter().map(|r| r.rate).collect();
        rate.sort_by(f64::total_cmp);
        if p50[p50.len() / 2].is_nan() {
            eprintln!(" {:.2} M/s", rate[rate.len() / 2] / 1e6);
        } else {
            eprintln!(" p50 {:.0} ns", p50[p50.len() / 2]);
        }
        println!("{}", row_line(key, label, &runs));
    }
}
