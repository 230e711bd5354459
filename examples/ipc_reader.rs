//! Port of the C++ `SharedMemory<T>` seed's "Inter-Process Communication" reader: five times,
//! waits up to two seconds for the next message (`tryRead` with a timeout there; here a wait
//! for the next change, then a read that is never torn).

use std::time::Duration;

use venom_channel::{Error, SharedMemory};
use venom_examples::Message;

fn main() {
    if let Err(e) = run() {
        eprintln!("Error: {e}");
    }
}

fn run() -> Result<(), Error> {
    // SharedMemory<Message> shm("ipc_example", false); // Open existing (retrying while the
    // writer starts).
    let shm = {
        let mut tries = 0;
        loop {
            match SharedMemory::<Message>::open("ipc_example") {
                Ok(s) => break s,
                Err(Error::NotFound { .. }) if tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    };
    for _ in 0..5 {
        match shm.wait_for_change_timeout(Duration::from_secs(2)) {
            Ok(()) => println!("Read message: {}", shm.read().content()),
            Err(Error::Timeout) => println!("Timeout waiting for message"),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
