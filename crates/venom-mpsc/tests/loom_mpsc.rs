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

    /// Counts, across a model's executions, how often a path was taken (checked after the
    /// model, so each test proves it explored the path it is about). A std atomic on purpose:
    /// it lives outside the model.
    #[allow(clippy::disallowed_types)]
    type Tally = std::sync::atomic::AtomicUsize;
    const RELAXED: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Relaxed;

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

    /// An opener racing the creator sees no queue yet or a complete header, never a torn one
    /// ([I1]/[I2]), through the validation `from_raw` uses.
    #[test]
    fn open_while_initialised() {
        loom::model(|| {
            let q = Arc::new(OwnedQueue::zeroed(Config::new(2, 64)).unwrap());
            let creator = {
                let q = q.clone();
                thread::spawn(move || q.init())
            };
            match q.open() {
                Ok(view) => assert_eq!(view.capacity(), 2),
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
            let q = Arc::new(OwnedQueue::new(Config::new(2, 64)).unwrap());
            q.scribble();
            // Both sides in threads of their own: with the opener on the thread that
            // scribbled, loom explores one schedule only.
            let owner = {
                let q = q.clone();
                thread::spawn(move || q.view().restamp())
            };
            let opener = {
                let q = q.clone();
                thread::spawn(move || match q.open() {
                    Ok(view) => assert_eq!(view.capacity(), 2),
                    Err(Error::BadMagic { found: 0 }) => {}
                    Err(e) => panic!("an opener saw a half-repaired header: {e}"),
                })
            };
            owner.join().unwrap();
            opener.join().unwrap();
        });
    }

    /// `ring` without a message (a daemon's stop): a consumer that watches a flag of its own
    /// and sleeps on the doorbell sees the flag once woken ([P5]/[C5]).
    #[test]
    fn a_ring_without_a_message_carries_the_flag() {
        use venom_mpsc::Wake;
        use venom_shm::sync::{AtomicBool, Ordering};
        loom::model(|| {
            let q = Arc::new(OwnedQueue::new(Config::new(2, 64)).unwrap());
            let stop = Arc::new(AtomicBool::new(false));
            let stopper = {
                let (q, stop) = (q.clone(), stop.clone());
                thread::spawn(move || {
                    stop.store(true, Ordering::Relaxed);
                    q.view().ring();
                })
            };
            let view = q.view();
            let mut consumer = view.consumer().unwrap();
            loop {
                match consumer
                    .register_sleeper(|| stop.load(Ordering::Relaxed))
                    .unwrap()
                {
                    Wake::Ready => break,
                    Wake::Rung => {}
                    Wake::Sleep(s) => venom_shm::wait::futex_wait(s.word(), s.ticket(), None),
                }
            }
            drop(consumer);
            stopper.join().unwrap();
        });
    }

    /// A consumer process that dies holding the role after taking a message: the next
    /// consumer takes the role over and continues after it — the second message, never the
    /// first again.
    #[test]
    fn a_dead_consumer_is_taken_over() {
        loom::model(|| {
            let q = Arc::new(OwnedQueue::new(Config::new(2, 64)).unwrap());
            let producer = q.view().producer(1);
            producer.try_send(&msg(1, 1)).unwrap();
            producer.try_send(&msg(1, 2)).unwrap();
            let dying = {
                let q = q.clone();
                thread::spawn(move || {
                    let view = q.view_as(7);
                    let Ok(mut c) = view.consumer() else {
                        return None; // the other consumer holds the role
                    };
                    let mut buf = [0u8; 64];
                    let m = c.try_recv(&mut buf).unwrap().unwrap();
                    std::mem::forget(c); // dies holding the role
                    venom_shm::wait::declare_dead(7);
                    Some(buf[..m.len].to_vec())
                })
            };
            let taker = {
                let q = q.clone();
                thread::spawn(move || {
                    let view = q.view();
                    let mut c = loop {
                        match view.consumer() {
                            Ok(c) => break c,
                            Err(Error::ConsumerBusy { .. }) => thread::yield_now(),
                            Err(e) => panic!("taking the role failed: {e}"),
                        }
                    };
                    let mut buf = [0u8; 64];
                    let m = c.try_recv(&mut buf).unwrap().unwrap();
                    buf[..m.len].to_vec()
                })
            };
            // Whoever came first took message 1, the other message 2: never one twice.
            let dead = dying.join().unwrap();
            let taken = taker.join().unwrap();
            match dead {
                None => assert_eq!(taken, msg(1, 1)),
                Some(dead) => {
                    let mut both = [dead, taken];
                    both.sort();
                    assert_eq!(both, [msg(1, 1), msg(1, 2)], "a message came twice");
                }
            }
        });
    }

    /// A one-slot queue: the producer's second message reuses the slot of the first, which
    /// the consumer may still be reading. The payload is handed over, never shared: loom's
    /// race checker on it (`layout::Payload`) fails unless the consumer's read happens before
    /// the producer's next write ([C2]/[P1]), and the consumer gets both messages whole.
    #[test]
    fn a_slot_is_reused_only_after_its_message_was_read() {
        loom::model(|| {
            let q = Arc::new(OwnedQueue::new(Config::new(1, 64)).unwrap());
            let consumer = {
                let q = q.clone();
                thread::spawn(move || {
                    let view = q.view();
                    let mut c = view.consumer().unwrap();
                    let mut buf = [0u8; 64];
                    for i in 1..=2 {
                        let m = loop {
                            match c.try_recv(&mut buf).unwrap() {
                                Some(m) => break m,
                                None => thread::yield_now(),
                            }
                        };
                        assert_eq!(&buf[..m.len], &msg(1, i)[..], "message {i} torn");
                    }
                })
            };
            let producer = q.view().producer(1);
            for i in 1..=2 {
                loop {
                    match producer.try_send(&msg(1, i)) {
                        Ok(()) => break,
                        Err(Error::Full) => thread::yield_now(),
                        Err(e) => panic!("send failed: {e}"),
                    }
                }
            }
            consumer.join().unwrap();
        });
    }

    /// A burst of three through a 2-slot queue: it is split where the queue is full, and its
    /// messages arrive whole and in order, the third reusing the first's slot (the payload
    /// shadow checks that reuse is ordered).
    #[test]
    fn a_burst_arrives_whole_and_in_order() {
        loom::model(|| {
            let q = Arc::new(OwnedQueue::new(Config::new(2, 64)).unwrap());
            let burst = {
                let q = q.clone();
                thread::spawn(move || {
                    let p = q.view().producer(1);
                    let msgs = [msg(1, 1), msg(1, 2), msg(1, 3)];
                    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
                    let mut next = 0;
                    while next < refs.len() {
                        match p.try_send_batch(&refs[next..]) {
                            Ok(n) => next += n,
                            Err(Error::Full) => thread::yield_now(),
                            Err(e) => panic!("burst failed: {e}"),
                        }
                    }
                })
            };
            let view = q.view();
            let mut c = view.consumer().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            while got.len() < 3 {
                match c.try_recv(&mut buf).unwrap() {
                    Some(m) => got.push(buf[..m.len].to_vec()),
                    None => thread::yield_now(),
                }
            }
            assert_eq!(got, [msg(1, 1), msg(1, 2), msg(1, 3)]);
            burst.join().unwrap();
        });
    }

    /// Receives `n` messages, yielding while the queue is empty: (sender, bytes) in order.
    fn receive(c: &mut venom_mpsc::Consumer<'_>, n: usize) -> Vec<(u32, Vec<u8>)> {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < n {
            match c.try_recv(&mut buf).unwrap() {
                Some(m) => got.push((m.sender, buf[..m.len].to_vec())),
                None => thread::yield_now(),
            }
        }
        got
    }

    /// Sends until the message is taken (`Full` and `Stalled` mean "not sent": try again).
    fn send(tx: &venom_mpsc::Producer<'_>, msg: &[u8]) {
        loop {
            match tx.try_send(msg) {
                Ok(()) => return,
                Err(Error::Full | Error::Stalled) => thread::yield_now(),
                Err(e) => panic!("send failed: {e}"),
            }
        }
    }

    /// H3: the consumer may give up on a live producer while it writes (time passes: the
    /// bound for a producer stuck mid-send is exceeded); the producer then learns its message
    /// was skipped, copies it into a new slot, gives the old one back ([P6]) and publishes the
    /// copy. The message arrives once and whole, in order; the set-aside slot is written by
    /// nobody else while the producer still copies from it (the payload shadow checks it).
    #[test]
    fn a_stalled_producer_is_skipped_and_sends_again() {
        static SET_ASIDE: Tally = Tally::new(0);
        loom::model(|| {
            venom_shm::wait::let_time_pass(2);
            let q = Arc::new(OwnedQueue::new(Config::new(2, 64)).unwrap());
            let producer = {
                let q = q.clone();
                thread::spawn(move || {
                    let tx = q.view_as(1).producer(1);
                    send(&tx, &msg(1, 1));
                    send(&tx, &msg(1, 2));
                })
            };
            let consumer = {
                let q = q.clone();
                thread::spawn(move || {
                    let view = q.view_as(3);
                    let mut c = view.consumer().unwrap();
                    let got = receive(&mut c, 2);
                    assert_eq!(
                        c.try_recv(&mut [0; 64]).unwrap(),
                        None,
                        "nothing else arrives"
                    );
                    (got, c.skipped())
                })
            };
            producer.join().unwrap();
            let (got, skipped) = consumer.join().unwrap();
            assert_eq!(
                got,
                [(1, msg(1, 1)), (1, msg(1, 2))],
                "lost, duplicated or reordered"
            );
            SET_ASIDE.fetch_add(skipped as usize, RELAXED);
        });
        assert!(SET_ASIDE.load(RELAXED) > 0, "the path was explored");
    }

    /// A producer that dies mid-send, before or after the consumer set it aside (time passes):
    /// the consumer frees its slot, at once if it sees the death ([C9]) or a lap later as a
    /// hole whose producer is dead ([C8]), and the next producer's message may reuse it. The
    /// dead producer's writes are ordered before the next producer's only through its death
    /// (`declare_dead`), the consumer's look, and [C8]/[C9] with [P1]; the payload shadow fails
    /// the model otherwise. (The next producer tries once: only the consumer spins, which keeps
    /// the model small.)
    #[test]
    fn a_dead_producers_slot_is_reused_after_it() {
        use loom::sync::atomic::{AtomicU8, Ordering::SeqCst};
        static FREED: [Tally; 2] = [const { Tally::new(0) }; 2];
        loom::model(|| {
            let q = Arc::new(OwnedQueue::new(Config::new(1, 64)).unwrap());
            // 0: not yet; 1: sent; 2: found the queue full.
            let other = Arc::new(AtomicU8::new(0));
            let consumer = {
                let (q, other) = (q.clone(), other.clone());
                thread::spawn(move || {
                    let view = q.view_as(3);
                    let mut c = view.consumer().unwrap();
                    let mut buf = [0u8; 64];
                    let mut got = Vec::new();
                    loop {
                        if let Some(m) = c.try_recv(&mut buf).unwrap() {
                            got.push((m.sender, buf[..m.len].to_vec()));
                        }
                        let passed = c.abandoned() + c.skipped() > 0;
                        match other.load(SeqCst) {
                            1 if !got.is_empty() => break,
                            2 if passed => break,
                            _ => thread::yield_now(),
                        }
                    }
                    (got, c.abandoned(), c.skipped())
                })
            };
            let next = {
                let (q, other) = (q.clone(), other.clone());
                thread::spawn(move || {
                    let sent = q.view_as(2).producer(2).try_send(&msg(2, 1));
                    other.store(if sent.is_ok() { 1 } else { 2 }, SeqCst);
                })
            };
            let claimed = q.view_as(1).producer(1).stop_mid_send(&msg(1, 1)).is_ok();
            venom_shm::wait::let_time_pass(2);
            venom_shm::wait::declare_dead(1);
            next.join().unwrap();
            let (got, abandoned, skipped) = consumer.join().unwrap();
            // Producer 2's message arrives once if its send said so, never otherwise (it may
            // find the slot taken, or be set aside itself while it writes).
            if other.load(SeqCst) == 1 {
                assert_eq!(got, [(2, msg(2, 1))]);
            } else {
                assert!(got.is_empty());
            }
            assert!(
                abandoned <= u64::from(claimed),
                "only the dead one is abandoned"
            );
            FREED[0].fetch_add(abandoned as usize, RELAXED);
            FREED[1].fetch_add(skipped as usize, RELAXED);
        });
        for (path, freed) in ["freed at once", "set aside, then freed"]
            .iter()
            .zip(&FREED)
        {
            assert!(freed.load(RELAXED) > 0, "{path}: not explored");
        }
    }

    /// A one-slot queue, two producers trying once each, time passing: the consumer may set
    /// producer 1 aside while it writes. Then (a) a look at the hole the slot leaves a lap later
    /// reads the tail, which must show the claim that came before the `WRITING` it saw ([P7];
    /// a stale tail would be taken for scribbled and reported `Corrupt`), and (b) producer 2
    /// writes the slot only after producer 1 gave it back ([P6]: the payload shadow fails the
    /// model otherwise). A message arrives once if and only if its send said so.
    #[test]
    fn a_set_aside_slot_is_reused_only_after_it_is_given_back() {
        use loom::sync::atomic::{AtomicU8, Ordering::SeqCst};
        static SET_ASIDE: Tally = Tally::new(0);
        loom::model(|| {
            venom_shm::wait::let_time_pass(2);
            let q = Arc::new(OwnedQueue::new(Config::new(1, 64)).unwrap());
            // Per producer, 0: not yet; 1: sent; 2: not sent.
            let done = Arc::new([AtomicU8::new(0), AtomicU8::new(0)]);
            let producers: Vec<_> = [1u8, 2]
                .into_iter()
                .map(|p| {
                    let (q, done) = (q.clone(), done.clone());
                    thread::spawn(move || {
                        let tx = q.view_as(u32::from(p)).producer(u32::from(p));
                        let sent = tx.try_send(&msg(p, 1)).is_ok();
                        done[usize::from(p - 1)].store(if sent { 1 } else { 2 }, SeqCst);
                    })
                })
                .collect();
            let consumer = {
                let (q, done) = (q.clone(), done.clone());
                thread::spawn(move || {
                    let view = q.view_as(3);
                    let mut c = view.consumer().unwrap();
                    let mut buf = [0u8; 64];
                    let mut got = Vec::new();
                    loop {
                        let finished = done.iter().all(|d| d.load(SeqCst) != 0);
                        match c.try_recv(&mut buf).unwrap() {
                            Some(m) => got.push((m.sender, buf[..m.len].to_vec())),
                            None if finished => break,
                            None => thread::yield_now(),
                        }
                    }
                    (got, c.skipped())
                })
            };
            for p in producers {
                p.join().unwrap();
            }
            let (got, skipped) = consumer.join().unwrap();
            let sent: Vec<_> = [1u8, 2]
                .into_iter()
                .filter(|&p| done[usize::from(p - 1)].load(SeqCst) == 1)
                .map(|p| (u32::from(p), msg(p, 1)))
                .collect();
            let mut got = got;
            got.sort();
            assert_eq!(
                got, sent,
                "a message arrives once if and only if it was sent"
            );
            SET_ASIDE.fetch_add(skipped as usize, RELAXED);
        });
        assert!(SET_ASIDE.load(RELAXED) > 0, "the path was explored");
    }
}
