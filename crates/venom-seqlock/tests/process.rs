//! Across real processes: readers in one process, writers in others (spawned copies of this
//! test binary); writers that die in the middle of a write.
#![cfg(not(loom))]

mod common;

use std::process::Stdio;
use std::time::Duration;
use venom_shm::sync::{AtomicU64, Ordering};

use common::{is_value_of, value_of};
use venom_seqlock::{Config, Error, Seqlock};
use venom_shm::testing::{
    KillOnDrop, ShmGuard, arg_var, child_arg, child_role, spawn_self, spin_until, unique_name,
};
use venom_shm::{Access, CreateOptions, ShmRegion};

const WAIT: Duration = Duration::from_secs(30);

fn create(name: &str, config: Config) -> (ShmRegion, ShmGuard) {
    let guard = ShmGuard(name.to_owned());
    let region =
        ShmRegion::create(name, config.region_size().unwrap(), CreateOptions::new()).unwrap();
    // SAFETY: freshly created, read-write for `len` bytes, only accessed through the seqlock.
    unsafe { Seqlock::init(region.as_ptr(), region.len(), config) }.unwrap();
    (region, guard)
}

fn view(region: &ShmRegion) -> Seqlock<'_> {
    // SAFETY: the mapping is read-write for `len` bytes while `region` lives (the borrow), and
    // every process accesses it only through the seqlock.
    unsafe { Seqlock::from_raw(region.as_ptr(), region.len()) }.unwrap()
}

fn open(arg: &str) -> ShmRegion {
    ShmRegion::open(&child_arg(arg), Access::ReadWrite).unwrap()
}

fn stop_word(region: &ShmRegion) -> &AtomicU64 {
    // SAFETY: the control region is at least 8 bytes, page-aligned, atomically accessed only.
    unsafe { &*region.as_ptr().cast::<AtomicU64>() }
}

/// A writer process rewrites a 256 KiB value back to back into 3 slots; this process still
/// gets consistent snapshots, each exactly the value of its version, while versions advance.
#[test]
fn multi_slot_readers_keep_up_with_a_back_to_back_writer() {
    const CAP: usize = 256 * 1024;
    if child_role().as_deref() == Some("writer") {
        let (region, ctl) = (open("NAME"), open("CTL"));
        let lock = view(&region);
        let mut w = lock.writer().unwrap();
        let values: Vec<Vec<u8>> = (0..=255).map(|v| value_of(v, CAP)).collect();
        let mut v = 0u64;
        while stop_word(&ctl).load(Ordering::Relaxed) == 0 && v < 50_000_000 {
            v += 1;
            w.write(&values[(v % 256) as usize]).unwrap();
        }
        return;
    }
    let name = unique_name("seq_b2b");
    let ctl_name = unique_name("seq_b2b_ctl");
    let (region, _g) = create(&name, Config::multi(CAP, 3));
    let _g2 = ShmGuard(ctl_name.clone());
    let ctl = ShmRegion::create(&ctl_name, 64, CreateOptions::new()).unwrap();
    let mut child = KillOnDrop::spawn(
        spawn_self(
            "multi_slot_readers_keep_up_with_a_back_to_back_writer",
            "writer",
        )
        .env(arg_var("NAME"), &name)
        .env(arg_var("CTL"), &ctl_name),
    );
    let lock = view(&region);
    assert!(spin_until(WAIT, || lock.version() > 0));
    let mut buf = vec![0u8; CAP];
    let (mut got, mut last, mut distinct) = (0, 0, 0);
    while got < 300 {
        let s = lock
            .read_timeout(&mut buf, WAIT)
            .expect("a consistent snapshot");
        assert!(
            is_value_of(s.version, &buf[..s.len], CAP),
            "snapshot of version {} is not that version's value",
            s.version
        );
        assert!(s.version >= last);
        distinct += usize::from(s.version > last);
        last = s.version;
        got += 1;
    }
    stop_word(&ctl).store(1, Ordering::Relaxed);
    assert!(distinct > 1, "the writer was writing throughout");
    let status = child.wait_timeout(WAIT).expect("writer stops");
    assert!(status.success());
}

/// Child: takes the writer lock, writes version 1 whole, then dies halfway through writing
/// version 2 (abort: no unwinding, no cleanup).
fn die_mid_write() {
    let region = open("NAME");
    let lock = view(&region);
    let mut w = lock.writer().unwrap();
    w.write(&[1; 64]).unwrap();
    let _ = w.write_with(64, |slot| {
        slot.write_at(0, &[2; 32]).unwrap();
        std::process::abort();
    });
}

fn run_dying_writer(test: &str, name: &str) -> u32 {
    let mut child = KillOnDrop::spawn(
        spawn_self(test, "dier")
            .env(arg_var("NAME"), name)
            .stderr(Stdio::null()),
    );
    let pid = child.id();
    let status = child.wait_timeout(WAIT).expect("child dies");
    assert!(!status.success());
    pid
}

#[test]
fn single_slot_writer_death_is_reported_then_recovered() {
    if child_role().as_deref() == Some("dier") {
        return die_mid_write();
    }
    let name = unique_name("seq_die1");
    let (region, _g) = create(&name, Config::single(64));
    let pid = run_dying_writer("single_slot_writer_death_is_reported_then_recovered", &name);
    let lock = view(&region);
    let mut buf = [0u8; 64];
    assert_eq!(lock.read(&mut buf), Err(Error::WriterDead { pid }));
    assert_eq!(lock.writer_pid(), Some(pid));

    // The next writer takes the lock over at once; the half-written value is poisoned ...
    let mut w = lock.writer_timeout(Duration::from_secs(5)).unwrap();
    assert!(w.is_poisoned());
    w.update_with(|slot| slot.write_at(0, &[3; 8]).unwrap())
        .unwrap();
    assert_eq!(
        lock.read(&mut buf),
        Err(Error::Poisoned),
        "a partial write does not heal"
    );
    // ... until a whole value is written.
    w.write(&[4; 64]).unwrap();
    assert_eq!(lock.read(&mut buf), Ok(64));
    assert_eq!(buf, [4; 64]);
}

#[test]
fn multi_slot_writer_death_leaves_last_value_readable() {
    if child_role().as_deref() == Some("dier") {
        return die_mid_write();
    }
    let name = unique_name("seq_die3");
    let (region, _g) = create(&name, Config::multi(64, 3));
    let pid = run_dying_writer("multi_slot_writer_death_leaves_last_value_readable", &name);
    let lock = view(&region);
    let mut buf = [0u8; 64];
    assert_eq!(lock.read(&mut buf), Ok(64));
    assert_eq!(buf, [1; 64], "version 1 stays whole");
    assert_eq!(lock.writer_pid(), Some(pid));
    let mut w = lock.writer_timeout(Duration::from_secs(5)).unwrap();
    assert!(!w.is_poisoned());
    assert_eq!(w.write(&[5; 64]).unwrap(), 2);
    assert_eq!(lock.read(&mut buf), Ok(64));
    assert_eq!(buf, [5; 64]);
}

/// Three processes increment a shared counter through the per-write lock; one more dies while
/// holding the lock. Nothing is lost and nobody is locked out.
#[test]
fn writer_processes_share_the_lock_and_survive_a_dead_holder() {
    const PER: u64 = 2_000;
    match child_role().as_deref() {
        Some("incr") => {
            let region = open("NAME");
            let lock = view(&region);
            for _ in 0..PER {
                let mut w = lock.writer_timeout(WAIT).unwrap();
                w.update_with(|slot| {
                    let mut b = [0u8; 8];
                    slot.read_at(0, &mut b).unwrap();
                    slot.write_at(0, &(u64::from_ne_bytes(b) + 1).to_ne_bytes())
                        .unwrap();
                })
                .unwrap();
            }
            return;
        }
        Some("holder") => {
            let region = open("NAME");
            let lock = view(&region);
            let _w = lock.writer_timeout(WAIT).unwrap();
            std::process::abort(); // dies holding the lock, between writes
        }
        _ => {}
    }
    let test = "writer_processes_share_the_lock_and_survive_a_dead_holder";
    let name = unique_name("seq_mw");
    let (region, _g) = create(&name, Config::multi(8, 2));
    let lock = view(&region);
    lock.writer().unwrap().write(&0u64.to_ne_bytes()).unwrap();
    let mut holder = KillOnDrop::spawn(
        spawn_self(test, "holder")
            .env(arg_var("NAME"), &name)
            .stderr(Stdio::null()),
    );
    let mut kids: Vec<_> = (0..3)
        .map(|_| KillOnDrop::spawn(spawn_self(test, "incr").env(arg_var("NAME"), &name)))
        .collect();
    assert!(!holder.wait_timeout(WAIT).expect("holder dies").success());
    for k in &mut kids {
        assert!(
            k.wait_timeout(WAIT)
                .expect("incrementer finishes")
                .success()
        );
    }
    let mut b = [0u8; 8];
    lock.read(&mut b).unwrap();
    assert_eq!(u64::from_ne_bytes(b), 3 * PER);
}

/// A reader asleep in `wait_for_change` is woken by a write from another process.
#[test]
fn wait_for_change_across_processes() {
    if child_role().as_deref() == Some("poke") {
        let region = open("NAME");
        let lock = view(&region);
        // Wait until the parent has announced itself as a sleeper, then write.
        assert!(spin_until(WAIT, || lock_waiters(&region) > 0));
        lock.writer().unwrap().write(b"wake").unwrap();
        return;
    }
    let name = unique_name("seq_wait");
    let (region, _g) = create(&name, Config::single(16));
    let mut child = KillOnDrop::spawn(
        spawn_self("wait_for_change_across_processes", "poke").env(arg_var("NAME"), &name),
    );
    let lock = view(&region);
    assert_eq!(lock.wait_for_change_timeout(0, WAIT), Ok(1));
    let mut buf = [0u8; 16];
    assert_eq!(lock.read(&mut buf), Ok(4));
    assert!(child.wait_timeout(WAIT).expect("child exits").success());
    assert_eq!(lock_waiters(&region), 0, "the waiter count is restored");
    assert_eq!(
        lock.wait_for_change_timeout(1, Duration::from_millis(20)),
        Err(Error::Timeout)
    );
}

/// The waiter count (byte 196 of the header, see the layout table).
/// `register_waiter` keeps the reader counted while its `Waiter` lives (the writer wakes only
/// counted readers), and its word moves off the ticket when a write comes.
#[test]
fn a_registered_waiter_is_counted_until_dropped() {
    let name = unique_name("seq_waiter");
    let (region, _g) = create(&name, Config::single(16));
    let lock = view(&region);
    let waiter = lock.register_waiter(0).expect_err("no write yet");
    assert_eq!(lock_waiters(&region), 1);
    assert_eq!(waiter.word().load(Ordering::Relaxed), waiter.ticket());
    lock.writer().unwrap().write(b"x").unwrap();
    assert_ne!(waiter.word().load(Ordering::Relaxed), waiter.ticket());
    drop(waiter);
    assert_eq!(lock_waiters(&region), 0);
    assert_eq!(lock.register_waiter(0).ok(), Some(1));
    assert_eq!(lock_waiters(&region), 0);
}

fn lock_waiters(region: &ShmRegion) -> u32 {
    // SAFETY: offset 196 is 4-aligned inside the header, and the word is a `u32` accessed
    // atomically by everyone.
    let w = unsafe {
        &*region
            .as_ptr()
            .add(196)
            .cast::<venom_shm::sync::AtomicU32>()
    };
    w.load(Ordering::Relaxed)
}
