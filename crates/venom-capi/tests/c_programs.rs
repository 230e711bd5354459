//! Real C programs against `libvenom_memory.so`, each a separate process, built with
//! `gcc -std=c11 -Wall -Wextra -Werror -pedantic` and again with
//! `-fsanitize=address,undefined` (leak check on): C daemon + C shell, C shell + Rust daemon,
//! Rust shell + C daemon, RPC from C, a C struct shared with a Rust `SharedMemory<T>`, the serve
//! loop stopped from another thread, the seed's C example verbatim, every bad input, the header
//! as C99 / C11 / C++17 and included twice, and a statically linked shell.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use venom_channel::{
    ChannelConfig, DaemonChannel, SharedMemory, SharedMemoryOptions, ShellChannel, Stats,
};
use venom_shm::testing::{KillOnDrop, ShmGuard, spin_until, unique_name};

const WAIT: Duration = Duration::from_secs(60);

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

mod common;
use common::lib_dir;

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-programs");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const STRICT: &[&str] = &["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"];
const SANITIZE: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-omit-frame-pointer",
    "-g",
];

/// Compiles `tests/c/<name>.c` (or `source`) against the shared library; `sanitized` adds
/// ASan + UBSan. Returns the executable.
fn build(name: &str, source: &Path, sanitized: bool) -> PathBuf {
    let lib = lib_dir();
    let exe = out_dir().join(format!("{name}{}", if sanitized { "-san" } else { "" }));
    let mut cc = Command::new("gcc");
    cc.args(STRICT);
    if sanitized {
        cc.args(SANITIZE);
    }
    cc.arg("-I")
        .arg(crate_dir().join("include"))
        .arg("-I")
        .arg(crate_dir().join("tests/c"))
        .arg(source)
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lvenom_memory", "-lpthread"]);
    run_ok(&mut cc, &format!("compile {name}"));
    exe
}

fn source(name: &str) -> PathBuf {
    crate_dir().join("tests/c").join(format!("{name}.c"))
}

fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sanitizer_env(cmd: &mut Command) -> &mut Command {
    cmd.env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
}

/// Both builds of a program.
fn both(name: &str) -> [PathBuf; 2] {
    [
        build(name, &source(name), false),
        build(name, &source(name), true),
    ]
}

fn guard(name: &str) -> ShmGuard {
    ShmGuard(format!("venom_{name}"))
}

/// Starts a C daemon and waits for its "ready" line (a pipe read, not a sleep).
fn start_c_daemon(exe: &Path, name: &str) -> (KillOnDrop, BufReader<std::process::ChildStdout>) {
    start_c_program(exe, &[name])
}

/// Starts C program `exe` with `args` and waits for its "ready" line.
fn start_c_program(
    exe: &Path,
    args: &[&str],
) -> (KillOnDrop, BufReader<std::process::ChildStdout>) {
    let mut child = KillOnDrop::spawn(
        sanitizer_env(&mut Command::new(exe))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

fn finish_c_daemon(mut child: KillOnDrop, mut out: BufReader<std::process::ChildStdout>) -> String {
    let status = child.wait_timeout(WAIT).expect("C daemon exits");
    assert!(status.success(), "C daemon failed: {status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    rest
}

/// A Rust daemon on `name` publishing `data` and answering each request with `prefix` and the
/// request, until the command `quit`; `client` runs meanwhile (on this thread). Returns the
/// daemon's counters.
fn with_rust_daemon(name: &str, data: &[u8], prefix: &[u8], client: impl FnOnce()) -> Stats {
    let daemon = DaemonChannel::create(name, ChannelConfig::default()).unwrap();
    daemon.write_data(data).unwrap();
    let stop = daemon.stop_handle();
    std::thread::scope(|s| {
        s.spawn(|| {
            daemon
                .run(|_, req| {
                    if req == b"quit" {
                        stop.stop();
                    }
                    [prefix, req].concat()
                })
                .unwrap()
        });
        client();
    });
    daemon.stats()
}

#[test]
fn c_daemon_serves_a_c_shell() {
    for (daemon, shell) in both("daemon").into_iter().zip(both("shell")) {
        let name = unique_name("capi_cc");
        let _g = guard(&name);
        let (child, out) = start_c_daemon(&daemon, &name);
        let shell_out = run_ok(
            sanitizer_env(&mut Command::new(&shell)).args([name.as_str(), "C", "100", "C:"]),
            "C shell",
        );
        assert_eq!(String::from_utf8_lossy(&shell_out.stdout), "ok\n");
        assert_eq!(finish_c_daemon(child, out), "served 100\n");
    }
}

/// Bursts across two C processes: `venom_shell_try_send_commands` and
/// `venom_daemon_try_recv_commands` move 2000 commands in order (and refuse their bad inputs).
#[test]
fn bursts_of_commands_cross_between_c_processes_in_order() {
    for exe in both("burst") {
        let name = unique_name("capi_burst");
        let _g = guard(&name);
        let (daemon, out) = start_c_program(&exe, &["daemon", &name]);
        let shell_out = run_ok(
            sanitizer_env(&mut Command::new(&exe)).args(["shell", name.as_str()]),
            "C burst shell",
        );
        assert_eq!(String::from_utf8_lossy(&shell_out.stdout), "ok\n");
        assert_eq!(finish_c_daemon(daemon, out), "received 2000\n");
    }
}

#[test]
fn a_c_shell_talks_to_a_rust_daemon() {
    for shell in both("shell") {
        let name = unique_name("capi_cr");
        let _g = guard(&name);
        let stats = with_rust_daemon(&name, b"hello from Rust", b"R:", || {
            let out = run_ok(
                sanitizer_env(&mut Command::new(&shell)).args([name.as_str(), "Rust", "50", "R:"]),
                "C shell",
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
        });
        assert_eq!(stats.requests, 50);
    }
}

#[test]
fn a_rust_shell_talks_to_a_c_daemon() {
    let [daemon, _] = both("daemon");
    let name = unique_name("capi_rc");
    let _g = guard(&name);
    let (child, out) = start_c_daemon(&daemon, &name);
    let shell = ShellChannel::connect(&name).unwrap();
    let mut buf = [0u8; 64];
    let n = shell.read_data(&mut buf);
    assert_eq!(&buf[..n], b"hello from C");
    let mut resp = [0u8; 64];
    for i in 0..20 {
        let req = format!("q{i}");
        let n = shell.request(req.as_bytes(), &mut resp).unwrap();
        assert_eq!(&resp[..n], format!("C:{req}").as_bytes());
    }
    shell.try_send_command(b"quit").unwrap();
    assert_eq!(finish_c_daemon(child, out), "served 20\n");
}

/// The C program's `struct Pose`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct Pose {
    x: f64,
    y: f64,
    heading: f64,
}

#[test]
fn a_c_struct_and_a_rust_shared_memory_are_one_value() {
    let [plain, sanitized] = both("shared");
    let opts = SharedMemoryOptions::new().tag("pose v1");
    // C creates, Rust opens and changes the heading, C sees it.
    let name = unique_name("capi_sm1");
    let _g = ShmGuard(format!("venom_sm_{name}"));
    let mut child = KillOnDrop::spawn(
        sanitizer_env(&mut Command::new(&sanitized))
            .args([name.as_str(), "create"])
            .stdout(Stdio::piped()),
    );
    let mut rust = None;
    assert!(spin_until(WAIT, || {
        rust = SharedMemory::<Pose>::open_with(&name, &opts).ok();
        rust.as_ref().is_some_and(|r| r.read().x == 1.0)
    }));
    let rust = rust.unwrap();
    assert_eq!(
        rust.read(),
        Pose {
            x: 1.0,
            y: 2.0,
            heading: 0.5
        }
    );
    rust.write_partial(&3.25f64, 16).unwrap();
    let status = child.wait_timeout(WAIT).expect("C side exits");
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(out, "heading 3.25\n");
    drop(rust);
    SharedMemory::<Pose>::unlink(&name).unwrap();
    // Rust creates, C opens, reads and writes x.
    let name = unique_name("capi_sm2");
    let _g = ShmGuard(format!("venom_sm_{name}"));
    let rust = SharedMemory::<Pose>::create_with(&name, &opts).unwrap();
    rust.write(&Pose {
        x: 4.0,
        y: 5.0,
        heading: 6.0,
    })
    .unwrap();
    let out = run_ok(
        Command::new(&plain).args([name.as_str(), "open"]),
        "C opener",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    assert_eq!(
        rust.read(),
        Pose {
            x: 7.0,
            y: 5.0,
            heading: 6.0
        }
    );
}

#[test]
fn the_serve_loop_stops_from_another_thread() {
    for exe in both("stop_from_thread") {
        let name = unique_name("capi_stop");
        let _g = guard(&name);
        let out = run_ok(sanitizer_env(&mut Command::new(&exe)).arg(&name), "stop");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "stopped\n");
    }
}

#[test]
fn every_bad_input_gets_its_documented_status() {
    for exe in both("bad_input") {
        let name = unique_name("capi_bad");
        let guards: Vec<_> = (0..4)
            .flat_map(|i| {
                [
                    guard(&format!("{name}_{i}")),
                    ShmGuard(format!("venom_sm_{name}_{i}")),
                ]
            })
            .collect();
        let out = run_ok(
            sanitizer_env(&mut Command::new(&exe)).arg(&name),
            "bad input",
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("all statuses as documented"));
        drop(guards);
    }
}

#[test]
fn the_seed_example_runs_verbatim_against_a_rust_daemon() {
    let name = unique_name("capi_seed");
    let _g = guard(&name);
    // The guide's program, with only its channel name made unique for a parallel test run.
    let text = std::fs::read_to_string(source("seed_example")).unwrap();
    let src = out_dir().join(format!("seed_example_{name}.c"));
    std::fs::write(&src, text.replace("\"my_channel\"", &format!("\"{name}\""))).unwrap();
    let exe = build(&format!("seed_example_{name}"), &src, false);
    let daemon = DaemonChannel::create(&name, ChannelConfig::default()).unwrap();
    daemon.write_data(b"sensor: 21.5").unwrap();
    let out = run_ok(&mut Command::new(&exe), "seed example");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Connected! ID: 1"), "{text}");
    assert!(text.contains("Received 12 bytes"), "{text}");
    let mut cmd = [0u8; 16];
    assert_eq!(daemon.try_recv_command(&mut cmd), Some((1, 4)));
    assert_eq!(&cmd[..4], b"PING");
}

#[test]
fn the_header_compiles_as_c99_c11_cpp17_and_twice() {
    let include = crate_dir().join("include");
    for (compiler, std, lang) in [
        ("gcc", "-std=c99", "c"),
        ("gcc", "-std=c11", "c"),
        ("g++", "-std=c++17", "c++"),
    ] {
        for file in ["header_twice", "seed_header"] {
            let mut cc = Command::new(compiler);
            cc.args([
                std,
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-fsyntax-only",
                "-x",
                lang,
            ])
            .arg("-I")
            .arg(&include)
            .arg(source(file));
            run_ok(&mut cc, &format!("{compiler} {std} {file}"));
        }
    }
}

#[test]
fn a_statically_linked_c_shell_works() {
    let lib = lib_dir();
    let exe = out_dir().join("shell-static");
    let mut cc = Command::new("gcc");
    cc.args(STRICT)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg("-I")
        .arg(crate_dir().join("tests/c"))
        .arg(source("shell"))
        .arg(lib.join("libvenom_memory.a"))
        .args(["-o"])
        .arg(&exe)
        .args([
            "-lpthread",
            "-ldl",
            "-lm",
            "-lrt",
            "-lgcc_s",
            "-lutil",
            "-lc",
        ]);
    run_ok(&mut cc, "static link");
    let nm = run_ok(Command::new("ldd").arg(&exe), "ldd");
    assert!(!String::from_utf8_lossy(&nm.stdout).contains("libvenom_memory"));
    let name = unique_name("capi_static");
    let _g = guard(&name);
    with_rust_daemon(&name, b"hello from static", b"S:", || {
        run_ok(
            Command::new(&exe).args([name.as_str(), "static", "5", "S:"]),
            "static shell",
        );
    });
}

/// The Python binding's unittest (`python/test_venom_memory.py`): a Python shell against a
/// daemon in this (Rust) process, a Python daemon against the C shell, and Python alone.
#[test]
fn the_python_binding_passes_its_tests() {
    let shell = build("shell", &source("shell"), false);
    let name = unique_name("capi_py");
    let prefix = unique_name("capi_pyp");
    let _g = guard(&name);
    let guards: Vec<_> = ["pyd", "inproc", "cfg"]
        .iter()
        .map(|t| guard(&format!("{prefix}_{t}")))
        .chain(std::iter::once(ShmGuard(format!("venom_sm_{prefix}_sb"))))
        .collect();
    let stats = with_rust_daemon(&name, b"hello from Rust", b"R:", || {
        let out = run_ok(
            Command::new("python3")
                .args(["-m", "unittest", "-v", "test_venom_memory"])
                .current_dir(crate_dir().join("python"))
                .env("VENOM_LIB", lib_dir().join("libvenom_memory.so"))
                .env("VENOM_TEST_PREFIX", &prefix)
                .env("VENOM_TEST_RUST_CHANNEL", &name)
                .env("VENOM_TEST_C_SHELL", &shell)
                .env("PYTHONDONTWRITEBYTECODE", "1"),
            "python unittest",
        );
        let report = String::from_utf8_lossy(&out.stderr);
        assert!(
            report.contains("\nOK") && !report.contains("skipped"),
            "{report}"
        );
    });
    assert_eq!(stats.requests, 200);
    drop(guards);
}

fn check_decls(dart: &Path) -> Output {
    Command::new("python3")
        .arg(crate_dir().join("tools/check_ffi_decls.py"))
        .arg(crate_dir().join("include/venom_memory_rs.h"))
        .arg(lib_dir().join("libvenom_memory.so"))
        .arg(dart)
        .arg(crate_dir().join("python/venom_memory.py"))
        .output()
        .expect("python3 runs the checker")
}

/// No Dart SDK here: every `lookupFunction` of the Dart binding (and every ctypes declaration
/// of the Python one) is compared with the header and the exported symbols; a wrong width is
/// caught (the seed's `bool` read as `Int32` would turn -13 into "sent").
#[test]
fn the_dart_and_python_declarations_match_the_header() {
    let dart = crate_dir().join("dart/venom_memory.dart");
    let out = check_decls(&dart);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for seed in ["connect", "read_data", "send_command", "destroy"] {
        assert!(
            text.contains(&format!("ok dart   venom_shell_{seed}\n")),
            "{text}"
        );
    }
    assert!(text.lines().filter(|l| l.starts_with("ok python")).count() >= 40);
    // The checker fails on a declaration of the wrong width.
    let wrong = out_dir().join("venom_memory_wrong.dart");
    let source = std::fs::read_to_string(&dart).unwrap();
    let mutated = source.replacen(
        "Uint8 Function(Pointer<Void>, Pointer<Uint8>, IntPtr)",
        "Int32 Function(Pointer<Void>, Pointer<Uint8>, IntPtr)",
        1,
    );
    assert_ne!(mutated, source);
    std::fs::write(&wrong, mutated).unwrap();
    let out = check_decls(&wrong);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("MISMATCH dart venom_shell_send_command")
    );
}

/// `install.sh` into a temporary prefix; the seed's recipe (`gcc -o myapp myapp.c
/// -lvenom_memory` once the library and header are where the compiler looks) and pkg-config,
/// shared and static, each build a program that runs against a Rust daemon.
#[test]
fn installed_library_builds_with_the_seed_recipe_and_pkg_config() {
    let prefix = out_dir().join(format!("prefix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    run_ok(
        Command::new("bash")
            .arg(crate_dir().join("install.sh"))
            .arg("--prefix")
            .arg(&prefix)
            .arg("--from")
            .arg(lib_dir()),
        "install.sh",
    );
    let lib = prefix.join("lib");
    let pkg = |args: &[&str]| -> Vec<String> {
        let out = run_ok(
            Command::new("pkg-config")
                .args(args)
                .arg("venom_memory")
                .env("PKG_CONFIG_PATH", lib.join("pkgconfig")),
            "pkg-config",
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let name = unique_name("capi_inst");
    let _g = guard(&name);
    let seed = out_dir().join(format!("myapp_{name}.c"));
    let text = std::fs::read_to_string(source("seed_example")).unwrap();
    std::fs::write(
        &seed,
        text.replace("\"my_channel\"", &format!("\"{name}\"")),
    )
    .unwrap();
    // The guide's command, verbatim, with the install prefix where gcc looks.
    let myapp = out_dir().join(format!("myapp_{name}"));
    run_ok(
        Command::new("gcc")
            .arg("-o")
            .arg(&myapp)
            .arg(&seed)
            .arg("-lvenom_memory")
            .env("C_INCLUDE_PATH", prefix.join("include"))
            .env("LIBRARY_PATH", &lib),
        "gcc -o myapp myapp.c -lvenom_memory",
    );
    let shared = out_dir().join(format!("pkg_shared_{name}"));
    run_ok(
        Command::new("gcc")
            .arg(&seed)
            .arg("-o")
            .arg(&shared)
            .args(pkg(&["--cflags", "--libs"])),
        "pkg-config shared build",
    );
    let statik = out_dir().join(format!("pkg_static_{name}"));
    run_ok(
        Command::new("gcc")
            .arg(&seed)
            .arg("-o")
            .arg(&statik)
            .args(["-Wl,--as-needed", "-l:libvenom_memory.a"])
            .args(pkg(&["--static", "--cflags", "--libs"])),
        "pkg-config static build",
    );
    let ldd = run_ok(Command::new("ldd").arg(&statik), "ldd");
    assert!(!String::from_utf8_lossy(&ldd.stdout).contains("libvenom_memory"));
    let daemon = DaemonChannel::create(&name, ChannelConfig::default()).unwrap();
    daemon.write_data(b"installed").unwrap();
    for exe in [&myapp, &shared, &statik] {
        let out = run_ok(
            Command::new(exe).env("LD_LIBRARY_PATH", &lib),
            "installed program",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Received 9 bytes"), "{text}");
        let mut cmd = [0u8; 8];
        assert_eq!(daemon.try_recv_command(&mut cmd).map(|(_, n)| n), Some(4));
    }
    std::fs::remove_dir_all(&prefix).unwrap();
}

/// A daemon process that never serves: it creates the channel, says so, and blocks on its
/// stdin until it is killed.
#[test]
fn forever_waits_end_with_disconnected_when_the_daemon_dies() {
    use venom_shm::testing::{announce_ready, arg_var, child_arg, child_role, spawn_self};
    if child_role().as_deref() == Some("silent-daemon") {
        let _d = DaemonChannel::create(&child_arg("NAME"), ChannelConfig::default()).unwrap();
        announce_ready();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line); // until killed
        return;
    }
    let [exe, _] = both("forever");
    let name = unique_name("capi_forever");
    let _g = guard(&name);
    let mut daemon = KillOnDrop::spawn(
        spawn_self(
            "forever_waits_end_with_disconnected_when_the_daemon_dies",
            "silent-daemon",
        )
        .env(arg_var("NAME"), &name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped()),
    );
    daemon.wait_ready();
    let mut line = String::new();
    let mut shell = KillOnDrop::spawn(Command::new(&exe).arg(&name).stdout(Stdio::piped()));
    let mut shell_out = BufReader::new(shell.0.stdout.take().unwrap());
    line.clear();
    shell_out.read_line(&mut line).unwrap();
    assert_eq!(line, "waiting\n");
    daemon.kill();
    let status = shell.wait_timeout(WAIT).expect("the forever waits return");
    assert!(status.success(), "{status}");
    line.clear();
    shell_out.read_line(&mut line).unwrap();
    assert_eq!(line, "disconnected\n");
}
