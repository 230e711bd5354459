//! A peer with write access cannot silence the daemon: forged "daemon busy", doorbell and
//! high-water-mark words delay a request by at most one nap; a shell that keeps replacing its
//! own request cannot starve the others; a daemon that died without closing its channel makes
//! a full queue report `Disconnected`.

use std::process::Stdio;
use std::time::Duration;

use venom_channel::{
    ChannelConfig, ChannelOptions, DaemonChannel, Error, ShellChannel, ShellOptions,
};
use venom_shm::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use venom_shm::testing::{
    KillOnDrop, ShmGuard, announce_ready, arg_var, child_arg, child_role, spawn_self, spin_until,
    unique_name,
};

const WAIT: Duration = Duration::from_secs(5);

/// Ends the helper threads of a scope (the flag) and the daemon's `run` when dropped, also
/// when an assertion fails, so a failing test fails instead of hanging.
struct Finish<'a>(&'a venom_channel::StopHandle, &'a AtomicBool);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.1.store(false, Ordering::Relaxed);
        self.0.stop();
    }
}

fn config() -> ChannelConfig {
    ChannelConfig {
        data_size: 64,
        cmd_slots: 8,
        max_clients: 4,
    }
}

/// The `u32` at byte `offset` of the daemon's region.
fn word32(d: &DaemonChannel, offset: usize) -> &AtomicU32 {
    // SAFETY: callers pass header offsets or offsets inside the layout; 4-aligned; the
    // region outlives `d`'s borrow; accessed atomically only.
    unsafe { &*d.as_ptr().add(offset).cast::<AtomicU32>() }
}

fn word64(d: &DaemonChannel, offset: usize) -> &AtomicU64 {
    // SAFETY: as `word32`, 8-aligned header fields.
    unsafe { &*d.as_ptr().add(offset).cast::<AtomicU64>() }
}

#[test]
fn forged_wake_flags_delay_a_request_by_at_most_a_nap() {
    let name = unique_name("hostile_flags");
    let _g = ShmGuard(format!("venom_{name}"));
    // A daemon that sleeps at once when idle, so every request depends on being woken.
    let d = DaemonChannel::create_with(&name, &ChannelOptions::new(config()).spin(0)).unwrap();
    let shell = ShellChannel::connect_with(&name, &ShellOptions::new().spin(0)).unwrap();
    let stop = d.stop_handle();
    let queue = word64(&d, 40).load(Ordering::Relaxed) as usize;
    let scribbling = AtomicBool::new(true);
    std::thread::scope(|s| {
        s.spawn(|| d.run(|_, req| req.to_vec()).unwrap());
        let _finish = Finish(&stop, &scribbling);
        let mut resp = [0u8; 8];
        assert_eq!(shell.request_timeout(b"a", &mut resp, WAIT).unwrap(), 1);
        // The high-water mark to 0 (no cell polled), "daemon busy" (shells do not ring), and
        // the doorbell's "sleeping" to 0 (producers do not wake), over and over.
        s.spawn(|| {
            while scribbling.load(Ordering::Relaxed) {
                word32(&d, 96).store(0, Ordering::Relaxed);
                word32(&d, 100).store(1, Ordering::Relaxed);
                word32(&d, queue + 196).store(0, Ordering::Relaxed);
                std::thread::yield_now();
            }
        });
        assert!(spin_until(WAIT, || word32(&d, 100).load(Ordering::Relaxed) == 1));
        for i in 0u8..20 {
            let n = shell.request_timeout(&[i], &mut resp, WAIT).unwrap();
            assert_eq!(&resp[..n], &[i]);
        }
    });
}

/// The pending-request summary (a bit per client, which the daemon looks at instead of every
/// cell) cleared over and over by another process: a busy daemon, which never sleeps (and so
/// never makes the full scan that precedes a nap), still finds every request in its periodic
/// full scan.
#[test]
fn a_cleared_request_summary_delays_requests_but_loses_none() {
    let name = unique_name("hostile_summary");
    let _g = ShmGuard(format!("venom_{name}"));
    let busy = u32::MAX;
    let config = ChannelConfig {
        max_clients: 64,
        ..config()
    };
    let d = DaemonChannel::create_with(&name, &ChannelOptions::new(config).spin(busy)).unwrap();
    // Clients 1..=4 are looked at directly; client 5 on has summary bits.
    let mut shells: Vec<ShellChannel> = (0..5)
        .map(|_| ShellChannel::connect_with(&name, &ShellOptions::new().spin(busy)).unwrap())
        .collect();
    let shell = shells.pop().unwrap();
    assert_eq!(shell.client_id(), 5);
    let stop = d.stop_handle();
    // The summary follows the registry (64 entries of 64 bytes).
    let summary = word64(&d, 48).load(Ordering::Relaxed) as usize + 64 * 64;
    let scribbling = AtomicBool::new(true);
    std::thread::scope(|s| {
        s.spawn(|| d.run(|_, req| req.to_vec()).unwrap());
        let _finish = Finish(&stop, &scribbling);
        s.spawn(|| {
            while scribbling.load(Ordering::Relaxed) {
                word64(&d, summary).store(0, Ordering::Relaxed);
            }
        });
        let mut resp = [0u8; 8];
        for i in 0u8..200 {
            let n = shell.request_timeout(&[i], &mut resp, WAIT).unwrap();
            assert_eq!(&resp[..n], &[i]);
        }
    });
}

/// The fixed header fields (the channel's magic and daemon pid, the data's and the queue's
/// magic) scribbled: new shells are kept out and live ones see the daemon as gone, until the
/// daemon's next repair (before every nap): then both work again.
#[test]
fn scribbled_fixed_headers_are_repaired_by_the_daemon() {
    let name = unique_name("hostile_restamp");
    let _g = ShmGuard(format!("venom_{name}"));
    let d = DaemonChannel::create_with(&name, &ChannelOptions::new(config()).spin(0)).unwrap();
    let shell = ShellChannel::connect(&name).unwrap();
    let stop = d.stop_handle();
    let idle = AtomicBool::new(true);
    let (data, queue) = (
        word64(&d, 32).load(Ordering::Relaxed) as usize,
        word64(&d, 40).load(Ordering::Relaxed) as usize,
    );
    std::thread::scope(|s| {
        s.spawn(|| d.run(|_, req| req.to_vec()).unwrap());
        let _finish = Finish(&stop, &idle);
        for offset in [0, 16, data, queue] {
            word32(&d, offset).store(0, Ordering::Relaxed);
        }
        let mut newcomer = None;
        assert!(spin_until(WAIT, || {
            newcomer = ShellChannel::connect(&name).ok();
            newcomer.is_some()
        }));
        let mut resp = [0u8; 8];
        for s in [&shell, newcomer.as_ref().unwrap()] {
            assert!(spin_until(WAIT, || s
                .request_timeout(b"hi", &mut resp, WAIT)
                .is_ok()));
        }
    });
}

#[test]
fn a_shell_replacing_its_request_nonstop_cannot_starve_another() {
    let name = unique_name("hostile_livelock");
    let _g = ShmGuard(format!("venom_{name}"));
    let options = ChannelOptions::new(config()).command_slot_size(1 << 20); // long copies
    let d = DaemonChannel::create_with(&name, &options).unwrap();
    let hostile = ShellChannel::connect(&name).unwrap();
    let honest = ShellChannel::connect(&name).unwrap();
    assert_eq!(hostile.client_id(), 1);
    let stop = d.stop_handle();
    // The hostile's request header: cell 0, `seq`, then `meta` at 4 (the full length, so
    // each copy is a megabyte from the cell's slot).
    let cells = word64(&d, 56).load(Ordering::Relaxed) as usize;
    let max = hostile.max_command_len() as u32;
    let bumping = AtomicBool::new(true);
    std::thread::scope(|s| {
        s.spawn(|| d.run(|_, req| req[..1].to_vec()).unwrap());
        let _finish = Finish(&stop, &bumping);
        s.spawn(|| {
            let mut seq = 1_000u32;
            word32(&d, cells + 4).store(max, Ordering::Relaxed);
            while bumping.load(Ordering::Relaxed) {
                seq = seq.wrapping_add(1);
                word32(&d, cells).store(seq, Ordering::Release);
            }
        });
        assert!(spin_until(WAIT, || word32(&d, cells)
            .load(Ordering::Relaxed)
            > 1_000));
        let mut resp = [0u8; 8];
        for i in 0u8..20 {
            let n = honest.request_timeout(&[i, 0, 0], &mut resp, WAIT).unwrap();
            assert_eq!(&resp[..n], &[i]);
        }
    });
}

/// A daemon process that dies without closing its channel: once the queue is full, sends
/// say `Disconnected` rather than `QueueFull` forever.
#[test]
fn a_full_queue_of_a_dead_daemon_is_disconnected() {
    if child_role().as_deref() == Some("daemon") {
        let _d = DaemonChannel::create(&child_arg("NAME"), config()).unwrap();
        announce_ready();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line); // until killed
        return;
    }
    let name = unique_name("hostile_dead");
    let _g = ShmGuard(format!("venom_{name}"));
    let mut daemon = KillOnDrop::spawn(
        spawn_self("a_full_queue_of_a_dead_daemon_is_disconnected", "daemon")
            .env(arg_var("NAME"), &name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    daemon.wait_ready();
    let shell = ShellChannel::connect(&name).unwrap();
    daemon.kill();
    let err = (0..100)
        .find_map(|_| shell.try_send_command(b"x").err())
        .expect("the queue fills");
    assert!(matches!(err, Error::Disconnected), "{err}");
}

/// A holder is a pid *and* a start time: an entry or a daemon recorded with a live pid but
/// another start time (the pid was reused by an unrelated process) counts as dead.
#[test]
fn a_reused_pid_does_not_keep_a_dead_holder_alive() {
    let name = unique_name("hostile_reuse");
    let _g = ShmGuard(format!("venom_{name}"));
    let one = ChannelConfig {
        max_clients: 1,
        ..config()
    };
    let d = DaemonChannel::create(&name, one).unwrap();
    let registry = word64(&d, 48).load(Ordering::Relaxed) as usize;
    // The only entry: held by a live pid (this test's own), started at another time.
    word32(&d, registry).store(std::process::id(), Ordering::Relaxed);
    word64(&d, registry + 8).store(12_345, Ordering::Relaxed);
    let shell = ShellChannel::connect(&name).expect("the stale entry is reclaimed");
    assert_eq!(shell.client_id(), 1);
    // A daemon recorded with a live pid and another start time is gone for its shells.
    let mut resp = [0u8; 8];
    word64(&d, 104).store(12_345, Ordering::Relaxed);
    assert!(matches!(
        shell.request_timeout(b"x", &mut resp, WAIT),
        Err(Error::Disconnected)
    ));
    // The true start time: alive again (nothing answers: a timeout, not a disconnection).
    let start = venom_shm::wait::current_start_time();
    word64(&d, 104).store(start, Ordering::Relaxed);
    assert!(matches!(
        shell.request_timeout(b"x", &mut resp, Duration::from_millis(30)),
        Err(Error::Timeout)
    ));
}

/// The daemon holds the data's writer lock for its life: a forged owner word (a live pid, as
/// a hostile would write) does not lock it out of `write_data`, and readers go on reading.
/// A data version scribbled near its limit (M3): the shell's reads are corrupt until the
/// daemon's next write, which numbers again; before, every later `write_data` failed.
#[test]
fn a_scribbled_data_version_is_renumbered_by_the_next_write() {
    let name = unique_name("hostile_version");
    let _g = ShmGuard(format!("venom_{name}"));
    let d = DaemonChannel::create(&name, config()).unwrap();
    let shell = ShellChannel::connect(&name).unwrap();
    d.write_data(b"old").unwrap();
    // The data seqlock's published version: 64 bytes into its header (see venom-seqlock's
    // layout).
    let data = word64(&d, 32).load(Ordering::Relaxed) as usize;
    word64(&d, data + 64).store(1 << 63, Ordering::Relaxed);
    let mut buf = [0u8; 8];
    assert!(shell.read_data_checked(&mut buf).is_err());
    d.write_data(b"new").unwrap();
    assert_eq!(shell.read_data_checked(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"new");
}

#[test]
fn a_forged_writer_owner_does_not_lock_the_daemon_out() {
    let name = unique_name("hostile_owner");
    let _g = ShmGuard(format!("venom_{name}"));
    let d = DaemonChannel::create(&name, config()).unwrap();
    let shell = ShellChannel::connect(&name).unwrap();
    // The data seqlock follows the header and the counters line; its lock owner is at 128.
    let data = word64(&d, 32).load(Ordering::Relaxed) as usize;
    word32(&d, data + 128).store(1, Ordering::Relaxed); // pid 1: alive, never ours
    for i in 0u8..10 {
        d.write_data(&[i; 4]).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(shell.read_data_checked(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], &[i; 4]);
    }
}
