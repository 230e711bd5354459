//! A tokio shell of `system_daemon`: one task awaits each data update and prints it, another
//! awaits a `PING` request every 500 ms, a third ticks a clock — all on one thread
//! (a current-thread runtime), none of them blocking it.
//!
//! `cargo run -p venom-examples --example async_status -- [--channel NAME] [--updates N]`
//! (start `cargo run -p venom-examples --example system_daemon` first).

use std::time::Duration;

use venom_channel::{Error, ShellChannel};
use venom_examples::{CHANNEL, SystemStats};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut channel = CHANNEL.to_owned();
    let mut updates = 10u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--channel" => channel = args.next().ok_or("--channel needs a name")?,
            "--updates" => updates = args.next().ok_or("--updates needs N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
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
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    println!("[async_status] client {}", shell.client_id());

    let data = async {
        let mut version = 0;
        for _ in 0..updates {
            version = shell.wait_for_data_async(version).await?;
            let s: SystemStats = shell.read_value()?;
            println!(
                "[async_status] #{:<4} CPU {:5.1}%  MEM {:5.1}%",
                s.sample, s.cpu_percent, s.mem_percent
            );
        }
        Ok::<(), Error>(())
    };
    let pings = async {
        let mut every = tokio::time::interval(Duration::from_millis(500));
        loop {
            every.tick().await;
            let reply = shell.request_async(b"PING").await?;
            println!("[async_status] PING -> {}", String::from_utf8_lossy(&reply));
        }
        #[allow(unreachable_code)]
        Ok::<(), Error>(())
    };
    let clock = async {
        let mut ticks = 0u64;
        let mut every = tokio::time::interval(Duration::from_millis(250));
        loop {
            every.tick().await;
            ticks += 1;
            if ticks.is_multiple_of(4) {
                println!("[async_status] clock: {} s", ticks / 4);
            }
        }
    };
    // Ends when the data task has shown its updates (or a task fails: daemon gone, …).
    tokio::select! {
        r = data => r?,
        r = pings => r?,
        () = clock => {}
    }
    Ok(())
}
