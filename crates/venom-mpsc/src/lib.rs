//! The bounded multi-producer, single-consumer command queue over shared memory.
