//! The shared filesystem is not trusted: a FIFO or a symlink under a channel's name is an
//! error at once (it used to hang `create` forever); another user's channel is refused unless
//! that user is trusted explicitly, and is never reclaimed (deleted) by a daemon of ours.

use std::process::Stdio;
use std::time::Duration;

use venom_channel::{
    ChannelConfig, ChannelOptions, DaemonChannel, Error, ErrorKind, SharedMemory, ShellChannel,
    ShellOptions, Trust,
};
use venom_shm::testing::{
    KillOnDrop, ShmGuard, announce_ready, arg_var, child_arg, child_role, is_root, spawn_self,
    unique_name,
};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_fifo_or_a_symlink_under_the_name_fails_at_once() {
    let name = unique_name("trust_fifo");
    let _g = ShmGuard(format!("venom_{name}"));
    let _gs = ShmGuard(format!("venom_sm_{name}"));
    for path in [
        format!("/dev/shm/venom_{name}"),
        format!("/dev/shm/venom_sm_{name}"),
    ] {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let e = DaemonChannel::create(&name, ChannelConfig::default()).unwrap_err();
    assert!(matches!(e, Error::NotARegion { kind: "FIFO", .. }), "{e}");
    assert_eq!(
        ShellChannel::connect(&name).unwrap_err().kind(),
        ErrorKind::NotARegion
    );
    assert_eq!(
        SharedMemory::<u64>::create(&name).unwrap_err().kind(),
        ErrorKind::NotARegion
    );
    assert_eq!(
        SharedMemory::<u64>::open(&name).unwrap_err().kind(),
        ErrorKind::NotARegion
    );

    let real = unique_name("trust_real");
    let link = unique_name("trust_link");
    let _gr = ShmGuard(format!("venom_{real}"));
    let _gl = ShmGuard(format!("venom_{link}"));
    let _d = DaemonChannel::create(&real, ChannelConfig::default()).unwrap();
    std::os::unix::fs::symlink(
        format!("/dev/shm/venom_{real}"),
        format!("/dev/shm/venom_{link}"),
    )
    .unwrap();
    assert!(matches!(
        ShellChannel::connect(&link),
        Err(Error::NotARegion {
            kind: "symlink",
            ..
        })
    ));
    assert_eq!(
        DaemonChannel::create(&link, ChannelConfig::default())
            .unwrap_err()
            .kind(),
        ErrorKind::NotARegion
    );
}

/// Run as root (CI does): a daemon process of user `nobody` makes a channel anyone may open.
#[test]
fn another_users_channel_is_refused_unless_trusted_and_never_reclaimed() {
    if child_role().as_deref() == Some("nobody-daemon") {
        assert!(!is_root());
        let options = ChannelOptions::new(ChannelConfig::default()).mode(0o666);
        let d = DaemonChannel::create_with(&child_arg("NAME"), &options).unwrap();
        d.write_data(b"from nobody").unwrap();
        announce_ready();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line); // until killed
        return;
    }
    if !is_root() {
        eprintln!("another_users_channel_…: needs root to drop to nobody; CI runs as root");
        return;
    }
    let name = unique_name("trust_other");
    let _g = ShmGuard(format!("venom_{name}"));
    let mut cmd = spawn_self(
        "another_users_channel_is_refused_unless_trusted_and_never_reclaimed",
        "nobody-daemon",
    );
    cmd.env(arg_var("NAME"), &name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
    std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    let mut daemon = KillOnDrop::spawn(&mut cmd);
    daemon.wait_ready();
    // Refused by default, naming the owner.
    match ShellChannel::connect(&name) {
        Err(Error::UntrustedOwner { uid: 65534, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Trusted explicitly: connects and reads.
    let trusting = ShellOptions::new().trust(Trust::own().also_uid(65534));
    let shell = ShellChannel::connect_with(&name, &trusting).unwrap();
    let mut buf = [0u8; 32];
    let n = shell.read_data(&mut buf);
    assert_eq!(&buf[..n], b"from nobody");
    drop(shell);
    // Its daemon dies: a daemon of ours does not take (delete) another user's region.
    daemon.kill();
    assert!(daemon.wait_timeout(WAIT).is_some());
    assert_eq!(
        DaemonChannel::create(&name, ChannelConfig::default())
            .unwrap_err()
            .kind(),
        ErrorKind::UntrustedOwner
    );
    assert!(std::path::Path::new(&format!("/dev/shm/venom_{name}")).exists());
}
