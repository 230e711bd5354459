//! `SharedMemory<T>` across real processes: every method, two writer processes and a reader
//! checking that every value is whole, writers killed mid-write (the next `write_timeout`
//! succeeds), type mismatch, bounds, and who removes the name.

use std::process::Stdio;
use std::time::{Duration, Instant};

use venom_channel::{Error, SharedMemory, SharedMemoryOptions};
use venom_shm::testing::{
    KillOnDrop, ShmGuard, arg_var, child_arg, child_role, spawn_self, spin_until, unique_name,
};

const WAIT: Duration = Duration::from_secs(30);

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct Message {
    id: i32,
    content: [u8; 252],
}

fn guard(name: &str) -> ShmGuard {
    ShmGuard(format!("venom_sm_{name}"))
}

/// Big enough that a write takes a while: every word carries the writer and its counter.
type Block = [u64; 512];

fn whole(b: &Block) -> bool {
    b.iter().all(|&w| w == b[0])
}

#[test]
fn every_method_in_one_process() {
    let name = unique_name("sm_methods");
    let _g = guard(&name);
    let a = SharedMemory::<Message>::create(&name).unwrap();
    assert!(a.is_creator());
    assert_eq!((a.name(), a.size()), (name.as_str(), 256));
    assert_eq!(
        a.read(),
        Message {
            id: 0,
            content: [0; 252]
        },
        "created zeroed"
    );
    assert!(matches!(
        SharedMemory::<Message>::create(&name),
        Err(Error::AlreadyExists { .. })
    ));
    let b = SharedMemory::<Message>::open_or_create(&name).unwrap();
    assert!(!b.is_creator());

    let mut msg = Message {
        id: 7,
        content: [0; 252],
    };
    msg.content[..5].copy_from_slice(b"hello");
    a.write(&msg).unwrap();
    assert_eq!(b.read(), msg);
    assert_eq!(b.try_read(Duration::from_millis(10)), Some(msg));
    b.write_timeout(&Message { id: 8, ..msg }, Duration::from_millis(100))
        .unwrap();
    assert_eq!(a.read().id, 8);

    // Partial reads and writes, in bounds and out.
    a.write_partial(&42i32, 0).unwrap();
    assert_eq!(b.read_partial::<i32>(0).unwrap(), 42);
    a.write_partial(&[b'x'; 2], 4).unwrap();
    assert_eq!(b.read_partial::<[u8; 6]>(4).unwrap(), *b"xxllo\0");
    assert!(matches!(
        a.write_partial(&0u64, 252),
        Err(Error::OutOfBounds {
            offset: 252,
            len: 8,
            size: 256
        })
    ));
    assert!(matches!(
        a.read_partial::<u64>(usize::MAX),
        Err(Error::OutOfBounds { .. })
    ));
    assert_eq!(
        b.read_partial::<i32>(0).unwrap(),
        42,
        "a failed write changed nothing"
    );

    // Spans.
    a.write_span(&[1, 2, 3]).unwrap();
    let mut four = [0u8; 4];
    assert_eq!(b.read_span(&mut four), 4);
    assert_eq!(four, [1, 2, 3, 0]);
    let mut all = [0u8; 300];
    assert_eq!(b.read_span(&mut all), 256);
    assert!(matches!(
        a.write_span(&[0; 257]),
        Err(Error::TooLarge { len: 257, max: 256 })
    ));

    // Read-modify-write, clear, lock state.
    a.update(|m| m.id += 1).unwrap();
    assert_eq!(b.read().id, i32::from_le_bytes([1, 2, 3, 0]) + 1);
    assert!(!a.is_occupied());
    b.clear().unwrap();
    assert_eq!(
        a.read(),
        Message {
            id: 0,
            content: [0; 252]
        }
    );
}

#[test]
fn type_fingerprint_is_checked() {
    let name = unique_name("sm_types");
    let _g = guard(&name);
    let opts = SharedMemoryOptions::new().tag("Message v1");
    let _a = SharedMemory::<Message>::create_with(&name, &opts).unwrap();
    match SharedMemory::<[u8; 256]>::open_with(&name, &opts) {
        Err(Error::TypeMismatch { expected, found }) => {
            assert!(
                expected.contains("align 1") && found.contains("align 4"),
                "{expected} / {found}"
            );
        }
        other => panic!("{other:?}"),
    }
    match SharedMemory::<u64>::open_with(&name, &opts) {
        Err(Error::TypeMismatch { expected, found }) => {
            assert!(expected.contains("8 bytes") && found.contains("256 bytes"));
        }
        other => panic!("{other:?}"),
    }
    match SharedMemory::<Message>::open_with(&name, &SharedMemoryOptions::new().tag("Message v2")) {
        Err(Error::TypeMismatch { expected, found }) => {
            assert!(expected.contains("Message v2") && found.contains("Message v1"));
        }
        other => panic!("{other:?}"),
    }
    assert!(SharedMemory::<Message>::open_with(&name, &opts).is_ok());
    assert!(matches!(
        SharedMemory::<Message>::create_with(
            &unique_name("sm_t"),
            &SharedMemoryOptions::new().tag(&"t".repeat(65))
        ),
        Err(Error::InvalidConfig { reason }) if reason.contains("65 bytes")
    ));
    assert!(matches!(
        SharedMemory::<Message>::open(&unique_name("sm_none")),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn who_removes_the_name() {
    let name = unique_name("sm_unlink");
    let _g = guard(&name);
    let a = SharedMemory::<u64>::create(&name).unwrap();
    let b = SharedMemory::<u64>::open(&name).unwrap();
    drop(b); // an opener never removes it
    assert!(SharedMemory::<u64>::open(&name).is_ok());
    drop(a); // the creator does, by default
    assert!(matches!(
        SharedMemory::<u64>::open(&name),
        Err(Error::NotFound { .. })
    ));

    let keep = SharedMemoryOptions::new().unlink_on_drop(false);
    let a = SharedMemory::<u64>::create_with(&name, &keep).unwrap();
    a.write(&5).unwrap();
    drop(a);
    assert_eq!(SharedMemory::<u64>::open(&name).unwrap().read(), 5, "kept");
    SharedMemory::<u64>::unlink(&name).unwrap();
    assert!(matches!(
        SharedMemory::<u64>::open(&name),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn two_writer_processes_and_a_reader_see_only_whole_values() {
    if child_role().as_deref() == Some("writer") {
        let shm = SharedMemory::<Block>::open(&child_arg("NAME")).unwrap();
        let me: u64 = child_arg("ID").parse().unwrap();
        for i in 1..=2_000u64 {
            shm.write(&[(me << 32) | i; 512]).unwrap();
        }
        return;
    }
    let name = unique_name("sm_two");
    let _g = guard(&name);
    let shm = SharedMemory::<Block>::create(&name).unwrap();
    let mut writers: Vec<_> = (1..=2)
        .map(|id| {
            KillOnDrop::spawn(
                spawn_self(
                    "two_writer_processes_and_a_reader_see_only_whole_values",
                    "writer",
                )
                .env(arg_var("NAME"), &name)
                .env(arg_var("ID"), id.to_string()),
            )
        })
        .collect();
    let mut seen = [0u64; 3];
    let deadline = Instant::now() + WAIT;
    while seen[1] < 2_000 || seen[2] < 2_000 {
        let v = shm.read();
        assert!(whole(&v), "torn value read");
        let (w, i) = ((v[0] >> 32) as usize, v[0] & 0xffff_ffff);
        if w > 0 {
            assert!(i >= seen[w], "writer {w}'s values went backwards");
            seen[w] = i;
        }
        assert!(
            Instant::now() < deadline,
            "writers never finished: {seen:?}"
        );
        if writers
            .iter_mut()
            .all(|c| matches!(c.0.try_wait(), Ok(Some(_))))
        {
            break;
        }
    }
    for w in &mut writers {
        assert!(w.wait_timeout(WAIT).expect("writer ends").success());
    }
    let last = shm.read();
    assert!(whole(&last) && last[0] & 0xffff_ffff == 2_000);
}

#[test]
fn writer_killed_mid_write_does_not_lock_others_out() {
    match child_role().as_deref() {
        Some("dier") => {
            let shm = SharedMemory::<Block>::open(&child_arg("NAME")).unwrap();
            shm.write(&[1; 512]).unwrap();
            // Dies inside the locked write: the lock is held, the new slot half written.
            let _ = shm.update(|b| {
                b[..256].fill(2);
                std::process::abort();
            });
            unreachable!();
        }
        Some("looper") => {
            let shm = SharedMemory::<Block>::open(&child_arg("NAME")).unwrap();
            let mut i = 0u64;
            loop {
                i += 1;
                shm.write(&[i; 512]).unwrap();
            }
        }
        _ => {}
    }
    const TEST: &str = "writer_killed_mid_write_does_not_lock_others_out";
    let name = unique_name("sm_kill");
    let _g = guard(&name);
    let shm = SharedMemory::<Block>::create(&name).unwrap();

    // Deterministic: a writer dies holding the lock.
    let mut dier = KillOnDrop::spawn(
        spawn_self(TEST, "dier")
            .env(arg_var("NAME"), &name)
            .stderr(Stdio::null()),
    );
    assert!(!dier.wait_timeout(WAIT).expect("dier dies").success());
    assert!(shm.is_occupied(), "the dead writer still holds the lock");
    assert_eq!(shm.read(), [1; 512], "readers keep the last whole value");
    let t = Instant::now();
    shm.write_timeout(&[3; 512], Duration::from_secs(5))
        .unwrap();
    println!("lock recovered from a dead writer in {:?}", t.elapsed());
    assert_eq!(shm.read(), [3; 512]);
    assert!(!shm.is_occupied());

    // SIGKILL at an arbitrary point of a writing loop, several times.
    for _ in 0..3 {
        let mut looper = KillOnDrop::spawn(spawn_self(TEST, "looper").env(arg_var("NAME"), &name));
        let start = shm.read()[0];
        assert!(spin_until(WAIT, || shm.read()[0] > start + 100));
        looper.kill();
        let v = shm.read();
        assert!(whole(&v), "torn value after a kill");
        shm.write_timeout(&[7; 512], Duration::from_secs(5))
            .unwrap();
        assert_eq!(shm.read(), [7; 512]);
    }
}

#[test]
fn wait_for_change_across_processes() {
    if child_role().as_deref() == Some("poke") {
        let shm = SharedMemory::<u64>::open(&child_arg("NAME")).unwrap();
        shm.write(&99).unwrap();
        return;
    }
    let name = unique_name("sm_wait");
    let _g = guard(&name);
    let shm = SharedMemory::<u64>::create(&name).unwrap();
    assert!(matches!(
        shm.wait_for_change_timeout(Duration::from_millis(10)),
        Err(Error::Timeout)
    ));
    let mut child = KillOnDrop::spawn(
        spawn_self("wait_for_change_across_processes", "poke").env(arg_var("NAME"), &name),
    );
    // The write may land before the wait starts: then the value already shows it.
    if shm.read() != 99 {
        let _ = shm.wait_for_change_timeout(WAIT);
    }
    assert_eq!(shm.read(), 99);
    assert!(child.wait_timeout(WAIT).expect("child exits").success());
}
