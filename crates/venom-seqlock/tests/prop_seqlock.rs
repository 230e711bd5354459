//! Model-based: random writes, updates and reads against a "last whole write wins" model, over
//! an in-process buffer and over a real shared-memory region (the same conformance function).
#![cfg(not(loom))]

use proptest::prelude::*;
use venom_seqlock::{Config, Error, OwnedSeqlock, Seqlock};
use venom_shm::testing::unique_name;
use venom_shm::{CreateOptions, ShmRegion};

#[derive(Debug, Clone)]
enum Op {
    /// Write a value of this length, filled from this seed.
    Write(usize, u8),
    /// Change bytes at an offset of the current value.
    Update(usize, Vec<u8>),
    /// Read into a buffer of this length.
    Read(usize),
}

fn op(max: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..=max + 8, any::<u8>()).prop_map(|(l, s)| Op::Write(l, s)),
        (0..=max + 4, proptest::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(o, b)| Op::Update(o, b)),
        (0..=max + 8).prop_map(Op::Read),
    ]
}

fn conformance(lock: Seqlock<'_>, ops: &[Op]) {
    let max = lock.max_len();
    let mut model: Vec<u8> = Vec::new();
    let mut version = 0u64;
    let mut w = lock.writer().unwrap();
    for op in ops {
        match op {
            Op::Write(len, seed) => {
                let bytes: Vec<u8> = (0..*len).map(|i| seed.wrapping_add(i as u8)).collect();
                match w.write(&bytes) {
                    Ok(v) => {
                        assert!(*len <= max);
                        version += 1;
                        assert_eq!(v, version);
                        model = bytes;
                    }
                    Err(Error::TooLarge { len: l, max: m }) => {
                        assert!(*len > max);
                        assert_eq!((l, m), (*len, max));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Update(offset, bytes) => {
                let (v, r) = w.update_with(|slot| slot.write_at(*offset, bytes)).unwrap();
                version += 1;
                assert_eq!(v, version);
                match r {
                    Ok(()) => model[*offset..*offset + bytes.len()].copy_from_slice(bytes),
                    Err(Error::OutOfBounds { .. }) => assert!(offset + bytes.len() > model.len()),
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Read(n) => {
                let mut buf = vec![0xA5; *n];
                match lock.read(&mut buf) {
                    Ok(len) => {
                        assert_eq!(&buf[..len], &model[..]);
                        assert!(
                            buf[len..].iter().all(|&b| b == 0xA5),
                            "wrote past the value"
                        );
                    }
                    Err(Error::BufferTooSmall { needed, got }) => {
                        assert_eq!((needed, got), (model.len(), *n));
                        assert!(needed > *n);
                        assert!(buf.iter().all(|&b| b == 0xA5), "copied into a short buffer");
                    }
                    Err(e) => panic!("{e}"),
                }
                assert_eq!(lock.version(), version);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn owned_buffer_matches_model(
        cap in 1usize..200, slots in 1u32..5,
        ops in proptest::collection::vec(op(200), 1..60),
    ) {
        let buf = OwnedSeqlock::new(Config::multi(cap, slots)).unwrap();
        conformance(buf.view(), &ops);
    }

    #[test]
    fn shared_region_matches_model(
        cap in 1usize..200, slots in 1u32..5,
        ops in proptest::collection::vec(op(200), 1..60),
    ) {
        let config = Config::multi(cap, slots);
        let name = unique_name("seq_prop");
        let region = ShmRegion::create(&name, config.region_size().unwrap(), CreateOptions::new()).unwrap();
        // SAFETY: the region is mapped read-write for `len` bytes while `region` lives, and is
        // only accessed through the seqlock.
        let lock = unsafe { Seqlock::init(region.as_ptr(), region.len(), config) }.unwrap();
        conformance(lock, &ops);
    }
}
