//! The fuzz targets' bodies, shared by `fuzz_targets/*.rs` (cargo-fuzz) and by the stable
//! regression test `crates/venom-channel/tests/fuzz_regressions.rs`, which replays every input
//! kept in `fuzz/regressions/<target>/`. Each body must never panic, hang or touch memory out
//! of bounds, whatever the input.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use venom_channel::inspect;
use venom_channel::{
    ChannelConfig, ChannelOptions, DaemonChannel, SharedBytes, SharedMemory, SharedMemoryOptions,
    ShellChannel, Trust,
};
use venom_shm::HeapRegion;
use venom_shm::sync::{AtomicU32, AtomicU64, Ordering};
use venom_shm::testing::ShmGuard;

/// A name no other execution uses (`vt_` so CI's leftover check sees any left behind).
fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "vt_fuzz_{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Stores `value` into the 8-aligned word at `offset` (modulo `len`) of memory at `base`.
///
/// # Safety
/// `base` is valid for `len >= 8` bytes, 8-aligned, accessed only atomically.
unsafe fn scribble(base: *const u8, len: usize, offset: usize, value: u64) {
    let off = (offset % len) & !7;
    if off + 8 <= len {
        // SAFETY: in bounds and aligned (above); atomics only (caller).
        unsafe { &*base.add(off).cast::<AtomicU64>() }.store(value, Ordering::Relaxed);
    }
}

/// (offset, value) pairs from the input, 10 bytes each.
fn pairs(data: &[u8]) -> impl Iterator<Item = (usize, u64)> + '_ {
    data.chunks_exact(10).map(|c| {
        let off = u16::from_le_bytes([c[0], c[1]]) as usize;
        let mut v = [0u8; 8];
        v.copy_from_slice(&c[2..10]);
        (off, u64::from_le_bytes(v))
    })
}

fn small_channel() -> ChannelOptions {
    ChannelOptions::new(ChannelConfig {
        data_size: 64,
        cmd_slots: 4,
        max_clients: 2,
    })
    .command_slot_size(64)
    .response_size(64)
    .data_slots(2)
}

/// A live channel whose header and body (everything after the magic, version and ABI marker,
/// so the fuzzer gets past them) are overwritten with the input, then connected to, read,
/// written and inspected.
pub fn attach_channel(data: &[u8]) {
    let name = unique("attach");
    let _g = ShmGuard(format!("venom_{name}"));
    let Ok(daemon) = DaemonChannel::create_with(&name, &small_channel()) else {
        return;
    };
    let total = inspect::channel(&name, Trust::own()).map_or(0, |i| i.offsets.total);
    let base = daemon.as_ptr();
    for (i, chunk) in data.chunks(4).enumerate() {
        let off = 12 + i * 4;
        if off + 4 > total {
            break;
        }
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        // SAFETY: `off + 4 <= total`, the region's length; 4-aligned; atomics only.
        unsafe { &*base.add(off).cast::<AtomicU32>() }
            .store(u32::from_le_bytes(w), Ordering::Relaxed);
    }
    let _ = inspect::channel(&name, Trust::own());
    if let Ok(shell) = ShellChannel::connect(&name) {
        let mut buf = [0u8; 128];
        let _ = shell.read_data(&mut buf);
        let _ = shell.read_data_if_changed(0, &mut buf);
        let _ = shell.try_send_command(b"cmd");
        let _ = shell.request_timeout(b"req", &mut buf, Duration::ZERO);
        let _ = daemon.try_recv_command(&mut buf);
        let _ = daemon.recv_command_timeout(&mut buf, Duration::ZERO);
        let _ = shell.wait_reply_timeout(&mut buf, Duration::ZERO);
        let _ = daemon.write_data(b"data");
    }
}

/// A shared value whose header and seqlock (after the magic and version) are overwritten with
/// the input, then opened as bytes and as a type, read, written and inspected.
pub fn open_shared_memory(data: &[u8]) {
    let name = unique("sm");
    let _g = ShmGuard(format!("venom_sm_{name}"));
    let opts = SharedMemoryOptions::new().tag("fuzz");
    let Ok(value) = SharedBytes::create(&name, 32, 8, &opts) else {
        return;
    };
    let base = value.as_ptr();
    let len = 128 + 512; // the header and the start of the seqlock: inside the region
    for (i, chunk) in data.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        // SAFETY: the region holds more than `len` bytes (header + two 32-byte slots and
        // their headers); 8-aligned; atomics only.
        unsafe { scribble(base, len, 8 + i * 8, u64::from_le_bytes(w)) };
    }
    let _ = inspect::shared(&name, Trust::own());
    let size = data.first().map_or(32, |&b| usize::from(b));
    if let Ok(v) = SharedBytes::open(&name, size.max(1), 8, &opts) {
        let mut buf = vec![0u8; v.size()];
        let _ = v.read_timeout(&mut buf, Duration::ZERO);
        let _ = v.read_at(0, &mut buf[..v.size().min(4)]);
        let _ = v.write_at(0, &[1, 2]);
        let _ = v.is_occupied();
    }
    if let Ok(t) = SharedMemory::<[u64; 4]>::open_with(&name, &opts) {
        let _ = t.try_read(Duration::ZERO);
        let _ = t.read_partial::<u32>(4);
        let _ = t.write_timeout(&[7; 4], Duration::ZERO);
        let _ = t.wait_for_change_timeout(Duration::ZERO);
    }
}

/// A queue with messages in it, scribbled with the input's (offset, value) pairs, then used by
/// a consumer and producers: every call returns, nothing panics.
pub fn queue_consumer(data: &[u8]) {
    let config = venom_mpsc::Config::new(4, 64);
    let Ok(len) = config.region_size() else {
        return;
    };
    let mem = HeapRegion::new_zeroed(len);
    // SAFETY: `mem` owns `len` 64-aligned bytes, accessed atomically only, outliving the view.
    let Ok(q) = (unsafe { venom_mpsc::Queue::init(mem.as_ptr(), len, config) }) else {
        return;
    };
    let _ = q.producer(1).try_send(b"one");
    let _ = q.producer(2).try_send(b"two");
    for (off, v) in pairs(data) {
        // SAFETY: `mem` holds `len` bytes, 64-aligned; atomics only.
        unsafe { scribble(mem.as_ptr(), len, off, v) };
    }
    // SAFETY: as for `init`.
    let _ = unsafe { venom_mpsc::Queue::from_raw(mem.as_ptr(), len) };
    if let Ok(mut rx) = q.consumer() {
        let mut buf = [0u8; 64];
        for _ in 0..8 {
            let _ = rx.try_recv(&mut buf);
            let _ = q.producer(3).try_send(b"three");
        }
        let _ = rx.drain(8, |r| {
            let _ = r.to_vec();
        });
        let _ = rx.recv_timeout(&mut buf, Duration::ZERO);
    }
}

/// A seqlock holding a value, scribbled with the input's (offset, value) pairs, then read in
/// every way: every call returns, nothing panics, no read is unbounded.
pub fn seqlock_reader(data: &[u8]) {
    let config = venom_seqlock::Config::multi(64, 2);
    let Ok(len) = config.region_size() else {
        return;
    };
    let mem = HeapRegion::new_zeroed(len);
    // SAFETY: `mem` owns `len` 64-aligned bytes, accessed atomically only, outliving the view.
    let Ok(lock) = (unsafe { venom_seqlock::Seqlock::init(mem.as_ptr(), len, config) }) else {
        return;
    };
    let _ = lock.write_timeout(b"value", Duration::ZERO);
    for (off, v) in pairs(data) {
        // SAFETY: `mem` holds `len` bytes, 64-aligned; atomics only.
        unsafe { scribble(mem.as_ptr(), len, off, v) };
    }
    // SAFETY: as for `init`.
    let _ = unsafe { venom_seqlock::Seqlock::from_raw(mem.as_ptr(), len) };
    let mut buf = [0u8; 64];
    // `read_if_changed` retries up to its 1 s bound while a write seems in progress: only
    // where one attempt found none (the bound itself is tested in the crate).
    if lock.try_read(&mut buf).is_ok() {
        let _ = lock.read_if_changed(0, &mut buf);
    }
    let _ = lock.read_timeout(&mut buf, Duration::ZERO);
    let _ = lock.wait_for_change_timeout(0, Duration::ZERO);
    let _ = lock.is_locked();
    let _ = lock.write_timeout(b"again", Duration::ZERO);
}

/// What the hostile peer and the well-behaved shell do, in an order the fuzzer picks.
#[derive(Debug, Arbitrary)]
enum Op {
    /// A hostile write into memory the well-behaved shell does not own.
    Scribble { at: u32, value: u64 },
    /// The well-behaved shell sends a command.
    Send(Vec<u8>),
    /// The daemon receives once.
    Recv,
    /// The daemon publishes.
    Write(Vec<u8>),
    /// The well-behaved shell reads the data.
    Read,
}

/// A live channel, a well-behaved shell and a hostile peer writing anywhere but into that
/// shell's own entry and cell (or the header it validated): after the fuzzer's operations, the
/// daemon still serves the well-behaved shell's request.
pub fn hostile_peer(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(ops) = Vec::<Op>::arbitrary(&mut u) else {
        return;
    };
    let name = unique("peer");
    let _g = ShmGuard(format!("venom_{name}"));
    let Ok(daemon) = DaemonChannel::create_with(&name, &small_channel()) else {
        return;
    };
    let Ok(shell) = ShellChannel::connect(&name) else {
        return;
    };
    let Ok(info) = inspect::channel(&name, Trust::own()) else {
        return;
    };
    let o = info.offsets;
    let own = shell.client_id() as usize - 1;
    // Writable by the hostile: the counters line to the registry, the other entries, and the
    // other clients' cells.
    let mut ranges = vec![(o.stats, o.registry)];
    for e in 0..info.max_clients as usize {
        if e != own {
            ranges.push((o.registry + 64 * e, o.registry + 64 * (e + 1)));
            ranges.push((
                o.cells + o.cell_stride * e,
                o.cells + o.cell_stride * (e + 1),
            ));
        }
    }
    let span: usize = ranges.iter().map(|(a, b)| b - a).sum();
    let base = daemon.as_ptr();
    let mut buf = [0u8; 128];
    for op in ops.into_iter().take(64) {
        match op {
            Op::Scribble { at, value } => {
                let mut at = at as usize % span;
                for (a, b) in &ranges {
                    if at < b - a {
                        // SAFETY: `a + at` lies in a range inside the region (offsets from a
                        // validated layout); `scribble` aligns down to 8 within `b`.
                        unsafe { scribble(base.add(*a), b - a, at, value) };
                        break;
                    }
                    at -= b - a;
                }
            }
            Op::Send(cmd) => {
                let _ = shell.try_send_command(&cmd);
            }
            Op::Recv => {
                let _ = daemon.recv_command_timeout(&mut buf, Duration::ZERO);
            }
            Op::Write(bytes) => {
                let _ = daemon.write_data(&bytes);
            }
            Op::Read => {
                let _ = shell.read_data(&mut buf);
            }
        }
    }
    // The well-behaved shell's request is still served within a bounded time: after at most
    // a queue's worth of commands ahead of it, or the bounded wait a forged claim (a scribbled
    // tail, say) costs it.
    assert!(matches!(
        shell.request_timeout(b"ping", &mut buf, Duration::ZERO),
        Err(venom_channel::Error::Timeout)
    ));
    let mut served = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        match daemon.recv_command_timeout(&mut buf, Duration::from_millis(1)) {
            Ok(Some(cmd)) if cmd.request_id.is_some() && cmd.client_id.get() == own as u32 + 1 => {
                assert_eq!(&buf[..cmd.len], b"ping");
                daemon
                    .reply(cmd.client_id, cmd.request_id.unwrap(), b"pong")
                    .unwrap();
                served = true;
                break;
            }
            _ => {}
        }
    }
    assert!(
        served,
        "the daemon never served the well-behaved shell's request"
    );
    let n = shell
        .wait_reply_timeout(&mut buf, Duration::from_secs(1))
        .expect("its reply arrives");
    assert_eq!(&buf[..n], b"pong");
}
