//! Threaded stress: one writer rewriting back to back, three readers checking that every
//! snapshot is exactly the value of the version it reports, a waiter following every version,
//! and writers contending for the per-write lock.
//!
//! A plain `main` (`harness = false`) with scoped threads, so that ThreadSanitizer, which
//! `.ci/run` runs it under, sees every synchronisation: libtest's own result channel lives in
//! the uninstrumented standard library and would be reported as a race.
// Under loom (whose atomics live only inside `loom::model`) there is nothing to stress.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

#[path = "common/mod.rs"]
mod common;

use std::thread;
use std::time::Duration;
use venom_shm::sync::{AtomicBool, Ordering};

use common::{is_value_of, value_of};
use venom_seqlock::{Config, Error, OwnedSeqlock};

const CAP: usize = 1000;

fn writes() -> u64 {
    std::env::var("VENOM_STRESS_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn one_writer_many_readers(slots: u32) {
    let writes = writes();
    let lock = OwnedSeqlock::new(Config::multi(CAP, slots)).unwrap();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let (mut ok, mut last) = (0u64, 0u64);
                    let mut buf = vec![0u8; CAP];
                    while !done.load(Ordering::Acquire) {
                        match lock.view().read_timeout(&mut buf, Duration::from_secs(10)) {
                            Ok(s) => {
                                assert!(s.version >= last, "version went backwards");
                                if s.version > 0 {
                                    assert!(
                                        is_value_of(s.version, &buf[..s.len], CAP),
                                        "torn or mismatched snapshot of version {}",
                                        s.version
                                    );
                                }
                                last = s.version;
                                ok += 1;
                            }
                            Err(Error::Timeout) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    ok
                })
            })
            .collect();
        let waiter = s.spawn(|| {
            let mut seen = 0;
            while seen < writes {
                seen = lock
                    .view()
                    .wait_for_change_timeout(seen, Duration::from_secs(10))
                    .expect("writer keeps writing");
            }
        });
        let mut w = lock.view().writer().unwrap();
        for v in 1..=writes {
            assert_eq!(w.write(&value_of(v, CAP)).unwrap(), v);
        }
        waiter.join().unwrap();
        done.store(true, Ordering::Release);
        for r in readers {
            assert!(r.join().unwrap() > 0, "a reader never got a snapshot");
        }
    });
}

fn writers_contend_for_the_lock() {
    let lock = OwnedSeqlock::new(Config::multi(8, 2)).unwrap();
    lock.view()
        .writer()
        .unwrap()
        .write(&0u64.to_ne_bytes())
        .unwrap();
    let per = writes() / 10;
    thread::scope(|s| {
        // Joined explicitly: `pthread_join` is what ThreadSanitizer sees as synchronisation.
        let writers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..per {
                        let mut w = lock.view().writer_timeout(Duration::from_secs(10)).unwrap();
                        w.update_with(|slot| {
                            let mut b = [0u8; 8];
                            slot.read_at(0, &mut b).unwrap();
                            slot.write_at(0, &(u64::from_ne_bytes(b) + 1).to_ne_bytes())
                                .unwrap();
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
    });
    let mut b = [0u8; 8];
    lock.view().read(&mut b).unwrap();
    assert_eq!(u64::from_ne_bytes(b), 3 * per, "an increment was lost");
}

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    let tests: [(&str, fn()); 3] = [
        ("single_slot_stress", || one_writer_many_readers(1)),
        ("three_slot_stress", || one_writer_many_readers(3)),
        ("writers_contend_for_the_lock", writers_contend_for_the_lock),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    println!("stress: {} passed, 0 failed", tests.len());
}
