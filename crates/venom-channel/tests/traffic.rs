//! Traffic across processes: a torn-read soak (a daemon rewrites variable-length data whose
//! every word encodes its generation, two reader processes check every snapshot; short in CI,
//! longer with `VENOM_SOAK_SECS`), and numbered commands from several sender processes while
//! other senders are SIGKILLed mid-stream.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use venom_channel::{ChannelConfig, ChannelOptions, DaemonChannel, Error, ShellChannel};
use venom_shm::testing::{
    KillOnDrop, arg_var, child_arg, child_role, spawn_self, spin_until, unique_name,
};

mod common;
use common::guard;

const WAIT: Duration = Duration::from_secs(60);
const DATA: usize = 64 * 1024;

fn soak_secs() -> f64 {
    std::env::var("VENOM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

/// Generation g's value: `len(g)` bytes (a whole number of words), every word = g.
fn value(g: u64) -> Vec<u8> {
    let words = 1 + (g as usize * 131) % (DATA / 8);
    g.to_le_bytes().repeat(words)
}

#[test]
fn torn_read_soak() {
    match child_role().as_deref() {
        Some("writer") => {
            let options = ChannelOptions::new(ChannelConfig {
                data_size: DATA,
                cmd_slots: 4,
                max_clients: 4,
            });
            let d = DaemonChannel::create_with(&child_arg("NAME"), &options).unwrap();
            let stop = d.stop_handle();
            let writer = std::thread::spawn({
                let d = d.clone();
                move || {
                    let mut g = 0u64;
                    // Until both readers said they are done (two "done" commands).
                    while d.stats().commands < 2 {
                        g += 1;
                        d.write_data(&value(g)).unwrap();
                    }
                    stop.stop();
                }
            });
            let mut done = 0;
            d.run(|_, _| {
                done += 1;
                b"".to_vec()
            })
            .unwrap();
            writer.join().unwrap();
            assert_eq!(done, 2);
            return;
        }
        Some("reader") => {
            let name = child_arg("NAME");
            let mut shell = None;
            assert!(spin_until(WAIT, || {
                shell = ShellChannel::connect(&name).ok();
                shell.is_some()
            }));
            let shell = shell.unwrap();
            let mut buf = vec![0u8; DATA];
            let (mut checked, mut last) = (0u64, 0u64);
            let end = Instant::now() + Duration::from_secs_f64(soak_secs());
            while Instant::now() < end {
                let n = shell.read_data_checked(&mut buf).unwrap();
                if n == 0 {
                    continue;
                }
                let g = u64::from_le_bytes(buf[..8].try_into().unwrap());
                assert!(g >= last, "generation went backwards");
                assert_eq!(&buf[..n], &value(g)[..], "torn snapshot of generation {g}");
                last = g;
                checked += 1;
            }
            assert!(checked > 0);
            shell.try_send_command(b"done").unwrap();
            return;
        }
        _ => {}
    }
    let name = unique_name("soak");
    let _g = guard(&name);
    let mut writer =
        KillOnDrop::spawn(spawn_self("torn_read_soak", "writer").env(arg_var("NAME"), &name));
    let mut readers: Vec<_> = (0..2)
        .map(|_| {
            KillOnDrop::spawn(spawn_self("torn_read_soak", "reader").env(arg_var("NAME"), &name))
        })
        .collect();
    for r in &mut readers {
        assert!(r.wait_timeout(WAIT).expect("reader ends").success());
    }
    assert!(writer.wait_timeout(WAIT).expect("writer ends").success());
}

const PER_SENDER: u32 = 3_000;

#[test]
fn numbered_commands_survive_killed_senders() {
    if child_role().as_deref() == Some("sender") {
        let name = child_arg("NAME");
        let me: u32 = child_arg("ID").parse().unwrap();
        let endless = child_arg("ENDLESS") == "1";
        let shell = ShellChannel::connect(&name).unwrap();
        let mut i = 0u32;
        while endless || i < PER_SENDER {
            let mut cmd = me.to_le_bytes().to_vec();
            cmd.extend_from_slice(&i.to_le_bytes());
            match shell.try_send_command(&cmd) {
                Ok(()) => i += 1,
                Err(Error::QueueFull) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        return;
    }
    let name = unique_name("numbered");
    let _g = guard(&name);
    let d = DaemonChannel::create(
        &name,
        ChannelConfig {
            data_size: 64,
            cmd_slots: 64,
            max_clients: 8,
        },
    )
    .unwrap();
    let spawn = |id: u32, endless: bool| {
        KillOnDrop::spawn(
            spawn_self("numbered_commands_survive_killed_senders", "sender")
                .env(arg_var("NAME"), &name)
                .env(arg_var("ID"), id.to_string())
                .env(arg_var("ENDLESS"), if endless { "1" } else { "0" }),
        )
    };
    let mut finite: Vec<_> = (1..=3).map(|id| spawn(id, false)).collect();
    let mut victims: Vec<_> = (10..=11).map(|id| spawn(id, true)).collect();
    let mut next: HashMap<u32, u32> = HashMap::new();
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + WAIT;
    let mut killed = false;
    loop {
        match d.recv_command_timeout(&mut buf, Duration::ZERO).unwrap() {
            Some(c) => {
                assert_eq!(c.len, 8);
                let id = u32::from_le_bytes(buf[..4].try_into().unwrap());
                let i = u32::from_le_bytes(buf[4..8].try_into().unwrap());
                let want = next.entry(id).or_default();
                assert_eq!(i, *want, "sender {id}: lost, duplicated or reordered");
                *want += 1;
            }
            None => std::thread::yield_now(),
        }
        // Kill the endless senders once each has sent something, mid-stream.
        if !killed
            && next.get(&10).is_some_and(|&n| n > 100)
            && next.get(&11).is_some_and(|&n| n > 100)
        {
            for v in &mut victims {
                v.kill();
            }
            killed = true;
        }
        if killed && (1..=3).all(|id| next.get(&id) == Some(&PER_SENDER)) {
            break;
        }
        assert!(Instant::now() < deadline, "commands missing: {next:?}");
    }
    for f in &mut finite {
        assert!(f.wait_timeout(WAIT).expect("sender ends").success());
    }
    // Whatever the victims had published is drained in order; nothing else is pending.
    while let Some(c) = d.recv_command_timeout(&mut buf, Duration::ZERO).unwrap() {
        let id = u32::from_le_bytes(buf[..4].try_into().unwrap());
        let i = u32::from_le_bytes(buf[4..8].try_into().unwrap());
        assert!(id == 10 || id == 11, "unexpected sender {id}");
        let want = next.entry(id).or_default();
        assert_eq!(i, *want);
        *want += 1;
        assert_eq!(c.len, 8);
    }
}
