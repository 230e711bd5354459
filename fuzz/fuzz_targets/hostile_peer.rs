#![no_main]
//! `cargo +nightly fuzz run hostile_peer`: see `venom_fuzz::hostile_peer`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| venom_fuzz::hostile_peer(data));
