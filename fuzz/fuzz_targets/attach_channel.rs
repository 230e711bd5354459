#![no_main]
//! `cargo +nightly fuzz run attach_channel`: see `venom_fuzz::attach_channel`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| venom_fuzz::attach_channel(data));
