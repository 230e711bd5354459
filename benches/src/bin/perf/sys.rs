//! System calls per operation in the steady state (`strace -f -c` around two lengths of the
//! same scenario: the difference divided by the extra operations leaves start-up out), and the
//! CPU an idle daemon uses.

use std::process::{Command, Stdio};
use std::time::Duration;

use venom_benches::harness::CpuMeter;
use venom_benches::harness::spawn_role;

use crate::rtt::{MSG, channel_name, connect};

/// Total system calls `strace -f -c` counts for `perf --scenario <scenario> --rounds <n>`;
/// `Err` with the reason if strace cannot run.
fn traced_calls(scenario: &str, n: usize) -> Result<u64, String> {
    let out = std::env::temp_dir().join(format!("vbench_strace_{}.txt", std::process::id()));
    let status = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&out)
        .arg(std::env::current_exe().unwrap())
        .args(["--scenario", scenario, "--rounds", &n.to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("strace: {e}"))?;
    if !status.success() {
        return Err(format!("strace run failed: {status}"));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&out);
    // The summary's last line: "100.00  secs  usecs/call  calls  [errors]  total".
    let total = text
        .lines()
        .rfind(|l| l.trim_end().ends_with("total"))
        .ok_or("no total line in strace's summary")?;
    total
        .split_whitespace()
        .nth(3)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("cannot read strace's total: {total:?}"))
}

/// Steady-state system calls per operation of `scenario`: calls(2n) − calls(n), over n.
pub(crate) fn syscalls_per_op(scenario: &str, n: usize) -> crate::Syscalls {
    let short = traced_calls(scenario, n)?;
    let long = traced_calls(scenario, 2 * n)?;
    Ok((long.saturating_sub(short) as f64 / n as f64, n, short, long))
}

/// CPU % an idle daemon (default spin budget) uses over `window`, after serving one request.
pub(crate) fn idle_daemon_cpu(window: Duration) -> f64 {
    let name = channel_name("idle");
    let spin = venom_channel::DEFAULT_SPIN.to_string();
    let mut child = spawn_role("venom-daemon", &[&name, &spin, "4"]);
    let shell = connect(&name);
    let mut resp = [0u8; MSG];
    shell.request(b"hello", &mut resp).expect("request");
    let cpu = CpuMeter::start(child.id());
    std::thread::sleep(window);
    let (_, daemon) = cpu.stop();
    let _ = shell.request(b"quit", &mut resp);
    child.wait().expect("daemon exits");
    daemon
}
