//! Named POSIX shared-memory regions, and nothing else.
//!
//! * [`ShmRegion`]: a mapped `shm_open` object, created exclusively ([`ShmRegion::create`]) or
//!   opened after checking its real size ([`ShmRegion::open`]).
//! * [`CreateOptions`]: permission mode (default `0o600`), prefault, unlink on drop.
//! * [`Access`]: read-write or read-only mapping; [`OpenOptions`] and [`Trust`]: how an
//!   existing object is opened and whose objects are accepted.
//! * [`HeapRegion`]: in-process memory shaped like a region (tests, benchmarks).
//! * [`validate_name`]: the name rules, with a [`NameError`] saying which one failed.
//! * [`Error`]: what went wrong, in variants a caller can act on.
//! * [`sync`]: the workspace's one atomics facade (`core` or `loom`), and the memory check
//!   every primitive makes.
//! * [`wait`]: futex wait/wake on a shared word, pids and liveness, deadlines.
//! * `reactor` (feature `async`): one thread that wakes futures parked on futex words.
//! * [`barrier`]: the asymmetric (membarrier) barrier of the wake-up checks.
//! * [`atomic_bytes`]: copying bytes in and out of memory held as atomic words, the only way
//!   the layers above move payloads through a region.
//!
//! The region never hands out `&[u8]` or `&mut [u8]`: another process can change the bytes at
//! any time, so only raw pointers ([`ShmRegion::as_ptr`]) leave this crate, and the layers above
//! access the memory with atomics.
//!
//! ```
//! use venom_shm::{Access, CreateOptions, ShmRegion};
//! # let name = venom_shm::testing::unique_name("doc_lib");
//! let region = ShmRegion::create(&name, 4096, CreateOptions::new())?;
//! let other = ShmRegion::open(&name, Access::ReadOnly)?;
//! assert_eq!(other.len(), 4096);
//! assert!(region.is_creator() && !other.is_creator());
//! # Ok::<(), venom_shm::Error>(())
//! ```

pub mod atomic_bytes;
pub mod barrier;
mod error;
mod heap;
mod name;
#[cfg(all(feature = "async", not(loom)))]
pub mod reactor;
mod region;
pub mod sync;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod wait;

pub use error::{Error, Result};
pub use heap::HeapRegion;
pub use name::{MAX_NAME_LEN, NameError, validate_name};
pub use region::{Access, CreateOptions, OpenOptions, ShmRegion, Trust, shm_available_bytes};
