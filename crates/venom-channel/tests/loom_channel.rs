//! loom models of the channel's own protocols. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p venom-channel --test loom_channel --release`.
//!
//! Each model drives the functions the channel runs on a mapped region (through
//! `venom_channel::model`, which builds the structures from loom's atomics) and checks what a
//! user relies on: every request and reply arrives whole and is the one asked for, a sleeping
//! shell is woken, a new holder of a registry entry sees its predecessor's requests, an opener
//! sees a complete header, a shell that sees the channel closed sees what the daemon did
//! before, a flagged request is visible, a stop carries what came before it. Every `Acquire`,
//! `Release`, `SeqCst` and fence of the crate is weakened in turn by `.ci/mutate-orderings.py`,
//! and some model here must fail for each.

#[cfg(loom)]
mod tests {
    use loom::sync::Arc;
    use loom::thread;
    use venom_channel::model::{ModelCell, ModelCellLock, ModelChannel, ModelStop};
    use venom_channel::{Error, ErrorKind};

    /// Which way a payload travels: inside its header line (≤ 56 bytes) or through the cell's
    /// slot (longer). Both take the same steps (only the words copied differ), so the round
    /// trip runs both and the models of replacement and late replies, whose copies loom
    /// interleaves with everything else, run inline (the slot's longer copies take minutes).
    #[derive(Clone, Copy)]
    enum Size {
        Inline,
        Slot,
    }

    impl Size {
        /// Smallest payload of this size class.
        fn base(self) -> usize {
            match self {
                Size::Inline => 3,
                Size::Slot => venom_channel::model::INLINE_BYTES + 1,
            }
        }

        /// A cell whose requests and replies hold this size class.
        fn cell(self) -> Arc<ModelCell> {
            let capacity = self.base() + 24;
            Arc::new(ModelCell::new(capacity, capacity))
        }
    }

    /// Request `seq`'s bytes: its number in every byte, its length varying with it.
    fn request(seq: u32, size: Size) -> Vec<u8> {
        vec![seq as u8; size.base() + 6 + (seq as usize % 3) * 4]
    }

    /// Reply `seq`'s bytes.
    fn reply(seq: u32, size: Size) -> Vec<u8> {
        vec![0x80 | seq as u8; size.base() + seq as usize * 5]
    }

    /// The daemon's receiver: takes one request if there is one, checks it is exactly the
    /// request its number says, returns the number.
    fn take(cell: &ModelCell, taken: u32, size: Size) -> Option<u32> {
        let mut buf = [0u8; 96];
        let (seq, len) = cell.take_request(taken, &mut buf).unwrap()?;
        assert_eq!(
            &buf[..len],
            &request(seq, size)[..],
            "request {seq} arrived torn"
        );
        Some(seq)
    }

    /// The daemon's receiver waiting for a request newer than `taken`.
    fn take_next(cell: &ModelCell, taken: u32, size: Size) -> u32 {
        loop {
            match take(cell, taken, size) {
                Some(seq) => return seq,
                None => thread::yield_now(),
            }
        }
    }

    /// The shell's wait for reply `seq` (a busy-polling shell: the sleep is modelled apart).
    fn await_reply(cell: &ModelCell, seq: u32, size: Size) {
        let mut buf = [0u8; 96];
        loop {
            if let Some(n) = cell.take_reply(seq, &mut buf).unwrap() {
                assert_eq!(&buf[..n], &reply(seq, size)[..], "reply {seq} arrived torn");
                return;
            }
            thread::yield_now();
        }
    }

    /// A round trip: the request arrives whole, the reply arrives whole ([C1]–[C6]); then the
    /// next request, posted without the "being written" marker because the shell took the
    /// reply (the daemon no longer reads the previous request), arrives whole too.
    fn a_request_and_its_reply_arrive_whole(size: Size) {
        loom::model(move || {
            let cell = size.cell();
            let daemon = {
                let cell = cell.clone();
                thread::spawn(move || {
                    for expected in 1..=2 {
                        let seq = take_next(&cell, expected - 1, size);
                        assert_eq!(seq, expected);
                        assert!(cell.reply(seq, &reply(seq, size)).is_some());
                    }
                })
            };
            cell.post(1, &request(1, size), true, false);
            await_reply(&cell, 1, size);
            cell.post(2, &request(2, size), true, true);
            await_reply(&cell, 2, size);
            daemon.join().unwrap();
        });
    }

    #[test]
    fn a_request_and_its_reply_arrive_whole_inline() {
        a_request_and_its_reply_arrive_whole(Size::Inline);
    }

    #[test]
    fn a_request_and_its_reply_arrive_whole_through_the_slot() {
        a_request_and_its_reply_arrive_whole(Size::Slot);
    }

    /// A shell about to sleep for its reply while the daemon answers: either the shell sees
    /// the reply and does not sleep, or the daemon finds it asleep and wakes it — never a
    /// shell asleep that nobody wakes (the Dekker pair [C7]/[C8]; the asymmetric barrier's
    /// heavy side is modelled as its full fence).
    #[test]
    fn a_shell_going_to_sleep_is_woken_by_the_reply() {
        loom::model(|| {
            let size = Size::Inline;
            let cell = size.cell();
            cell.post(1, &request(1, size), false, false);
            assert_eq!(take(&cell, 0, size), Some(1));
            let daemon = {
                let cell = cell.clone();
                thread::spawn(move || cell.reply(1, &reply(1, size)).unwrap())
            };
            let sleeps = cell.announce_sleep(1);
            let woke = daemon.join().unwrap();
            assert!(
                !sleeps || woke,
                "the shell sleeps and the daemon did not wake it"
            );
        });
    }

    /// A shell that gives up posts its next requests where the daemon may still be copying
    /// request 1: the daemon takes a request only if it copied it whole ([C1]/[C4], the
    /// "being written" marker), whichever it finds.
    fn a_request_replaced_while_copied_is_never_taken_torn(size: Size) {
        loom::model(move || {
            let cell = size.cell();
            cell.post(1, &request(1, size), false, false);
            let daemon = {
                let cell = cell.clone();
                thread::spawn(move || {
                    let _ = take(&cell, 0, size);
                })
            };
            cell.post(2, &request(2, size), false, false);
            cell.post(3, &request(3, size), false, false);
            daemon.join().unwrap();
        });
    }

    #[test]
    fn a_request_replaced_while_copied_is_never_taken_torn_inline() {
        a_request_replaced_while_copied_is_never_taken_torn(Size::Inline);
    }

    /// Replies from two threads: a handler thread answers request 1 late, after its shell gave
    /// up, posted request 2, got its reply, and posted request 3 (whose reply goes where the
    /// late reply would). The late reply is written whole or not at all, never over reply 3,
    /// and the shell takes reply 3 exactly ([C9]/[C10], the one-reply claim).
    fn a_late_reply_from_another_thread_never_tears_the_next_one(size: Size) {
        loom::model(move || {
            let cell = size.cell();
            cell.post(1, &request(1, size), true, false);
            assert_eq!(take(&cell, 0, size), Some(1));
            let late = {
                let cell = cell.clone();
                thread::spawn(move || {
                    let _ = cell.reply(1, &reply(1, size));
                })
            };
            // The shell gave up on 1 (busy-polling shells: no sleep in this model).
            cell.post(2, &request(2, size), true, false);
            assert_eq!(take(&cell, 1, size), Some(2));
            assert!(cell.reply(2, &reply(2, size)).is_some());
            let mut buf = [0u8; 96];
            assert_eq!(
                cell.take_reply(2, &mut buf).unwrap(),
                Some(reply(2, size).len())
            );
            cell.post(3, &request(3, size), true, true);
            assert_eq!(take(&cell, 2, size), Some(3));
            assert!(cell.reply(3, &reply(3, size)).is_some());
            let n = cell.take_reply(3, &mut buf).unwrap().unwrap();
            assert_eq!(
                &buf[..n],
                &reply(3, size)[..],
                "reply 3 torn by the late reply 1"
            );
            late.join().unwrap();
        });
    }

    #[test]
    fn a_late_reply_from_another_thread_never_tears_the_next_one_inline() {
        a_late_reply_from_another_thread_never_tears_the_next_one(Size::Inline);
    }

    /// A reply is taken only by the request it answers: a shell waiting for request 2 never
    /// takes the late reply to request 1 ([C5]/[C6]), and two threads answering the same
    /// request write it once.
    #[test]
    fn two_threads_answer_one_request_once() {
        loom::model(|| {
            let size = Size::Inline;
            let cell = size.cell();
            cell.post(1, &request(1, size), true, false);
            assert_eq!(take(&cell, 0, size), Some(1));
            let repliers: Vec<_> = (0..2)
                .map(|_| {
                    let cell = cell.clone();
                    thread::spawn(move || cell.reply(1, &reply(1, size)).is_some())
                })
                .collect();
            await_reply(&cell, 1, size);
            let wrote: usize = repliers
                .into_iter()
                .map(|t| usize::from(t.join().unwrap()))
                .sum();
            assert_eq!(wrote, 1, "request 1 answered {wrote} times");
        });
    }

    /// A shell that releases its registry entry after a request, and the next shell that
    /// claims it: the new holder continues the request numbering from the last request posted
    /// there, so it never takes a reply meant for its predecessor ([G1]/[G2]).
    #[test]
    fn a_new_holder_of_an_entry_sees_its_predecessors_requests() {
        loom::model(|| {
            let channel = Arc::new(ModelChannel::new(1));
            let cell = Size::Inline.cell();
            let first = channel.claim().unwrap();
            let old = {
                let (channel, cell) = (channel.clone(), cell.clone());
                thread::spawn(move || {
                    cell.post(1, &request(1, Size::Inline), true, true);
                    channel.release(first);
                })
            };
            let second = loop {
                match channel.claim() {
                    Ok(id) => break id,
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::ChannelFull);
                        thread::yield_now();
                    }
                }
            };
            assert_eq!(second, first);
            assert_eq!(
                cell.request_seq(),
                1,
                "the new holder would reuse request 1's number"
            );
            old.join().unwrap();
        });
    }

    /// A shell connecting while the daemon creates the channel sees nothing or a complete
    /// header, never a torn one ([H1]/[H2]); the same holds for the daemon's repair of a
    /// scribbled header (`restamp`).
    #[test]
    fn create_then_connect() {
        loom::model(|| {
            let channel = Arc::new(ModelChannel::new(3));
            let daemon = {
                let channel = channel.clone();
                thread::spawn(move || channel.create())
            };
            match channel.connect() {
                Ok(clients) => assert_eq!(clients, 3),
                Err(Error::NotInitialized { .. }) => {}
                Err(e) => panic!("a shell saw a torn header: {e}"),
            }
            daemon.join().unwrap();
            assert_eq!(channel.connect().unwrap(), 3);
        });
    }

    /// A shell that sees the channel closed sees everything the daemon did before it closed
    /// (here, its counters: `venom inspect` reads them after the end) ([H3]/[H4]).
    #[test]
    fn a_shell_that_sees_the_close_sees_what_came_before() {
        loom::model(|| {
            let channel = Arc::new(ModelChannel::new(1));
            channel.create();
            let daemon = {
                let channel = channel.clone();
                thread::spawn(move || {
                    channel.count_request();
                    channel.close();
                })
            };
            if channel.is_closed() {
                assert_eq!(channel.requests(), 1, "closed, but the last count not seen");
            }
            daemon.join().unwrap();
        });
    }

    /// A request whose summary bit the daemon takes is visible in its cell ([S1]/[S2]).
    #[test]
    fn a_flagged_request_is_visible_to_the_daemon() {
        loom::model(|| {
            let channel = Arc::new(ModelChannel::new(70));
            let cell = Size::Inline.cell();
            let shell = {
                let (channel, cell) = (channel.clone(), cell.clone());
                thread::spawn(move || {
                    cell.post(1, &request(1, Size::Inline), true, true);
                    channel.flag(65);
                })
            };
            if channel.take_flags(1) & (1 << 1) != 0 {
                assert_eq!(
                    cell.pending(0),
                    Some(1),
                    "flagged, but the request not seen"
                );
            }
            shell.join().unwrap();
        });
    }

    /// What a thread did before `StopHandle::stop` is visible once `run` sees the stop
    /// ([T1]/[T2]).
    #[test]
    fn a_stop_carries_what_came_before_it() {
        loom::model(|| {
            let stop = Arc::new(ModelStop::default());
            let result = Arc::new(ModelCell::new(8, 8));
            let stopper = {
                let (stop, result) = (stop.clone(), result.clone());
                thread::spawn(move || {
                    result.post(7, &[7], true, true);
                    stop.raise();
                })
            };
            if stop.take() {
                assert_eq!(
                    result.request_seq(),
                    7,
                    "stopped, but what came before not seen"
                );
                assert!(!stop.take(), "a stop is seen once");
            }
            stopper.join().unwrap();
        });
    }

    /// Threads of one shell take turns on its cell and number their requests without gaps or
    /// repeats ([L1]–[L3]), through the contended path too.
    #[test]
    fn threads_of_a_shell_take_turns_on_its_cell() {
        loom::model(|| {
            let lock = Arc::new(ModelCellLock::new(5));
            let other = {
                let lock = lock.clone();
                thread::spawn(move || lock.next_request())
            };
            let mine = lock.next_request();
            let theirs = other.join().unwrap();
            let mut got = [mine, theirs];
            got.sort_unstable();
            assert_eq!(got, [6, 7]);
            assert_eq!(lock.next_request(), 8);
        });
    }
}
