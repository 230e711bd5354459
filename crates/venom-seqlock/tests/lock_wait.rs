//! A writer waiting for the lock held by a live writer sleeps on the lock word (AUDIT M3: it
//! used to spin and yield for its whole timeout) and is woken when the lock is released.
#![cfg(not(loom))]

use std::time::Duration;

use venom_seqlock::{Config, OwnedSeqlock};
use venom_shm::testing::spin_until;

/// State letter of this process's thread named `name` (`/proc/self/task/*/stat`).
fn thread_state(name: &str) -> Option<char> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim_end() == name {
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            return stat.rsplit_once(')')?.1.trim_start().chars().next();
        }
    }
    None
}

#[test]
fn a_writer_waiting_for_a_live_holder_sleeps_and_is_woken() {
    let lock = OwnedSeqlock::new(Config::single(16)).unwrap();
    let mut held = lock.view().writer().unwrap();
    std::thread::scope(|s| {
        let waiter = std::thread::Builder::new()
            .name("lock-waiter".into())
            .spawn_scoped(s, || {
                lock.view()
                    .write_timeout(b"second", Duration::from_secs(60))
            })
            .unwrap();
        // Spinning and yielding, the waiter would always be runnable ('R'); asleep on the
        // lock word it shows 'S'.
        assert!(
            spin_until(Duration::from_secs(30), || thread_state("lock-waiter")
                == Some('S')),
            "the waiting writer never slept"
        );
        held.write(b"first").unwrap();
        drop(held);
        let version = waiter
            .join()
            .unwrap()
            .expect("the waiter gets the lock once it is free");
        assert_eq!(version, 2);
    });
    let mut buf = [0u8; 16];
    let n = lock.view().read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"second");
}
