//! The real `venom` binary against real channels made by real daemon processes: a live one, a
//! stale one (its daemon killed), a corrupt one and one owned by another user.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use venom_channel::{ChannelConfig, ChannelOptions, DaemonChannel};
use venom_shm::testing::{
    KillOnDrop, ShmGuard, announce_ready, arg_var, child_arg, child_role, is_root, spawn_self,
    unique_name,
};

const WAIT: Duration = Duration::from_secs(30);

fn venom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_venom"))
        .args(args)
        .output()
        .expect("run venom")
}

fn ok(args: &[&str]) -> String {
    let out = venom(args);
    assert!(
        out.status.success(),
        "venom {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = venom(args);
    assert!(!out.status.success(), "venom {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

/// The child role: a daemon that publishes "v1", answers "PING" with "PONG" and anything else
/// with its length, writes "v2" when told "next", and says "ready" on stdout.
fn daemon_role() {
    let options = ChannelOptions::new(ChannelConfig::default()).mode(0o666);
    let d = DaemonChannel::create_with(&child_arg("NAME"), &options).unwrap();
    d.write_data(b"v1").unwrap();
    announce_ready();
    d.run(|_, cmd| {
        if cmd == b"next" {
            d.write_data(b"v2").unwrap();
        }
        if cmd == b"PING" {
            b"PONG".to_vec()
        } else {
            cmd.len().to_string().into_bytes()
        }
    })
    .unwrap();
}

/// Starts the daemon role of `test` for channel `name` (as `uid`, if given) and waits for it.
fn start_daemon(test: &str, name: &str, uid: Option<u32>) -> KillOnDrop {
    let mut cmd = spawn_self(test, "daemon");
    cmd.env(arg_var("NAME"), name).stdout(Stdio::piped());
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let mut child = KillOnDrop::spawn(&mut cmd);
    child.wait_ready();
    child
}

#[test]
fn a_live_channel_is_listed_inspected_poked_and_read() {
    if child_role().as_deref() == Some("daemon") {
        return daemon_role();
    }
    let name = unique_name("cli_live");
    let _g = ShmGuard(format!("venom_{name}"));
    let _d = start_daemon(
        "a_live_channel_is_listed_inspected_poked_and_read",
        &name,
        None,
    );
    let row = ok(&["list"])
        .lines()
        .find(|l| l.starts_with(&name))
        .map(str::to_owned)
        .expect("listed");
    assert!(
        row.contains("channel") && row.contains("alive") && row.ends_with("live"),
        "{row}"
    );

    assert_eq!(ok(&["read", &name]), "v1\n");
    assert_eq!(ok(&["read", "--hex", &name]), "76 31\n");
    assert_eq!(ok(&["request", &name, "PING"]), "PONG\n");
    assert_eq!(ok(&["request", "--hex", &name, "abc"]), "33\n"); // "3"
    ok(&["send", &name, "fire"]);
    // The follower prints v1, then v2 once the daemon writes it.
    let mut follow = KillOnDrop::spawn(
        Command::new(env!("CARGO_BIN_EXE_venom"))
            .args(["read", "--follow", "--count", "2", &name])
            .stdout(Stdio::piped()),
    );
    let mut lines = BufReader::new(follow.0.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    assert_eq!(first, "1 v1\n");
    ok(&["request", &name, "next"]);
    let mut second = String::new();
    lines.read_line(&mut second).unwrap();
    assert_eq!(second, "2 v2\n");
    assert!(follow.wait_timeout(WAIT).expect("follower ends").success());

    let text = ok(&["inspect", &name]);
    assert!(
        text.contains("daemon    pid") && text.contains("alive"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&["inspect", "--json", &name])).unwrap();
    assert_eq!(json["schema"], "venom.inspect/1");
    assert_eq!(json["daemon"]["alive"], true);
    assert_eq!(json["stale"], false);
    assert_eq!(json["config"]["max_clients"], 16);
    assert_eq!(json["data_version"], 2);
    // Requests: PING, abc, next; commands: those and "fire".
    assert_eq!(json["counters"]["requests"], 3);
    assert_eq!(json["counters"]["commands"], 4);
    assert_eq!(json["counters"]["writes"], 2);
    assert!(json["layout"]["total"].as_u64().unwrap() > 0);

    let watch = ok(&["watch", "--interval", "20", "--count", "2", &name]);
    assert_eq!(watch.lines().count(), 2, "{watch}");
    assert!(
        watch.contains("writes/s") && watch.contains("queue depth 0"),
        "{watch}"
    );

    // Nothing of a live channel is cleaned.
    assert!(!ok(&["clean", "--dry-run"]).contains(&name));
    assert!(!ok(&["clean"]).contains(&name));
    assert!(std::path::Path::new(&format!("/dev/shm/venom_{name}")).exists());
}

#[test]
fn a_stale_channel_is_flagged_and_cleaned_and_watch_ends_with_its_daemon() {
    if child_role().as_deref() == Some("daemon") {
        return daemon_role();
    }
    let test = "a_stale_channel_is_flagged_and_cleaned_and_watch_ends_with_its_daemon";
    let name = unique_name("cli_stale");
    let _g = ShmGuard(format!("venom_{name}"));
    let mut d = start_daemon(test, &name, None);
    let mut watch = KillOnDrop::spawn(
        Command::new(env!("CARGO_BIN_EXE_venom"))
            .args(["watch", "--interval", "20", &name])
            .stdout(Stdio::piped()),
    );
    let mut lines = BufReader::new(watch.0.stdout.take().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap(); // one refresh while the daemon lives
    assert!(line.contains("writes/s"), "{line}");
    d.kill();
    assert!(watch.wait_timeout(WAIT).expect("watch ends").success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut lines, &mut rest).unwrap();
    assert!(rest.contains("is gone"), "{rest}");

    let row = ok(&["list"])
        .lines()
        .find(|l| l.starts_with(&name))
        .map(str::to_owned)
        .unwrap();
    assert!(row.contains("stale (daemon dead)"), "{row}");
    let err = fails(&["request", &name, "PING"]);
    assert!(
        err.starts_with("venom: ") && err.contains("venom clean"),
        "{err}"
    );
    assert!(ok(&["clean", "--dry-run"]).contains(&format!("would remove {name}")));
    assert!(std::path::Path::new(&format!("/dev/shm/venom_{name}")).exists());
    assert!(ok(&["clean"]).contains(&format!("removed {name}")));
    assert!(!std::path::Path::new(&format!("/dev/shm/venom_{name}")).exists());
}

#[test]
fn corrupt_and_missing_regions_get_one_clear_line() {
    let name = unique_name("cli_corrupt");
    let _g = ShmGuard(format!("venom_{name}"));
    // The magic "VNOM", then a layout version no build knows.
    let mut bytes = vec![0u8; 4096];
    bytes[..4].copy_from_slice(&0x564E_4F4Du32.to_ne_bytes());
    bytes[4..8].copy_from_slice(&99u32.to_ne_bytes());
    std::fs::write(format!("/dev/shm/venom_{name}"), &bytes).unwrap();
    let row = ok(&["list"])
        .lines()
        .find(|l| l.starts_with(&name))
        .map(str::to_owned)
        .unwrap();
    assert!(row.contains("corrupt: layout version 99"), "{row}");
    let err = fails(&["inspect", &name]);
    assert!(err.contains("layout version 99"), "{err}");
    ok(&["clean"]);
    assert!(std::path::Path::new(&format!("/dev/shm/venom_{name}")).exists());

    let missing = unique_name("cli_missing");
    let err = fails(&["read", &missing]);
    assert!(
        err.contains("does not exist") && err.contains("venom list"),
        "{err}"
    );
    let err = fails(&["send", "a/b", "x"]);
    assert!(err.contains("invalid name"), "{err}");
    // Every subcommand has --help.
    for sub in [
        "list", "inspect", "watch", "clean", "send", "request", "read",
    ] {
        assert!(ok(&[sub, "--help"]).contains("Usage: venom"), "{sub}");
    }
}

/// Run as root (CI does): a daemon of user `nobody`.
#[test]
fn another_users_channel_is_flagged_never_cleaned_and_trusted_on_request() {
    if child_role().as_deref() == Some("daemon") {
        return daemon_role();
    }
    if !is_root() {
        eprintln!("another_users_channel_…: needs root to drop to nobody; CI runs as root");
        return;
    }
    let test = "another_users_channel_is_flagged_never_cleaned_and_trusted_on_request";
    let name = unique_name("cli_other");
    let _g = ShmGuard(format!("venom_{name}"));
    let mut d = start_daemon(test, &name, Some(65534));
    let row = ok(&["list"])
        .lines()
        .find(|l| l.starts_with(&name))
        .map(str::to_owned)
        .unwrap();
    assert!(row.contains("not ours (uid 65534"), "{row}");
    let err = fails(&["read", &name]);
    assert!(err.contains("--trust-uid 65534"), "{err}");
    assert_eq!(ok(&["--trust-uid", "65534", "read", &name]), "v1\n");
    d.kill();
    // Its daemon is dead, but the region is not ours: clean leaves it.
    ok(&["clean"]);
    assert!(std::path::Path::new(&format!("/dev/shm/venom_{name}")).exists());
}
