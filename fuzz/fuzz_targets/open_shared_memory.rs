#![no_main]
//! `cargo +nightly fuzz run open_shared_memory`: see `venom_fuzz::open_shared_memory`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| venom_fuzz::open_shared_memory(data));
