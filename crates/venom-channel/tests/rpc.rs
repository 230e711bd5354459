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
        let req_slot = (256 - venom_mpsc::SLOT_HEADER_SIZE).div_ceil(64) * 64;
        let reply = cells + 64 + 2 * req_slot;
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
