//! Model-based: random operation sequences against a `VecDeque`, including a full queue and
//! messages of every length up to the payload size and beyond, over a heap buffer and a real
//! shared-memory region (one conformance function).
#![cfg(not(loom))]

use std::collections::VecDeque;

use proptest::prelude::*;
use venom_mpsc::{Config, Error, OwnedQueue, Queue};
use venom_shm::testing::unique_name;
use venom_shm::{CreateOptions, ShmRegion};

#[derive(Debug, Clone)]
enum Op {
    Send { producer: u32, len: usize, seed: u8 },
    Recv { buf: usize },
    RecvRef,
    Drain { max: usize },
}

fn op(payload: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..3, 0..=payload + 3, any::<u8>())
            .prop_map(|(producer, len, seed)| Op::Send { producer, len, seed }),
        2 => (0..=payload + 3).prop_map(|buf| Op::Recv { buf }),
        1 => Just(Op::RecvRef),
        1 => (0usize..5).prop_map(|max| Op::Drain { max }),
    ]
}

fn conformance(q: Queue<'_>, ops: &[Op]) {
    let payload = q.payload_size();
    let cap = q.capacity() as usize;
    let mut model: VecDeque<(u32, Vec<u8>)> = VecDeque::new();
    let mut rx = q.consumer().unwrap();
    for op in ops {
        match op {
            Op::Send {
                producer,
                len,
                seed,
            } => {
                let bytes: Vec<u8> = (0..*len).map(|i| seed.wrapping_add(i as u8)).collect();
                match q.producer(*producer).try_send(&bytes) {
                    Ok(()) => {
                        assert!(*len <= payload && model.len() < cap);
                        model.push_back((*producer, bytes));
                    }
                    Err(Error::TooLarge { len: l, max }) => {
                        assert_eq!((l, max), (*len, payload));
                        assert!(*len > payload);
                    }
                    Err(Error::Full) => assert!(*len <= payload && model.len() == cap),
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Recv { buf } => {
                let mut b = vec![0xA5; *buf];
                match rx.try_recv(&mut b) {
                    Ok(Some(m)) => {
                        let (p, want) = model.pop_front().expect("model has a message");
                        assert_eq!((m.sender, &b[..m.len]), (p, &want[..]));
                        assert!(b[m.len..].iter().all(|&x| x == 0xA5));
                    }
                    Ok(None) => assert!(model.is_empty()),
                    Err(Error::BufferTooSmall { needed, got }) => {
                        let (_, want) = model.front().expect("model has a message");
                        assert_eq!((needed, got), (want.len(), *buf));
                        assert!(b.iter().all(|&x| x == 0xA5), "copied into a short buffer");
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Op::RecvRef => match rx.try_recv_ref().unwrap() {
                Some(r) => {
                    let (p, want) = model.pop_front().expect("model has a message");
                    assert_eq!((r.sender(), r.to_vec()), (p, want));
                }
                None => assert!(model.is_empty()),
            },
            Op::Drain { max } => {
                let mut got = Vec::new();
                let n = rx
                    .drain(*max, |r| got.push((r.sender(), r.to_vec())))
                    .unwrap();
                assert_eq!(n, got.len());
                assert_eq!(n, (*max).min(model.len()));
                for g in got {
                    assert_eq!(Some(g), model.pop_front());
                }
            }
        }
        assert_eq!(q.len_hint(), model.len() as u64);
    }
    assert_eq!(rx.abandoned(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn owned_queue_matches_vecdeque(
        cap_log in 0u32..4, ops in proptest::collection::vec(op(48), 1..80),
    ) {
        let q = OwnedQueue::new(Config::new(1 << cap_log, 64)).unwrap();
        conformance(q.view(), &ops);
    }

    #[test]
    fn shared_queue_matches_vecdeque(
        cap_log in 0u32..4, ops in proptest::collection::vec(op(112), 1..80),
    ) {
        let config = Config::new(1 << cap_log, 128);
        let name = unique_name("mpsc_prop");
        let region = ShmRegion::create(&name, config.region_size().unwrap(), CreateOptions::new()).unwrap();
        // SAFETY: read-write for `len` bytes while `region` lives; accessed only through the
        // queue.
        let q = unsafe { Queue::init(region.as_ptr(), region.len(), config) }.unwrap();
        conformance(q, &ops);
    }
}
