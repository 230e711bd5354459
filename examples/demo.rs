//! The README's demo: starts `system_daemon` and `status_bar` as two processes, shows live
//! output for a few seconds, then the same through `async_status` (a tokio shell), then stops
//! the daemon through its own `STOP` command.
//!
//! `cargo run -p venom-examples --example demo`

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("no example directory")?;
    let programs = ["system_daemon", "status_bar", "async_status"];
    if programs.iter().any(|p| !dir.join(p).exists()) {
        // `cargo run --example demo` builds only this example: build its two programs too.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let built = Command::new(cargo)
            .args(["build", "-q", "-p", "venom-examples", "--examples"])
            .status()?;
        if !built.success() {
            return Err("building the example programs failed".into());
        }
    }
    let channel = format!("venom_demo_{}", std::process::id());
    let mut daemon = Command::new(dir.join("system_daemon"))
        .args([&channel, "250"])
        .spawn()?;
    let shown = Command::new(dir.join("status_bar"))
        .args([
            "--channel",
            &channel,
            "--updates",
            "8",
            "PING",
            "INTERVAL 250",
        ])
        .status()?;
    let awaited = Command::new(dir.join("async_status"))
        .args(["--channel", &channel, "--updates", "4"])
        .status()?;
    let stopped = Command::new(dir.join("status_bar"))
        .args(["--channel", &channel, "--updates", "0", "STOP"])
        .status()?;
    let daemon_status = daemon.wait()?;
    println!(
        "[demo] status_bar: {shown}, async_status: {awaited}, stop: {stopped}, daemon: {daemon_status}"
    );
    if shown.success() && awaited.success() && stopped.success() && daemon_status.success() {
        Ok(())
    } else {
        Err("a demo process failed".into())
    }
}
