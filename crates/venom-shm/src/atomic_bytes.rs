//! Copying bytes in and out of shared memory held as 64-bit atomic words.
//!
//! Shared data is an array of `AtomicU64`; below `BULK_MIN` (256) bytes (and everywhere but
//! x86-64) every access, by a writer or by a reader, is a `Relaxed` atomic load or store of a
//! whole word, so concurrent access is never a data race (the callers' fences order it). From
//! `BULK_MIN` bytes on x86-64 a vector copy moves the bytes; `bulk_copy` states exactly what
//! that guarantees and where Rust's documented model stops covering it (mixed-size races). Partial words at either end are handled by loading the word
//! and taking (or, for the one writer that owns the words at that moment, merging and storing)
//! the bytes needed. Byte order within a word is the native one on both sides, so bytes come
//! out where they went in.
//!
//! The functions are generic over [`AtomicWord`] so that the primitives' loom builds, whose
//! atomics are loom's, run the very same code.
//!
//! ```
//! use venom_shm::sync::AtomicU64;
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
    /// Whether this is `core::sync::atomic::AtomicU64` (8 bytes of plain memory, which the
    /// bulk copy may address directly); loom's atomics are not.
    const IS_CORE: bool = false;
    /// `load(Relaxed)`.
    fn load_relaxed(&self) -> u64;
    /// `store(v, Relaxed)`.
    fn store_relaxed(&self, v: u64);
}

impl AtomicWord for crate::sync::AtomicU64 {
    const IS_CORE: bool = cfg!(not(loom));
    #[inline(always)]
    fn load_relaxed(&self) -> u64 {
        self.load(crate::sync::Ordering::Relaxed)
    }
    #[inline(always)]
    fn store_relaxed(&self, v: u64) {
        self.store(v, crate::sync::Ordering::Relaxed);
    }
}

/// Copies `len` bytes from `src` to `dst` with vector moves (32-byte AVX2 when the CPU has it,
/// else 16-byte SSE2, part of every x86-64) and `rep movsb` for the last bytes, for word
/// arrays in memory other processes may access concurrently.
///
/// # What holds, and where it stops
/// The copy is one `asm!` block without `nomem`/`readonly`: the compiler treats it as an
/// opaque call that may read and write any memory, so it neither moves it across the callers'
/// fences nor assumes anything about the bytes it touches, and it reads exactly
/// `src..src+len` and writes exactly `dst..dst+len`.
///
/// * **Hardware (x86-64), the argument we rely on across processes.** Every byte access x86
///   makes is single-copy atomic; vector moves and `rep movsb` make only such accesses (a wide
///   move is not atomic as a whole, which nothing here needs), so each byte read is some byte
///   that was stored there, and the seqlock's or queue's sequence check discards a copy that
///   overlapped a write. Ordering: the stores of one fast-string operation may be reordered
///   among themselves, but not with stores before or after the instruction (Intel SDM
///   Vol. 3A, §9.2.4, "Fast-String Operation and Out-of-Order Stores"), so a writer's
///   `Release` store after the block is ordered after all its data stores; the SDM documents
///   that exception for stores only, and x86 keeps loads in order, so a reader's sequence load
///   after the block is ordered after the block's loads. Two processes are outside Rust's
///   abstract machine anyway: between processes this hardware argument is the whole argument.
/// * **Rust's memory model, within one process** (threads over an `OwnedSeqlock`, a
///   `HeapRegion`, or one mapping): the block is equivalent to a loop of per-byte `Relaxed`
///   atomic loads and stores, the only faithful model (after the alignment step the source is
///   not word-aligned, and `rep movsb` is byte-wise). Copies under `BULK_MIN` (256) and the
///   ragged ends use `AtomicU64` accesses instead, and Rust's rules ("every pair of
///   non-synchronized atomic accesses must be either disjoint, access the exact same memory
///   (including using the same access size), or both be reads") do **not** cover a per-byte
///   access racing a word access when one of them writes. Honest paths do race that way: a
///   reader copying a value of `BULK_MIN` bytes or more while the writer laps into its slot
///   with a shorter value or with `copy_words` (seqlock; with one slot on every overlap), or
///   the reverse; a request cell or queue slot under a hostile writer. Every such copy is
///   discarded by its sequence check, and the compiler cannot see inside the block, so no
///   miscompilation is possible from it; but it is a mixed-size race that the documented
///   model leaves undefined, and no tool checks this path (ThreadSanitizer does not
///   instrument `asm!`, Miri cannot run it, loom builds use the word path).
/// * **Elsewhere**: without x86-64 (or under loom) only the word path exists: every shared
///   access is a `Relaxed` `AtomicU64` load or store of a whole, aligned word, the same width
///   on both sides, inside Rust's model.
///
/// Measured on this project's machine when it was written (a micro-benchmark since replaced by
/// `perf`'s snapshot rows: compare `snap/memcpy/*` with the idle `snap/venom/*` rows in
/// `docs/PERFORMANCE.md`): the word-by-word `AtomicU64` loop reached about 0.35× of
/// `copy_from_slice` from 4 KiB to 4 MiB, `rep movsb` alone about 0.5× at 256 KiB; the vector
/// loop is what `memcpy` itself runs.
///
/// # Safety
/// `src` is valid for reads and `dst` for writes of `len` bytes, the ranges do not overlap,
/// and each is either the caller's exclusively borrowed buffer or atomically accessed shared
/// memory.
#[cfg(all(target_arch = "x86_64", not(loom)))]
#[inline]
unsafe fn bulk_copy(src: *const u8, dst: *mut u8, len: usize) {
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the caller guarantees both ranges. With at least 128 bytes, the first 32
        // are moved and both pointers advance by 0..=31 so the destination is 32-aligned
        // (still inside the ranges: 32 <= len); the loop moves 128 bytes while at least 128
        // remain (unaligned loads are fine at any alignment), then `rep movsb`
        // moves the rest forward (the direction flag is clear on entry to `asm!`); exactly
        // `src..src+len` is read and `dst..dst+len` written. AVX2 was detected at run time;
        // `vzeroupper` leaves the upper halves clean for SSE code that follows.
        unsafe {
            core::arch::asm!(
                "cmp rcx, 128",
                "jb 3f",
                // Copy the first 32 bytes, then step forward so the destination is 32-byte
                // aligned (the bytes stepped over are copied again below: harmless).
                "vmovdqu ymm0, [rsi]",
                "vmovdqu [rdi], ymm0",
                "mov rax, rdi",
                "neg rax",
                "and rax, 31",
                "add rsi, rax",
                "add rdi, rax",
                "sub rcx, rax",
                "cmp rcx, 128",
                "jb 4f",
                "2:",
                "vmovdqu ymm0, [rsi]",
                "vmovdqu ymm1, [rsi + 32]",
                "vmovdqu ymm2, [rsi + 64]",
                "vmovdqu ymm3, [rsi + 96]",
                "vmovdqu [rdi], ymm0",
                "vmovdqu [rdi + 32], ymm1",
                "vmovdqu [rdi + 64], ymm2",
                "vmovdqu [rdi + 96], ymm3",
                "add rsi, 128",
                "add rdi, 128",
                "sub rcx, 128",
                "cmp rcx, 128",
                "jae 2b",
                "4:",
                "vzeroupper",
                "3:",
                "rep movsb",
                inout("rcx") len => _,
                inout("rsi") src => _,
                inout("rdi") dst => _,
                out("rax") _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                options(nostack)
            );
        }
    } else {
        // SAFETY: as above, with 64-byte SSE2 steps (SSE2 is part of x86-64).
        unsafe {
            core::arch::asm!(
                "cmp rcx, 64",
                "jb 3f",
                "2:",
                "movdqu xmm0, [rsi]",
                "movdqu xmm1, [rsi + 16]",
                "movdqu xmm2, [rsi + 32]",
                "movdqu xmm3, [rsi + 48]",
                "movdqu [rdi], xmm0",
                "movdqu [rdi + 16], xmm1",
                "movdqu [rdi + 32], xmm2",
                "movdqu [rdi + 48], xmm3",
                "add rsi, 64",
                "add rdi, 64",
                "sub rcx, 64",
                "cmp rcx, 64",
                "jae 2b",
                "3:",
                "rep movsb",
                inout("rcx") len => _,
                inout("rsi") src => _,
                inout("rdi") dst => _,
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                options(nostack)
            );
        }
    }
}

/// Copies at and above this many bytes use the vector loop; below, a few word loads are
/// cheaper than its set-up.
#[cfg(all(target_arch = "x86_64", not(loom)))]
const BULK_MIN: usize = 256;

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
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    if dst.len() >= BULK_MIN && A::IS_CORE {
        // SAFETY: `offset + len` lies within `words` (asserted), which are plain
        // `AtomicU64`s (`IS_CORE`); `dst` is the caller's exclusive buffer and cannot overlap
        // words borrowed shared; the words are read per byte (see `bulk_copy` for what that
        // guarantees, and the mixed-size race it leaves).
        unsafe {
            bulk_copy(
                words.as_ptr().cast::<u8>().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            );
        }
        return;
    }
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
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    if src.len() >= BULK_MIN && A::IS_CORE {
        // SAFETY: `offset + len` lies within `words` (asserted), plain `AtomicU64`s whose
        // interior mutability allows writing through a pointer derived from `&[A]`; `src` is
        // a distinct, immutably borrowed buffer; see `bulk_copy` for what its per-byte
        // accesses guarantee, and the mixed-size race they leave.
        unsafe {
            bulk_copy(
                src.as_ptr(),
                words.as_ptr().cast::<u8>().cast_mut().add(offset),
                src.len(),
            );
        }
        return;
    }
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
    use crate::sync::{AtomicU64, Ordering};

    #[test]
    fn every_offset_and_length_round_trips() {
        // Long enough for both the word path and the bulk path.
        const N: usize = 640;
        let words: Vec<AtomicU64> = (0..N / 8).map(|_| AtomicU64::new(0)).collect();
        let bytes: Vec<u8> = (0..N).map(|i| (i * 7 + 1) as u8).collect();
        for offset in (0..N).step_by(13).chain([0, 1, 7, 8]) {
            for len in (0..=N - offset).step_by(11).chain([N - offset]) {
                for w in &words {
                    w.store(u64::MAX, Ordering::Relaxed);
                }
                store_bytes(&words, offset, &bytes[..len]);
                let mut all = [0u8; N];
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
