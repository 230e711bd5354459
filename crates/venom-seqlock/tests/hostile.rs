//! Hostile memory: garbage in the header or slots never causes an out-of-bounds access, a
//! panic or an endless loop; each case gets its error.
#![cfg(not(loom))]

use venom_shm::sync::{AtomicU64, Ordering};

use std::time::Duration;
use venom_shm::HeapRegion;
use venom_shm::testing::Words;

use venom_seqlock::{Config, Error, Seqlock};
use venom_shm::testing::{KillOnDrop, child_role, spawn_self};

/// 64-byte aligned zeroed memory, accessed as words.
struct Mem {
    heap: HeapRegion,
}

impl Mem {
    fn new(bytes: usize) -> Self {
        Mem {
            heap: HeapRegion::new_zeroed(bytes),
        }
    }
    fn len(&self) -> usize {
        self.heap.len()
    }
    fn ptr(&self) -> *mut u8 {
        self.heap.as_ptr()
    }
    fn word(&self, off: usize) -> &AtomicU64 {
        Words::of_heap(&self.heap).u64(off)
    }
    fn set_u32(&self, off: usize, v: u32) {
        Words::of_heap(&self.heap)
            .u32(off)
            .store(v, Ordering::Relaxed);
    }
    fn init(&self, config: Config) -> Seqlock<'_> {
        // SAFETY: `self` owns `len()` aligned bytes accessed only atomically, and outlives the
        // view (borrow).
        unsafe { Seqlock::init(self.ptr(), self.len(), config) }.unwrap()
    }
    fn attach(&self) -> Result<Seqlock<'_>, Error> {
        self.attach_len(self.len())
    }
    fn attach_len(&self, len: usize) -> Result<Seqlock<'_>, Error> {
        // SAFETY: as in `init`, for `len <= self.len()` bytes.
        unsafe { Seqlock::from_raw(self.ptr(), len) }
    }
}

const VERSION: usize = 64;
const OWNER: usize = 128;
const WAITERS: usize = 196;
const SLOT0: usize = 256;

fn stride(cap: usize) -> usize {
    64 + cap.next_multiple_of(64)
}

#[test]
fn attach_validates_every_header_field() {
    let config = Config::multi(100, 2);
    let m = Mem::new(config.region_size().unwrap());
    assert_eq!(m.attach().err(), Some(Error::BadMagic { found: 0 }));
    m.init(config);
    assert!(m.attach().is_ok());
    assert_eq!(
        m.attach_len(255).err(),
        Some(Error::RegionTooSmall {
            len: 255,
            needed: 256
        })
    );
    assert_eq!(
        m.attach_len(600).err(),
        Some(Error::RegionTooSmall {
            len: 600,
            needed: 640
        })
    );

    m.set_u32(4, 99);
    assert_eq!(
        m.attach().err(),
        Some(Error::IncompatibleVersion {
            found: 99,
            expected: venom_seqlock::LAYOUT_VERSION
        })
    );
    m.set_u32(4, venom_seqlock::LAYOUT_VERSION);
    for slots in [0, 65, u32::MAX] {
        m.set_u32(8, slots);
        assert!(
            matches!(m.attach(), Err(Error::InvalidGeometry { .. })),
            "{slots}"
        );
    }
    m.set_u32(8, 2);
    m.word(16).store(0, Ordering::Relaxed);
    assert!(matches!(m.attach(), Err(Error::InvalidGeometry { .. })));
    m.word(16).store(u64::MAX, Ordering::Relaxed);
    assert!(matches!(m.attach(), Err(Error::InvalidGeometry { .. })));
    m.word(16).store(1 << 20, Ordering::Relaxed);
    assert!(matches!(m.attach(), Err(Error::RegionTooSmall { .. })));
    m.word(16).store(100, Ordering::Relaxed);
    m.set_u32(0, 0xdead_beef);
    assert_eq!(
        m.attach().err(),
        Some(Error::BadMagic { found: 0xdead_beef })
    );

    // Misaligned memory is refused.
    // SAFETY: one byte past an aligned allocation, still inside it; the call only validates.
    let r = unsafe { Seqlock::from_raw(m.ptr().add(8), m.len() - 8) };
    assert!(matches!(r, Err(Error::InvalidGeometry { .. })));
    // SAFETY: as above.
    let r = unsafe { Seqlock::init(m.ptr().add(8), m.len() - 8, config) };
    assert!(matches!(r, Err(Error::InvalidGeometry { .. })));
}

#[test]
fn geometry_changed_after_attach_is_ignored() {
    let config = Config::multi(64, 2);
    let m = Mem::new(config.region_size().unwrap());
    let view = m.init(config);
    view.writer().unwrap().write(b"abc").unwrap();
    m.set_u32(8, 64);
    m.word(16).store(u64::MAX, Ordering::Relaxed);
    let mut buf = [0u8; 64];
    assert_eq!(view.read(&mut buf).unwrap(), 3);
    view.writer().unwrap().write(&[7; 64]).unwrap();
    assert_eq!(view.read(&mut buf).unwrap(), 64);
}

#[test]
fn garbage_slot_length_is_corrupt() {
    let config = Config::single(64);
    let m = Mem::new(config.region_size().unwrap());
    let view = m.init(config);
    view.writer().unwrap().write(b"hello").unwrap();
    for bad in [65, 1 << 40, u64::MAX] {
        m.word(SLOT0 + 8).store(bad, Ordering::Relaxed);
        let mut buf = [0u8; 64];
        assert!(
            matches!(view.read(&mut buf), Err(Error::Corrupt { .. })),
            "{bad}"
        );
        let mut big = vec![0u8; 1 << 16];
        assert!(matches!(view.read(&mut big), Err(Error::Corrupt { .. })));
    }
}

#[test]
fn garbage_versions_and_sequences_end_in_errors() {
    let config = Config::multi(64, 3);
    let m = Mem::new(config.region_size().unwrap());
    let view = m.init(config);
    view.writer().unwrap().write(b"hello").unwrap();
    let mut buf = [0u8; 64];
    let short = Duration::from_millis(50);

    // Version beyond any sequence: reads are corrupt until the writer's next write, which
    // numbers again from 1 (M3: before, every later write failed with `Corrupt`).
    for scribbled in [u64::MAX, 1 << 63] {
        m.word(VERSION).store(scribbled, Ordering::Relaxed);
        assert!(matches!(view.read(&mut buf), Err(Error::Corrupt { .. })));
        assert_eq!(view.writer().unwrap().write(b"again").unwrap(), 1);
        let n = view.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"again");
        assert_eq!(view.version(), 1);
    }

    // A slot older than the published version.
    m.word(VERSION).store(10, Ordering::Relaxed);
    assert!(matches!(view.read(&mut buf), Err(Error::Corrupt { .. })));

    // A sequence that never settles (odd, no writer recorded; then even and wrong).
    let slot1 = SLOT0 + stride(64);
    m.word(VERSION).store(1, Ordering::Relaxed);
    m.word(slot1).store(1001, Ordering::Relaxed);
    assert_eq!(view.read_timeout(&mut buf, short), Err(Error::Timeout));
    assert_eq!(view.try_read(&mut buf), Err(Error::Contended));
    m.word(slot1).store(1000, Ordering::Relaxed);
    assert_eq!(view.read_timeout(&mut buf, short), Err(Error::Timeout));

    // Restore and check the seqlock still works for a writer.
    m.word(slot1).store(2, Ordering::Relaxed);
    assert_eq!(view.read(&mut buf).unwrap(), 5);
    m.set_u32(WAITERS, u32::MAX);
    assert_eq!(view.writer().unwrap().write(b"again").unwrap(), 2);
    assert_eq!(view.read(&mut buf).unwrap(), 5);
}

#[test]
fn poisoned_slot_flag_is_reported() {
    let config = Config::single(64);
    let m = Mem::new(config.region_size().unwrap());
    let view = m.init(config);
    view.writer().unwrap().write(b"hello").unwrap();
    m.word(SLOT0 + 16).store(1, Ordering::Relaxed);
    let mut buf = [0u8; 64];
    assert_eq!(view.read(&mut buf), Err(Error::Poisoned));
}

/// A lock word naming a dead process: readers of a value left mid-write get `WriterDead`;
/// the next writer takes the lock over.
#[test]
fn dead_owner_in_lock_word() {
    if child_role().is_some() {
        return; // the child only needs to exist and exit
    }
    let mut child = KillOnDrop::spawn(&mut spawn_self("dead_owner_in_lock_word", "exit"));
    let dead = child.id();
    child
        .wait_timeout(Duration::from_secs(30))
        .expect("child exits");

    let config = Config::single(64);
    let m = Mem::new(config.region_size().unwrap());
    let view = m.init(config);
    view.writer().unwrap().write(b"hello").unwrap();
    m.set_u32(OWNER, dead);
    m.word(SLOT0).store(3, Ordering::Relaxed); // mid-write of version 2
    let mut buf = [0u8; 64];
    assert_eq!(view.read(&mut buf), Err(Error::WriterDead { pid: dead }));
    assert_eq!(view.writer_pid(), Some(dead));
    let mut w = view.writer().unwrap();
    assert!(w.is_poisoned());
    w.write(b"whole").unwrap();
    assert!(!w.is_poisoned());
    assert_eq!(view.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"whole");
}

/// The lock word names its holder by pid and a digest of its start time (AUDIT M1): a dead
/// holder whose pid a live process now uses (simulated: our own pid with another start-time
/// digest) is taken over, and readers call it dead; the live holder itself (our pid with our
/// digest) keeps the lock. With pid-only liveness both would look alive.
#[test]
fn a_reused_pid_does_not_keep_a_dead_writer_alive() {
    let config = Config::single(64);
    let m = Mem::new(config.region_size().unwrap());
    let view = m.init(config);
    view.writer().unwrap().write(b"hello").unwrap();
    let ours = venom_shm::wait::holder_word(std::process::id());
    let digest = ours >> venom_shm::wait::HOLDER_PID_BITS;
    assert_ne!(digest, 0, "this process's start time is known");
    let reused = (ours & ((1 << venom_shm::wait::HOLDER_PID_BITS) - 1))
        | ((digest % 1023 + 1) << venom_shm::wait::HOLDER_PID_BITS);

    m.set_u32(OWNER, ours);
    assert_eq!(
        view.writer().err(),
        Some(Error::WriterBusy {
            pid: std::process::id()
        })
    );
    m.set_u32(OWNER, reused);
    m.word(SLOT0).store(3, Ordering::Relaxed); // mid-write of version 2
    let mut buf = [0u8; 64];
    assert_eq!(
        view.read(&mut buf),
        Err(Error::WriterDead {
            pid: std::process::id()
        })
    );
    let mut w = view.writer().expect("the dead holder's lock is taken over");
    w.write(b"whole").unwrap();
    drop(w);
    assert_eq!(view.read(&mut buf).unwrap(), 5);
}
