//! VenomMemory's benchmark harness: one command measures the library beside the machine's
//! floors, the kernel's transports and the peers (iceoryx2), in one run, and regenerates
//! `docs/PERFORMANCE.md` with its plots:
//!
//! ```text
//! cargo run --release -p venom-benches --bin perf
//! ```
//!
//! The binary is `src/bin/perf`; the peers live in `benches/peers`, a package of their own
//! that `cargo test --workspace` does not build. This library holds what both share.

pub mod harness;

pub use harness::{Run, pin_to_cpu};

use venom_shm::sync::AtomicU64;

use venom_shm::{Access, CreateOptions, ShmRegion};

/// Median and spread of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Median of the runs.
    pub median: f64,
    /// Smallest run.
    pub min: f64,
    /// Largest run.
    pub max: f64,
}

impl Spread {
    /// Summarises `runs` (at least one; NaN when empty).
    pub fn of(runs: &[f64]) -> Self {
        let mut v: Vec<f64> = runs.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Self {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        Self {
            median: v[v.len() / 2],
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// `median (min–max)` with `digits` decimals, values divided by `scale`; `—` if unmeasured.
    pub fn show(&self, scale: f64, digits: usize) -> String {
        if self.median.is_nan() {
            return "—".to_owned();
        }
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median / scale,
            self.min / scale,
            self.max / scale,
            d = digits
        )
    }
}

/// Human size label: 64 B, 4 KiB, 256 KiB, 4 MiB.
pub fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// A benchmark's shared region: created by the measuring process (unlinked when it drops),
/// opened by name in the other.
#[derive(Debug)]
pub struct Shm {
    region: ShmRegion,
}

impl Shm {
    /// Creates a fresh region of `len` bytes (zeroed) under a name unique to this process.
    pub fn create(tag: &str, len: usize) -> Self {
        use venom_shm::sync::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "/vbench_{tag}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let region = ShmRegion::create(&name, len, CreateOptions::new().prefault(true))
            .expect("create benchmark region");
        Self { region }
    }

    /// Opens the region another process created.
    pub fn open(name: &str) -> Self {
        Self {
            region: ShmRegion::open(name, Access::ReadWrite).expect("open benchmark region"),
        }
    }

    /// Its name, to pass to the other process.
    pub fn name(&self) -> &str {
        self.region.name()
    }

    /// The region as 64-bit words (word `8 * k` starts cache line `k`).
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned, lives as long as `self`, and both processes
        // access it only through atomics.
        unsafe {
            std::slice::from_raw_parts(
                self.region.as_ptr().cast::<AtomicU64>(),
                self.region.len() / 8,
            )
        }
    }

    /// The region viewed as a `T` made of atomics.
    ///
    /// # Safety
    /// `T` is `repr(C)`, at most the region's size, page alignment suffices, every bit
    /// pattern is valid (atomics only), and the other process views it the same way.
    pub unsafe fn view<T>(&self) -> &T {
        assert!(std::mem::size_of::<T>() <= self.region.len());
        // SAFETY: per the caller; the reference lives no longer than the mapping.
        unsafe { &*self.region.as_ptr().cast::<T>() }
    }

    /// Start of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.region.as_ptr()
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Whether the mapping is empty (never, for a created region).
    pub fn is_empty(&self) -> bool {
        self.region.len() == 0
    }
}
