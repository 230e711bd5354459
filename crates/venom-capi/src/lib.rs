//! The C API of VenomMemory (`libvenom_memory.so`).
