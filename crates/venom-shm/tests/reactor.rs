//! The async reactor: a parked waker is woken when its word changes (by another process, with
//! `FUTEX_WAKE`) or its deadline passes, never after its entry is dropped; many entries on one
//! word share a slot.
#![cfg(all(feature = "async", not(loom)))]

use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use venom_shm::reactor::park;
use venom_shm::sync::{AtomicU32, Ordering};
use venom_shm::testing::{
    KillOnDrop, ShmGuard, arg_var, child_arg, child_role, spawn_self, unique_name,
};
use venom_shm::{Access, CreateOptions, ShmRegion, wait};

const WAIT: Duration = Duration::from_secs(30);

/// A waker that reports each wake on a channel.
struct Report(std::sync::Mutex<mpsc::Sender<u32>>, u32);

impl Wake for Report {
    fn wake(self: Arc<Self>) {
        let _ = self.0.lock().unwrap().send(self.1);
    }
}

fn waker(tx: &mpsc::Sender<u32>, id: u32) -> Waker {
    Waker::from(Arc::new(Report(std::sync::Mutex::new(tx.clone()), id)))
}

fn word(region: &ShmRegion, offset: usize) -> &AtomicU32 {
    // SAFETY: `offset` is 4-aligned inside the region; the word is accessed only atomically.
    unsafe { &*region.as_ptr().add(offset).cast::<AtomicU32>() }
}

#[test]
fn a_parked_waker_is_woken_by_another_process_and_not_after_its_entry_is_dropped() {
    if child_role().as_deref() == Some("bump") {
        let region = ShmRegion::open(&child_arg("NAME"), Access::ReadWrite).unwrap();
        let w = word(&region, 64);
        w.fetch_add(1, Ordering::Release);
        wait::futex_wake_all(w);
        return;
    }
    let name = unique_name("reactor_proc");
    let _g = ShmGuard(name.clone());
    let region = Arc::new(ShmRegion::create(&name, 4096, CreateOptions::new()).unwrap());
    let (tx, rx) = mpsc::channel();
    let far = Instant::now() + WAIT * 10;
    // Two entries on the word the child bumps, one on a word nobody touches, one withdrawn.
    let a = park(word(&region, 64), 0, far, &region, &waker(&tx, 1));
    let b = park(word(&region, 64), 0, far, &region, &waker(&tx, 2));
    let c = park(word(&region, 128), 0, far, &region, &waker(&tx, 3));
    let d = park(word(&region, 64), 0, far, &region, &waker(&tx, 4));
    drop(d);
    let mut child = KillOnDrop::spawn(
        spawn_self(
            "a_parked_waker_is_woken_by_another_process_and_not_after_its_entry_is_dropped",
            "bump",
        )
        .env(arg_var("NAME"), &name),
    );
    let mut woken = [
        rx.recv_timeout(WAIT).unwrap(),
        rx.recv_timeout(WAIT).unwrap(),
    ];
    woken.sort_unstable();
    assert_eq!(woken, [1, 2]);
    assert!(child.wait_timeout(WAIT).unwrap().success());
    let tx2 = tx.clone();
    let waker1 = waker(&tx2, 1);
    assert!(
        !a.pending(&waker1) && !b.pending(&waker1),
        "fired entries are gone"
    );
    assert!(c.pending(&waker1), "an untouched word stays parked");
    // Dropping the region's last handle here leaves the mapping to the parked entry.
    drop(region);
    drop(c);
    drop(tx);
    // Nothing else was woken: entry 3 was withdrawn, entry 4 dropped before the bump.
    assert!(rx.recv_timeout(Duration::ZERO).is_err());
}

#[test]
fn a_parked_waker_is_woken_at_its_deadline() {
    let name = unique_name("reactor_deadline");
    let _g = ShmGuard(name.clone());
    let region = Arc::new(ShmRegion::create(&name, 4096, CreateOptions::new()).unwrap());
    let (tx, rx) = mpsc::channel();
    let _p = park(word(&region, 0), 0, Instant::now(), &region, &waker(&tx, 7));
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 7);
}

#[test]
fn a_word_already_changed_wakes_at_once() {
    let name = unique_name("reactor_changed");
    let _g = ShmGuard(name.clone());
    let region = Arc::new(ShmRegion::create(&name, 4096, CreateOptions::new()).unwrap());
    let (tx, rx) = mpsc::channel();
    word(&region, 0).store(5, Ordering::Relaxed);
    let far = Instant::now() + WAIT * 10;
    let _p = park(word(&region, 0), 4, far, &region, &waker(&tx, 9));
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 9);
}
