#![no_main]
//! `cargo +nightly fuzz run queue_consumer`: see `venom_fuzz::queue_consumer`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| venom_fuzz::queue_consumer(data));
