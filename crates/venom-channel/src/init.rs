//! The initialisation barrier shared by channels and `SharedMemory<T>`: the creator stores
//! the magic last (`Release`); an opener waits briefly for it, then checks magic and version.

use std::time::Duration;
use venom_shm::sync::{AtomicU32, Ordering};

use venom_shm::wait::Deadline;

use crate::error::{Error, Result};

/// How long an opener waits for a creator that is still initialising.
const INIT_WAIT: Duration = Duration::from_millis(500);

/// Waits up to [`INIT_WAIT`] for `magic` to be set, then requires `want_magic` and a layout
/// version of `want_version`.
///
/// # Errors
/// [`Error::NotInitialized`] (still zero), [`Error::BadMagic`], [`Error::IncompatibleVersion`].
pub(crate) fn await_header(
    name: &str,
    magic: &AtomicU32,
    want_magic: u32,
    version: &AtomicU32,
    want_version: u32,
) -> Result<()> {
    let deadline = Deadline::after(Some(INIT_WAIT));
    let found = loop {
        // SYNC POINT [H2]: pairs with the creator's Release store of the magic, made after
        // every other field ([H1] for channels, [V1] for shared values).
        let found = magic.load(Ordering::Acquire);
        if found != 0 || deadline.expired() {
            break found;
        }
        // Polling a process that is initialising a region: a short nap, not synchronisation
        // (the Acquire above is).
        std::thread::sleep(Duration::from_millis(1));
    };
    if found == 0 {
        return Err(Error::NotInitialized {
            name: name.to_owned(),
        });
    }
    if found != want_magic {
        return Err(Error::BadMagic { found });
    }
    let found = version.load(Ordering::Relaxed);
    if found != want_version {
        return Err(Error::IncompatibleVersion {
            found,
            expected: want_version,
        });
    }
    Ok(())
}
