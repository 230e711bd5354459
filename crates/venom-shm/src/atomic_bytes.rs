//! Copying bytes in and out of shared memory held as 64-bit atomic words.
//!
//! Shared data is an array of `AtomicU64`; every access, by a writer or by a reader, is a
//! `Relaxed` atomic load or store of a whole word, so concurrent access is never a data race
//! (the callers' fences order it). Partial words at either end are handled by loading the word
//! and taking (or, for the one writer that owns the words at that moment, merging and storing)
//! the bytes needed. Byte order within a word is the native one on both sides, so bytes come
//! out where they went in.
//!
//! The functions are generic over [`AtomicWord`] so that the primitives' loom builds, whose
//! atomics are loom's, run the very same code.
//!
//! ```
//! use core::sync::atomic::AtomicU64;
//! use venom_shm::atomic_bytes::{load_bytes, store_bytes};
//! let words: Vec<AtomicU64> = (0..2).map(|_| AtomicU64::new(0)).collect();
//! store_bytes(&words, 3, b"hello");
//! let mut out = [0u8; 5];
//! load_bytes(&words, 3, &mut out);
//! assert_eq!(&out, b"hello");
//! ```

const W: usize = 8;

/// A 64-bit atomic word: `core`'s, or loom's under `cfg(loom)`.
pub trait AtomicWord {
    /// `load(Relaxed)`.
    fn load_relaxed(&self) -> u64;
    /// `store(v, Relaxed)`.
    fn store_relaxed(&self, v: u64);
}

impl AtomicWord for core::sync::atomic::AtomicU64 {
    #[inline(always)]
    fn load_relaxed(&self) -> u64 {
        self.load(core::sync::atomic::Ordering::Relaxed)
    }
    #[inline(always)]
    fn store_relaxed(&self, v: u64) {
        self.store(v, core::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(loom)]
impl AtomicWord for loom::sync::atomic::AtomicU64 {
    fn load_relaxed(&self) -> u64 {
        self.load(loom::sync::atomic::Ordering::Relaxed)
    }
    fn store_relaxed(&self, v: u64) {
        self.store(v, loom::sync::atomic::Ordering::Relaxed);
    }
}

/// Copies `dst.len()` bytes starting at byte `offset` of `words` into `dst`.
///
/// # Panics
/// If `offset + dst.len()` exceeds `words.len() * 8`.
#[inline]
pub fn load_bytes<A: AtomicWord>(words: &[A], offset: usize, dst: &mut [u8]) {
    assert!(
        offset
            .checked_add(dst.len())
            .is_some_and(|end| end <= words.len() * W)
    );
    if dst.is_empty() {
        return;
    }
    let mut wi = offset / W;
    let skip = offset % W;
    let mut dst = dst;
    if skip != 0 {
        let word = words[wi].load_relaxed().to_ne_bytes();
        let n = (W - skip).min(dst.len());
        dst[..n].copy_from_slice(&word[skip..skip + n]);
        dst = &mut dst[n..];
        wi += 1;
    }
    let full = dst.len() / W;
    let mut chunks = dst.chunks_exact_mut(W);
    for (chunk, word) in (&mut chunks).zip(&words[wi..]) {
        chunk.copy_from_slice(&word.load_relaxed().to_ne_bytes());
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let word = words[wi + full].load_relaxed().to_ne_bytes();
        let n = tail.len();
        tail.copy_from_slice(&word[..n]);
    }
}

/// Copies `src` into `words` starting at byte `offset`. Only the one writer that owns the words
/// may call this: a partial word is merged (load, change some bytes, store), which would lose a
/// concurrent store to the same word.
///
/// # Panics
/// If `offset + src.len()` exceeds `words.len() * 8`.
#[inline]
pub fn store_bytes<A: AtomicWord>(words: &[A], offset: usize, src: &[u8]) {
    assert!(
        offset
            .checked_add(src.len())
            .is_some_and(|end| end <= words.len() * W)
    );
    if src.is_empty() {
        return;
    }
    let mut wi = offset / W;
    let skip = offset % W;
    let mut src = src;
    if skip != 0 {
        let n = (W - skip).min(src.len());
        merge(&words[wi], skip, &src[..n]);
        src = &src[n..];
        wi += 1;
    }
    let mut chunks = src.chunks_exact(W);
    for (chunk, word) in (&mut chunks).zip(&words[wi..]) {
        let mut b = [0u8; W];
        b.copy_from_slice(chunk);
        word.store_relaxed(u64::from_ne_bytes(b));
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let full = (src.len() - tail.len()) / W;
        merge(&words[wi + full], 0, tail);
    }
}

/// Copies whole words from `from` to `to`, as many as the shorter holds (a writer copying one
/// of its slots into another).
#[inline]
pub fn copy_words<A: AtomicWord>(from: &[A], to: &[A]) {
    for (f, t) in from.iter().zip(to) {
        t.store_relaxed(f.load_relaxed());
    }
}

fn merge<A: AtomicWord>(word: &A, at: usize, bytes: &[u8]) {
    let mut b = word.load_relaxed().to_ne_bytes();
    b[at..at + bytes.len()].copy_from_slice(bytes);
    word.store_relaxed(u64::from_ne_bytes(b));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn every_offset_and_length_round_trips() {
        let words: Vec<AtomicU64> = (0..6).map(|_| AtomicU64::new(0)).collect();
        let bytes: Vec<u8> = (1..=48).collect();
        for offset in 0..48 {
            for len in 0..=48 - offset {
                for w in &words {
                    w.store(u64::MAX, Ordering::Relaxed);
                }
                store_bytes(&words, offset, &bytes[..len]);
                let mut all = [0u8; 48];
                load_bytes(&words, 0, &mut all);
                assert!(all[..offset].iter().all(|&b| b == 0xff), "{offset} {len}");
                assert_eq!(&all[offset..offset + len], &bytes[..len]);
                assert!(all[offset + len..].iter().all(|&b| b == 0xff));
                let mut back = vec![0u8; len];
                load_bytes(&words, offset, &mut back);
                assert_eq!(back, &bytes[..len]);
            }
        }
    }
}
