//! Across real processes: producers in child processes, one of which dies between claiming a
//! slot and publishing it; nothing else is lost or reordered and the queue is not wedged.
#![cfg(not(loom))]

use std::process::Stdio;
use std::time::Duration;

use venom_mpsc::{Config, Error, Queue};
use venom_shm::testing::{
    KillOnDrop, ShmGuard, arg_var, child_arg, child_role, spawn_self, spin_until, unique_name,
};
use venom_shm::{Access, CreateOptions, ShmRegion};

const WAIT: Duration = Duration::from_secs(30);
const PER: u32 = 2_000;

fn view(region: &ShmRegion) -> Queue<'_> {
    // SAFETY: read-write mapping of `len` bytes while `region` lives; every process accesses
    // it only through the queue.
    unsafe { Queue::from_raw(region.as_ptr(), region.len()) }.unwrap()
}

fn send_numbered(q: &Queue<'_>, sender: u32, range: std::ops::Range<u32>) {
    let tx = q.producer(sender);
    for i in range {
        loop {
            match tx.try_send(&i.to_le_bytes()) {
                Ok(()) => break,
                Err(Error::Full) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    }
}

#[test]
fn producer_dying_mid_send_does_not_wedge_the_queue() {
    const TEST: &str = "producer_dying_mid_send_does_not_wedge_the_queue";
    match child_role().as_deref() {
        Some("sender") => {
            let region = ShmRegion::open(&child_arg("NAME"), Access::ReadWrite).unwrap();
            let q = view(&region);
            let id: u32 = child_arg("ID").parse().unwrap();
            send_numbered(&q, id, 0..PER);
            return;
        }
        Some("dier") => {
            let region = ShmRegion::open(&child_arg("NAME"), Access::ReadWrite).unwrap();
            let q = view(&region);
            send_numbered(&q, 9, 0..10);
            // Claim a slot, write half the message, die without publishing it.
            let _ = q.producer(9).try_send_with(8, |slot| {
                slot.write_at(0, &[0xEE; 4]).unwrap();
                std::process::abort();
            });
            unreachable!();
        }
        _ => {}
    }
    let name = unique_name("mpsc_dead");
    let _g = ShmGuard(name.clone());
    let config = Config::new(64, 64);
    let region =
        ShmRegion::create(&name, config.region_size().unwrap(), CreateOptions::new()).unwrap();
    // SAFETY: as in `view`, on the freshly created region.
    let q = unsafe { Queue::init(region.as_ptr(), region.len(), config) }.unwrap();
    let mut rx = q.consumer().unwrap();

    let mut dier = KillOnDrop::spawn(
        spawn_self(TEST, "dier")
            .env(arg_var("NAME"), &name)
            .stderr(Stdio::null()),
    );
    let mut senders: Vec<_> = (1..=2)
        .map(|id| {
            KillOnDrop::spawn(
                spawn_self(TEST, "sender")
                    .env(arg_var("NAME"), &name)
                    .env(arg_var("ID"), id.to_string()),
            )
        })
        .collect();

    let mut next = std::collections::HashMap::<u32, u32>::new();
    let mut buf = [0u8; 48];
    let total = 2 * PER + 10;
    for _ in 0..total {
        let m = rx
            .recv_timeout(&mut buf, WAIT)
            .expect("no message wedged the queue");
        let i = u32::from_le_bytes(buf[..4].try_into().unwrap());
        let want = next.entry(m.sender).or_default();
        assert_eq!(
            i, *want,
            "sender {}: lost, duplicated or reordered",
            m.sender
        );
        assert_eq!(m.len, 4);
        *want += 1;
    }
    assert!(!dier.wait_timeout(WAIT).expect("dier died").success());
    for s in &mut senders {
        assert!(s.wait_timeout(WAIT).expect("sender finishes").success());
    }
    // The half-written message is skipped, not delivered. It may be the last claim, seen by
    // no receive yet for the bound after which a claimant's liveness is checked: look until
    // it is skipped, and nothing may be delivered meanwhile.
    assert!(spin_until(WAIT, || {
        assert_eq!(rx.try_recv(&mut buf), Ok(None));
        rx.abandoned() > 0
    }));
    assert_eq!(rx.abandoned(), 1);
    assert_eq!(next.get(&9), Some(&10));
}

/// A consumer process that dies hands its role (and its position) to the next consumer.
#[test]
fn consumer_role_passes_after_its_holder_dies() {
    if child_role().as_deref() == Some("consumer") {
        let region = ShmRegion::open(&child_arg("NAME"), Access::ReadWrite).unwrap();
        let q = view(&region);
        let mut rx = q.consumer().unwrap();
        let mut buf = [0u8; 48];
        let m = rx.try_recv(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..m.len], b"one");
        std::process::abort(); // dies holding the role
    }
    let name = unique_name("mpsc_role");
    let _g = ShmGuard(name.clone());
    let config = Config::new(4, 64);
    let region =
        ShmRegion::create(&name, config.region_size().unwrap(), CreateOptions::new()).unwrap();
    // SAFETY: as in `view`.
    let q = unsafe { Queue::init(region.as_ptr(), region.len(), config) }.unwrap();
    q.producer(1).try_send(b"one").unwrap();
    q.producer(1).try_send(b"two").unwrap();
    let mut child = KillOnDrop::spawn(
        spawn_self("consumer_role_passes_after_its_holder_dies", "consumer")
            .env(arg_var("NAME"), &name)
            .stderr(Stdio::null()),
    );
    let pid = child.id();
    assert!(!child.wait_timeout(WAIT).expect("child dies").success());
    assert_eq!(q.consumer_pid(), Some(pid));
    let mut rx = q.consumer().unwrap();
    let mut buf = [0u8; 48];
    let m = rx.try_recv(&mut buf).unwrap().unwrap();
    assert_eq!(&buf[..m.len], b"two");
    assert!(matches!(q.consumer(), Err(Error::ConsumerBusy { .. })));
}

/// Sends a signal (`-STOP`, `-CONT`) to process `pid` with kill(1).
fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

/// State letter of process `pid` (`/proc/<pid>/stat`), e.g. `'T'` when stopped.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// H3: a live producer stopped (SIGSTOP, and blocked on its stdin) in the middle of a send does not wedge the queue: the
/// consumer sets its slot aside after `LIVE_BOUND` and passes it as a hole on every later lap,
/// while another process's messages flow through all four slots; once continued, the stopped
/// producer learns it was skipped and sends its message again: it arrives once, whole, after
/// the producer's earlier message and before its later one.
#[test]
fn a_stopped_producer_is_skipped_and_sends_again_when_continued() {
    const TEST: &str = "a_stopped_producer_is_skipped_and_sends_again_when_continued";
    if child_role().as_deref() == Some("staller") {
        let region = ShmRegion::open(&child_arg("NAME"), Access::ReadWrite).unwrap();
        let q = view(&region);
        let tx = q.producer(5);
        tx.try_send(b"first").unwrap();
        tx.try_send_with(8, |slot| {
            slot.write_at(0, b"stal").unwrap();
            venom_shm::testing::announce_ready();
            // Stay here, mid-send (the parent also stops us with SIGSTOP), until the parent
            // writes a line.
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            slot.write_at(4, b"led!").unwrap();
        })
        .expect("the skipped message is sent again");
        send_numbered(&q, 5, 0..1);
        return;
    }
    let name = unique_name("mpsc_stop");
    let _g = ShmGuard(name.clone());
    let config = Config::new(4, 64);
    let region =
        ShmRegion::create(&name, config.region_size().unwrap(), CreateOptions::new()).unwrap();
    // SAFETY: as in `view`, on the freshly created region.
    let q = unsafe { Queue::init(region.as_ptr(), region.len(), config) }.unwrap();
    let mut rx = q.consumer().unwrap();
    let mut staller = KillOnDrop::spawn(
        spawn_self(TEST, "staller")
            .env(arg_var("NAME"), &name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let _out = staller.wait_ready(); // kept open: the child writes its report there
    let pid = staller.id();
    signal(pid, "-STOP");
    assert!(
        spin_until(WAIT, || process_state(pid) == Some('T')),
        "the producer stops"
    );
    let mut buf = [0u8; 48];
    let m = rx.recv_timeout(&mut buf, WAIT).unwrap();
    assert_eq!((m.sender, &buf[..m.len]), (5, &b"first"[..]));

    // 100 messages through a 4-slot queue while the producer stays stopped mid-send.
    let tx = q.producer(1);
    let (mut sent, mut got) = (0u32, 0u32);
    let flowed = spin_until(WAIT, || {
        if sent < 100 {
            match tx.try_send(&sent.to_le_bytes()) {
                Ok(()) => sent += 1,
                Err(Error::Full) => {}
                Err(e) => panic!("{e}"),
            }
        }
        if let Some(m) = rx.try_recv(&mut buf).unwrap() {
            assert_eq!(m.sender, 1, "nothing of the stopped producer yet");
            assert_eq!(buf[..4], got.to_le_bytes(), "lost, duplicated or reordered");
            got += 1;
        } else if sent == 100 || rx.queue().len_hint() > 0 {
            // The head waits (for at most LIVE_BOUND) on the stopped producer's slot.
            let _ = rx.wait_until_timeout(Duration::from_millis(100), || false);
        }
        got == 100
    });
    assert!(
        flowed,
        "the stopped producer wedged the queue ({got} of 100 arrived)"
    );
    assert_eq!(rx.skipped(), 1, "set aside once, passed as a hole after");
    assert_eq!(rx.abandoned(), 0);

    signal(pid, "-CONT");
    let mut stdin = staller.0.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"go on\n").unwrap();
    let m = rx.recv_timeout(&mut buf, WAIT).unwrap();
    assert_eq!(
        (m.sender, &buf[..m.len]),
        (5, &b"stalled!"[..]),
        "sent again, once"
    );
    let m = rx.recv_timeout(&mut buf, WAIT).unwrap();
    assert_eq!(
        (m.sender, &buf[..4]),
        (5, &0u32.to_le_bytes()[..]),
        "then what came after"
    );
    assert!(
        staller
            .wait_timeout(WAIT)
            .expect("producer exits")
            .success()
    );
    assert_eq!(rx.try_recv(&mut buf), Ok(None), "nothing else arrives");
}
