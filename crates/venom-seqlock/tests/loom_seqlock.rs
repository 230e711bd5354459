//! loom models of the seqlock. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p venom-seqlock --test loom_seqlock --release`.
//!
//! Readers check each snapshot against the version it reports (every data byte encodes the
//! version), so pairing a new version with old data fails, not only tearing.

#[cfg(loom)]
mod tests {
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;
    use venom_seqlock::{Config, Error, OwnedSeqlock};

    const CAP: usize = 16;

    fn value(v: u64) -> Vec<u8> {
        // Two words for odd versions, one for even ones: lengths change between versions.
        vec![v as u8; if v % 2 == 1 { 16 } else { 8 }]
    }

    fn check(bytes: &[u8], v: u64) {
        if v == 0 {
            assert!(bytes.is_empty());
        } else {
            assert_eq!(bytes, &value(v)[..], "snapshot does not match version {v}");
        }
    }

    /// `reads[i]`: attempts by reader i.
    fn one_writer_readers(slots: u32, writes: u64, reads: &'static [usize]) {
        loom::model(move || {
            let lock = Arc::new(OwnedSeqlock::new(Config::multi(CAP, slots)).unwrap());
            let readers: Vec<_> = reads
                .iter()
                .copied()
                .map(|reads| {
                    let lock = lock.clone();
                    thread::spawn(move || {
                        // Single attempts: loom explores every interleaving of each attempt, and
                        // a spinning retry loop would only multiply schedules without adding any
                        // new way for an accepted snapshot to be wrong.
                        let mut last = 0;
                        for _ in 0..reads {
                            let mut buf = [0u8; CAP];
                            match lock.view().try_read(&mut buf) {
                                Ok(s) => {
                                    check(&buf[..s.len], s.version);
                                    assert!(s.version >= last, "version went backwards");
                                    last = s.version;
                                }
                                Err(Error::Contended) => {}
                                Err(e) => panic!("read failed: {e}"),
                            }
                        }
                    })
                })
                .collect();
            let mut w = lock.view().writer().unwrap();
            for v in 1..=writes {
                assert_eq!(w.write(&value(v)).unwrap(), v);
            }
            drop(w);
            for r in readers {
                r.join().unwrap();
            }
        });
    }

    #[test]
    fn single_slot_one_writer_two_readers() {
        one_writer_readers(1, 2, &[2, 1]);
    }

    /// Three writes into two slots: the third reuses the first's slot while a reader may be
    /// copying it.
    #[test]
    fn two_slots_writer_laps_reader() {
        one_writer_readers(2, 3, &[2]);
    }

    /// Two writers taking the lock per write: the critical sections never overlap (loom's
    /// `UnsafeCell` reports any overlap) and no update is lost.
    #[test]
    fn two_writers_exclude_each_other() {
        loom::model(|| {
            let lock = Arc::new(OwnedSeqlock::new(Config::multi(8, 2)).unwrap());
            lock.view()
                .writer()
                .unwrap()
                .write(&0u64.to_ne_bytes())
                .unwrap();
            let cell = Arc::new(UnsafeCell::new(0u64));
            let writers: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, cell) = (lock.clone(), cell.clone());
                    thread::spawn(move || {
                        let view = lock.view();
                        let mut w = view.writer_timeout(std::time::Duration::MAX).unwrap();
                        let (_, ()) = w
                            .update_with(|slot| {
                                // SAFETY: the point of the test: loom reports any access
                                // that is not ordered after the other writer's.
                                cell.with_mut(|c| unsafe { *c += 1 });
                                let mut b = [0u8; 8];
                                slot.read_at(0, &mut b).unwrap();
                                let n = u64::from_ne_bytes(b) + 1;
                                slot.write_at(0, &n.to_ne_bytes()).unwrap();
                            })
                            .unwrap();
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
            // SAFETY: both writers were joined.
            assert_eq!(cell.with(|c| unsafe { *c }), 2);
            assert_eq!(lock.view().version(), 3);
            let mut b = [0u8; 8];
            assert_eq!(lock.view().read(&mut b).unwrap(), 8);
            assert_eq!(u64::from_ne_bytes(b), 2, "an update was lost");
        });
    }

    /// A reader asleep in `wait_for_change` is always woken by the write (a lost wake-up would
    /// be a deadlock, which loom reports), and sees the new version.
    #[test]
    fn wait_is_woken() {
        loom::model(|| {
            let lock = Arc::new(OwnedSeqlock::new(Config::single(CAP)).unwrap());
            let waiter = {
                let lock = lock.clone();
                thread::spawn(move || {
                    let v = lock.view().wait_for_change(0).unwrap();
                    assert_eq!(v, 1);
                    let mut buf = [0u8; CAP];
                    let s = lock.view().try_read(&mut buf);
                    match s {
                        Ok(s) => check(&buf[..s.len], s.version),
                        Err(Error::Contended) => {}
                        Err(e) => panic!("{e}"),
                    }
                })
            };
            lock.view().writer().unwrap().write(&value(1)).unwrap();
            waiter.join().unwrap();
        });
    }

    /// An opener racing the creator sees no seqlock yet or a complete header, never a torn
    /// one ([I1]/[I2]), through the validation `from_raw` uses.
    #[test]
    fn open_while_initialised() {
        loom::model(|| {
            let lock = Arc::new(OwnedSeqlock::zeroed(Config::multi(CAP, 2)).unwrap());
            let creator = {
                let lock = lock.clone();
                thread::spawn(move || lock.init())
            };
            match lock.open() {
                Ok(view) => assert_eq!(view.max_len(), CAP),
                Err(Error::BadMagic { found: 0 }) => {}
                Err(e) => panic!("an opener saw a torn header: {e}"),
            }
            creator.join().unwrap();
        });
    }

    /// The same while the owner repairs a scribbled header (`restamp`, [I3]/[I2]).
    #[test]
    fn open_while_repaired() {
        loom::model(|| {
            let lock = Arc::new(OwnedSeqlock::new(Config::multi(CAP, 2)).unwrap());
            lock.scribble();
            // Both sides in threads of their own: with the opener on the thread that
            // scribbled, loom explores one schedule only.
            let owner = {
                let lock = lock.clone();
                thread::spawn(move || lock.view().restamp())
            };
            let opener = {
                let lock = lock.clone();
                thread::spawn(move || match lock.open() {
                    Ok(view) => assert_eq!(view.max_len(), CAP),
                    Err(Error::BadMagic { found: 0 }) => {}
                    Err(e) => panic!("an opener saw a half-repaired header: {e}"),
                })
            };
            owner.join().unwrap();
            opener.join().unwrap();
        });
    }

    /// `wake_waiters` without a write (a channel's close): a reader that watches a flag of its
    /// own beside the version and sleeps on the futex sees the flag once woken ([W5]/[R5]).
    #[test]
    fn wake_without_a_write_carries_the_flag() {
        loom::model(|| {
            let lock = Arc::new(OwnedSeqlock::new(Config::single(CAP)).unwrap());
            let closed = Arc::new(venom_shm::sync::AtomicBool::new(false));
            let closer = {
                let (lock, closed) = (lock.clone(), closed.clone());
                thread::spawn(move || {
                    closed.store(true, venom_shm::sync::Ordering::Relaxed);
                    lock.view().wake_waiters();
                })
            };
            let view = lock.view();
            loop {
                let waiter = match view.register_waiter(0) {
                    Ok(v) => panic!("nothing was written, yet version {v}"),
                    Err(w) => w,
                };
                if closed.load(venom_shm::sync::Ordering::Relaxed) {
                    break;
                }
                venom_shm::wait::futex_wait(waiter.word(), waiter.ticket(), None);
            }
            closer.join().unwrap();
        });
    }

    /// A writer process that dies holding the lock after a complete write: the next writer
    /// takes the lock over and numbers its write after the dead one's ([W6]/[W3]), and the
    /// value readers then get is whole.
    #[test]
    fn a_dead_writer_is_taken_over() {
        loom::model(|| {
            let lock = Arc::new(OwnedSeqlock::new(Config::multi(CAP, 2)).unwrap());
            let dying = {
                let lock = lock.clone();
                thread::spawn(move || {
                    let Ok(mut w) = lock.view_as(7).writer() else {
                        return None; // the other writer holds the lock: nothing to model
                    };
                    let v = w.write(&value(1)).unwrap();
                    std::mem::forget(w); // dies holding the lock
                    venom_shm::wait::declare_dead(7);
                    Some(v)
                })
            };
            // In a thread of its own: from the model's main thread, loom explores fewer
            // schedules.
            let taker = {
                let lock = lock.clone();
                thread::spawn(move || {
                    loop {
                        match lock.view().writer() {
                            Ok(mut w) => break w.write(&value(2)).unwrap(),
                            Err(Error::WriterBusy { .. }) => thread::yield_now(),
                            Err(e) => panic!("taking the lock failed: {e}"),
                        }
                    }
                })
            };
            let mine = taker.join().unwrap();
            let theirs = dying.join().unwrap();
            // Either this writer went first (and the other wrote after it), or it took over
            // and numbered its write after the dead one's: never the same version twice.
            if let Some(theirs) = theirs {
                assert!(
                    mine == theirs + 1 || mine < theirs,
                    "versions {mine} and {theirs}"
                );
            }
        });
    }

    /// A writer whose fill closure panics mid-write (two slots: the half-written slot stays
    /// unpublished): the next writer, on another thread, reuses that slot only after the
    /// abandoned write ended ([W7], checked by the slot's writer shadow), and readers never
    /// get the half-written value.
    #[test]
    fn a_write_abandoned_by_a_panic_is_reused_in_order() {
        loom::model(|| {
            let lock = Arc::new(OwnedSeqlock::new(Config::multi(CAP, 2)).unwrap());
            let panicking = {
                let lock = lock.clone();
                thread::spawn(move || {
                    let view = lock.view();
                    let Ok(mut w) = view.writer() else { return };
                    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        w.write_with(16, |slot| {
                            slot.write_at(0, &[0xEE; 8]).unwrap();
                            panic!("the fill closure fails mid-write");
                        })
                    }));
                    assert!(unwound.is_err());
                })
            };
            let writer = {
                let lock = lock.clone();
                thread::spawn(move || {
                    loop {
                        match lock.view().writer() {
                            Ok(mut w) => break w.write(&value(1)).unwrap(),
                            Err(Error::WriterBusy { .. }) => thread::yield_now(),
                            Err(e) => panic!("taking the lock failed: {e}"),
                        }
                    }
                })
            };
            panicking.join().unwrap();
            let v = writer.join().unwrap();
            let mut buf = [0u8; CAP];
            let s = lock.view().try_read(&mut buf).unwrap();
            assert_eq!(s.version, v);
            check(&buf[..s.len], 1);
        });
    }
}
