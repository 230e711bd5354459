//! Threaded stress: three producers, one consumer blocking on the doorbell; every message
//! arrives once, whole, in its producer's order. A plain `main` (`harness = false`) with
//! explicitly joined threads, so that ThreadSanitizer (run by `.ci/run`) sees every
//! synchronisation.
// Under loom (whose atomics live only inside `loom::model`) there is nothing to stress.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

use std::thread;
use std::time::Duration;

use venom_mpsc::{Config, Error, OwnedQueue};

fn per_producer() -> u64 {
    std::env::var("VENOM_STRESS_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn three_producers_one_consumer(capacity: u32) {
    let n = per_producer();
    let q = OwnedQueue::new(Config::new(capacity, 64)).unwrap();
    thread::scope(|s| {
        let producers: Vec<_> = (0..3u32)
            .map(|p| {
                let q = &q;
                s.spawn(move || {
                    let tx = q.view().producer(p);
                    for i in 0..n {
                        // Sequence number, then a length that varies with it.
                        let mut msg = i.to_le_bytes().to_vec();
                        msg.resize(8 + (i % 41) as usize, p as u8);
                        loop {
                            match tx.try_send(&msg) {
                                Ok(()) => break,
                                Err(Error::Full) => thread::yield_now(),
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                })
            })
            .collect();
        let mut rx = q.view().consumer().unwrap();
        let mut next = [0u64; 3];
        let mut buf = [0u8; 48];
        for _ in 0..3 * n {
            let m = rx
                .recv_timeout(&mut buf, Duration::from_secs(20))
                .expect("a message");
            let p = m.sender as usize;
            let i = u64::from_le_bytes(buf[..8].try_into().unwrap());
            assert_eq!(i, next[p], "producer {p}: lost, duplicated or reordered");
            assert_eq!(m.len, 8 + (i % 41) as usize);
            assert!(buf[8..m.len].iter().all(|&b| b == p as u8), "torn message");
            next[p] += 1;
        }
        assert_eq!(rx.try_recv(&mut buf), Ok(None));
        for p in producers {
            p.join().unwrap();
        }
    });
}

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    let tests: [(&str, fn()); 2] = [
        ("three_producers_small_queue", || {
            three_producers_one_consumer(4)
        }),
        ("three_producers_large_queue", || {
            three_producers_one_consumer(1024)
        }),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    println!("stress: {} passed, 0 failed", tests.len());
}
