//! `venom`: see, poke and clean VenomMemory channels without writing code.
//!
//! ```text
//! venom list                          every region: kind, sizes, owner, daemon, state, clients
//! venom inspect NAME [--json]         layout, configuration, counters, clients, queue depth
//! venom watch NAME                    live rates, refreshed in place (Ctrl-C to quit)
//! venom clean [--dry-run]             remove channels whose daemon is gone
//! venom send NAME CMD                 a fire-and-forget command
//! venom request NAME CMD [--timeout]  a request; prints the reply (--hex for bytes)
//! venom read NAME [--follow]          the current data, or each new version
//! ```
//!
//! Regions are opened with the library's trust rules: only this user's, unless
//! `--trust-root` or `--trust-uid UID` says otherwise. Errors are one line on stderr, with a
//! hint where one helps, and a non-zero exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use venom_channel::inspect::{self, ChannelInfo, RegionKind};
use venom_channel::{Error, ErrorKind, ShellChannel, ShellOptions, Trust};

/// See, poke and clean VenomMemory channels.
#[derive(Debug, Parser)]
#[command(name = "venom", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Also accept regions owned by root (a system daemon's).
    #[arg(long, global = true)]
    trust_root: bool,
    /// Also accept regions owned by this uid.
    #[arg(long, global = true, value_name = "UID")]
    trust_uid: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every VenomMemory region (channels and shared values), flagging stale ones (daemon
    /// gone), corrupt ones and ones that are not ours.
    List,
    /// Show a channel's layout, configuration, counters, clients and queue depth (or a
    /// shared value's fingerprint).
    Inspect {
        /// The channel (or shared value) name.
        name: String,
        /// Print JSON (schema `venom.inspect/1`, documented in docs/OPERATIONS.md).
        #[arg(long)]
        json: bool,
    },
    /// Live rates of a channel (writes, commands, requests per second, queue depth), refreshed
    /// in place; ends on Ctrl-C or when the daemon goes away.
    Watch {
        /// The channel name.
        name: String,
        /// Milliseconds between refreshes.
        #[arg(long, default_value_t = 1000)]
        interval: u64,
        /// Stop after this many refreshes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Remove channels whose daemon is gone (never a live one, never another user's).
    Clean {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Send a fire-and-forget command.
    Send {
        /// The channel name.
        name: String,
        /// The command (its UTF-8 bytes).
        command: String,
    },
    /// Send a request and print the reply.
    Request {
        /// The channel name.
        name: String,
        /// The request (its UTF-8 bytes).
        command: String,
        /// Milliseconds to wait for the reply.
        #[arg(long, default_value_t = 5000)]
        timeout: u64,
        /// Print the reply as hex bytes.
        #[arg(long)]
        hex: bool,
    },
    /// Print the channel's current data (or, with --follow, each new version).
    Read {
        /// The channel name.
        name: String,
        /// Print as hex bytes.
        #[arg(long)]
        hex: bool,
        /// Print each new version as it is published, until the daemon goes away.
        #[arg(long)]
        follow: bool,
        /// With --follow, stop after this many versions.
        #[arg(long)]
        count: Option<u64>,
    },
}

/// A failure: the message and, where one helps, a hint.
struct Failure(String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let hint = match (&e, e.kind()) {
            (_, ErrorKind::NotFound) => Some("`venom list` shows what exists".to_owned()),
            (Error::UntrustedOwner { uid, .. }, _) => Some(format!(
                "owned by {}; pass --trust-uid {uid} to trust it",
                user(*uid)
            )),
            (Error::PermissionDenied { name }, _) => owner_of(name).map(|uid| {
                format!(
                    "owned by {}: run as that user, or have it grant access",
                    user(uid)
                )
            }),
            (_, ErrorKind::Disconnected) => {
                Some("its daemon is gone; `venom clean` removes stale channels".to_owned())
            }
            (_, ErrorKind::InvalidName) => Some("names have no `/` and at most 254 bytes".into()),
            _ => None,
        };
        Failure(match hint {
            Some(h) => format!("{e} (hint: {h})"),
            None => e.to_string(),
        })
    }
}

/// The owner of a region name like `/venom_x`.
fn owner_of(region_name: &str) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(format!("/dev/shm{region_name}"))
        .ok()
        .map(|m| m.uid())
}

/// `uid N (name)` from /etc/passwd when it has the uid.
fn user(uid: u32) -> String {
    let name = std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
        p.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2)? == &uid.to_string().as_str()).then(|| f[0].to_owned())
        })
    });
    match name {
        Some(n) => format!("uid {uid} ({n})"),
        None => format!("uid {uid}"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut trust = Trust::own();
    if cli.trust_root {
        trust = trust.also_root();
    }
    if let Some(uid) = cli.trust_uid {
        trust = trust.also_uid(uid);
    }
    let result = match cli.command {
        Command::List => list(trust),
        Command::Inspect { name, json } => inspect_cmd(&name, json, trust),
        Command::Watch {
            name,
            interval,
            count,
        } => watch(&name, Duration::from_millis(interval.max(10)), count, trust),
        Command::Clean { dry_run } => clean(dry_run),
        Command::Send { name, command } => {
            connect(&name, trust).and_then(|s| Ok(s.try_send_command(command.as_bytes())?))
        }
        Command::Request {
            name,
            command,
            timeout,
            hex,
        } => request(&name, &command, Duration::from_millis(timeout), hex, trust),
        Command::Read {
            name,
            hex,
            follow,
            count,
        } => read(&name, hex, follow, count, trust),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("venom: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn connect(name: &str, trust: Trust) -> Result<ShellChannel, Failure> {
    Ok(ShellChannel::connect_with(
        name,
        &ShellOptions::new().trust(trust),
    )?)
}

/// What `list` says about one region: layout version and sizes, daemon, state, clients.
struct Row {
    version: String,
    sizes: String,
    daemon: String,
    state: String,
    clients: String,
}

impl Row {
    fn unreadable(state: String) -> Self {
        Row {
            version: "-".into(),
            sizes: "-".into(),
            daemon: "-".into(),
            state,
            clients: "-".into(),
        }
    }
}

fn state_of(r: &inspect::Region, trust: Trust) -> Row {
    if !r.regular {
        return Row::unreadable("not a region (not a regular file)".into());
    }
    match r.kind {
        RegionKind::Channel => match inspect::channel(&r.name, trust) {
            Ok(i) => {
                let state = if i.closed {
                    "stale (closed)"
                } else if !i.daemon_alive {
                    "stale (daemon dead)"
                } else {
                    "live"
                };
                let clients = i.clients.iter().filter(|c| c.alive).count();
                Row {
                    version: i.layout_version.to_string(),
                    sizes: format!("{}/{}/{}", i.data_size, i.max_command_len, i.response_size),
                    daemon: format!("{} {}", i.daemon_pid, alive(i.daemon_alive)),
                    state: state.into(),
                    clients: format!("{clients}/{}", i.max_clients),
                }
            }
            Err(e) => Row::unreadable(flag(&e)),
        },
        RegionKind::SharedValue => match inspect::shared(&r.name, trust) {
            Ok(i) => Row {
                version: "1".into(),
                sizes: i.size.to_string(),
                daemon: format!(
                    "{} {}",
                    i.creator_pid,
                    if i.creator_alive { "alive" } else { "exited" }
                ),
                state: format!("value, align {}, tag {:?}", i.align, i.tag),
                clients: "-".into(),
            },
            Err(e) => Row::unreadable(flag(&e)),
        },
    }
}

/// A short flag for a region that cannot be read.
fn flag(e: &Error) -> String {
    match e {
        Error::UntrustedOwner { uid, .. } => format!("not ours ({}; --trust-uid)", user(*uid)),
        Error::PermissionDenied { .. } => "permission denied".into(),
        Error::NotARegion { kind, .. } => format!("not a region ({kind})"),
        other => format!("corrupt: {other}"),
    }
}

fn list(trust: Trust) -> Result<(), Failure> {
    let regions = inspect::regions()?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<24} {:<7} {:>3} {:>14} {:>9} {:<18} {:>5} {:<14} {:>7}  STATE",
        "NAME", "KIND", "VER", "DATA/CMD/REPLY", "BYTES", "OWNER", "MODE", "DAEMON", "CLIENTS"
    );
    for r in &regions {
        let kind = match r.kind {
            RegionKind::Channel => "channel",
            RegionKind::SharedValue => "value",
        };
        let row = state_of(r, trust);
        let _ = writeln!(
            out,
            "{:<24} {:<7} {:>3} {:>14} {:>9} {:<18} {:>5o} {:<14} {:>7}  {}",
            r.name,
            kind,
            row.version,
            row.sizes,
            r.size,
            user(r.owner),
            r.mode,
            row.daemon,
            row.clients,
            row.state
        );
    }
    if regions.is_empty() {
        let _ = writeln!(out, "(no VenomMemory regions in /dev/shm)");
    }
    Ok(())
}

fn json_of(name: &str, i: &ChannelInfo) -> serde_json::Value {
    let o = &i.offsets;
    serde_json::json!({
        "schema": "venom.inspect/1",
        "name": name,
        "kind": "channel",
        "layout_version": i.layout_version,
        "config": {
            "data_size": i.data_size, "data_slots": i.data_slots, "cmd_slots": i.cmd_slots,
            "cmd_slot_size": i.cmd_slot_size, "max_command_len": i.max_command_len,
            "response_size": i.response_size, "max_clients": i.max_clients,
        },
        "layout": {
            "stats": o.stats, "data": o.data, "queue": o.queue, "registry": o.registry,
            "cells": o.cells, "cell_stride": o.cell_stride, "total": o.total,
        },
        "daemon": { "pid": i.daemon_pid, "alive": i.daemon_alive, "closed": i.closed },
        "stale": i.is_stale(),
        "clients": i.clients.iter().map(|c| serde_json::json!({
            "id": c.id, "pid": c.pid, "alive": c.alive,
        })).collect::<Vec<_>>(),
        "queue_depth": i.queue_depth,
        "data_version": i.data_version,
        "counters": {
            "writes": i.stats.writes, "commands": i.stats.commands,
            "requests": i.stats.requests, "dropped": i.stats.dropped,
            "abandoned": i.stats.abandoned,
        },
    })
}

fn inspect_cmd(name: &str, json: bool, trust: Trust) -> Result<(), Failure> {
    let channel = inspect::channel(name, trust);
    if let (Err(Error::NotFound { .. }), Ok(v)) = (&channel, inspect::shared(name, trust)) {
        if json {
            let value = serde_json::json!({
                "schema": "venom.inspect/1", "name": name, "kind": "value",
                "size": v.size, "align": v.align, "tag": v.tag,
                "creator": { "pid": v.creator_pid, "alive": v.creator_alive },
                "version": v.version, "occupied": v.occupied,
            });
            println!("{value:#}");
        } else {
            println!(
                "shared value {name}: {} bytes, align {}, tag {:?}",
                v.size, v.align, v.tag
            );
            println!(
                "  creator pid {} ({})",
                v.creator_pid,
                alive(v.creator_alive)
            );
            println!(
                "  version {}, writer lock {}",
                v.version,
                if v.occupied { "held" } else { "free" }
            );
        }
        return Ok(());
    }
    let i = channel?;
    if json {
        println!("{:#}", json_of(name, &i));
        return Ok(());
    }
    let o = &i.offsets;
    println!("channel {name} (layout version {})", i.layout_version);
    println!(
        "  daemon    pid {} ({}{})",
        i.daemon_pid,
        alive(i.daemon_alive),
        if i.closed { ", channel closed" } else { "" }
    );
    println!(
        "  config    data {} B x {} slots, commands {} slots x {} B (up to {} B), replies up to {} B, {} clients",
        i.data_size,
        i.data_slots,
        i.cmd_slots,
        i.cmd_slot_size,
        i.max_command_len,
        i.response_size,
        i.max_clients
    );
    println!(
        "  layout    header 0, counters {}, data {}, queue {}, registry {}, cells {} (stride {}), total {}",
        o.stats, o.data, o.queue, o.registry, o.cells, o.cell_stride, o.total
    );
    let s = i.stats;
    println!(
        "  counters  writes {}, commands {}, requests {}, dropped {}, abandoned {}",
        s.writes, s.commands, s.requests, s.dropped, s.abandoned
    );
    println!("  data      version {}", i.data_version);
    println!("  queue     {} waiting", i.queue_depth);
    println!("  clients   {} held", i.clients.len());
    for c in &i.clients {
        println!("    id {:<5} pid {:<8} {}", c.id, c.pid, alive(c.alive));
    }
    Ok(())
}

fn alive(a: bool) -> &'static str {
    if a { "alive" } else { "dead" }
}

fn watch(name: &str, every: Duration, count: Option<u64>, trust: Trust) -> Result<(), Failure> {
    let tty = std::io::stdout().is_terminal();
    let mut prev = inspect::channel(name, trust)?;
    let mut at = Instant::now();
    let mut n = 0u64;
    loop {
        if count.is_some_and(|c| n >= c) {
            return Ok(());
        }
        std::thread::sleep(every); // the refresh period of a display, not synchronisation
        let now = match inspect::channel(name, trust) {
            Ok(i) if !i.is_stale() => i,
            Ok(_) | Err(Error::NotFound { .. }) => {
                println!("venom: the daemon of {name} is gone");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let secs = at.elapsed().as_secs_f64().max(1e-9);
        at = Instant::now();
        let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
        let (p, c) = (prev.stats, now.stats);
        if tty {
            print!("\x1b[H\x1b[2J");
        }
        println!(
            "{name}: daemon pid {}, {} clients | writes/s {:.0} | commands/s {:.0} | requests/s {:.0} | queue depth {} | dropped {} abandoned {}",
            now.daemon_pid,
            now.clients.iter().filter(|c| c.alive).count(),
            rate(p.writes, c.writes),
            rate(p.commands, c.commands),
            rate(p.requests, c.requests),
            now.queue_depth,
            c.dropped,
            c.abandoned,
        );
        let _ = std::io::stdout().flush();
        prev = now;
        n += 1;
    }
}

fn clean(dry_run: bool) -> Result<(), Failure> {
    let mut removed = 0;
    for r in inspect::regions()? {
        if r.kind != RegionKind::Channel || !r.regular {
            continue;
        }
        // Another user's region, a live one or one that does not validate is never touched.
        let Ok(info) = inspect::channel(&r.name, Trust::own()) else {
            continue;
        };
        if !info.is_stale() {
            continue;
        }
        if dry_run {
            println!(
                "would remove {} (daemon pid {} gone)",
                r.name, info.daemon_pid
            );
            removed += 1;
        } else if inspect::remove_if_stale(&r.name)? {
            println!("removed {} (daemon pid {} gone)", r.name, info.daemon_pid);
            removed += 1;
        }
    }
    if removed == 0 {
        println!("nothing to clean");
    }
    Ok(())
}

fn show(bytes: &[u8], hex: bool) -> String {
    if hex {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

fn request(
    name: &str,
    command: &str,
    timeout: Duration,
    hex: bool,
    trust: Trust,
) -> Result<(), Failure> {
    let shell = connect(name, trust)?;
    let mut resp = vec![0u8; shell.response_size()];
    let n = shell.request_timeout(command.as_bytes(), &mut resp, timeout)?;
    println!("{}", show(&resp[..n], hex));
    Ok(())
}

fn read(
    name: &str,
    hex: bool,
    follow: bool,
    count: Option<u64>,
    trust: Trust,
) -> Result<(), Failure> {
    let shell = connect(name, trust)?;
    let mut buf = vec![0u8; shell.data_size()];
    if !follow {
        let n = shell.read_data_checked(&mut buf)?;
        println!("{}", show(&buf[..n], hex));
        return Ok(());
    }
    let mut since = 0;
    let mut printed = 0u64;
    loop {
        if count.is_some_and(|c| printed >= c) {
            return Ok(());
        }
        match shell.read_data_if_changed(since, &mut buf)? {
            Some(s) => {
                println!("{} {}", s.version, show(&buf[..s.len], hex));
                let _ = std::io::stdout().flush();
                since = s.version;
                printed += 1;
            }
            None => match shell.wait_for_data_timeout(since, Duration::from_millis(100)) {
                Ok(_) | Err(Error::Timeout) => {}
                Err(Error::Disconnected) => {
                    println!("venom: the daemon of {name} is gone");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
}
