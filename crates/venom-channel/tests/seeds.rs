//! The seed documents' programs, as real processes: readme daemon + shell (RPC ping → pong),
//! the usage guide's daemon loop + shell (struct payload, PING, STOP), and an
//! `Arc<ShellChannel>` shared by threads. Code follows the seeds with at most a `?` added;
//! channel names are made unique so tests can run in parallel.

// The seeds' code is kept as users wrote it (public items without docs).
#![allow(missing_docs, missing_debug_implementations)]

use std::process::Stdio;
use std::sync::Arc;

use venom_channel::{ChannelConfig, DaemonChannel, Error, ShellChannel};
use venom_shm::testing::{
    KillOnDrop, arg_var, child_arg, child_role, spawn_self, spin_until, unique_name,
};

mod common;
use common::{WAIT, connect_when_ready, guard};

/// README: "1. Server (Writer / Daemon)", verbatim but for the channel name and a `?`.
fn readme_daemon(channel: &str) -> Result<(), Box<dyn std::error::Error>> {
    // 1. Configure the channel
    let config = ChannelConfig {
        data_size: 64 * 1024, // 64KB data size
        cmd_slots: 128,       // Number of commands in queue
        max_clients: 16,      // Maximum number of clients
    };

    // 2. Create channel named "my_channel"
    let daemon = DaemonChannel::create(channel, config)?;
    println!("Daemon started on channel: my_channel");
    daemon.write_data(b"New Global State Here")?;
    let stop = daemon.stop_handle(); // (not in the seed: lets the test end the daemon)

    // 3. Listen and handle commands
    daemon.run(|client_id, cmd| {
        // Convert command to text
        let cmd_str = String::from_utf8_lossy(cmd);
        println!("Received from {}: {}", client_id, cmd_str);

        // Execute logic and return response
        if cmd_str.contains("ping") {
            return b"pong".to_vec();
        }
        if cmd_str.contains("quit") {
            stop.stop();
        }

        b"Unknown command".to_vec()
    })?;

    Ok(())
}

/// README: "2. Client (Reader / Shell)", verbatim but for the channel name and a `?`.
fn readme_shell(channel: &str) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    // 1. Connect to the channel
    let shell = ShellChannel::connect(channel)?;
    println!("Connected with Client ID: {}", shell.client_id());

    // 2. Read current data (without waiting/locking)
    let mut data_buf = [0u8; 1024];
    let len = shell.read_data(&mut data_buf);
    println!("Current Data: {:?}", &data_buf[..len]);
    assert_eq!(&data_buf[..len], b"New Global State Here");

    // 3. Send command and wait for response (RPC style)
    let mut response_buf = [0u8; 1024];
    let resp_len = shell.request(b"ping", &mut response_buf)?;

    let response = String::from_utf8_lossy(&response_buf[..resp_len]);
    println!("Server Response: {}", response);

    let mut other = [0u8; 64];
    let n = shell.request(b"what?", &mut other)?;
    assert_eq!(&other[..n], b"Unknown command");
    Ok(response_buf[..resp_len].to_vec())
}

#[test]
fn readme_daemon_and_shell_rpc() {
    if child_role().as_deref() == Some("daemon") {
        readme_daemon(&child_arg("NAME")).unwrap();
        return;
    }
    let name = unique_name("seed_readme");
    let _g = guard(&name);
    let mut daemon = KillOnDrop::spawn(
        spawn_self("readme_daemon_and_shell_rpc", "daemon").env(arg_var("NAME"), &name),
    );
    drop(connect_when_ready(&name));
    assert_eq!(readme_shell(&name).unwrap(), b"pong");
    // End the daemon through its own protocol, then it exits cleanly and removes the name.
    let shell = ShellChannel::connect(&name).unwrap();
    shell.try_send_command(b"quit").unwrap();
    let status = daemon.wait_timeout(WAIT).expect("daemon stops");
    assert!(status.success());
    assert!(matches!(
        ShellChannel::connect(&name),
        Err(Error::NotFound { .. })
    ));
}

// Usage guide: "Transferring Structured Data".
// Must be identical on server and client!
#[repr(C)] // Very important for C compatibility
#[derive(Clone, Copy, Default)]
pub struct SensorData {
    pub temperature: f32,
    pub humidity: f32,
    pub pressure: f32,
    pub timestamp: u64,
}

/// Usage guide: "1️⃣ Create Daemon (Server)" with the struct payload of "Writing (Daemon)".
fn usage_guide_daemon(channel: &str) {
    // Configure the channel
    let config = ChannelConfig {
        data_size: 1024, // Data size (bytes)
        cmd_slots: 16,   // Number of command slots
        max_clients: 8,  // Maximum number of clients
    };

    // Create the channel
    let daemon = DaemonChannel::create(channel, config).expect("Failed to create channel");

    println!("✅ Channel created: my_channel");

    let data = SensorData {
        temperature: 25.5,
        humidity: 60.0,
        pressure: 1013.25,
        timestamp: 1234567890,
    };

    // Convert struct to bytes
    // SAFETY: (the seed's code) `SensorData` is `repr(C)` plain data; the slice covers exactly
    // the value, which outlives it. Its 4 padding bytes are zero-initialised by the struct
    // literal in practice; the shell only reads the fields.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            &data as *const SensorData as *const u8,
            std::mem::size_of::<SensorData>(),
        )
    };

    let mut pings = 0;
    loop {
        // Write data
        daemon.write_data(bytes).unwrap();

        // Receive commands (non-blocking)
        let mut cmd_buf = [0u8; 64];
        if let Some((client_id, len)) = daemon.try_recv_command(&mut cmd_buf) {
            let cmd = String::from_utf8_lossy(&cmd_buf[..len]);
            println!("📥 Command from client {}: {}", client_id, cmd);

            // Handle command
            match cmd.as_ref() {
                "PING" => {
                    println!("PONG!");
                    pings += 1;
                }
                "STOP" => break,
                _ => println!("Unknown command"),
            }
        }

        // The seed's pacing of its polling loop (not synchronisation: the test waits on the
        // daemon's exit and on its published data).
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Exit status tells the test how many PINGs arrived.
    assert_eq!(pings, 1, "exactly one PING before STOP");
}

#[test]
fn usage_guide_daemon_loop_and_shell() {
    if child_role().as_deref() == Some("daemon") {
        usage_guide_daemon(&child_arg("NAME"));
        return;
    }
    let name = unique_name("seed_guide");
    let _g = guard(&name);
    let mut daemon = KillOnDrop::spawn(
        spawn_self("usage_guide_daemon_loop_and_shell", "daemon").env(arg_var("NAME"), &name),
    );
    // "2️⃣ Create Shell (Client)"
    let shell = connect_when_ready(&name);
    println!("✅ Connected! Client ID: {}", shell.client_id());
    assert!(spin_until(WAIT, || shell.data_version() > 0));

    // "Reading (Shell)"
    let mut buf = vec![0u8; std::mem::size_of::<SensorData>() + 64];
    let len = shell.read_data(&mut buf);
    assert!(len >= std::mem::size_of::<SensorData>());
    // SAFETY: (the seed's code) `buf` holds at least `size_of::<SensorData>()` bytes written
    // from a `SensorData`; `read_unaligned` would be needed for an unaligned buffer, and a
    // `Vec<u8>` allocation of this size is 8-aligned by the system allocator.
    let data: SensorData = unsafe { std::ptr::read(buf.as_ptr() as *const SensorData) };
    println!("🌡️ Temperature: {}°C", data.temperature);
    assert_eq!(
        (
            data.temperature,
            data.humidity,
            data.pressure,
            data.timestamp
        ),
        (25.5, 60.0, 1013.25, 1234567890)
    );

    // Send command to server
    shell.try_send_command(b"PING").unwrap();
    println!("📤 PING sent");
    shell.try_send_command(b"STOP").unwrap();
    let status = daemon.wait_timeout(WAIT).expect("daemon stops on STOP");
    assert!(status.success(), "daemon saw PING then STOP: {status}");
    // The daemon is gone: blocking calls say so.
    assert!(matches!(
        shell.wait_for_data_timeout(shell.data_version(), WAIT),
        Err(Error::Disconnected)
    ));
}

#[test]
fn arc_shell_shared_by_threads() {
    if child_role().as_deref() == Some("daemon") {
        let daemon = DaemonChannel::create(&child_arg("NAME"), ChannelConfig::default()).unwrap();
        let stop = daemon.stop_handle();
        daemon
            .run(|_, cmd| {
                if cmd == b"quit" {
                    stop.stop();
                }
                let mut echo = b"echo:".to_vec();
                echo.extend_from_slice(cmd);
                echo
            })
            .unwrap();
        return;
    }
    let name = unique_name("seed_arc");
    let _g = guard(&name);
    let mut daemon = KillOnDrop::spawn(
        spawn_self("arc_shell_shared_by_threads", "daemon")
            .env(arg_var("NAME"), &name)
            .stdout(Stdio::null()),
    );
    // "Shell can be shared between multiple threads"
    let shell = Arc::new(connect_when_ready(&name));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let shell = shell.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let cmd = format!("t{t}-{i}");
                    let mut resp = [0u8; 64];
                    let n = shell.request(cmd.as_bytes(), &mut resp).unwrap();
                    assert_eq!(&resp[..n], format!("echo:{cmd}").as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    shell.try_send_command(b"quit").unwrap();
    assert!(daemon.wait_timeout(WAIT).expect("daemon stops").success());
}
