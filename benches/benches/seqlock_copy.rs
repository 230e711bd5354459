//! In-process: seqlock write and consistent read of 64 B, 4 KiB, 256 KiB and 4 MiB beside plain
//! `copy_from_slice` of the same sizes, in the same run.
//! `cargo bench -p venom-benches --bench seqlock_copy`

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use venom_seqlock::{Config, OwnedSeqlock};

const SIZES: [usize; 4] = [64, 4096, 256 * 1024, 4 * 1024 * 1024];

fn main() {
    divan::main();
}

#[divan::bench(args = SIZES)]
fn memcpy(b: Bencher, size: usize) {
    let src = vec![7u8; size];
    let mut dst = vec![0u8; size];
    b.counter(BytesCount::new(size)).bench_local(|| {
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
    });
}

#[divan::bench(args = SIZES)]
fn seqlock_write(b: Bencher, size: usize) {
    let lock = OwnedSeqlock::new(Config::single(size)).unwrap();
    let view = lock.view();
    let mut w = view.writer().unwrap();
    let src = vec![7u8; size];
    b.counter(BytesCount::new(size)).bench_local(|| {
        w.write(black_box(&src)).unwrap();
    });
}

#[divan::bench(args = SIZES)]
fn seqlock_read(b: Bencher, size: usize) {
    let lock = OwnedSeqlock::new(Config::single(size)).unwrap();
    let view = lock.view();
    view.writer().unwrap().write(&vec![7u8; size]).unwrap();
    let mut dst = vec![0u8; size];
    b.counter(BytesCount::new(size)).bench_local(|| {
        black_box(view.try_read(black_box(&mut dst)).unwrap());
    });
}
