//! Port of the C++ `SharedMemory<T>` seed's "Inter-Process Communication" writer: writes five
//! messages one second apart. Run `ipc_reader` beside it:
//!
//! ```sh
//! cargo run -p venom-examples --example ipc_writer &
//! cargo run -p venom-examples --example ipc_reader
//! ```

use std::time::Duration;

use venom_channel::SharedMemory;
use venom_examples::Message;

fn main() {
    // try { ... } catch (const std::exception& e) { std::cerr << "Error: " ... }
    if let Err(e) = run() {
        eprintln!("Error: {e}");
    }
}

fn run() -> Result<(), venom_channel::Error> {
    // The C++ constructor creates or opens; the reader may have been started first.
    let shm = SharedMemory::<Message>::open_or_create("ipc_example")?;
    for i in 0..5 {
        let mut msg = Message {
            id: i,
            ..Message::default()
        };
        msg.set_content(&format!("Message {i}"));

        shm.write(&msg)?;
        println!("Wrote message: {}", msg.content());

        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}
