//! Connects to `system_daemon`, prints a one-line status bar for each update (blocking until
//! the data changes), and sends the commands given on its command line as requests.
//!
//! `cargo run -p venom-examples --example status_bar -- [--channel NAME] [--updates N] [CMD ...]`
//! e.g. `status_bar PING "INTERVAL 200" --updates 5`.

use std::time::Duration;

use venom_channel::{Error, ShellChannel};
use venom_examples::{CHANNEL, SystemStats};

fn bar(percent: f32) -> String {
    let filled = ((percent / 10.0).round() as usize).min(10);
    format!("{}{}", "#".repeat(filled), ".".repeat(10 - filled))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut channel = CHANNEL.to_owned();
    let mut updates: Option<u64> = None;
    let mut commands = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--channel" => channel = args.next().ok_or("--channel needs a name")?,
            "--updates" => updates = Some(args.next().ok_or("--updates needs N")?.parse()?),
            _ => commands.push(a),
        }
    }
    // The daemon may still be starting.
    let shell = {
        let mut tries = 0;
        loop {
            match ShellChannel::connect(&channel) {
                Ok(s) => break s,
                Err(Error::NotFound { .. } | Error::NotInitialized { .. }) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    println!(
        "[status_bar pid {}] client {}",
        std::process::id(),
        shell.client_id()
    );
    for cmd in &commands {
        let mut resp = [0u8; 256];
        let n = shell.request(cmd.as_bytes(), &mut resp)?;
        println!(
            "[status_bar] {cmd} -> {}",
            String::from_utf8_lossy(&resp[..n])
        );
    }
    let mut version = 0;
    let mut shown = 0;
    while updates.is_none_or(|n| shown < n) {
        version = match shell.wait_for_data_timeout(version, Duration::from_secs(10)) {
            Ok(v) => v,
            Err(Error::Disconnected) => {
                println!("[status_bar] daemon gone");
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let s: SystemStats = shell.read_value()?;
        println!(
            "CPU [{}] {:5.1}%  MEM [{}] {:5.1}% ({} / {} MiB)  #{} every {} ms",
            bar(s.cpu_percent),
            s.cpu_percent,
            bar(s.mem_percent),
            s.mem_percent,
            s.mem_used_kib / 1024,
            s.mem_total_kib / 1024,
            s.sample,
            s.interval_ms
        );
        shown += 1;
    }
    Ok(())
}
