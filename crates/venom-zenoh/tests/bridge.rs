//! The bridge between real processes: this test process is the exported daemon and the local
//! shells; `venom-zenoh export` and `venom-zenoh import` run as child processes, linked over
//! TCP on loopback (a free port each time). `.ci/run` runs this file inside a network namespace
//! of its own (`unshare -n`, loopback up), so nothing can leave the machine.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use venom_channel::{ChannelConfig, DaemonChannel, Error, ShellChannel, StopHandle};
use venom_shm::testing::{spin_until, unique_name};

/// How long the bridge may take to (re)establish a link or notice a loss.
const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `f` until it yields (`venom_shm::testing::spin_until`), failing the test after
/// [`PATIENCE`].
fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let mut out = None;
    assert!(
        spin_until(PATIENCE, || {
            out = f();
            out.is_some()
        }),
        "gave up waiting: {what}"
    );
    out.expect("spin_until saw it")
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

/// Several channels through one exporter and one importer (the library API, as a daemon that
/// embeds the bridge would use it).
#[test]
fn several_channels_through_one_bridge() {
    use venom_zenoh::{BridgeOptions, Exporter, Importer};
    let names: Vec<String> = (0..3).map(|_| unique_name("zm")).collect();
    let locals: Vec<String> = (0..3).map(|_| unique_name("zml")).collect();
    let _regions = Regions(names.iter().chain(&locals).cloned().collect());
    let daemons: Vec<Daemon> = names.iter().map(|n| Daemon::start(n)).collect();
    let port = free_port();
    let endpoint = vec![format!("tcp/127.0.0.1:{port}")];
    let exporter = Exporter::start(
        &names,
        &BridgeOptions {
            listen: endpoint.clone(),
            ..BridgeOptions::default()
        },
    )
    .unwrap();
    let pairs: Vec<(String, String)> = names.iter().cloned().zip(locals.iter().cloned()).collect();
    let importer = Importer::start(
        &pairs,
        &BridgeOptions {
            connect: endpoint,
            ..BridgeOptions::default()
        },
    )
    .unwrap();
    for (i, (local, daemon)) in locals.iter().zip(&daemons).enumerate() {
        let shell = connect(local);
        assert_eq!(ask(&shell, &[i as u8, 1]), [1, i as u8]);
        daemon.channel.write_data(&[i as u8; 3]).unwrap();
        let mut buf = [0u8; 8];
        until("each channel's own value", || {
            (shell.read_data_checked(&mut buf).ok()? == 3 && buf[..3] == [i as u8; 3]).then_some(())
        });
    }
    assert!(importer.stats().requests >= 3);
    assert!(exporter.stats().requests >= 3);
    importer.stop();
    // The importer stopped: its local channels are gone.
    for local in &locals {
        assert!(matches!(
            ShellChannel::connect(local),
            Err(Error::NotFound { .. })
        ));
    }
    exporter.stop();
}

/// A fake exporter (a raw Zenoh session in this process) that sends what no real one would:
/// a description of another layout version is refused (logged, no channel created); data
/// larger than the channel is refused (logged, counted) and the last good value stays.
#[test]
fn bad_input_from_the_network_is_refused_and_logged() {
    use std::io::{BufRead, BufReader};
    use zenoh::Wait;
    let (name, local) = (unique_name("zbad"), unique_name("zbadl"));
    let _regions = Regions(vec![local.clone()]);
    let port = free_port();
    let session = venom_zenoh::open_session(&venom_zenoh::BridgeOptions {
        listen: vec![format!("tcp/127.0.0.1:{port}")],
        ..venom_zenoh::BridgeOptions::default()
    })
    .unwrap();
    let description = Arc::new(Mutex::new(String::from(
        "venom-zenoh/1 layout=99 data_size=16 data_slots=2 cmd_slots=8 cmd_slot_size=64 \
         max_clients=2 response_size=64",
    )));
    let _desc = {
        let description = description.clone();
        session
            .declare_queryable(format!("venom/{name}/desc"))
            .callback(move |q| {
                let d = description.lock().unwrap().clone();
                let _ = q.reply(q.key_expr().clone(), d).wait();
            })
            .wait()
            .unwrap()
    };
    let _token = session
        .liveliness()
        .declare_token(format!("venom/{name}/alive"))
        .wait()
        .unwrap();
    let mut importer = Command::new(env!("CARGO_BIN_EXE_venom-zenoh"))
        .args(["import", &name, "--as", &local, "--connect"])
        .arg(format!("tcp/127.0.0.1:{port}"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(importer.stderr.take().unwrap()).lines();
    let mut wait_for = |needle: &str| {
        for line in log.by_ref() {
            if line.unwrap().contains(needle) {
                return;
            }
        }
        panic!("the importer never said {needle:?}");
    };
    let _importer = Bridge(importer);
    wait_for("layout version 99");
    assert!(matches!(
        ShellChannel::connect(&local),
        Err(Error::NotFound { .. })
    ));
    // A valid description: the channel appears; then data too large for it.
    let valid = description.lock().unwrap().replace(
        "layout=99",
        &format!("layout={}", venom_channel::LAYOUT_VERSION),
    );
    *description.lock().unwrap() = valid;
    wait_for("imported as local channel");
    let shell = connect(&local);
    let publisher = session
        .declare_publisher(format!("venom/{name}/data"))
        .wait()
        .unwrap();
    let mut buf = [0u8; 16];
    // Put again until it arrives: a put made before the importer's subscription reached this
    // session goes nowhere.
    until("the good value", || {
        publisher.put(vec![5u8; 8]).wait().unwrap();
        (shell.read_data_checked(&mut buf).ok()? == 8 && buf[..8] == [5; 8]).then_some(())
    });
    publisher.put(vec![6u8; 17]).wait().unwrap();
    wait_for("data from the network refused");
    assert_eq!(shell.read_data_checked(&mut buf).unwrap(), 8);
    assert_eq!(buf[..8], [5; 8]);
}

/// The link cut and restored: the exporter frozen (SIGSTOP: to the importer, its link goes
/// silent, as a cut cable) past its lease (1 s here, through `--config`): the importer removes
/// the local channel; thawed, the link comes back and so does the channel.
#[test]
fn a_link_cut_and_restored() {
    let (name, local) = (unique_name("zl"), unique_name("zll"));
    let _regions = Regions(vec![name.clone(), local.clone()]);
    let config = std::env::temp_dir().join(format!("{name}.json5"));
    std::fs::write(&config, "{ transport: { link: { tx: { lease: 1000 } } } }").unwrap();
    let config_arg = config.to_str().unwrap().to_owned();
    let _daemon = Daemon::start(&name);
    let port = free_port();
    let exporter = Bridge::spawn(&[
        "export",
        &name,
        "--listen",
        &format!("tcp/127.0.0.1:{port}"),
        "--config",
        &config_arg,
    ]);
    let _importer = Bridge::spawn(&[
        "import",
        &name,
        "--as",
        &local,
        "--connect",
        &format!("tcp/127.0.0.1:{port}"),
        "--config",
        &config_arg,
    ]);
    let shell = connect(&local);
    assert_eq!(ask(&shell, b"up"), b"pu");
    let signal = |sig: &str| {
        let pid = exporter.0.id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    let mut buf = [0u8; 8];
    until("Disconnected once the link went silent", || {
        matches!(
            shell.request_timeout(b"x", &mut buf, Duration::from_millis(200)),
            Err(Error::Disconnected)
        )
        .then_some(())
    });
    drop(shell);
    signal("-CONT");
    let shell = connect(&local);
    assert_eq!(ask(&shell, b"back"), b"kcab");
    let _ = std::fs::remove_file(&config);
}
