//! Shared by the seqlock's integration tests.
#![allow(dead_code, unreachable_pub)]

/// The value of version `v`: `len_of(v)` bytes, every byte `v as u8`, so a reader can check a
/// snapshot against the version it reports, not only against itself.
pub fn value_of(v: u64, max: usize) -> Vec<u8> {
    vec![v as u8; len_of(v, max)]
}

/// Length of version `v`'s value: varies with `v` (crossing word boundaries), at most `max`,
/// and depends only on `v % 256` so writers can precompute the 256 values.
pub fn len_of(v: u64, max: usize) -> usize {
    let max = max.max(1);
    (((v % 256) as usize * 7919) % max).max(1)
}

/// Whether `bytes` is exactly version `v`'s value.
pub fn is_value_of(v: u64, bytes: &[u8], max: usize) -> bool {
    bytes.len() == len_of(v, max) && bytes.iter().all(|&b| b == v as u8)
}
