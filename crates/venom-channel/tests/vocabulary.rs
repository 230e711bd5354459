//! The API vocabulary the C API mirrors: a caller's own mistakes are `InvalidConfig` /
//! `UnknownClient` (never `Corrupt`), every error has a flat `ErrorKind`, primitive errors
//! arrive flattened, the daemon receives with a timeout (also from shells in other processes),
//! sizes are queryable, the spin budget is given at connect time, `SharedBytes` shares one
//! value with a typed `SharedMemory<T>` in another process, and a `StopHandle` never keeps a
//! channel open.

use std::time::Duration;

use venom_channel::{
    ChannelConfig, ChannelOptions, ClientId, DaemonChannel, Error, ErrorKind, SharedBytes,
    SharedMemory, SharedMemoryOptions, ShellChannel, ShellOptions,
};
use venom_shm::testing::{
    KillOnDrop, ShmGuard, arg_var, child_arg, child_role, spawn_self, spin_until, unique_name,
};

mod common;
use common::{WAIT, connect_when_ready, guard};

fn config() -> ChannelConfig {
    ChannelConfig {
        data_size: 64,
        cmd_slots: 8,
        max_clients: 4,
    }
}

fn invalid(result: Result<DaemonChannel, Error>, what: &str) {
    match result {
        Err(e @ Error::InvalidConfig { .. }) => {
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(e.to_string().contains(what), "{e} should name {what}");
        }
        other => panic!("expected InvalidConfig naming {what}, got {other:?}"),
    }
}

#[test]
fn a_callers_bad_config_is_invalid_config_never_corrupt() {
    let name = unique_name("voc_cfg");
    let _g = guard(&name);
    let with = |f: fn(ChannelOptions) -> ChannelOptions| {
        DaemonChannel::create_with(&name, &f(ChannelOptions::new(config())))
    };
    let clients = |n| ChannelConfig {
        max_clients: n,
        ..config()
    };
    invalid(DaemonChannel::create(&name, clients(0)), "max_clients");
    invalid(DaemonChannel::create(&name, clients(70_000)), "max_clients");
    invalid(with(|o| o.command_slot_size(100)), "command_slot_size");
    invalid(with(|o| o.command_slot_size(32)), "command_slot_size");
    invalid(with(|o| o.data_slots(0)), "data_slots");
    invalid(with(|o| o.response_size(3 << 30)), "response size");
    // Nothing was left behind by the refused creations.
    assert!(matches!(
        ShellChannel::connect(&name),
        Err(Error::NotFound { .. })
    ));
    // The same values for a shared value.
    let sm = unique_name("voc_cfg_sm");
    let opts = SharedMemoryOptions::new();
    for (size, align) in [(0, 8), (8, 3), (8, 8192)] {
        let e = SharedBytes::create(&sm, size, align, &opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{size}/{align}: {e}");
    }
}

#[test]
fn errors_have_flat_kinds_and_no_sentinels() {
    let name = unique_name("voc_kinds");
    let _g = guard(&name);
    assert_eq!(
        ShellChannel::connect(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        DaemonChannel::create("a/b", config()).unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    let d = DaemonChannel::create(&name, config()).unwrap();
    let taken = DaemonChannel::create(&name, config()).unwrap_err();
    assert_eq!(taken.kind(), ErrorKind::AlreadyExists);
    match &taken {
        Error::AlreadyExists { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
        other => panic!("{other:?}"),
    }
    assert!(taken.to_string().contains(&std::process::id().to_string()));
    let big = vec![0u8; d.data_size() + 1];
    assert_eq!(d.write_data(&big).unwrap_err().kind(), ErrorKind::TooLarge);
    // A seqlock error arrives flattened: no primitive crate is needed to match it.
    let s = ShellChannel::connect(&name).unwrap();
    d.write_data(b"12345678").unwrap();
    let mut small = [0u8; 4];
    assert!(matches!(
        s.read_data_if_changed(0, &mut small),
        Err(Error::BufferTooSmall { needed: 8, got: 4 })
    ));
    let unknown = ClientId::new(4 + 1).unwrap();
    let e = d
        .reply(unknown, venom_channel::RequestId::new(1), b"x")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownClient);
}

#[test]
fn sizes_are_reported_on_both_sides() {
    let name = unique_name("voc_sizes");
    let _g = guard(&name);
    let options = ChannelOptions::new(config())
        .response_size(777)
        .command_slot_size(512);
    let d = DaemonChannel::create_with(&name, &options).unwrap();
    let s = ShellChannel::connect(&name).unwrap();
    assert_eq!((d.response_size(), s.response_size()), (777, 777));
    assert_eq!(d.max_command_len(), s.max_command_len());
    assert_eq!(d.max_command_len(), 512 - 16);
    assert_eq!((d.data_size(), s.data_size()), (64, 64));
}

/// A shell process sends a command and makes a request; the daemon here receives both with
/// `recv_command` (blocking) and answers the request with `reply` and the typed ids.
#[test]
fn the_daemon_receives_with_a_timeout_from_a_shell_process() {
    if child_role().as_deref() == Some("shell") {
        let shell = connect_when_ready(&child_arg("NAME"));
        shell.try_send_command(b"hello").unwrap();
        let mut resp = [0u8; 64];
        let n = shell.request_timeout(b"ping", &mut resp, WAIT).unwrap();
        assert_eq!(&resp[..n], format!("pong {}", shell.client_id()).as_bytes());
        return;
    }
    let name = unique_name("voc_recv");
    let _g = guard(&name);
    let d = DaemonChannel::create(&name, config()).unwrap();
    let mut buf = [0u8; 64];
    // Nobody there: a short wait returns nothing, and so does a zero one.
    assert!(
        d.recv_command_timeout(&mut buf, Duration::from_millis(5))
            .unwrap()
            .is_none()
    );
    assert!(
        d.recv_command_timeout(&mut buf, Duration::ZERO)
            .unwrap()
            .is_none()
    );
    let mut child = KillOnDrop::spawn(
        spawn_self(
            "the_daemon_receives_with_a_timeout_from_a_shell_process",
            "shell",
        )
        .env(arg_var("NAME"), &name),
    );
    let cmd = d
        .recv_command_timeout(&mut buf, WAIT)
        .unwrap()
        .expect("the command");
    assert_eq!((&buf[..cmd.len], cmd.request_id), (&b"hello"[..], None));
    let req = d.recv_command(&mut buf).unwrap();
    assert_eq!(&buf[..req.len], b"ping");
    assert_eq!(req.client_id, cmd.client_id);
    let answer = format!("pong {}", req.client_id);
    d.reply(req.client_id, req.request_id.unwrap(), answer.as_bytes())
        .unwrap();
    assert!(child.wait_timeout(WAIT).expect("shell exits").success());
    assert_eq!(d.stats().requests, 1);
}

#[test]
fn a_busy_polling_shell_gets_its_spin_at_connect_time() {
    let name = unique_name("voc_spin");
    let _g = guard(&name);
    let d = DaemonChannel::create(&name, config()).unwrap();
    let shell = ShellChannel::connect_with(&name, &ShellOptions::new().spin(u32::MAX)).unwrap();
    let stop = d.stop_handle();
    std::thread::scope(|s| {
        s.spawn(|| d.run(|_, req| req.to_vec()).unwrap());
        let mut resp = [0u8; 8];
        for i in 0u64..100 {
            let n = shell.request(&i.to_le_bytes(), &mut resp).unwrap();
            assert_eq!(&resp[..n], &i.to_le_bytes());
        }
        stop.stop();
    });
}

#[test]
fn try_recv_command_with_hands_requests_and_commands_in_place() {
    let name = unique_name("voc_inplace");
    let _g = guard(&name);
    let d = DaemonChannel::create(&name, config()).unwrap();
    let shell = ShellChannel::connect(&name).unwrap();
    assert!(d.try_recv_command_with(|_, c| c).unwrap().is_none());
    shell.try_send_command(b"cmd").unwrap();
    let got = d.try_recv_command_with(|v, c| (v.to_vec(), c)).unwrap();
    let (bytes, cmd) = got.unwrap();
    assert_eq!((bytes.as_slice(), cmd.request_id), (&b"cmd"[..], None));
    std::thread::scope(|s| {
        let asker = s.spawn(|| {
            let mut resp = [0u8; 16];
            shell.request(b"req", &mut resp).map(|n| resp[..n].to_vec())
        });
        let (bytes, cmd) = loop {
            if let Some(got) = d.try_recv_command_with(|v, c| (v.to_vec(), c)).unwrap() {
                break got;
            }
            std::thread::yield_now();
        };
        assert_eq!(bytes, b"req");
        d.reply(cmd.client_id, cmd.request_id.unwrap(), b"ok")
            .unwrap();
        assert_eq!(asker.join().unwrap().unwrap(), b"ok");
    });
}

#[test]
fn a_stop_handle_never_keeps_the_channel_open() {
    let name = unique_name("voc_stop");
    let _g = guard(&name);
    let d = DaemonChannel::create(&name, config()).unwrap();
    let stop = d.stop_handle();
    drop(d);
    assert!(matches!(
        ShellChannel::connect(&name),
        Err(Error::NotFound { .. })
    ));
    stop.stop(); // the daemon is gone: nothing to stop, nothing to crash
}

/// A typed `SharedMemory<[u32; 4]>` in another process and a `SharedBytes` of 16 bytes,
/// alignment 4, here: the same fingerprint, one value.
#[test]
fn shared_bytes_and_a_typed_value_in_another_process_are_one_value() {
    let opts = SharedMemoryOptions::new().tag("quad v1");
    if child_role().as_deref() == Some("typed") {
        let name = child_arg("NAME");
        let typed = SharedMemory::<[u32; 4]>::open_with(&name, &opts).unwrap();
        assert!(spin_until(WAIT, || typed.read() == [1, 2, 3, 4]));
        typed.write_partial(&9u32, 12).unwrap();
        return;
    }
    let name = unique_name("voc_bytes");
    let _g = ShmGuard(format!("venom_sm_{name}"));
    let bytes = SharedBytes::create(&name, 16, 4, &opts).unwrap();
    assert_eq!((bytes.size(), bytes.align()), (16, 4));
    let mut child = KillOnDrop::spawn(
        spawn_self(
            "shared_bytes_and_a_typed_value_in_another_process_are_one_value",
            "typed",
        )
        .env(arg_var("NAME"), &name),
    );
    let v0 = bytes.version();
    let quad: Vec<u8> = [1u32, 2, 3, 4]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    bytes.write(&quad).unwrap();
    bytes.wait_for_change_timeout(v0 + 1, WAIT).unwrap();
    assert!(child.wait_timeout(WAIT).expect("child exits").success());
    let mut last = [0u8; 4];
    bytes.read_at(12, &mut last).unwrap();
    assert_eq!(u32::from_ne_bytes(last), 9);
    // Another fingerprint is refused, each part named.
    for (size, align, tag) in [(32, 4, "quad v1"), (16, 8, "quad v1"), (16, 4, "quad v2")] {
        let e = SharedBytes::open(&name, size, align, &SharedMemoryOptions::new().tag(tag));
        assert!(
            matches!(e, Err(Error::TypeMismatch { .. })),
            "{size}/{align}/{tag}"
        );
    }
    // Whole writes need the whole size; partial ones stay in bounds.
    assert_eq!(
        bytes.write(&[0; 15]).unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        bytes.write_at(10, &[0; 7]).unwrap_err().kind(),
        ErrorKind::OutOfBounds
    );
    let mut short = [0u8; 8];
    assert_eq!(
        bytes.read(&mut short).unwrap_err().kind(),
        ErrorKind::BufferTooSmall
    );
}

/// A shell process sends 200 commands in bursts of 16 through an 8-slot queue
/// (`try_send_commands`: split where the queue is full, the rest sent again): they arrive once
/// each and in order.
#[test]
fn bursts_of_commands_from_a_shell_process_arrive_in_order() {
    if child_role().as_deref() == Some("shell") {
        let shell = connect_when_ready(&child_arg("NAME"));
        let cmds: Vec<[u8; 2]> = (0u8..200).map(|i| [i, 0xB5]).collect();
        let mut next = 0;
        while next < cmds.len() {
            let burst: Vec<&[u8]> = cmds[next..(next + 16).min(cmds.len())]
                .iter()
                .map(|c| &c[..])
                .collect();
            match shell.try_send_commands(&burst) {
                Ok(n) => next += n,
                Err(Error::QueueFull) => std::thread::yield_now(),
                Err(e) => panic!("burst failed: {e}"),
            }
        }
        return;
    }
    let name = unique_name("voc_burst");
    let _g = guard(&name);
    let d = DaemonChannel::create(&name, config()).unwrap();
    let mut child = KillOnDrop::spawn(
        spawn_self(
            "bursts_of_commands_from_a_shell_process_arrive_in_order",
            "shell",
        )
        .env(arg_var("NAME"), &name),
    );
    let mut buf = [0u8; 64];
    for i in 0u8..200 {
        let cmd = d
            .recv_command_timeout(&mut buf, WAIT)
            .unwrap()
            .expect("the next command");
        assert_eq!(&buf[..cmd.len], &[i, 0xB5]);
    }
    assert!(child.wait_timeout(WAIT).expect("shell exits").success());
    assert_eq!(d.stats().dropped, 0);
}
