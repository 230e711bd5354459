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
}
