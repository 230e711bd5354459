//! Writes `docs/PERFORMANCE.md` and its plots (`docs/perf/*.svg`) from one run's results.

use std::fmt::Write as _;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use venom_benches::{Run, Spread, size_label};

use crate::snap::SIZES;
use crate::{Results, Row};

fn spread(row: &Row, f: impl Fn(&Run) -> f64) -> Spread {
    Spread::of(&row.runs.iter().map(f).collect::<Vec<_>>())
}

fn median(r: &Results, key: &str, f: impl Fn(&Run) -> f64) -> Option<f64> {
    let m = spread(r.get(key)?, f).median;
    (!m.is_nan()).then_some(m)
}

fn p50(r: &Results, key: &str) -> Option<f64> {
    median(r, key, |x| x.p50)
}

fn rate(r: &Results, key: &str) -> Option<f64> {
    median(r, key, |x| x.rate)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let hv = if cpuinfo.contains(" hypervisor") {
        ", virtual machine"
    } else {
        ""
    };
    format!("{cpus} × {model}{hv}; Linux {}; {rustc}", kernel.trim())
}

/// One line of the targets table.
struct Target {
    metric: &'static str,
    /// What we compare against, and its value in this run.
    base: (String, Option<f64>),
    ours: Option<f64>,
    /// `true`: ours ÷ base must be at most `limit`; `false`: at least.
    at_most: bool,
    limit: f64,
    unit: &'static str,
}

fn fmt_val(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "not measured".into(),
        Some(v) => match unit {
            "ns" => format!("{v:.0} ns"),
            "M/s" => format!("{:.2} M/s", v / 1e6),
            "GB/s" => format!("{:.1} GB/s", v / 1e9),
            "/s" => format!("{v:.0} /s"),
            _ => format!("{v:.3}"),
        },
    }
}

fn targets(r: &Results) -> Vec<Target> {
    let kib256 = 256 * 1024;
    let gbs = |key: &str, size: usize| rate(r, key).map(|v| v * size as f64);
    let t = |metric, base: (&str, Option<f64>), ours, at_most, limit, unit| Target {
        metric,
        base: (base.0.to_owned(), base.1),
        ours,
        at_most,
        limit,
        unit,
    };
    vec![
        t(
            "RPC round trip, 56 B each way (inline), busy-poll, p50",
            ("cache-line ping-pong p50", p50(r, "rtt/pingpong")),
            p50(r, "rtt/venom-busy-56"),
            true,
            1.3,
            "ns",
        ),
        t(
            "RPC round trip, 56 B each way (inline), spin then sleep, p50",
            ("cache-line ping-pong p50", p50(r, "rtt/pingpong")),
            p50(r, "rtt/venom-spin-56"),
            true,
            1.3,
            "ns",
        ),
        t(
            "RPC round trip, busy-poll, p50",
            ("cache-line ping-pong p50", p50(r, "rtt/pingpong")),
            p50(r, "rtt/venom-busy"),
            true,
            1.5,
            "ns",
        ),
        t(
            "RPC round trip, busy-poll, p50",
            ("iceoryx2 request-response p50", p50(r, "peer/iox2-reqresp")),
            p50(r, "rtt/venom-busy"),
            true,
            0.3,
            "ns",
        ),
        t(
            "RPC sequential throughput",
            ("raw doorbells + 64 B", rate(r, "rtt/doorbell-busy")),
            rate(r, "rtt/venom-busy"),
            false,
            0.8,
            "M/s",
        ),
        t(
            "RPC round trip, spin then sleep, p50",
            ("raw spin-then-futex p50", p50(r, "rtt/doorbell-spin")),
            p50(r, "rtt/venom-spin"),
            true,
            1.3,
            "ns",
        ),
        t(
            "RPC round trip, server asleep, p50",
            ("raw futex wake p50", p50(r, "rtt/doorbell-sleep")),
            p50(r, "rtt/venom-sleep"),
            true,
            1.2,
            "ns",
        ),
        t(
            "RPC round trip, busy-poll, 1023 idle shells connected, p50",
            ("same, no idle shell", p50(r, "rtt/idle-0")),
            p50(r, "rtt/idle-1023"),
            true,
            1.2,
            "ns",
        ),
        t(
            "commands from 8 producer processes (all on one CPU)",
            ("from 1 producer", rate(r, "stream/commands")),
            rate(r, "stream/producers-8"),
            false,
            0.5,
            "M/s",
        ),
        t(
            "Awaited request (tokio), busy-poll, p50",
            ("blocking request p50", p50(r, "rtt/venom-busy")),
            p50(r, "rtt/async-busy"),
            true,
            1.5,
            "ns",
        ),
        t(
            "Awaited request (tokio), daemon asleep, p50",
            ("blocking request p50", p50(r, "rtt/venom-sleep")),
            p50(r, "rtt/async-sleep"),
            true,
            1.5,
            "ns",
        ),
        t(
            "Awaited request (tokio), both sides asleep, p50",
            ("blocking request p50", p50(r, "rtt/venom-parked")),
            p50(r, "rtt/async-parked"),
            true,
            1.5,
            "ns",
        ),
        t(
            "C API round trip, busy-poll, p50",
            ("Rust request↔run p50", p50(r, "rtt/venom-busy")),
            p50(r, "rtt/c-busy"),
            true,
            1.1,
            "ns",
        ),
        t(
            "C API round trip, spin then sleep, p50",
            ("Rust request↔run p50", p50(r, "rtt/venom-spin")),
            p50(r, "rtt/c-spin"),
            true,
            1.1,
            "ns",
        ),
        t(
            "Python Shell.request round trip, p50",
            ("multiprocessing.Pipe p50", p50(r, "py/pipe")),
            p50(r, "py/venom"),
            true,
            0.1,
            "ns",
        ),
        t(
            "Python Shell.request round trip, p50",
            ("Python Unix socket p50", p50(r, "py/unix")),
            p50(r, "py/venom"),
            true,
            0.1,
            "ns",
        ),
        t(
            "commands, 64 B, one by one",
            ("raw SPSC ring", rate(r, "stream/spsc")),
            rate(r, "stream/commands"),
            false,
            0.5,
            "M/s",
        ),
        t(
            "commands, 64 B, one by one",
            (
                "iceoryx2 publish-subscribe stream",
                rate(r, "peer/iox2-stream"),
            ),
            rate(r, "stream/commands"),
            false,
            2.0,
            "M/s",
        ),
        t(
            "commands, 64 B, batched (try_send_commands → try_recv_commands_with, bursts of 32)",
            ("raw SPSC ring, batched", rate(r, "stream/spsc-batched")),
            rate(r, "stream/commands-batched"),
            false,
            0.5,
            "M/s",
        ),
        t(
            "latest value 256 KiB, writer 1 kHz",
            (
                "plain-memcpy seqlock",
                gbs(&format!("snap/raw/{kib256}/1khz"), kib256),
            ),
            gbs(&format!("snap/venom/{kib256}/3/1khz"), kib256),
            false,
            0.9,
            "GB/s",
        ),
        t(
            "latest value 256 KiB, writer back to back (3 slots)",
            (
                "reader's copy rate, writer idle",
                gbs(&format!("snap/venom/{kib256}/3/idle"), kib256),
            ),
            gbs(&format!("snap/venom/{kib256}/3/b2b"), kib256),
            false,
            0.5,
            "GB/s",
        ),
        t(
            "latest value 4 MiB, writer back to back (3 slots)",
            (
                "reader's copy rate, writer idle",
                gbs(&format!("snap/venom/{}/3/idle", 4 << 20), 4 << 20),
            ),
            gbs(&format!("snap/venom/{}/3/b2b", 4 << 20), 4 << 20),
            false,
            0.8,
            "GB/s",
        ),
    ]
}

fn verdict(ratio: Option<f64>, at_most: bool, limit: f64) -> &'static str {
    match ratio {
        None => "not measured",
        Some(x) if (at_most && x <= limit) || (!at_most && x >= limit) => "met",
        Some(_) => "**missed**",
    }
}

fn latency_table(out: &mut String, r: &Results, keys: &[&str]) {
    out.push_str("| transport, 64 B each way (unless named) | p50 ns | p99 ns | p99.9 ns | k round trips/s | CPU % client / server |\n|---|---|---|---|---|---|\n");
    for key in keys {
        let Some(row) = r.get(key) else { continue };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} / {:.0} |",
            row.label,
            spread(row, |x| x.p50).show(1.0, 0),
            spread(row, |x| x.p99).show(1.0, 0),
            spread(row, |x| x.p999).show(1.0, 0),
            spread(row, |x| x.rate).show(1e3, 0),
            spread(row, |x| x.cpu_a).median,
            spread(row, |x| x.cpu_b).median,
        );
    }
}

const RTT_KEYS: [&str; 21] = [
    "rtt/pingpong",
    "rtt/doorbell-busy",
    "rtt/venom-busy-56",
    "rtt/venom-busy",
    "rtt/async-busy",
    "rtt/c-busy",
    "peer/iox2-reqresp",
    "peer/iox2-pubsub",
    "rtt/doorbell-spin",
    "rtt/venom-spin-56",
    "rtt/venom-spin",
    "rtt/async-spin",
    "rtt/c-spin",
    "rtt/doorbell-sleep",
    "rtt/venom-sleep",
    "rtt/async-sleep",
    "rtt/venom-parked",
    "rtt/async-parked",
    "peer/iox2-event",
    "rtt/unix",
    "rtt/pipe",
];

const STREAM_KEYS: [&str; 12] = [
    "stream/spsc",
    "stream/spsc-batched",
    "stream/commands",
    "peer/iox2-stream",
    "stream/commands-batched",
    "stream/producers-2",
    "stream/producers-4",
    "stream/producers-8",
    "stream/queue",
    "stream/queue-batched",
    "stream/unix",
    "stream/pipe",
];

/// Builds the report, writes it (and the plots) under `root`, or prints it.
pub(crate) fn write(r: &Results, root: &Path, write: bool) {
    let mut md = String::new();
    let cmd = "cargo run --release -p venom-benches --bin perf";
    let _ = write!(
        md,
        "# Performance\n\n\
         Generated by `{cmd}{}` (the whole comparison, one run; this file and the plots in\n\
         `docs/perf/` are rewritten by it). Do not edit by hand: change `benches/` instead.\n\n\
         * Machine: {}.\n\
         * Method: two **processes**, pinned to CPUs 0 (client, reader, consumer) and 1 (server,\n  \
         writer, producer); handshake and warm-up first; round trips timed one by one with the\n  \
         monotonic clock; every configuration run {} times: the figure is the median of the\n  \
         runs, the bracket the min–max spread across runs. CPU % is CPU time over the timed\n  \
         window from `/proc/<pid>/task/*/schedstat` (100 = one CPU busy).\n\
         * Compare only within this file: results move by tens of percent between invocations on\n  \
         a VM.\n\n",
        if r.opts_line.is_empty() {
            String::new()
        } else {
            format!(" -- {}", r.opts_line)
        },
        machine(),
        r.rows.first().map_or(0, |row| row.runs.len()),
    );

    md.push_str("## Targets\n\nRatios within this run (issues #7, #13 and #16).\n\n| metric | compared with (this run) | VenomMemory | ratio | target | verdict |\n|---|---|---|---|---|---|\n");
    for t in targets(r) {
        let ratio = match (t.ours, t.base.1) {
            (Some(o), Some(b)) if b > 0.0 => Some(o / b),
            _ => None,
        };
        let _ = writeln!(
            md,
            "| {} | {}: {} | {} | {} | {} {:.1}× | {} |",
            t.metric,
            t.base.0,
            fmt_val(t.base.1, t.unit),
            fmt_val(t.ours, t.unit),
            ratio.map_or("—".into(), |x| format!("{x:.2}×")),
            if t.at_most { "≤" } else { "≥" },
            t.limit,
            verdict(ratio, t.at_most, t.limit),
        );
    }
    let busy_calls = r
        .syscalls
        .iter()
        .find(|(s, _)| s == "venom-busy")
        .and_then(|(_, v)| v.as_ref().ok())
        .map(|v| v.0);
    let _ = writeln!(
        md,
        "| system calls per round trip, busy-poll | 0 | {} | — | 0 | {} |",
        busy_calls.map_or("not measured".into(), |v| format!("{v:.4}")),
        match busy_calls {
            None => "not measured",
            Some(v) if v < 0.001 => "met",
            Some(_) => "**missed**",
        }
    );
    let _ = writeln!(
        md,
        "| idle daemon CPU over 5 s | — | {} | — | < 1 % | {} |\n",
        r.idle_cpu
            .map_or("not measured".into(), |v| format!("{v:.3} %")),
        match r.idle_cpu {
            None => "not measured",
            Some(v) if v < 1.0 => "met",
            Some(_) => "**missed**",
        }
    );
    match std::fs::read_to_string(root.join(ANALYSIS)) {
        Ok(text) => md.push_str(&text),
        Err(e) => {
            let _ = writeln!(md, "(analysis missing: {ANALYSIS}: {e})");
        }
    }

    md.push_str("\n## Round trips\n\nThe client (CPU 0) sends 64 bytes and waits for 64 bytes back from the server (CPU 1); the\n\"56 B (inline)\" rows send 56, the most a request or reply carries inside its header line.\n\"Server asleep\" rows pause 50 µs between round trips (not timed) so the server has gone to\nsleep when each request arrives. iceoryx2 rows carry the same 64-byte payloads (`[u64; 8]`), copied in and out.\n\n![round-trip latency](perf/latency.svg)\n\n");
    latency_table(&mut md, r, &RTT_KEYS);
    if let Some(e) = &r.peers_error {
        let _ = writeln!(md, "\nPeers not measured: {e}.");
    }

    md.push_str("\n## Round trips with idle shells connected\n\nThe busy-poll round trip again, with N more shells connected to the channel (held by the\nclient process, sending nothing): what the daemon's search for pending requests costs as\nclients connect.\n\n![RPC p50 against connected shells](perf/idle.svg)\n\n");
    let idle: Vec<String> = IDLE_SHELLS
        .iter()
        .map(|n| format!("rtt/idle-{n}"))
        .collect();
    latency_table(
        &mut md,
        r,
        &idle.iter().map(String::as_str).collect::<Vec<_>>(),
    );

    md.push_str("\n## From Python\n\nThe same 64-byte round trip timed in Python (`time.perf_counter_ns` around each call; a\ntenth of the rounds): the ctypes binding's `Shell.request` against a Rust daemon, beside\nPython's own `multiprocessing.Pipe` and a Unix socket to an echoing Python process. CPU is\nnot measured for these rows (nor for the C rows above, timed by the C client).\n\n");
    latency_table(&mut md, r, &["py/venom", "py/pipe", "py/unix"]);

    md.push_str("\n## Streams of commands\n\nA producer process (CPU 1) sends 64-byte messages as fast as it can; this process\n(CPU 0) receives them. Messages per second from the first message received to the last.\n\n![stream throughput](perf/streams.svg)\n\n| transport, 64 B messages | M msg/s | CPU % consumer / producer |\n|---|---|---|\n");
    for key in STREAM_KEYS {
        let Some(row) = r.get(key) else { continue };
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} / {:.0} |",
            row.label,
            spread(row, |x| x.rate).show(1e6, 2),
            spread(row, |x| x.cpu_a).median,
            spread(row, |x| x.cpu_b).median,
        );
    }

    md.push_str("\n## Latest value\n\nConsistent snapshots per second taken by a reader process (CPU 0) while a writer process\n(CPU 1) rewrites the value back to back or once per millisecond. \"Raw\" is the floor: a\nsingle-buffer seqlock copying with plain `memcpy`. VenomMemory reads through\n`ShellChannel::read_data_checked`, the daemon writes with `DaemonChannel::write_data`.\n\"Idle\" is the reader's own copy rate with the writer idle; memcpy is `copy_from_slice`\nbetween private, 64-byte aligned buffers.\n\n![snapshot bandwidth](perf/snapshots.svg)\n\n| size | transport | slots | writer | snapshots/s | GB/s |\n|---|---|---|---|---|---|\n");
    for size in SIZES {
        let l = size_label(size);
        let mut line = |key: String, what: &str, slots: &str, writer: &str| {
            if let Some(row) = r.get(&key) {
                let s = spread(row, |x| x.rate);
                let _ = writeln!(
                    md,
                    "| {l} | {what} | {slots} | {writer} | {} | {:.2} |",
                    s.show(1.0, 0),
                    s.median * size as f64 / 1e9
                );
            }
        };
        line(format!("snap/memcpy/{size}"), "memcpy", "—", "—");
        for (p, w) in [("b2b", "back to back"), ("1khz", "1 kHz")] {
            line(format!("snap/raw/{size}/{p}"), "raw seqlock", "1", w);
        }
        for slots in [1, 3] {
            for (p, w) in [("idle", "idle"), ("b2b", "back to back"), ("1khz", "1 kHz")] {
                line(
                    format!("snap/venom/{size}/{slots}/{p}"),
                    "VenomMemory",
                    &slots.to_string(),
                    w,
                );
            }
        }
    }

    md.push_str("\n## `SharedMemory<T>`\n\nA 64-byte `T` (`[u64; 8]`), two processes; beside it, an iceoryx2 blackboard entry of the\nsame type read back to back while the other process updates it at 1 kHz.\n\n| operation | M ops/s | CPU % this / other process |\n|---|---|---|\n");
    for key in ["snap/sm-read", "peer/iox2-blackboard", "snap/sm-write"] {
        if let Some(row) = r.get(key) {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} / {:.0} |",
                row.label,
                spread(row, |x| x.rate).show(1e6, 2),
                spread(row, |x| x.cpu_a).median,
                spread(row, |x| x.cpu_b).median,
            );
        }
    }

    md.push_str("\n## System calls per operation\n\n`strace -f -c` (both processes) around `perf --scenario <s> --rounds n` and `--rounds 2n`;\nthe steady state is the difference over n, so start-up and teardown cancel out.\n\n| scenario | n | calls at n | calls at 2n | per operation |\n|---|---|---|---|---|\n");
    for (s, v) in &r.syscalls {
        match v {
            Ok((per, n, a, b)) => {
                let _ = writeln!(md, "| {s} | {n} | {a} | {b} | {per:.4} |");
            }
            Err(e) => {
                let _ = writeln!(md, "| {s} | — | — | — | not measured: {e} |");
            }
        }
    }
    if let Some(cpu) = r.idle_cpu {
        let _ = writeln!(
            md,
            "\nIdle daemon (default spin budget, after one request): **{cpu:.3} %** of a CPU over 5 s."
        );
    }

    if !write {
        println!("{md}");
        return;
    }
    let dir = root.join("docs/perf");
    std::fs::create_dir_all(&dir).expect("create docs/perf");
    std::fs::write(root.join("docs/PERFORMANCE.md"), md).expect("write PERFORMANCE.md");
    plot_latency(r, &dir.join("latency.svg"));
    plot_streams(r, &dir.join("streams.svg"));
    plot_snapshots(r, &dir.join("snapshots.svg"));
    plot_idle(r, &dir.join("idle.svg"));
    eprintln!("wrote docs/PERFORMANCE.md and docs/perf/*.svg");
}

/// The chart type both per-transport plots use: one row per transport (labelled on the left),
/// a logarithmic x axis; `draw` adds each row's marks at its y.
fn per_transport_chart(
    path: &Path,
    caption: &str,
    x: std::ops::Range<f64>,
    x_desc: &str,
    rows: &[&Row],
    mut draw: impl FnMut(
        &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<LogCoord<f64>, RangedCoordf64>>,
        &Row,
        f64,
    ),
) {
    if rows.is_empty() {
        return;
    }
    let h = 80 + 34 * rows.len() as u32;
    let root = SVGBackend::new(path, (1000, h)).into_drawing_area();
    let _ = root.fill(&WHITE);
    let n = rows.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(380)
        .build_cartesian_2d(x.log_scale(), -0.5f64..n - 0.5)
        .expect("chart");
    let fmt = |y: &f64| {
        let i = y.round();
        if (y - i).abs() < 0.01 && i >= 0.0 && (i as usize) < rows.len() {
            rows[rows.len() - 1 - i as usize].label.clone()
        } else {
            String::new()
        }
    };
    let _ = chart
        .configure_mesh()
        .y_labels(rows.len() * 4)
        .y_label_formatter(&fmt)
        .x_desc(x_desc)
        .disable_y_mesh()
        .draw();
    for (i, row) in rows.iter().enumerate() {
        draw(&mut chart, row, n - 1.0 - i as f64);
    }
    let _ = root.present();
}

/// Round-trip percentiles per transport: a line from p50 to p99.9, dots at p50 and p99.
fn plot_latency(r: &Results, path: &Path) {
    let rows: Vec<&Row> = RTT_KEYS.iter().filter_map(|k| r.get(k)).collect();
    per_transport_chart(
        path,
        "Round trip, 64 B each way: p50 (●), p99 (○), line to p99.9",
        50f64..5e6,
        "nanoseconds (log scale)",
        &rows,
        |chart, row, y| {
            let (a, b, c) = (
                spread(row, |x| x.p50).median,
                spread(row, |x| x.p99).median,
                spread(row, |x| x.p999).median,
            );
            let color = if row.key.contains("venom") {
                RED
            } else if row.key.starts_with("peer") {
                BLUE
            } else {
                BLACK
            };
            let _ = chart.draw_series(std::iter::once(PathElement::new(
                vec![(a, y), (c, y)],
                color.stroke_width(2),
            )));
            let _ = chart.draw_series(std::iter::once(Circle::new((a, y), 5, color.filled())));
            let _ = chart.draw_series(std::iter::once(Circle::new(
                (b, y),
                5,
                color.stroke_width(2),
            )));
        },
    );
}

/// Stream throughput per transport (M msg/s, log scale).
fn plot_streams(r: &Results, path: &Path) {
    let rows: Vec<&Row> = STREAM_KEYS.iter().filter_map(|k| r.get(k)).collect();
    per_transport_chart(
        path,
        "64-byte messages per second, one producer process",
        0.1f64..500.0,
        "million messages per second (log scale)",
        &rows,
        |chart, row, y| {
            let v = spread(row, |x| x.rate).median / 1e6;
            let color = if row.key.contains("commands") || row.key.contains("queue") {
                RED
            } else {
                BLACK
            };
            let _ = chart.draw_series(std::iter::once(Rectangle::new(
                [(0.1, y - 0.3), (v.max(0.1), y + 0.3)],
                color.mix(0.6).filled(),
            )));
        },
    );
}

/// Snapshot bandwidth (GB/s) by value size, per transport and writer pace.
fn plot_snapshots(r: &Results, path: &Path) {
    let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
    let _ = root.fill(&WHITE);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Latest value: consistent snapshot bandwidth by size",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (32f64..8.0 * 1024.0 * 1024.0).log_scale(),
            (0.01f64..400.0).log_scale(),
        )
        .expect("chart");
    let _ = chart
        .configure_mesh()
        .x_desc("value size, bytes (log scale)")
        .y_desc("GB/s (log scale)")
        .x_label_formatter(&|x| size_label(*x as usize))
        .draw();
    let series: [(&str, &str, RGBColor); 6] = [
        ("memcpy", "snap/memcpy/{}", BLACK),
        (
            "raw seqlock, 1 kHz",
            "snap/raw/{}/1khz",
            RGBColor(120, 120, 120),
        ),
        ("VenomMemory 3 slots, 1 kHz", "snap/venom/{}/3/1khz", RED),
        (
            "VenomMemory 3 slots, back to back",
            "snap/venom/{}/3/b2b",
            MAGENTA,
        ),
        ("raw seqlock, back to back", "snap/raw/{}/b2b", BLUE),
        (
            "VenomMemory 1 slot, back to back",
            "snap/venom/{}/1/b2b",
            CYAN,
        ),
    ];
    for (name, pattern, color) in series {
        let points: Vec<(f64, f64)> = SIZES
            .iter()
            .filter_map(|&size| {
                let v = rate(r, &pattern.replace("{}", &size.to_string()))? * size as f64 / 1e9;
                Some((size as f64, v.max(0.011)))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        if let Ok(s) = chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2))) {
            s.label(name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        let _ = chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, color.filled())),
        );
    }
    let _ = chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw();
    let _ = root.present();
}

/// How many idle shells the `rtt/idle-N` rows connect besides the one that asks.
pub(crate) const IDLE_SHELLS: [u32; 5] = [0, 15, 63, 255, 1023];

fn plot_idle(r: &Results, path: &Path) {
    let points: Vec<(f64, f64)> = IDLE_SHELLS
        .iter()
        .filter_map(|&n| Some((f64::from(n + 1), p50(r, &format!("rtt/idle-{n}"))?)))
        .collect();
    if points.is_empty() {
        return;
    }
    let top = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.3;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    let _ = root.fill(&WHITE);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "RPC round trip (busy-poll) p50 against connected shells",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((1f64..1024.0).log_scale(), 0f64..top)
        .expect("chart");
    let _ = chart
        .configure_mesh()
        .x_desc("connected shells (the asking one included; log scale)")
        .y_desc("p50, ns")
        .draw();
    let _ = chart.draw_series(LineSeries::new(points.clone(), RED.stroke_width(2)));
    let _ = chart.draw_series(points.into_iter().map(|p| Circle::new(p, 4, RED.filled())));
    let _ = root.present();
}

/// Hand-written analysis of the targets, with the profile behind it (relative to the
/// workspace root). It describes the code at the commit that generated the report; the
/// figures in the tables are the run's own.
const ANALYSIS: &str = "benches/src/bin/perf/analysis.md";
