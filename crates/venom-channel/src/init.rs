//! What channels and shared values share about their regions' lives: the initialisation
//! barrier (the creator stores the magic last, `Release`; an opener waits briefly for it, then
//! checks magic and version) and reclaiming a name whose holder died.

use std::time::Duration;

use venom_shm::sync::{AtomicU32, Ordering, fence};
use venom_shm::{Access, OpenOptions, ShmRegion};

use crate::error::{Error, Result};

/// How old an empty object must be before it counts as left by a dead creator.
const EMPTY_STALE_AFTER: Duration = Duration::from_secs(2);

/// The region `shm_name` (of channel or value `name`) exists: reclaims it unless its holder
/// is alive. `holder` reads the live holder's pid from a region of at least `min_len` bytes
/// (`None`: dead, closed, or never initialised). Only this user's regular files are touched,
/// and only the object that was checked is unlinked (a successor's is kept); a FIFO, a symlink
/// or another user's region is an error at once.
///
/// # Errors
/// [`Error::AlreadyExists`] (a live holder, or an empty region still being created),
/// [`Error::NotARegion`], [`Error::UntrustedOwner`], [`Error::PermissionDenied`].
pub(crate) fn reclaim_if_dead(
    name: &str,
    shm_name: &str,
    min_len: usize,
    holder: impl FnOnce(&ShmRegion) -> Option<u32>,
) -> Result<()> {
    let taken = |pid| Error::AlreadyExists {
        name: name.to_owned(),
        pid,
    };
    let options = OpenOptions::new(Access::ReadOnly).min_len(min_len);
    let mut region = match ShmRegion::open_with(shm_name, options) {
        Ok(r) => r,
        Err(venom_shm::Error::NotFound { .. }) => return Ok(()), // gone meanwhile
        Err(venom_shm::Error::TooSmall { len: 0, .. }) => {
            // Empty: being created right now, or left by a creator that died before sizing it.
            return match ShmRegion::unlink_if_stale_empty(shm_name, EMPTY_STALE_AFTER)? {
                true => Ok(()),
                false => Err(taken(None)),
            };
        }
        Err(venom_shm::Error::TooSmall { .. }) => {
            // Too short for a header: not ours to judge, not ours to delete.
            return Err(Error::Corrupt {
                reason: "a region too small for its header holds the name",
            });
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(pid) = holder(&region) {
        return Err(taken(Some(pid)));
    }
    match region.unlink() {
        Ok(()) | Err(venom_shm::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// How long an opener waits for a creator that is still initialising.
const INIT_WAIT: Duration = Duration::from_millis(500);

/// Publishes a freshly initialised header: stores `value` in its `magic` last.
///
/// SYNC POINT [H1]: the `Release` store publishes every header field and sub-structure the
/// creator initialised before (channels: `ChannelHeader::publish` and the daemon's repair,
/// `restamp`; shared values: `SharedBytes::create`) to an opener that sees the magic in
/// [`look_magic`] [H2]. Modelled by `tests/loom_channel.rs::create_then_connect`.
pub(crate) fn publish_magic(magic: &AtomicU32, value: u32) {
    magic.store(value, Ordering::Release);
}

/// One look at a header's magic (0: not published yet).
///
/// SYNC POINT [H2]: with the fence, pairs with the creator's `Release` store in
/// [`publish_magic`] [H1]: an opener that sees the magic sees every field stored before it. A
/// `Relaxed` load and a fence rather than an `Acquire` load: read-only mappings (`venom
/// inspect`) are only guaranteed `Relaxed` loads.
pub(crate) fn look_magic(magic: &AtomicU32) -> u32 {
    let found = magic.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    found
}

/// Waits up to [`INIT_WAIT`] for `magic` to be set, then requires `want_magic` and a layout
/// version of `want_version`.
///
/// # Errors
/// [`Error::NotInitialized`] (still zero), [`Error::BadMagic`], [`Error::IncompatibleVersion`].
#[cfg(not(loom))]
pub(crate) fn await_header(
    name: &str,
    magic: &AtomicU32,
    want_magic: u32,
    version: &AtomicU32,
    want_version: u32,
) -> Result<()> {
    let deadline = venom_shm::wait::Deadline::after(Some(INIT_WAIT));
    let found = loop {
        let found = look_magic(magic);
        if found != 0 || deadline.expired() {
            break found;
        }
        // Polling a process that is initialising a region: a short nap, not synchronisation
        // (the Acquire in `look_magic` is).
        std::thread::sleep(Duration::from_millis(1));
    };
    check_header(name, found, want_magic, version, want_version)
}

/// Checks a header whose magic was `found` by [`look_magic`]: the magic and the layout version.
///
/// # Errors
/// [`Error::NotInitialized`] (`found` is zero), [`Error::BadMagic`],
/// [`Error::IncompatibleVersion`].
pub(crate) fn check_header(
    name: &str,
    found: u32,
    want_magic: u32,
    version: &AtomicU32,
    want_version: u32,
) -> Result<()> {
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
