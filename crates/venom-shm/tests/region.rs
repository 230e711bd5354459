//! `ShmRegion` against the real `/dev/shm`: every error path, unlinking, modes, and real child
//! processes (one sharing atomics, one running as `nobody`).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;
use venom_shm::sync::{AtomicU64, Ordering};

use venom_shm::testing::{
    KillOnDrop, ShmGuard, arg_var, child_arg, child_role, is_root, spawn_self, spin_until,
    unique_name,
};
use venom_shm::{
    Access, CreateOptions, Error, MAX_NAME_LEN, NameError, OpenOptions, ShmRegion, Trust,
};

const WAIT: Duration = Duration::from_secs(20);

fn dev_shm_path(name: &str) -> String {
    format!("/dev/shm/{name}")
}

/// # Safety
/// `offset` is 8-aligned and `offset + 8 <= region.len()`, and the region is not dropped while
/// the reference lives (guaranteed by the borrow).
fn word(region: &ShmRegion, offset: usize) -> &AtomicU64 {
    assert!(offset.is_multiple_of(8) && offset + 8 <= region.len());
    // SAFETY: in bounds and aligned (asserted; the mapping is page-aligned); AtomicU64 has the
    // layout of u64, every bit pattern is valid, and all processes touch the word atomically.
    unsafe { &*region.as_ptr().add(offset).cast::<AtomicU64>() }
}

#[test]
fn create_then_open_shares_bytes() {
    let name = unique_name("shm_roundtrip");
    let _g = ShmGuard(name.clone());
    let a = ShmRegion::create(&name, 8192, CreateOptions::new()).unwrap();
    assert_eq!(a.len(), 8192);
    assert_eq!(a.name(), format!("/{name}"));
    assert!(a.is_creator());
    assert_eq!(a.access(), Access::ReadWrite);
    assert_eq!(a.as_ptr() as usize % 4096, 0);

    let b = ShmRegion::open(&format!("/{name}"), Access::ReadWrite).unwrap();
    assert!(!b.is_creator());
    assert_eq!(b.len(), 8192);
    assert_eq!(
        word(&b, 4096).load(Ordering::Relaxed),
        0,
        "new bytes are zero"
    );
    word(&a, 4096).store(0xfeed, Ordering::Relaxed);
    assert_eq!(word(&b, 4096).load(Ordering::Relaxed), 0xfeed);
    word(&b, 8184).store(7, Ordering::Relaxed);
    assert_eq!(word(&a, 8184).load(Ordering::Relaxed), 7);

    let ro = ShmRegion::open(&name, Access::ReadOnly).unwrap();
    assert_eq!(ro.access(), Access::ReadOnly);
    assert_eq!(word(&ro, 8184).load(Ordering::Relaxed), 7);
}

#[test]
fn invalid_names_are_refused_with_their_reason() {
    let long = "n".repeat(MAX_NAME_LEN + 1);
    let cases: [(&str, NameError); 5] = [
        ("", NameError::Empty),
        ("a/b", NameError::Slash),
        ("a\0b", NameError::Nul),
        ("..", NameError::Dot),
        (
            &long,
            NameError::TooLong {
                len: MAX_NAME_LEN + 1,
                max: MAX_NAME_LEN,
            },
        ),
    ];
    for (name, want) in cases {
        match ShmRegion::create(name, 64, CreateOptions::new()) {
            Err(Error::InvalidName { reason, .. }) => assert_eq!(reason, want, "{name:?}"),
            other => panic!("create({name:?}) gave {other:?}"),
        }
        match ShmRegion::open(name, Access::ReadOnly) {
            Err(Error::InvalidName { reason, .. }) => assert_eq!(reason, want, "{name:?}"),
            other => panic!("open({name:?}) gave {other:?}"),
        }
        assert!(matches!(
            ShmRegion::unlink_name(name),
            Err(Error::InvalidName { .. })
        ));
    }
}

#[test]
fn longest_name_works() {
    let mut name = unique_name("long");
    name.push_str(&"L".repeat(MAX_NAME_LEN - name.len()));
    let _g = ShmGuard(name.clone());
    let r = ShmRegion::create(&name, 64, CreateOptions::new()).unwrap();
    assert_eq!(r.name().len(), MAX_NAME_LEN + 1);
}

#[test]
fn second_create_is_already_exists() {
    let name = unique_name("shm_exists");
    let _g = ShmGuard(name.clone());
    let _a = ShmRegion::create(&name, 64, CreateOptions::new()).unwrap();
    match ShmRegion::create(&name, 64, CreateOptions::new()) {
        Err(Error::AlreadyExists { name: n }) => assert_eq!(n, format!("/{name}")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn open_missing_is_not_found() {
    let name = unique_name("shm_missing");
    assert!(matches!(
        ShmRegion::open(&name, Access::ReadWrite),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        ShmRegion::unlink_name(&name),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn zero_length_is_invalid_and_leaves_nothing() {
    let name = unique_name("shm_zero");
    assert!(matches!(
        ShmRegion::create(&name, 0, CreateOptions::new()),
        Err(Error::InvalidLength { len: 0, .. })
    ));
    assert!(std::fs::metadata(dev_shm_path(&name)).is_err());
}

#[test]
fn larger_than_free_space_fails_before_sizing() {
    let name = unique_name("shm_huge");
    let _g = ShmGuard(name.clone());
    let free = venom_shm::shm_available_bytes().unwrap();
    let ask = free + (1 << 30);
    for prefault in [false, true] {
        match ShmRegion::create(&name, ask as usize, CreateOptions::new().prefault(prefault)) {
            Err(Error::InsufficientSpace {
                requested,
                available,
            }) => {
                assert_eq!(requested, ask);
                assert!(available < ask);
                let msg = Error::InsufficientSpace {
                    requested,
                    available,
                }
                .to_string();
                assert!(msg.contains(&ask.to_string()) && msg.contains(&available.to_string()));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            std::fs::metadata(dev_shm_path(&name)).is_err(),
            "nothing left"
        );
    }
}

#[test]
fn prefaulted_region_is_usable() {
    let name = unique_name("shm_prefault");
    let _g = ShmGuard(name.clone());
    let r = ShmRegion::create(&name, 1 << 20, CreateOptions::new().prefault(true)).unwrap();
    word(&r, (1 << 20) - 8).store(1, Ordering::Relaxed);
    // fallocate reserved the pages: the object's blocks cover its whole length.
    let meta = std::fs::metadata(dev_shm_path(&name)).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert!(meta.blocks() * 512 >= 1 << 20, "blocks {}", meta.blocks());
}

#[test]
fn empty_or_short_object_is_too_small() {
    let name = unique_name("shm_empty");
    let _g = ShmGuard(name.clone());
    std::fs::File::create(dev_shm_path(&name)).unwrap();
    match ShmRegion::open(&name, Access::ReadWrite) {
        Err(Error::TooSmall { len: 0, min: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(dev_shm_path(&name)).unwrap();

    let _r = ShmRegion::create(&name, 100, CreateOptions::new()).unwrap();
    match ShmRegion::open_with(&name, OpenOptions::new(Access::ReadOnly).min_len(4096)) {
        Err(Error::TooSmall {
            len: 100,
            min: 4096,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ShmRegion::open_with(&name, OpenOptions::new(Access::ReadOnly).min_len(100))
            .unwrap()
            .len(),
        100
    );
}

#[test]
fn drop_unlinks_only_when_asked() {
    let name = unique_name("shm_drop");
    let _g = ShmGuard(name.clone());
    drop(ShmRegion::create(&name, 64, CreateOptions::new()).unwrap());
    assert!(matches!(
        ShmRegion::open(&name, Access::ReadOnly),
        Err(Error::NotFound { .. })
    ));

    drop(ShmRegion::create(&name, 64, CreateOptions::new().unlink_on_drop(false)).unwrap());
    let mut again = ShmRegion::open(&name, Access::ReadWrite).unwrap();
    // An opener never unlinks on drop unless told to.
    drop(ShmRegion::open(&name, Access::ReadOnly).unwrap());
    assert!(ShmRegion::open(&name, Access::ReadOnly).is_ok());
    again.unlink().unwrap();
    assert!(matches!(again.unlink(), Err(Error::NotFound { .. })));
    // The mapping outlives the name.
    word(&again, 0).store(3, Ordering::Relaxed);
    assert_eq!(word(&again, 0).load(Ordering::Relaxed), 3);
}

#[test]
fn mode_is_applied_exactly() {
    for mode in [0o600, 0o640, 0o666] {
        let name = unique_name("shm_mode");
        let _g = ShmGuard(name.clone());
        let _r = ShmRegion::create(&name, 64, CreateOptions::new().mode(mode)).unwrap();
        let meta = std::fs::metadata(dev_shm_path(&name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode);
    }
}

/// Parent and a spawned child process see each other's atomic stores.
#[test]
fn cross_process_atomic_stores() {
    if child_role().as_deref() == Some("opener") {
        let r = ShmRegion::open(&child_arg("NAME"), Access::ReadWrite).unwrap();
        assert!(spin_until(WAIT, || word(&r, 0).load(Ordering::Acquire) == 1));
        assert_eq!(word(&r, 8).load(Ordering::Relaxed), 0xabcdef);
        word(&r, 64).store(std::process::id().into(), Ordering::Release);
        return;
    }
    let name = unique_name("shm_xproc");
    let _g = ShmGuard(name.clone());
    let r = ShmRegion::create(&name, 4096, CreateOptions::new()).unwrap();
    let mut child = KillOnDrop::spawn(
        spawn_self("cross_process_atomic_stores", "opener").env(arg_var("NAME"), &name),
    );
    word(&r, 8).store(0xabcdef, Ordering::Relaxed);
    word(&r, 0).store(1, Ordering::Release);
    assert!(spin_until(WAIT, || word(&r, 64).load(Ordering::Acquire) != 0));
    assert_eq!(word(&r, 64).load(Ordering::Relaxed), u64::from(child.id()));
    let status = child.wait_timeout(WAIT).expect("child exits");
    assert!(status.success(), "child failed: {status}");
}

/// A child running as `nobody` cannot open a `0o600` region of root's, and can open a `0o644`
/// one only read-only.
#[test]
fn other_user_is_denied() {
    if child_role().as_deref() == Some("nobody") {
        assert!(!is_root());
        let private = child_arg("PRIVATE");
        for access in [Access::ReadOnly, Access::ReadWrite] {
            match ShmRegion::open(&private, access) {
                Err(Error::PermissionDenied { .. }) => {}
                other => panic!("{access:?}: {other:?}"),
            }
        }
        let shared = child_arg("SHARED");
        // Root's region is refused by default, whatever its mode allows…
        assert!(matches!(
            ShmRegion::open(&shared, Access::ReadOnly),
            Err(Error::UntrustedOwner { uid: 0, .. })
        ));
        // … and opens when root is trusted, within what its mode allows.
        let trusting = |a| OpenOptions::new(a).trust(Trust::own().also_root());
        let r = ShmRegion::open_with(&shared, trusting(Access::ReadOnly)).unwrap();
        assert_eq!(word(&r, 0).load(Ordering::Relaxed), 42);
        assert!(matches!(
            ShmRegion::open_with(&shared, trusting(Access::ReadWrite)),
            Err(Error::PermissionDenied { .. })
        ));
        return;
    }
    if !is_root() {
        eprintln!("other_user_is_denied: needs root to drop to nobody; CI runs as root");
        return;
    }
    let private = unique_name("shm_private");
    let shared = unique_name("shm_shared");
    let _g1 = ShmGuard(private.clone());
    let _g2 = ShmGuard(shared.clone());
    let _p = ShmRegion::create(&private, 64, CreateOptions::new()).unwrap();
    let s = ShmRegion::create(&shared, 64, CreateOptions::new().mode(0o644)).unwrap();
    word(&s, 0).store(42, Ordering::Relaxed);
    let mut cmd = spawn_self("other_user_is_denied", "nobody");
    cmd.env(arg_var("PRIVATE"), &private)
        .env(arg_var("SHARED"), &shared)
        .uid(65534)
        .gid(65534);
    let mut child = KillOnDrop::spawn(&mut cmd);
    let status = child.wait_timeout(WAIT).expect("child exits");
    assert!(status.success(), "child as nobody failed: {status}");
}

/// A FIFO, a symlink or a directory under a region's name is refused at once (never followed,
/// never waited on), for opening and for creating.
#[test]
fn non_regular_names_are_refused_at_once() {
    let fifo = unique_name("shm_fifo");
    let link = unique_name("shm_link");
    let target = unique_name("shm_target");
    let _g = (
        ShmGuard(fifo.clone()),
        ShmGuard(link.clone()),
        ShmGuard(target.clone()),
    );
    let status = std::process::Command::new("mkfifo")
        .arg(format!("/dev/shm/{fifo}"))
        .status()
        .unwrap();
    assert!(status.success());
    let _t = ShmRegion::create(&target, 64, CreateOptions::new()).unwrap();
    std::os::unix::fs::symlink(format!("/dev/shm/{target}"), format!("/dev/shm/{link}")).unwrap();
    for access in [Access::ReadOnly, Access::ReadWrite] {
        assert!(matches!(
            ShmRegion::open(&fifo, access),
            Err(Error::NotARegion { kind: "FIFO", .. })
        ));
        assert!(matches!(
            ShmRegion::open(&link, access),
            Err(Error::NotARegion {
                kind: "symlink",
                ..
            })
        ));
    }
    for name in [&fifo, &link] {
        assert!(matches!(
            ShmRegion::create(name, 64, CreateOptions::new()),
            Err(Error::AlreadyExists { .. })
        ));
    }
}

/// A handle unlinks its name only while the name still names its object: a successor created
/// under the same name survives the old handle's `unlink` and drop.
#[test]
fn a_successor_under_the_same_name_is_never_unlinked() {
    let name = unique_name("shm_successor");
    let _g = ShmGuard(name.clone());
    let mut old = ShmRegion::create(&name, 64, CreateOptions::new()).unwrap();
    ShmRegion::unlink_name(&name).unwrap();
    let new = ShmRegion::create(&name, 128, CreateOptions::new().unlink_on_drop(false)).unwrap();
    assert!(matches!(old.unlink(), Err(Error::NotFound { .. })));
    let old2 = ShmRegion::open(&name, Access::ReadOnly).unwrap();
    assert_eq!(old2.len(), 128);
    drop(old);
    assert_eq!(ShmRegion::open(&name, Access::ReadOnly).unwrap().len(), 128);
    drop(new);
    // An empty object (a creator that died before sizing it) is removed only when old enough.
    let empty = unique_name("shm_empty");
    let _ge = ShmGuard(empty.clone());
    std::fs::write(format!("/dev/shm/{empty}"), b"").unwrap();
    let hour = std::time::Duration::from_secs(3600);
    assert!(!ShmRegion::unlink_if_stale_empty(&empty, hour).unwrap());
    assert!(ShmRegion::unlink_if_stale_empty(&empty, std::time::Duration::ZERO).unwrap());
    assert!(matches!(
        ShmRegion::open(&empty, Access::ReadOnly),
        Err(Error::NotFound { .. })
    ));
}
