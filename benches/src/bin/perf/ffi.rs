//! Rows for the C API and the Python binding: a C client and a C daemon (`benches/ffi/*.c`,
//! linked against `libvenom_memory.so`) beside the Rust round trip, and Python's
//! `Shell.request` beside `multiprocessing.Pipe` and a Unix socket between Python processes
//! (`benches/ffi/bench_py.py`). The C and Python sides time each round trip themselves (the
//! monotonic clock, as the Rust harness does) and print `p50 p99 p999 rate`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use venom_benches::Run;
use venom_benches::harness::spawn_role;

use crate::rtt::{Wait, channel_name, venom_spins};
use crate::{Opts, root};

/// The release `libvenom_memory.so` and the two C programs, built once.
fn built() -> &'static Result<(PathBuf, PathBuf), String> {
    static BUILT: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--release", "--quiet", "-p", "venom-capi", "--lib"])
            .current_dir(root())
            .status()
            .map_err(|e| e.to_string())?;
        if !ok.success() {
            return Err("cargo build -p venom-capi failed".into());
        }
        let lib = root().join("target/release");
        let out = root().join("target/ffi-bench");
        std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        let build = |name: &str| -> Result<PathBuf, String> {
            let exe = out.join(name);
            let ok = Command::new("gcc")
                .args(["-O2", "-std=c11", "-Wall", "-Werror", "-I"])
                .arg(root().join("crates/venom-capi/include"))
                .arg(root().join(format!("benches/ffi/{name}.c")))
                .arg("-o")
                .arg(&exe)
                .arg("-L")
                .arg(&lib)
                .arg(format!("-Wl,-rpath,{}", lib.display()))
                .arg("-lvenom_memory")
                .status()
                .map_err(|e| e.to_string())?;
            ok.success()
                .then_some(exe)
                .ok_or_else(|| format!("gcc {name}.c failed"))
        };
        Ok((build("bench_daemon")?, build("bench_client")?))
    })
}

/// Parses `p50 p99 p999 rate` (CPU not measured: NaN).
fn parse(out: &[u8]) -> Run {
    let v: Vec<f64> = String::from_utf8_lossy(out)
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    assert_eq!(
        v.len(),
        4,
        "bad result line: {}",
        String::from_utf8_lossy(out)
    );
    Run {
        p50: v[0],
        p99: v[1],
        p999: v[2],
        rate: v[3],
        cpu_a: f64::NAN,
        cpu_b: f64::NAN,
    }
}

/// C `venom_shell_request` ↔ C `venom_daemon_run`, 64 bytes each way.
pub(crate) fn c(opts: &Opts, how: Wait) -> Run {
    let (daemon, client) = match built() {
        Ok(b) => b,
        Err(e) => panic!("C benchmark programs: {e}"),
    };
    let (daemon_spin, shell_spin) = venom_spins(how);
    let name = channel_name("crpc");
    let mut server = Command::new(daemon)
        .args([&name, &daemon_spin.to_string()])
        .spawn()
        .expect("start the C daemon");
    let out = Command::new(client)
        .args([
            name.clone(),
            shell_spin.to_string(),
            opts.rounds.to_string(),
            opts.warmup.to_string(),
        ])
        .output()
        .expect("run the C client");
    assert!(out.status.success(), "C client failed: {}", out.status);
    server.wait().expect("C daemon exits");
    parse(&out.stdout)
}

/// Python rounds: a tenth of the others (Python's kernel transports take tens of µs each).
fn py_rounds(opts: &Opts) -> (usize, usize) {
    ((opts.rounds / 10).max(1000), (opts.warmup / 10).max(100))
}

/// A Python round trip: `venom` (Shell.request against a Rust daemon, default spin), `pipe`
/// or `unix`.
pub(crate) fn python(opts: &Opts, kind: &str) -> Run {
    if let Err(e) = built() {
        panic!("libvenom_memory: {e}");
    }
    let (rounds, warmup) = py_rounds(opts);
    let (arg, daemon) = match kind {
        "venom" => {
            let name = channel_name("pyrpc");
            let (spin, _) = venom_spins(Wait::SpinSleep);
            let d = spawn_role("venom-daemon", &[&name, &spin.to_string(), "4"]);
            (name, Some(d))
        }
        "unix" => (format!("/tmp/vbench_py_{}.sock", std::process::id()), None),
        _ => ("-".to_owned(), None),
    };
    let out = Command::new("python3")
        .arg(root().join("benches/ffi/bench_py.py"))
        .args([kind, &arg, &rounds.to_string(), &warmup.to_string()])
        .env("PYTHONPATH", root().join("crates/venom-capi/python"))
        .env(
            "VENOM_LIB",
            root().join("target/release/libvenom_memory.so"),
        )
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python {kind} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(mut d) = daemon {
        d.wait().expect("daemon exits");
    }
    parse(&out.stdout)
}
