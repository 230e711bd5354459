//! The bridge between real processes: this test process is the exported daemon and the local
//! shells; `venom-zenoh export` and `venom-zenoh import` run as child processes, linked over
//! TCP on loopback (a free port each time). `.ci/run` runs this file inside a network namespace
//! of its own (`unshare -n`, loopback up), so nothing can leave the machine.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use venom_channel::{ChannelConfig, DaemonChannel, Error, ShellChannel, StopHandle};
use venom_shm::testing::unique_name;

/// How long the bridge may take to (re)establish a link or notice a loss.
const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `f` until it yields, failing the test after [`PATIENCE`].
fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A bridge process, killed when dropped.
struct Bridge(Child);

impl Bridge {
    fn spawn(args: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_venom-zenoh"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("venom-zenoh starts");
        Self(child)
    }

    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the channels' regions however the test ends (a killed importer leaves its own).
struct Regions(Vec<String>);

impl Drop for Regions {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = std::fs::remove_file(format!("/dev/shm/venom_{name}"));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on loopback")
        .port()
}

/// The exported daemon: replies with the request reversed, records commands in order, and
/// publishes what it is told.
struct Daemon {
    channel: Arc<DaemonChannel>,
    commands: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: StopHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    fn start(name: &str) -> Self {
        let config = ChannelConfig {
            data_size: 64,
            cmd_slots: 16,
            max_clients: 4,
        };
        let channel = Arc::new(DaemonChannel::create(name, config).unwrap());
        let commands = Arc::new(Mutex::new(Vec::new()));
        let stop = channel.stop_handle();
        let thread = {
            let (channel, commands) = (channel.clone(), commands.clone());
            std::thread::spawn(move || {
                channel
                    .serve(|cmd, bytes| match cmd.request_id {
                        Some(request) => {
                            let mut reply = bytes.to_vec();
                            reply.reverse();
                            channel.reply(cmd.client_id, request, &reply).unwrap();
                        }
                        None => commands.lock().unwrap().push(bytes.to_vec()),
                    })
                    .unwrap();
            })
        };
        Self {
            channel,
            commands,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops serving and closes the channel (its shells, the exporter's among them, see
    /// `Disconnected`).
    fn close(mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn export(name: &str, port: u16) -> Bridge {
    Bridge::spawn(&["export", name, "--listen", &format!("tcp/127.0.0.1:{port}")])
}

fn import(name: &str, local: &str, port: u16) -> Bridge {
    Bridge::spawn(&[
        "import",
        name,
        "--as",
        local,
        "--connect",
        &format!("tcp/127.0.0.1:{port}"),
    ])
}

fn connect(local: &str) -> ShellChannel {
    until("the imported channel", || ShellChannel::connect(local).ok())
}

/// A request answered across the bridge (retried while the link settles).
fn ask(shell: &ShellChannel, req: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = shell
        .request_timeout(req, &mut buf, Duration::from_secs(10))
        .unwrap();
    buf[..n].to_vec()
}

#[test]
fn data_commands_and_requests_cross_the_bridge() {
    let (name, local) = (unique_name("zb"), unique_name("zbl"));
    let _regions = Regions(vec![name.clone(), local.clone()]);
    let daemon = Daemon::start(&name);
    daemon.channel.write_data(b"first").unwrap();
    let port = free_port();
    let _exporter = export(&name, port);
    let _importer = import(&name, &local, port);
    let shell = connect(&local);

    // The value that was there before the importer came, then each new one.
    let mut buf = [0u8; 64];
    until("the first value", || {
        (shell.read_data_checked(&mut buf).ok()? == 5 && &buf[..5] == b"first").then_some(())
    });
    for i in 0u8..20 {
        daemon.channel.write_data(&[i; 8]).unwrap();
        until("a new value", || {
            (shell.read_data_checked(&mut buf).ok()? == 8 && buf[..8] == [i; 8]).then_some(())
        });
    }

    // Requests: each gets its own reply.
    for i in 0u8..50 {
        let req = [i, 1, 2, 3, i ^ 0x55];
        let mut want = req.to_vec();
        want.reverse();
        assert_eq!(ask(&shell, &req), want);
    }

    // Commands arrive once each, in order.
    for i in 0u8..100 {
        until("room in the queue", || shell.try_send_command(&[i, 7]).ok());
    }
    until("every command", || {
        (daemon.commands.lock().unwrap().len() >= 100).then_some(())
    });
    let got = daemon.commands.lock().unwrap().clone();
    let want: Vec<Vec<u8>> = (0u8..100).map(|i| vec![i, 7]).collect();
    assert_eq!(got, want);
}

#[test]
fn the_importer_follows_its_exporter_and_the_remote_daemon() {
    let (name, local) = (unique_name("zf"), unique_name("zfl"));
    let _regions = Regions(vec![name.clone(), local.clone()]);
    let daemon = Daemon::start(&name);
    let port = free_port();
    let exporter = export(&name, port);
    let _importer = import(&name, &local, port);
    let shell = connect(&local);
    assert_eq!(ask(&shell, b"ab"), b"ba");

    // The exporter killed: the local channel goes, exactly as if its daemon had died.
    exporter.kill();
    let mut buf = [0u8; 8];
    until("Disconnected after the exporter died", || {
        matches!(
            shell.request_timeout(b"x", &mut buf, Duration::from_millis(200)),
            Err(Error::Disconnected)
        )
        .then_some(())
    });
    drop(shell);

    // Restarted: the importer recovers without a restart of its own.
    let _exporter = export(&name, port);
    let shell = connect(&local);
    assert_eq!(ask(&shell, b"cd"), b"dc");

    // The remote daemon restarted: the exporter reattaches, the importer follows.
    daemon.close();
    until("Disconnected after the remote daemon closed", || {
        matches!(
            shell.request_timeout(b"x", &mut buf, Duration::from_millis(200)),
            Err(Error::Disconnected)
        )
        .then_some(())
    });
    drop(shell);
    let _daemon = Daemon::start(&name);
    let shell = connect(&local);
    assert_eq!(ask(&shell, b"ef"), b"fe");
}

#[test]
fn an_importer_killed_leaves_the_exporter_and_other_importers_going() {
    let (name, a, b) = (unique_name("zk"), unique_name("zka"), unique_name("zkb"));
    let _regions = Regions(vec![name.clone(), a.clone(), b.clone()]);
    let _daemon = Daemon::start(&name);
    let port = free_port();
    let _exporter = export(&name, port);
    let first = import(&name, &a, port);
    let _second = import(&name, &b, port);
    let (sa, sb) = (connect(&a), connect(&b));
    assert_eq!(ask(&sa, b"12"), b"21");
    assert_eq!(ask(&sb, b"34"), b"43");
    first.kill();
    for i in 0u8..10 {
        assert_eq!(ask(&sb, &[i, 9]), [9, i]);
    }
}
