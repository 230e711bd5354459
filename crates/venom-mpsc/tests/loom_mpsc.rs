//! loom models of the queue. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p venom-mpsc --test loom_mpsc --release`.
//!
//! Every message carries its producer and sequence number in its bytes; the checks compare
//! what arrived with what was sent, not only counts.

#[cfg(loom)]
mod tests {
    use loom::sync::Arc;
    use loom::thread;
    use venom_mpsc::{Config, Error, OwnedQueue};

    /// Producer `p`'s message `i`: 9 bytes (crossing a word boundary), all `p * 16 + i`.
    fn msg(p: u8, i: u8) -> Vec<u8> {
        vec![p * 16 + i; 9]
    }

    /// Two producers against a consumer on a 2-slot queue (so `Full` happens): every message
    /// sent arrives exactly once, whole, in its producer's order; nothing else arrives.
    #[test]
    fn two_producers_one_consumer() {
        loom::model(|| {
            let q = Arc::new(OwnedQueue::new(Config::new(2, 64)).unwrap());
            let producers: Vec<_> = [(1u8, 2u8), (2, 1)]
                .into_iter()
                .map(|(p, n)| {
                    let q = q.clone();
                    thread::spawn(move || {
                        let tx = q.view().producer(u32::from(p));
                        let mut sent = Vec::new();
                        for i in 0..n {
                            match tx.try_send(&msg(p, i)) {
                                Ok(()) => sent.push(msg(p, i)),
                                // Stop at the first `Full`, keeping order simple to check.
                                Err(Error::Full) => break,
                                Err(e) => panic!("{e}"),
                            }
                        }
                        sent
                    })
                })
                .collect();
            let mut rx = q.view().consumer().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 48];
            // A few receives while the producers run, then the rest.
            for _ in 0..2 {
                if let Some(m) = rx.try_recv(&mut buf).unwrap() {
                    got.push((m.sender, buf[..m.len].to_vec()));
                }
            }
            let sent: Vec<Vec<Vec<u8>>> =
                producers.into_iter().map(|p| p.join().unwrap()).collect();
            while let Some(m) = rx.try_recv(&mut buf).unwrap() {
                got.push((m.sender, buf[..m.len].to_vec()));
            }
            assert_eq!(rx.try_recv(&mut buf).unwrap(), None, "empty stays empty");
            for (k, sent) in sent.iter().enumerate() {
                let mine: Vec<Vec<u8>> = got
                    .iter()
                    .filter(|(s, _)| *s == k as u32 + 1)
                    .map(|(_, m)| m.clone())
                    .collect();
                assert_eq!(
                    &mine,
                    sent,
                    "producer {}: lost, duplicated or reordered",
                    k + 1
                );
            }
            assert_eq!(got.len(), sent.iter().map(Vec::len).sum::<usize>());
        });
    }

    /// A consumer asleep on the doorbell is always woken by a send (a lost wake-up would be
    /// a deadlock, which loom reports) and gets the message.
    #[test]
    fn doorbell_wakes_the_consumer() {
        loom::model(|| {
            let q = Arc::new(OwnedQueue::new(Config::new(2, 64)).unwrap());
            let consumer = {
                let q = q.clone();
                thread::spawn(move || {
                    let mut rx = q.view().consumer().unwrap();
                    let mut buf = [0u8; 48];
                    let m = rx.recv(&mut buf).unwrap();
                    assert_eq!(&buf[..m.len], &msg(1, 0)[..]);
                })
            };
            q.view().producer(1).try_send(&msg(1, 0)).unwrap();
            consumer.join().unwrap();
        });
    }

    /// An event published beside the queue (a flag) and announced with `Queue::notify` always
    /// wakes a consumer sleeping in `wait_until` (a lost wake-up would be a deadlock), and the
    /// consumer sees the event's data once `ready` holds.
    #[test]
    fn notify_wakes_wait_until() {
        use venom_shm::sync::{AtomicU32, Ordering};
        loom::model(|| {
            let q = Arc::new(OwnedQueue::new(Config::new(2, 64)).unwrap());
            let data = Arc::new(AtomicU32::new(0));
            let flag = Arc::new(AtomicU32::new(0));
            let consumer = {
                let (q, data, flag) = (q.clone(), data.clone(), flag.clone());
                thread::spawn(move || {
                    let mut rx = q.view().consumer().unwrap();
                    rx.wait_until(|| flag.load(Ordering::Acquire) == 1).unwrap();
                    assert_eq!(data.load(Ordering::Relaxed), 7);
                })
            };
            data.store(7, Ordering::Relaxed);
            flag.store(1, Ordering::Release);
            q.view().notify();
            consumer.join().unwrap();
        });
    }

    /// The consumer role passes between two consumers running at once: each receives one
    /// message, neither the same one (the second continues where the first stopped).
    #[test]
    fn consumer_handoff() {
        loom::model(|| {
            let q = Arc::new(OwnedQueue::new(Config::new(2, 64)).unwrap());
            let tx = q.view().producer(1);
            tx.try_send(&msg(1, 0)).unwrap();
            tx.try_send(&msg(1, 1)).unwrap();
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    thread::spawn(move || {
                        let mut buf = [0u8; 48];
                        let mut rx = loop {
                            match q.view().consumer() {
                                Ok(rx) => break rx,
                                Err(Error::ConsumerBusy { .. }) => thread::yield_now(),
                                Err(e) => panic!("{e}"),
                            }
                        };
                        let m = rx.try_recv(&mut buf).unwrap().expect("a message");
                        buf[..m.len].to_vec()
                    })
                })
                .collect();
            let mut got: Vec<Vec<u8>> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
            got.sort();
            assert_eq!(got, vec![msg(1, 0), msg(1, 1)], "delivered twice or lost");
        });
    }
}
