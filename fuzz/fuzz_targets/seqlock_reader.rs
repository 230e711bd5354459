#![no_main]
//! `cargo +nightly fuzz run seqlock_reader`: see `venom_fuzz::seqlock_reader`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| venom_fuzz::seqlock_reader(data));
