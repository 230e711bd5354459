//! Replays every input kept in `fuzz/regressions/<target>/` (crashes the fuzzer found, once
//! fixed) through the same target bodies cargo-fuzz runs (`fuzz/src/lib.rs`), on stable, in
//! `cargo test`.

#[allow(dead_code, unreachable_pub)]
#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_logic;

use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut n = 0;
    // A target with nothing kept has no directory (git keeps no empty ones).
    let kept = std::fs::read_dir(&dir).into_iter().flatten();
    for entry in kept {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        body(&std::fs::read(&path).unwrap());
        n += 1;
    }
    // Empty, random and extreme inputs too, so each body runs here whatever is kept.
    for input in [
        &[][..],
        &[0xff; 64][..],
        &[0x55; 300][..],
        b"VNOM\x03\0\0\0",
    ] {
        body(input);
        n += 1;
    }
    assert!(n >= 4);
}

#[test]
fn attach_channel() {
    replay("attach_channel", fuzz_logic::attach_channel);
}

#[test]
fn open_shared_memory() {
    replay("open_shared_memory", fuzz_logic::open_shared_memory);
}

#[test]
fn queue_consumer() {
    replay("queue_consumer", fuzz_logic::queue_consumer);
}

#[test]
fn seqlock_reader() {
    replay("seqlock_reader", fuzz_logic::seqlock_reader);
}

#[test]
fn hostile_peer() {
    replay("hostile_peer", fuzz_logic::hostile_peer);
}
