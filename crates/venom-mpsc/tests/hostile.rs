//! Hostile memory: garbage in the header, slot states, lengths or positions never causes an
//! out-of-bounds access, a panic or an endless loop.
#![cfg(not(loom))]

use venom_shm::sync::{AtomicU64, Ordering};

use venom_shm::HeapRegion;
use venom_shm::testing::Words;

use venom_mpsc::{Config, Error, Queue};

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
    fn init(&self, config: Config) -> Queue<'_> {
        // SAFETY: `self` owns `len()` aligned bytes, accessed only atomically, outliving the view.
        unsafe { Queue::init(self.ptr(), self.len(), config) }.unwrap()
    }
    fn attach(&self) -> Result<Queue<'_>, Error> {
        // SAFETY: as in `init`.
        unsafe { Queue::from_raw(self.ptr(), self.len()) }
    }
}

const TAIL: usize = 64;
const HEAD: usize = 128;
const SLOT0: usize = 256;

#[test]
fn attach_validates_the_header() {
    let config = Config::new(4, 64);
    let m = Mem::new(config.region_size().unwrap());
    assert_eq!(m.attach().err(), Some(Error::BadMagic { found: 0 }));
    m.init(config);
    assert!(m.attach().is_ok());
    m.set_u32(4, 7);
    assert_eq!(
        m.attach().err(),
        Some(Error::IncompatibleVersion {
            found: 7,
            expected: venom_mpsc::LAYOUT_VERSION
        })
    );
    m.set_u32(4, venom_mpsc::LAYOUT_VERSION);
    for cap in [0, 3, 1 << 25] {
        m.set_u32(8, cap);
        assert!(
            matches!(m.attach(), Err(Error::InvalidGeometry { .. })),
            "{cap}"
        );
    }
    m.set_u32(8, 1 << 20);
    assert!(matches!(m.attach(), Err(Error::RegionTooSmall { .. })));
    m.set_u32(8, 4);
    for size in [0, 32, 96, 1 << 21] {
        m.set_u32(12, size);
        assert!(
            matches!(m.attach(), Err(Error::InvalidGeometry { .. })),
            "{size}"
        );
    }
    m.set_u32(12, 64);
    // SAFETY: the call only validates; the pointer is inside the allocation.
    let r = unsafe { Queue::from_raw(m.ptr().add(8), m.len() - 8) };
    assert!(matches!(r, Err(Error::InvalidGeometry { .. })));
    // SAFETY: as above.
    let r = unsafe { Queue::from_raw(m.ptr(), 100) };
    assert!(matches!(r, Err(Error::RegionTooSmall { .. })));
}

#[test]
fn garbage_length_is_dropped_and_the_queue_goes_on() {
    let config = Config::new(4, 64);
    let m = Mem::new(config.region_size().unwrap());
    let q = m.init(config);
    let tx = q.producer(1);
    tx.try_send(b"first").unwrap();
    tx.try_send(b"second").unwrap();
    m.word(SLOT0 + 8)
        .store(u64::from(u32::MAX >> 1), Ordering::Relaxed);
    let mut rx = q.consumer().unwrap();
    let mut buf = [0u8; 48];
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupt { .. })));
    assert_eq!(rx.corrupt(), 1);
    let m2 = rx.try_recv(&mut buf).unwrap().unwrap();
    assert_eq!(&buf[..m2.len], b"second");
}

#[test]
fn garbage_states_and_positions_end_in_errors() {
    let config = Config::new(4, 64);
    let m = Mem::new(config.region_size().unwrap());
    let q = m.init(config);
    let mut rx = q.consumer().unwrap();
    let mut buf = [0u8; 48];

    // A state tag no code writes, at the head of an empty queue: reported once, repaired.
    m.word(SLOT0).store(3 << 22, Ordering::Relaxed);
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupt { .. })));
    assert_eq!(rx.corrupt(), 1);
    assert!(matches!(
        rx.recv_timeout(&mut buf, std::time::Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    q.producer(1).try_send(b"x").unwrap();
    let n = rx.try_recv(&mut buf).unwrap().unwrap().len;
    assert_eq!(&buf[..n], b"x");
    // At the head of a claimed slot (a message sent, then scribbled): that message is lost
    // and counted, the ones behind it arrive.
    q.producer(1).try_send(b"lost").unwrap();
    q.producer(1).try_send(b"kept").unwrap();
    let head_slot = SLOT0 + 64; // position 1 of 4, 64-byte slots
    m.word(head_slot).store(3 << 22, Ordering::Relaxed);
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupt { .. })));
    let n = rx.try_recv(&mut buf).unwrap().unwrap().len;
    assert_eq!(&buf[..n], b"kept");
    assert_eq!(rx.corrupt(), 2);
    assert!(rx.try_recv(&mut buf).unwrap().is_none());
    // A garbage head state *and* a tail scribbled far ahead (found by the hostile-peer fuzz
    // target): the tail is brought back to the head, the slot repaired, the queue goes on.
    m.word(SLOT0 + 3 * 64).store(u64::MAX, Ordering::Relaxed); // the head: position 3
    m.word(TAIL).store(0x557a_ffff_5585_7faa, Ordering::Relaxed);
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupt { .. })));
    assert!(rx.try_recv(&mut buf).unwrap().is_none());
    q.producer(1).try_send(b"again").unwrap();
    let n = rx.try_recv(&mut buf).unwrap().unwrap().len;
    assert_eq!(&buf[..n], b"again");
    drop(rx);
    // Rewind everything for the cases below.
    for w in [TAIL, HEAD] {
        m.word(w).store(0, Ordering::Relaxed);
    }
    for slot in 0..4 {
        m.word(SLOT0 + slot * 64).store(0, Ordering::Relaxed);
    }
    let rx = q.consumer().unwrap();

    // A tail on a lap no slot is on: the send ends, it never spins forever.
    m.word(SLOT0).store(0, Ordering::Relaxed);
    m.word(TAIL).store(1 << 30, Ordering::Relaxed);
    assert!(matches!(
        q.producer(1).try_send(b"x"),
        Err(Error::Corrupt { .. })
    ));
    // A head scribbled to a lap the slots are not on: reported, nothing read.
    m.word(TAIL).store(0, Ordering::Relaxed);
    m.word(HEAD).store(u64::MAX, Ordering::Relaxed);
    drop(rx);
    let mut rx = q.consumer().unwrap();
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupt { .. })));
}

/// A claim that was made (tail moved) but never started is voided after `CLAIM_BOUND`, and
/// the messages behind it are delivered.
#[test]
fn claim_never_started_is_voided() {
    let config = Config::new(4, 64);
    let m = Mem::new(config.region_size().unwrap());
    let q = m.init(config);
    // Simulate a producer that moved the tail and died before touching its slot.
    m.word(TAIL).store(1, Ordering::Relaxed);
    q.producer(2).try_send(b"after").unwrap();
    let mut rx = q.consumer().unwrap();
    let mut buf = [0u8; 48];
    let got = rx
        .recv_timeout(&mut buf, std::time::Duration::from_secs(10))
        .unwrap();
    assert_eq!(&buf[..got.len], b"after");
    assert_eq!(rx.abandoned(), 1);
}

/// `register_sleeper` keeps the consumer announced while its `Sleeper` lives: a send made
/// after it rings the doorbell (the word moves off the ticket, which is what wakes a sleeper on
/// it); once the sleeper is dropped, sends no longer ring.
#[test]
fn a_registered_sleeper_is_announced_until_dropped() {
    let queue = venom_mpsc::OwnedQueue::new(Config::new(4, 64)).unwrap();
    let q = queue.view();
    let mut consumer = q.consumer().unwrap();
    let producer = q.producer(1);
    let venom_mpsc::Wake::Sleep(sleeper) = consumer.register_sleeper(|| false).unwrap() else {
        panic!("an empty queue has nothing to look at");
    };
    let word = sleeper.word();
    assert_eq!(word.load(Ordering::Relaxed), sleeper.ticket());
    producer.try_send(b"one").unwrap();
    assert_ne!(
        word.load(Ordering::Relaxed),
        sleeper.ticket(),
        "the send rang"
    );
    drop(sleeper);
    assert!(matches!(
        consumer.register_sleeper(|| false).unwrap(),
        venom_mpsc::Wake::Ready
    ));
    let mut buf = [0u8; 8];
    consumer.try_recv(&mut buf).unwrap().unwrap();
    let rung = word.load(Ordering::Relaxed);
    producer.try_send(b"two").unwrap();
    assert_eq!(word.load(Ordering::Relaxed), rung, "nobody sleeps: no ring");
}

/// A tail scribbled behind the head, or more than a queue ahead, while the queue is empty:
/// producers are kept out (their claim never settles) until the consumer's next looks bring
/// the tail back to the head. Found by `examples/chaos.rs`.
#[test]
fn an_out_of_range_tail_of_an_empty_queue_is_brought_back() {
    let config = Config::new(4, 64);
    let m = Mem::new(config.region_size().unwrap());
    let q = m.init(config);
    let mut consumer = q.consumer().unwrap();
    let producer = q.producer(1);
    let mut buf = [0u8; 8];
    for _ in 0..6 {
        producer.try_send(b"x").unwrap();
        assert!(consumer.try_recv(&mut buf).unwrap().is_some());
    }
    for forged in [0u64, 6 + 1000] {
        m.word(TAIL).store(forged, Ordering::Relaxed);
        assert!(producer.try_send(b"lost").is_err());
        for _ in 0..64 {
            assert_eq!(consumer.try_recv(&mut buf), Ok(None));
        }
        producer.try_send(b"back").unwrap();
        let got = consumer.try_recv(&mut buf).unwrap().expect("delivered");
        assert_eq!(&buf[..got.len], b"back");
    }
    assert_eq!(consumer.corrupt(), 2);
}

/// H3: a slot forged as being written by a live process (pid 1, which never publishes it, nor
/// gives it back) costs the queue `LIVE_BOUND` once and then one slot per lap: the consumer sets
/// it aside and passes it as a hole each time round, and every real message arrives in order.
#[test]
fn a_slot_held_forever_by_a_live_process_is_passed_each_lap() {
    let config = Config::new(4, 64);
    let m = Mem::new(config.region_size().unwrap());
    let q = m.init(config);
    let mut rx = q.consumer().unwrap();
    let tx = q.producer(2);
    let mut buf = [0u8; 8];
    // Position 0 claimed for good by pid 1 (state WRITING, lap 0), the tail past it.
    const WRITING: u64 = 1 << 32;
    m.word(SLOT0).store(WRITING | 1, Ordering::Relaxed);
    m.word(TAIL).store(1, Ordering::Relaxed);
    let (mut sent, mut got) = (0u32, 0u32);
    let flowed = venom_shm::testing::spin_until(std::time::Duration::from_secs(30), || {
        if sent < 40 {
            match tx.try_send(&sent.to_le_bytes()) {
                Ok(()) => sent += 1,
                Err(Error::Full) => {}
                Err(e) => panic!("{e}"),
            }
        }
        if let Some(msg) = rx.try_recv(&mut buf).unwrap() {
            assert_eq!(
                buf[..msg.len],
                got.to_le_bytes(),
                "lost, duplicated or reordered"
            );
            got += 1;
        }
        got == 40
    });
    assert!(
        flowed,
        "the held slot wedged the queue ({got} of 40 arrived)"
    );
    assert_eq!(rx.skipped(), 1);
    assert_eq!((rx.abandoned(), rx.corrupt()), (0, 0));
}

/// The consumer role names its holder by pid and a digest of its start time (AUDIT M1): a
/// dead holder whose pid a live process now uses (simulated: our own pid with another
/// start-time digest) is taken over; the live holder itself (our pid, our digest) is busy.
/// With pid-only liveness both would look alive.
#[test]
fn a_reused_pid_does_not_keep_a_dead_consumer_alive() {
    use venom_shm::wait::{HOLDER_PID_BITS, holder_word};
    const ROLE: usize = 136;
    let config = Config::new(4, 64);
    let m = Mem::new(config.region_size().unwrap());
    let q = m.init(config);
    let ours = holder_word(std::process::id());
    let digest = ours >> HOLDER_PID_BITS;
    assert_ne!(digest, 0, "this process's start time is known");
    let reused = (ours & ((1 << HOLDER_PID_BITS) - 1)) | ((digest % 1023 + 1) << HOLDER_PID_BITS);

    m.set_u32(ROLE, ours);
    assert_eq!(
        q.consumer().err(),
        Some(Error::ConsumerBusy {
            pid: std::process::id()
        })
    );
    m.set_u32(ROLE, reused);
    assert_eq!(q.consumer_pid(), Some(std::process::id()));
    let c = q.consumer().expect("the dead holder's role is taken over");
    drop(c);
    assert_eq!(q.consumer_pid(), None, "released on drop");
}

/// A slot's state names its writer by pid and start-time digest too (AUDIT M1): a slot left
/// `WRITING` by a dead process whose pid a live one now uses (simulated: our pid, another
/// digest) is skipped as abandoned within `STUCK_BOUND`, not waited on as a live writer.
#[test]
fn a_reused_pid_does_not_keep_a_dead_writer_of_a_slot_alive() {
    use venom_shm::wait::{HOLDER_PID_BITS, holder_word};
    const WRITING: u64 = 1 << 32;
    let config = Config::new(4, 64);
    let m = Mem::new(config.region_size().unwrap());
    let q = m.init(config);
    let mut rx = q.consumer().unwrap();
    let ours = holder_word(std::process::id());
    let digest = ours >> HOLDER_PID_BITS;
    assert_ne!(digest, 0, "this process's start time is known");
    let reused = (ours & ((1 << HOLDER_PID_BITS) - 1)) | ((digest % 1023 + 1) << HOLDER_PID_BITS);
    m.word(SLOT0)
        .store(WRITING | u64::from(reused), Ordering::Relaxed);
    m.word(TAIL).store(1, Ordering::Relaxed);
    let mut buf = [0u8; 8];
    assert!(venom_shm::testing::spin_until(
        std::time::Duration::from_secs(30),
        || {
            assert_eq!(rx.try_recv(&mut buf), Ok(None));
            rx.abandoned() + rx.skipped() > 0
        }
    ));
    assert_eq!(
        (rx.abandoned(), rx.skipped()),
        (1, 0),
        "taken for dead, not set aside"
    );
    q.producer(1).try_send(b"next").unwrap();
    let got = rx.try_recv(&mut buf).unwrap().expect("the queue goes on");
    assert_eq!(&buf[..got.len], b"next");
}
