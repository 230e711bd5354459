//! Lifecycle across processes: a daemon SIGKILLed (shells get `Disconnected`, a new daemon
//! reclaims the name), a live daemon's name (`AlreadyExists`), corrupt regions (each header
//! check its own error), `max_clients` (`ChannelFull`, dead clients' entries reclaimed).

use std::process::Stdio;
use venom_shm::sync::{AtomicU32, AtomicU64, Ordering};

use venom_channel::{ChannelConfig, DaemonChannel, Error, ShellChannel};
use venom_shm::testing::{KillOnDrop, arg_var, child_arg, child_role, spawn_self, unique_name};

mod common;
use common::{WAIT, connect_when_ready, guard};

#[test]
fn killed_daemon_disconnects_shells_and_its_name_is_reclaimed() {
    if child_role().as_deref() == Some("daemon") {
        let d = DaemonChannel::create(&child_arg("NAME"), ChannelConfig::default()).unwrap();
        d.write_data(b"alive").unwrap();
        d.run(|_, _| b"ok".to_vec()).unwrap();
        return;
    }
    let name = unique_name("life_kill");
    let _g = guard(&name);
    let mut daemon = KillOnDrop::spawn(
        spawn_self(
            "killed_daemon_disconnects_shells_and_its_name_is_reclaimed",
            "daemon",
        )
        .env(arg_var("NAME"), &name),
    );
    let shell = connect_when_ready(&name);
    let mut resp = [0u8; 8];
    assert_eq!(shell.request(b"x", &mut resp).unwrap(), 2);
    // A live daemon keeps its name.
    match DaemonChannel::create(&name, ChannelConfig::default()) {
        Err(Error::AlreadyExists { pid, .. }) => assert_eq!(pid, Some(daemon.id())),
        other => panic!("{other:?}"),
    }
    daemon.kill(); // SIGKILL: no cleanup at all
    assert!(matches!(
        shell.request_timeout(b"x", &mut resp, WAIT),
        Err(Error::Disconnected)
    ));
    assert!(matches!(
        shell.wait_for_data_timeout(shell.data_version(), WAIT),
        Err(Error::Disconnected)
    ));
    assert!(matches!(
        shell.try_send_command(b"x"),
        Ok(()) | Err(Error::Disconnected)
    ));
    // A new daemon reclaims the name left behind.
    let again = DaemonChannel::create(&name, ChannelConfig::default()).unwrap();
    again.write_data(b"new").unwrap();
    let fresh = ShellChannel::connect(&name).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(fresh.read_data(&mut buf), 3);
    drop(again);
    // Dropping the daemon closes the channel and removes the name.
    assert!(matches!(
        fresh.wait_for_data_timeout(fresh.data_version(), WAIT),
        Err(Error::Disconnected)
    ));
    assert!(matches!(
        ShellChannel::connect(&name),
        Err(Error::NotFound { .. })
    ));
}

fn word32(d: &DaemonChannel, offset: usize) -> &AtomicU32 {
    // SAFETY: the offsets used are 4-aligned fields of the 128-byte header (see the layout
    // table), inside the daemon's live mapping; accessed atomically like every access.
    unsafe { &*d.as_ptr().add(offset).cast::<AtomicU32>() }
}

fn word64(d: &DaemonChannel, offset: usize) -> &AtomicU64 {
    // SAFETY: as in `word32`, for 8-aligned fields.
    unsafe { &*d.as_ptr().add(offset).cast::<AtomicU64>() }
}

#[test]
fn corrupt_header_fields_each_have_their_error() {
    let name = unique_name("life_corrupt");
    let _g = guard(&name);
    let d = DaemonChannel::create(&name, ChannelConfig::default()).unwrap();
    assert!(ShellChannel::connect(&name).is_ok());

    let check = |offset: usize, wide: bool, value: u64, want: &dyn Fn(&Error) -> bool| {
        let old = if wide {
            word64(&d, offset).swap(value, Ordering::Relaxed)
        } else {
            u64::from(word32(&d, offset).swap(value as u32, Ordering::Relaxed))
        };
        let got = ShellChannel::connect(&name).expect_err("connect must fail");
        assert!(want(&got), "offset {offset}: {got:?}");
        if wide {
            word64(&d, offset).store(old, Ordering::Relaxed);
        } else {
            word32(&d, offset).store(old as u32, Ordering::Relaxed);
        }
    };
    check(0, false, 0xdead_beef, &|e| {
        matches!(e, Error::BadMagic { found: 0xdead_beef })
    });
    check(4, false, 99, &|e| {
        matches!(e, Error::IncompatibleVersion { found: 99, .. })
    });
    check(8, false, 0x0403_0201, &|e| {
        matches!(e, Error::AbiMismatch { .. })
    });
    check(
        24,
        true,
        1 << 40,
        &|e| matches!(e, Error::Corrupt { reason } if reason.contains("total")),
    );
    check(
        40,
        true,
        12345,
        &|e| matches!(e, Error::Corrupt { reason } if reason.contains("queue offset")),
    );
    check(64, true, u64::MAX, &|e| matches!(e, Error::Corrupt { .. }));
    check(20, false, 0, &|e| matches!(e, Error::Corrupt { .. }));
    // A sub-structure's own header scribbled: the data seqlock's magic (after the header and
    // the counters line).
    check(
        venom_channel::HEADER_SIZE + 64,
        false,
        1,
        &|e| matches!(e, Error::Corrupt { reason } if reason.contains("seqlock header")),
    );
    // A region that is not a channel at all, and one never initialised.
    let junk = unique_name("life_junk");
    let _j = guard(&junk);
    std::fs::write(format!("/dev/shm/venom_{junk}"), [0u8; 64]).unwrap();
    assert!(matches!(
        ShellChannel::connect(&junk),
        Err(Error::Corrupt { .. })
    ));
    std::fs::write(format!("/dev/shm/venom_{junk}"), [0u8; 4096]).unwrap();
    assert!(matches!(
        ShellChannel::connect(&junk),
        Err(Error::NotInitialized { .. })
    ));
    // Everything restored: connects again.
    assert!(ShellChannel::connect(&name).is_ok());
}

#[test]
fn channel_full_and_dead_clients_reclaimed() {
    if child_role().as_deref() == Some("client") {
        let s = ShellChannel::connect(&child_arg("NAME")).unwrap();
        assert!(s.client_id() >= 1);
        std::process::abort(); // dies holding its entry
    }
    let name = unique_name("life_full");
    let _g = guard(&name);
    let config = ChannelConfig {
        data_size: 64,
        cmd_slots: 4,
        max_clients: 2,
    };
    let _d = DaemonChannel::create(&name, config).unwrap();
    let mut child = KillOnDrop::spawn(
        spawn_self("channel_full_and_dead_clients_reclaimed", "client")
            .env(arg_var("NAME"), &name)
            .stderr(Stdio::null()),
    );
    assert!(!child.wait_timeout(WAIT).expect("client dies").success());
    let a = ShellChannel::connect(&name).unwrap();
    let b = ShellChannel::connect(&name).unwrap(); // reclaims the dead client's entry
    assert_ne!(a.client_id(), b.client_id());
    assert!(matches!(
        ShellChannel::connect(&name),
        Err(Error::ChannelFull { max_clients: 2 })
    ));
    let a_id = a.client_id();
    drop(a);
    assert_eq!(ShellChannel::connect(&name).unwrap().client_id(), a_id);
}

#[test]
fn bad_names_and_sizes_are_refused() {
    assert!(matches!(
        DaemonChannel::create("a/b", ChannelConfig::default()),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        ShellChannel::connect("no/such"),
        Err(Error::InvalidName { .. })
    ));
    let name = unique_name("life_sizes");
    let _g = guard(&name);
    let zero_clients = ChannelConfig {
        data_size: 64,
        cmd_slots: 4,
        max_clients: 0,
    };
    assert!(matches!(
        DaemonChannel::create(&name, zero_clients),
        Err(Error::InvalidConfig { reason }) if reason.contains("max_clients")
    ));
    let d = DaemonChannel::create(&name, ChannelConfig::default()).unwrap();
    let big = vec![0u8; d.data_size() + 1];
    assert!(matches!(d.write_data(&big), Err(Error::TooLarge { .. })));
    let s = ShellChannel::connect(&name).unwrap();
    let long = vec![0u8; s.max_command_len() + 1];
    assert!(matches!(
        s.try_send_command(&long),
        Err(Error::TooLarge { .. })
    ));
    // Too small a buffer: nothing copied, nothing lost.
    d.write_data(b"12345678").unwrap();
    let mut small = [0u8; 4];
    assert_eq!(s.read_data(&mut small), 0);
    assert!(matches!(
        s.read_data_checked(&mut small),
        Err(Error::BufferTooSmall { needed: 8, got: 4 })
    ));
    s.try_send_command(b"a longer command").unwrap();
    assert!(matches!(
        d.recv_command(&mut small),
        Err(Error::BufferTooSmall { needed: 16, got: 4 })
    ));
    let mut big_enough = [0u8; 32];
    let c = d.recv_command(&mut big_enough).unwrap();
    assert_eq!(&big_enough[..c.len], b"a longer command");
    // Typed values.
    d.write_value(&[1u32, 2, 3]).unwrap();
    assert_eq!(s.read_value::<[u32; 3]>().unwrap(), [1, 2, 3]);
    assert!(matches!(
        s.read_value::<u64>(),
        Err(Error::TypeMismatch { expected, found }) if expected == "8 bytes" && found == "12 bytes"
    ));
}
