//! The README's demo: starts `system_daemon` and `status_bar` as two processes (copies of
//! this binary in two roles), shows live output for a few seconds, then stops the daemon
//! through its own `STOP` command.
//!
//! `cargo run -p venom-examples --example demo`

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("no example directory")?;
    if !dir.join("system_daemon").exists() || !dir.join("status_bar").exists() {
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
    let stopped = Command::new(dir.join("status_bar"))
        .args(["--channel", &channel, "--updates", "0", "STOP"])
        .status()?;
    let daemon_status = daemon.wait()?;
    println!("[demo] status_bar: {shown}, stop: {stopped}, daemon: {daemon_status}");
    if shown.success() && stopped.success() && daemon_status.success() {
        Ok(())
    } else {
        Err("a demo process failed".into())
    }
}
