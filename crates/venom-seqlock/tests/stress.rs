//! Threaded stress: one writer rewriting back to back, three readers checking that every
//! snapshot is exactly the value of the version it reports. Also run under ThreadSanitizer
//! by `.ci/run`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::{is_value_of, value_of};
use venom_seqlock::{Config, Error, OwnedSeqlock};

const WRITES: u64 = 20_000;
const CAP: usize = 1000;

fn stress(slots: u32) {
    let lock = Arc::new(OwnedSeqlock::new(Config::multi(CAP, slots)).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (lock, done) = (lock.clone(), done.clone());
            thread::spawn(move || {
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
    let waiter = {
        let lock = lock.clone();
        thread::spawn(move || {
            let mut seen = 0;
            while seen < WRITES {
                seen = lock
                    .view()
                    .wait_for_change(seen, Some(Duration::from_secs(10)))
                    .expect("writer keeps writing");
            }
        })
    };
    let mut w = lock.view().writer().unwrap();
    for v in 1..=WRITES {
        assert_eq!(w.write(&value_of(v, CAP)).unwrap(), v);
    }
    waiter.join().unwrap();
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() > 0, "a reader never got a snapshot");
    }
}

#[test]
fn single_slot_stress() {
    stress(1);
}

#[test]
fn three_slot_stress() {
    stress(3);
}

/// Several threads write through the per-write lock; increments are never lost.
#[test]
fn writers_contend_for_the_lock() {
    let lock = Arc::new(OwnedSeqlock::new(Config::multi(8, 2)).unwrap());
    lock.view()
        .writer()
        .unwrap()
        .write(&0u64.to_ne_bytes())
        .unwrap();
    let per = 2_000u64;
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let lock = lock.clone();
            thread::spawn(move || {
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
    for t in threads {
        t.join().unwrap();
    }
    let mut b = [0u8; 8];
    lock.view().read(&mut b).unwrap();
    assert_eq!(u64::from_ne_bytes(b), 3 * per);
}
