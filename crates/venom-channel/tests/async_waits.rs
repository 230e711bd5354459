//! The `async` futures across real processes, on tokio (current-thread and multi-thread
//! runtimes) and on a minimal executor (pollster): replies, data, commands and shared values
//! are awaited without blocking the runtime's thread; a dropped request never takes another's
//! reply; a dead daemon ends every wait with `Disconnected`.

use std::sync::Arc;
use std::time::Duration;

use venom_channel::{
    ChannelConfig, ChannelOptions, ClientId, DaemonChannel, Error, RequestId, SharedMemory,
    ShellChannel, ShellOptions,
};
use venom_shm::sync::{AtomicBool, Ordering};
use venom_shm::testing::{
    KillOnDrop, ShmGuard, announce_ready, arg_var, child_arg, child_role, spawn_self, unique_name,
};

mod common;
use common::{WAIT, connect_when_ready_with, guard};

fn config() -> ChannelConfig {
    ChannelConfig {
        data_size: 64,
        cmd_slots: 64,
        max_clients: 16,
    }
}

/// The daemon of these tests (a child process, blocking API, sleeping when idle): echoes
/// requests reversed; holds a `hold` request until the next `tick` command (answers `held`)
/// or `release` command (answers `late`); a `hold` request also writes the data `holding`;
/// `quit` ends it.
fn run_test_daemon() {
    let name = child_arg("NAME");
    let daemon = DaemonChannel::create_with(&name, &ChannelOptions::new(config()).spin(0))
        .expect("create channel");
    announce_ready();
    let mut held: Option<(ClientId, RequestId)> = None;
    let mut buf = vec![0u8; daemon.max_command_len()];
    loop {
        let cmd = daemon.recv_command(&mut buf).expect("receive");
        let bytes = &buf[..cmd.len];
        match (cmd.request_id, bytes) {
            (Some(id), b"hold") => {
                held = Some((cmd.client_id, id));
                daemon.write_data(b"holding").unwrap();
            }
            (Some(id), b"quit") => {
                daemon.reply(cmd.client_id, id, b"bye").unwrap();
                return;
            }
            (Some(id), _) => {
                let reversed: Vec<u8> = bytes.iter().rev().copied().collect();
                daemon.reply(cmd.client_id, id, &reversed).unwrap();
            }
            (None, b"tick") => {
                if let Some((client, id)) = held.take() {
                    daemon.reply(client, id, b"held").unwrap();
                }
            }
            (None, b"release") => {
                if let Some((client, id)) = held.take() {
                    daemon.reply(client, id, b"late").unwrap();
                }
            }
            (None, _) => {}
        }
    }
}

/// The daemon process, and its stdout (kept open so the child's test harness can still write
/// its report after the ready line).
fn spawn_daemon(test: &str, name: &str) -> (KillOnDrop, impl Sized) {
    let mut daemon = KillOnDrop::spawn(
        spawn_self(test, "daemon")
            .env(arg_var("NAME"), name)
            .stdout(std::process::Stdio::piped()),
    );
    let stdout = daemon.wait_ready();
    (daemon, stdout)
}

fn reversed(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().rev().copied().collect()
}

/// 10 000 requests awaited on a current-thread runtime whose other task ticks a timer: every
/// 1000th request is answered only after the daemon receives a `tick` that the timer task
/// sends while that request is awaited — impossible if awaiting blocked the thread.
#[test]
fn a_timer_keeps_ticking_while_requests_are_awaited_on_a_current_thread_runtime() {
    const TEST: &str =
        "a_timer_keeps_ticking_while_requests_are_awaited_on_a_current_thread_runtime";
    if child_role().as_deref() == Some("daemon") {
        return run_test_daemon();
    }
    let name = unique_name("async_timer");
    let _g = guard(&name);
    let _daemon = spawn_daemon(TEST, &name);
    let shell = Arc::new(ShellChannel::connect(&name).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (held, ticks) = rt.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let ticker = tokio::spawn({
            let (shell, done) = (Arc::clone(&shell), Arc::clone(&done));
            async move {
                let mut interval = tokio::time::interval(Duration::from_millis(1));
                let mut ticks = 0u64;
                while !done.load(Ordering::Relaxed) {
                    interval.tick().await;
                    // A full queue only delays a tick (the next one goes through).
                    if shell.try_send_command(b"tick").is_ok() {
                        ticks += 1;
                    }
                }
                ticks
            }
        });
        let requests = async {
            let mut held = 0;
            for i in 0u32..10_000 {
                if i % 1000 == 999 {
                    assert_eq!(
                        shell.request_timeout_async(b"hold", WAIT).await.unwrap(),
                        b"held"
                    );
                    held += 1;
                } else {
                    let req = i.to_le_bytes();
                    let reply = shell.request_timeout_async(&req, WAIT).await.unwrap();
                    assert_eq!(reply, reversed(&req));
                }
            }
            held
        };
        let held = tokio::time::timeout(WAIT, requests)
            .await
            .expect("requests finish");
        done.store(true, Ordering::Relaxed);
        (held, ticker.await.unwrap())
    });
    assert_eq!(held, 10);
    assert!(ticks >= 10, "{ticks} ticks");
    let mut resp = [0u8; 8];
    assert_eq!(shell.request(b"quit", &mut resp).unwrap(), 3);
}

/// Tasks on a multi-thread runtime share one shell: each gets its own replies.
#[test]
fn tasks_on_a_multi_thread_runtime_share_a_shell_and_get_their_own_replies() {
    const TEST: &str = "tasks_on_a_multi_thread_runtime_share_a_shell_and_get_their_own_replies";
    if child_role().as_deref() == Some("daemon") {
        return run_test_daemon();
    }
    let name = unique_name("async_mt");
    let _g = guard(&name);
    let _daemon = spawn_daemon(TEST, &name);
    let shell = Arc::new(ShellChannel::connect(&name).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0u32..8)
            .map(|task| {
                let shell = Arc::clone(&shell);
                tokio::spawn(async move {
                    let mut resp = [0u8; 64];
                    for i in 0u32..200 {
                        let req = [task.to_le_bytes(), i.to_le_bytes()].concat();
                        let n = shell
                            .request_into_async(&req, &mut resp, WAIT)
                            .await
                            .unwrap();
                        assert_eq!(&resp[..n], &reversed(&req)[..]);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    // A blocking request still works beside them.
    let mut resp = [0u8; 8];
    assert_eq!(shell.request(b"quit", &mut resp).unwrap(), 3);
}

/// A request future dropped while it waits (its runtime's timeout) leaves the shell usable,
/// and its late reply is never taken for the next request.
#[test]
fn a_dropped_request_never_takes_the_next_ones_reply() {
    const TEST: &str = "a_dropped_request_never_takes_the_next_ones_reply";
    if child_role().as_deref() == Some("daemon") {
        return run_test_daemon();
    }
    let name = unique_name("async_cancel");
    let _g = guard(&name);
    let _daemon = spawn_daemon(TEST, &name);
    let shell = ShellChannel::connect(&name).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        // Held by the daemon until `release`: the timeout always fires first.
        let cancelled =
            tokio::time::timeout(Duration::from_millis(20), shell.request_async(b"hold")).await;
        assert!(
            cancelled.is_err(),
            "the held request cannot have been answered"
        );
        // The daemon answers the dropped request (`late`) before it sees the next request.
        shell.try_send_command(b"release").unwrap();
        for i in 0u8..50 {
            let reply = shell.request_timeout_async(&[i, 1], WAIT).await.unwrap();
            assert_eq!(reply, [1, i]);
        }
    });
    let mut resp = [0u8; 8];
    assert_eq!(shell.request(b"quit", &mut resp).unwrap(), 3);
}

/// The daemon process dies while a request and a data wait are awaited: both end with
/// `Disconnected`.
#[test]
fn a_dead_daemon_ends_awaited_requests_and_data_waits() {
    const TEST: &str = "a_dead_daemon_ends_awaited_requests_and_data_waits";
    if child_role().as_deref() == Some("daemon") {
        return run_test_daemon();
    }
    let name = unique_name("async_dead");
    let _g = guard(&name);
    let (mut daemon, _stdout) = spawn_daemon(TEST, &name);
    let shell = ShellChannel::connect(&name).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (request, data) = rt.block_on(async {
        let request = shell.request_timeout_async(b"hold", WAIT);
        let killer = async {
            // The daemon writes `holding` when it has the request: then kill it.
            let v = shell.wait_for_data_async(0).await.unwrap();
            daemon.kill();
            shell.wait_for_data_async(v).await
        };
        tokio::time::timeout(WAIT, async { tokio::join!(request, killer) })
            .await
            .expect("both waits end")
    });
    assert!(matches!(request, Err(Error::Disconnected)), "{request:?}");
    assert!(matches!(data, Err(Error::Disconnected)), "{data:?}");
}

/// The shell of `an_async_daemon_on_a_minimal_executor_serves_a_shell_process`: commands
/// `c0..c39`, then requests, awaited with pollster, then `quit`.
fn run_pollster_shell() {
    let shell = connect_when_ready_with(&child_arg("NAME"), &ShellOptions::new());
    pollster::block_on(async {
        let v = shell.wait_for_data_async(0).await.unwrap();
        assert_eq!(v, 1);
        for i in 0u8..40 {
            shell.try_send_command(&[b'c', i]).unwrap();
        }
        for i in 0u8..100 {
            let reply = shell.request_async(&[b'r', i]).await.unwrap();
            assert_eq!(reply, [i, b'r']);
        }
        shell.request_async(b"quit").await.unwrap();
    });
}

/// A daemon awaiting commands (`recv_command_async`) and serving requests (`serve_async`) on
/// pollster, for a shell process that awaits data and replies on pollster too.
#[test]
fn an_async_daemon_on_a_minimal_executor_serves_a_shell_process() {
    const TEST: &str = "an_async_daemon_on_a_minimal_executor_serves_a_shell_process";
    if child_role().as_deref() == Some("shell") {
        return run_pollster_shell();
    }
    let name = unique_name("async_pollster");
    let _g = guard(&name);
    let daemon = DaemonChannel::create_with(&name, &ChannelOptions::new(config()).spin(0)).unwrap();
    let mut shell = KillOnDrop::spawn(spawn_self(TEST, "shell").env(arg_var("NAME"), &name));
    daemon.write_data(b"go").unwrap();
    pollster::block_on(async {
        let mut buf = [0u8; 64];
        for i in 0u8..40 {
            let cmd = daemon.recv_command_async(&mut buf).await.unwrap();
            assert_eq!(cmd.request_id, None);
            assert_eq!(&buf[..cmd.len], &[b'c', i]);
        }
        let stop = daemon.stop_handle();
        let replier = daemon.clone();
        daemon
            .serve_async(|cmd, bytes| {
                let (replier, stop) = (replier.clone(), stop.clone());
                async move {
                    let id = cmd.request_id.expect("only requests now");
                    replier.reply(cmd.client_id, id, &reversed(&bytes)).unwrap();
                    if bytes == b"quit" {
                        stop.stop();
                    }
                }
            })
            .await
            .unwrap();
    });
    assert!(shell.wait_timeout(WAIT).expect("shell ends").success());
}

/// `SharedMemory::wait_for_change_async` wakes when another process writes the value.
#[test]
fn a_shared_value_change_by_another_process_is_awaited() {
    const TEST: &str = "a_shared_value_change_by_another_process_is_awaited";
    if child_role().as_deref() == Some("writer") {
        let value = SharedMemory::<u64>::open(&child_arg("NAME")).unwrap();
        value.write(&42).unwrap();
        return;
    }
    let name = unique_name("async_shared");
    let _g = ShmGuard(format!("venom_sm_{name}"));
    let value = SharedMemory::<u64>::create(&name).unwrap();
    let changed = value.wait_for_change_async();
    let mut writer = KillOnDrop::spawn(spawn_self(TEST, "writer").env(arg_var("NAME"), &name));
    pollster::block_on(changed).unwrap();
    assert_eq!(value.read(), 42);
    assert!(writer.wait_timeout(WAIT).expect("writer ends").success());
}
