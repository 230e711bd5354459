//! The latest-value seqlock: one writer, lock-free readers in any process.
