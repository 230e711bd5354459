//! Requests and replies through the per-client cells: several shell processes each get their
//! own replies, after their earlier commands; a late reply to a timed-out request is never
//! taken for the next; replies too large or buffers too small are errors, never truncation;
//! a sleeping daemon is woken by requests from another process; scribbled cells give
//! `Corrupt` and lose nothing else.

use std::time::Duration;
use venom_shm::sync::{AtomicU32, AtomicU64, Ordering};

use venom_channel::{
    ChannelConfig, ChannelOptions, ClientId, DaemonChannel, Error, RequestId, ShellChannel,
    ShellOptions,
};
use venom_shm::testing::{KillOnDrop, arg_var, child_arg, child_role, spawn_self, unique_name};

mod common;
use common::{WAIT, connect_when_ready_with, guard};

fn config() -> ChannelConfig {
    ChannelConfig {
        data_size: 64,
        cmd_slots: 8,
        max_clients: 4,
    }
}

/// Each child sends command `c<i>` then request `r<i>`; the daemon answers a request with the
/// request and the last command it saw from that client.
#[test]
fn shells_in_processes_get_their_own_replies_after_their_commands() {
    if child_role().as_deref() == Some("shell") {
        let shell = connect_when_ready_with(&child_arg("NAME"), &ShellOptions::new());
        let mut resp = [0u8; 64];
        for i in 0..300 {
            let cmd = format!("c{i}");
            while let Err(e) = shell.try_send_command(cmd.as_bytes()) {
                assert!(matches!(e, Error::QueueFull), "{e}");
                std::thread::yield_now();
            }
            let n = shell
                .request(format!("r{i}").as_bytes(), &mut resp)
                .unwrap();
            let want = format!("{} r{i} after c{i}", shell.client_id());
            assert_eq!(std::str::from_utf8(&resp[..n]).unwrap(), want);
        }
        return;
    }
    let name = unique_name("rpc_own");
    let _g = guard(&name);
    let daemon = DaemonChannel::create(&name, config()).unwrap();
    let children: Vec<KillOnDrop> = (0..3)
        .map(|_| {
            KillOnDrop::spawn(
                spawn_self(
                    "shells_in_processes_get_their_own_replies_after_their_commands",
                    "shell",
                )
                .env(arg_var("NAME"), &name),
            )
        })
        .collect();
    let stop = daemon.stop_handle();
    let server = {
        let daemon = daemon.clone();
        std::thread::spawn(move || {
            let mut last = vec![String::new(); 5];
            daemon
                .run(|client, bytes| {
                    let text = String::from_utf8(bytes.to_vec()).unwrap();
                    if text.starts_with('c') {
                        last[client as usize] = text;
                        Vec::new()
                    } else {
                        format!("{client} {text} after {}", last[client as usize]).into_bytes()
                    }
                })
                .unwrap();
        })
    };
    for mut child in children {
        let status = child.wait_timeout(WAIT).expect("shell process finishes");
        assert!(status.success(), "a shell saw a wrong reply: {status}");
    }
    stop.stop();
    server.join().unwrap();
    assert_eq!(daemon.stats().requests, 900);
    assert_eq!(daemon.stats().commands, 1800);
}

#[test]
fn late_reply_to_a_timed_out_request_is_never_taken_for_the_next() {
    let name = unique_name("rpc_late");
    let _g = guard(&name);
    let daemon = DaemonChannel::create(&name, config()).unwrap();
    let shell = ShellChannel::connect(&name).unwrap();
    let mut resp = [0u8; 16];
    // Nobody serves it: the request times out.
    assert!(matches!(
        shell.request_timeout(b"first", &mut resp, Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    let mut buf = [0u8; 64];
    let first = daemon.recv_command(&mut buf).unwrap();
    assert_eq!(&buf[..first.len], b"first");
    daemon
        .reply(first.client_id, first.request_id.unwrap(), b"late")
        .unwrap();
    std::thread::scope(|s| {
        let asker = s.spawn(|| {
            let mut resp = [0u8; 16];
            let n = shell.request(b"second", &mut resp).unwrap();
            resp[..n].to_vec()
        });
        let second = daemon.recv_command(&mut buf).unwrap();
        assert_eq!(&buf[..second.len], b"second");
        assert_ne!(second.request_id, first.request_id);
        let id = second.request_id.unwrap();
        daemon.reply(second.client_id, id, b"fresh").unwrap();
        // A second reply to the same request is discarded.
        daemon.reply(second.client_id, id, b"dup").unwrap();
        assert_eq!(asker.join().unwrap(), b"fresh");
    });
    assert_eq!(daemon.stats().requests, 2);
    // Replies to a client id the channel does not have are the caller's error.
    let unknown = ClientId::new(99).unwrap();
    assert!(matches!(
        daemon.reply(unknown, RequestId::new(1), b"x"),
        Err(Error::UnknownClient { client_id: 99 })
    ));
}

#[test]
fn reply_and_request_sizes_are_errors_never_truncation() {
    let name = unique_name("rpc_size");
    let _g = guard(&name);
    let daemon =
        DaemonChannel::create_with(&name, &ChannelOptions::new(config()).response_size(16))
            .unwrap();
    let shell = ShellChannel::connect(&name).unwrap();
    let stop = daemon.stop_handle();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Replies with as many bytes as the request's first byte says.
            daemon.run(|_, req| vec![7u8; req[0] as usize]).unwrap();
        });
        let mut resp = [0u8; 16];
        assert_eq!(shell.request(&[16], &mut resp).unwrap(), 16);
        assert!(matches!(
            shell.request(&[17], &mut resp),
            Err(Error::TooLarge { len: 17, max: 16 })
        ));
        let mut small = [0u8; 4];
        assert!(matches!(
            shell.request(&[5], &mut small),
            Err(Error::BufferTooSmall { needed: 5, got: 4 })
        ));
        assert_eq!(small, [0; 4]);
        let too_long = vec![1u8; shell.max_command_len() + 1];
        assert!(matches!(
            shell.request(&too_long, &mut resp),
            Err(Error::TooLarge { .. })
        ));
        // Still in step afterwards.
        assert_eq!(shell.request(&[3], &mut resp).unwrap(), 3);
        stop.stop();
    });
}

#[test]
fn sleeping_daemon_in_another_process_is_woken_by_requests() {
    if child_role().as_deref() == Some("daemon") {
        let d =
            DaemonChannel::create_with(&child_arg("NAME"), &ChannelOptions::new(config()).spin(0))
                .unwrap();
        let stop = d.stop_handle();
        d.run(|_, req| {
            if req == b"quit" {
                stop.stop();
            }
            req.iter().rev().copied().collect::<Vec<u8>>()
        })
        .unwrap();
        return;
    }
    let name = unique_name("rpc_sleep");
    let _g = guard(&name);
    let mut daemon = KillOnDrop::spawn(
        spawn_self(
            "sleeping_daemon_in_another_process_is_woken_by_requests",
            "daemon",
        )
        .env(arg_var("NAME"), &name),
    );
    // The shell sleeps at once too: both wake-up paths are used.
    let shell = connect_when_ready_with(&name, &ShellOptions::new().spin(0));
    let mut resp = [0u8; 8];
    for i in 0u32..200 {
        let req = i.to_le_bytes();
        let n = shell.request_timeout(&req, &mut resp, WAIT).unwrap();
        let mut want = req;
        want.reverse();
        assert_eq!(&resp[..n], &want);
    }
    let _ = shell.request(b"quit", &mut resp);
    assert!(daemon.wait_timeout(WAIT).unwrap().success());
}

/// Four threads share one shell, and the daemon answers from two worker threads while a third
/// receives: every request gets its own reply, whole. (`.ci/run` also runs this file under
/// ThreadSanitizer.)
#[test]
fn threads_share_a_shell_and_several_threads_reply() {
    const THREADS: u8 = 4;
    const EACH: u32 = 300;
    let name = unique_name("rpc_threads");
    let _g = guard(&name);
    let daemon = DaemonChannel::create(&name, config()).unwrap();
    let shell = ShellChannel::connect(&name).unwrap();
    let (daemon, shell) = (&daemon, &shell);
    let (tx, rx) = std::sync::mpsc::channel::<(ClientId, RequestId, Vec<u8>)>();
    let rx = std::sync::Mutex::new(rx);
    let rx = &rx;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(move || {
                // Ends when the receiver below is done and drops the sender.
                while let Ok((client, request, mut bytes)) = rx.lock().unwrap().recv() {
                    bytes.reverse();
                    daemon.reply(client, request, &bytes).unwrap();
                }
            });
        }
        s.spawn(move || {
            let mut buf = [0u8; 64];
            for _ in 0..u32::from(THREADS) * EACH {
                let cmd = daemon.recv_command(&mut buf).unwrap();
                let request = cmd.request_id.expect("only requests are sent");
                tx.send((cmd.client_id, request, buf[..cmd.len].to_vec()))
                    .unwrap();
            }
        });
        for t in 0..THREADS {
            s.spawn(move || {
                let mut resp = [0u8; 16];
                for i in 0..EACH {
                    let [a, b, ..] = i.to_le_bytes();
                    let req = [t, a, b, 0xA5, t ^ a];
                    let n = shell.request_timeout(&req, &mut resp, WAIT).unwrap();
                    let mut want = req;
                    want.reverse();
                    assert_eq!(&resp[..n], &want, "thread {t}, request {i}");
                }
            });
        }
    });
}

/// Byte offsets of client entry 0's request and reply headers (see `docs/ARCHITECTURE.md`).
fn cell_headers(d: &DaemonChannel) -> (&AtomicU32, &AtomicU32, &AtomicU32, &AtomicU32) {
    // SAFETY: the region starts with the 128-byte header; offsets 56 (cell offset) and the
    // cell's headers lie inside the region; everything is accessed atomically.
    unsafe {
        let base = d.as_ptr().cast_mut();
        let cells = (*base.add(56).cast::<AtomicU64>()).load(Ordering::Relaxed) as usize;
        // The request header line, then the reply header line.
        let reply = cells + 64;
        let word = |off: usize| &*base.add(off).cast::<AtomicU32>();
        (word(cells), word(cells + 4), word(reply), word(reply + 4))
    }
}

#[test]
fn scribbled_cells_are_corrupt_and_lose_nothing_else() {
    let name = unique_name("rpc_hostile");
    let _g = guard(&name);
    let daemon = DaemonChannel::create(&name, config()).unwrap();
    let shell = ShellChannel::connect(&name).unwrap();
    let (req_seq, req_meta, reply_seq, reply_meta) = cell_headers(&daemon);
    // A request claiming more bytes than a request can hold.
    req_meta.store(1 << 20, Ordering::Relaxed);
    req_seq.store(1000, Ordering::Release);
    let mut buf = [0u8; 256];
    assert!(matches!(
        daemon.recv_command(&mut buf),
        Err(Error::Corrupt { .. })
    ));
    let now = Duration::ZERO;
    assert!(
        daemon
            .recv_command_timeout(&mut buf, now)
            .unwrap()
            .is_none()
    );
    // Commands still flow, and so do requests.
    shell.try_send_command(b"cmd").unwrap();
    assert_eq!(daemon.try_recv_command(&mut buf), Some((1, 3)));
    std::thread::scope(|s| {
        let asker = s.spawn(|| {
            let mut resp = [0u8; 16];
            shell.request(b"q", &mut resp).map(|n| resp[..n].to_vec())
        });
        let cmd = daemon.recv_command(&mut buf).unwrap();
        // A reply header claiming more bytes than a reply can hold.
        reply_meta.store(1 << 20, Ordering::Relaxed);
        reply_seq.store(cmd.request_id.unwrap().get(), Ordering::Release);
        assert!(matches!(asker.join().unwrap(), Err(Error::Corrupt { .. })));
    });
    let stop = daemon.stop_handle();
    std::thread::scope(|s| {
        s.spawn(|| daemon.run(|_, _| b"ok".to_vec()).unwrap());
        let mut resp = [0u8; 16];
        assert_eq!(shell.request(b"again", &mut resp).unwrap(), 2);
        stop.stop();
    });
}

/// The daemon of the two tests below: answers each request with `req[0]` bytes, each the sum
/// of the request's bytes and its index, until `quit`.
fn serve_sized(name: &str, spin: u32) {
    let d = DaemonChannel::create_with(name, &ChannelOptions::new(config()).spin(spin)).unwrap();
    let stop = d.stop_handle();
    d.run(|_, req| {
        if req == b"quit" {
            stop.stop();
            return Vec::new();
        }
        sized_reply(req)
    })
    .unwrap();
}

/// What [`serve_sized`] answers to `req`.
fn sized_reply(req: &[u8]) -> Vec<u8> {
    let sum = req.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    (0..req[0]).map(|i| sum.wrapping_add(i)).collect()
}

/// Requests of every length the channel takes and replies of every length it returns, across
/// processes: those of up to 56 bytes travel inside their header lines, longer ones through the
/// cell's slots, and every one arrives whole, also the first after a request given up on (its
/// header is marked "being written" before the bytes change).
#[test]
fn requests_and_replies_of_every_length_cross_processes_whole() {
    if child_role().as_deref() == Some("daemon") {
        return serve_sized(&child_arg("NAME"), venom_channel::DEFAULT_SPIN);
    }
    let name = unique_name("rpc_sizes");
    let _g = guard(&name);
    let mut daemon = KillOnDrop::spawn(
        spawn_self(
            "requests_and_replies_of_every_length_cross_processes_whole",
            "daemon",
        )
        .env(arg_var("NAME"), &name),
    );
    let shell = connect_when_ready_with(&name, &ShellOptions::new());
    let (max_req, max_reply) = (shell.max_command_len(), shell.response_size());
    assert!(max_req > 56 && max_reply > 56, "both paths are crossed");
    let mut resp = vec![0u8; max_reply];
    for len in 1..=max_req {
        let reply_len = (len * 7) % (max_reply + 1);
        let mut req: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
        req[0] = reply_len as u8;
        let n = shell.request_timeout(&req, &mut resp, WAIT).unwrap();
        assert_eq!(&resp[..n], &sized_reply(&req)[..], "request of {len} bytes");
    }
    // A request given up on at once (the daemon may still be copying it), then the next one.
    let mut small = [0u8; 0];
    for len in [8usize, 56, 57, max_req] {
        let req = vec![40u8; len];
        let _ = shell.request_timeout(&req, &mut small, Duration::ZERO);
        let next = vec![41u8; len];
        let n = shell.request_timeout(&next, &mut resp, WAIT).unwrap();
        assert_eq!(
            &resp[..n],
            &sized_reply(&next)[..],
            "after giving up, {len} bytes"
        );
    }
    let _ = shell.request(b"quit", &mut resp);
    assert!(daemon.wait_timeout(WAIT).unwrap().success());
}

/// The asymmetric barrier's fallback: a daemon process that cannot use `membarrier` (here
/// `VENOM_NO_MEMBARRIER`) says so in its queue's doorbell (`heavy` = 0), so shells make their
/// full fence before ringing it; one that can says `heavy` = 1 where the kernel offers the
/// barrier. Either way a daemon asleep at every request answers every one.
#[test]
fn a_daemon_says_how_it_sleeps_and_is_woken_either_way() {
    if child_role().as_deref() == Some("daemon") {
        return serve_sized(&child_arg("NAME"), 0);
    }
    for opted_out in [true, false] {
        let name = unique_name("rpc_heavy");
        let _g = guard(&name);
        let mut cmd = spawn_self(
            "a_daemon_says_how_it_sleeps_and_is_woken_either_way",
            "daemon",
        );
        cmd.env(arg_var("NAME"), &name);
        if opted_out {
            cmd.env("VENOM_NO_MEMBARRIER", "1");
        } else {
            cmd.env_remove("VENOM_NO_MEMBARRIER");
        }
        let mut daemon = KillOnDrop::spawn(&mut cmd);
        let shell = connect_when_ready_with(&name, &ShellOptions::new().spin(0));
        // SAFETY: offset 40 of the channel header is the queue offset; the queue's doorbell
        // line is 192 bytes into the queue (`sleeping` at +4, `heavy` at +12), inside the
        // region; atomics only.
        let (sleeping, heavy) = unsafe {
            let base = shell.as_ptr().cast_mut();
            let queue = (*base.add(40).cast::<AtomicU64>()).load(Ordering::Relaxed) as usize;
            let word = |off: usize| &*base.add(queue + 192 + off).cast::<AtomicU32>();
            (word(4), word(12))
        };
        assert!(
            venom_shm::testing::spin_until(WAIT, || sleeping.load(Ordering::Relaxed) == 1),
            "the daemon never went to sleep"
        );
        let expected = !opted_out && venom_shm::barrier::registered();
        assert_eq!(
            heavy.load(Ordering::Relaxed) == 1,
            expected,
            "opted out: {opted_out}"
        );
        let mut resp = [0u8; 64];
        for i in 0u8..100 {
            let req = [i % 60, i, 3, 4];
            let n = shell.request_timeout(&req, &mut resp, WAIT).unwrap();
            assert_eq!(&resp[..n], &sized_reply(&req)[..]);
        }
        let _ = shell.request(b"quit", &mut resp);
        assert!(daemon.wait_timeout(WAIT).unwrap().success());
    }
}

/// A burst receive (`try_recv_commands_with`) keeps a shell process's order: its commands,
/// then the request it sent after them, which is answered.
#[test]
fn a_burst_receive_keeps_each_shells_commands_before_its_request() {
    if child_role().as_deref() == Some("shell") {
        let shell = connect_when_ready_with(&child_arg("NAME"), &ShellOptions::new());
        let mut resp = [0u8; 8];
        for round in 0u8..50 {
            let cmds: Vec<[u8; 2]> = (0..3).map(|i| [round, i]).collect();
            let burst: Vec<&[u8]> = cmds.iter().map(|c| &c[..]).collect();
            let mut sent = 0;
            while sent < burst.len() {
                sent += shell.try_send_commands(&burst[sent..]).unwrap_or(0);
            }
            let n = shell
                .request_timeout(&[round, 9, 9], &mut resp, WAIT)
                .unwrap();
            assert_eq!(&resp[..n], &[round]);
        }
        return;
    }
    let name = unique_name("rpc_burst");
    let _g = guard(&name);
    let daemon = DaemonChannel::create(&name, config()).unwrap();
    let mut shell = KillOnDrop::spawn(
        spawn_self(
            "a_burst_receive_keeps_each_shells_commands_before_its_request",
            "shell",
        )
        .env(arg_var("NAME"), &name),
    );
    let mut seen = Vec::new();
    let mut answered = 0u8;
    assert!(
        venom_shm::testing::spin_until(WAIT, || {
            daemon.try_recv_commands_with(32, |view, cmd| {
                let bytes = view.to_vec();
                if let Some(id) = cmd.request_id {
                    // Every command of this round came first, in order.
                    let round = bytes[0];
                    let want: Vec<Vec<u8>> = (0..3).map(|i| vec![round, i]).collect();
                    assert_eq!(seen[seen.len() - 3..], want[..], "round {round}");
                    daemon.reply(cmd.client_id, id, &[round]).unwrap();
                    answered += 1;
                }
                seen.push(bytes);
            });
            answered == 50
        }),
        "the shell's requests never all came"
    );
    assert!(shell.wait_timeout(WAIT).unwrap().success());
    assert_eq!(seen.len(), 200);
}
