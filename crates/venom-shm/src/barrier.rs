//! Asymmetric barriers for the Dekker pairs that decide whether a sleeper must be woken.
//!
//! Every "publish, then check whether the other side sleeps" needs, on each side, a full fence
//! between its store and its load (a store-buffer drain, tens to hundreds of nanoseconds while
//! the other core polls the line just written): the waker in
//! `store X; fence(SeqCst); load sleeping`, the sleeper in `store sleeping; fence(SeqCst); load X`.
//! The waker publishes on every message; the sleeper only sleeps when idle. So the cost is
//! moved to the sleeper:
//!
//! ```text
//! waker (every message)                          sleeper (about to sleep)
//! store X                                        store sleeping = 1
//! if !skip_fence(peer_heavy) { fence(SeqCst) }   fence(SeqCst); heavy()
//!   (a compiler fence only, when it may skip)      (membarrier(GLOBAL_EXPEDITED))
//! load sleeping                                  load X
//! ```
//!
//! The callers keep their own `fence(SeqCst)` calls (so `.ci/mutate-orderings.py` still
//! weakens each one and a loom model must catch it); this module only says when the waker's
//! may be skipped and adds the sleeper's system call.
//!
//! **Why it is enough.** `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` returns only after every
//! CPU that runs a thread of a process registered with
//! `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED` has executed a full memory barrier, at a point
//! between the call's entry and its return; a registered thread not running then passes
//! through the scheduler, whose context switch is a full barrier; the call itself begins and
//! ends with full barriers on the caller's CPU. Take the waker's program order, `store X` then
//! `load sleeping` with only a compiler fence between (so the compiler keeps that order and the
//! CPU is the only one that may reorder them), and the barrier the sleeper's call forced on the
//! waker's CPU at some point B:
//! * B before `store X`: the sleeper's `store sleeping` was made visible by the call's entry
//!   barrier, before B, so `load sleeping`, after B, reads 1: the waker wakes the sleeper.
//! * B after `store X`: the store was drained to memory by B, before the call returned, so the
//!   sleeper's `load X`, after the return, sees it: it does not sleep.
//!
//! Either way one side sees the other, which is what a fence on each side guarantees. This is
//! the argument of the kernel's own documentation of `membarrier(2)` and of userspace RCU
//! (liburcu's `urcu-memb` flavour), which pair `membarrier` with compiler barriers the same way.
//!
//! **When it is used.** The waker may use the compiler fence only if its own process is
//! registered (the sleeper's barrier reaches registered processes alone) *and* the sleeper
//! says it sleeps with `membarrier` (`peer_heavy`, a flag the sleeper publishes beside its
//! `sleeping` word). Otherwise both sides use full fences, as before: a kernel without
//! `membarrier` (before 4.16), a seccomp filter that forbids it, or an older peer leave
//! everything correct, only slower. A forged `peer_heavy` costs a sleeper at most one bounded
//! nap, as a forged `sleeping` word already could.
//!
//! **Under loom** there are no CPUs to interrupt: [`skip_fence`] is always `false` and
//! [`heavy`] does nothing, so both sides keep their `fence(SeqCst)`, which is exactly what the
//! argument above gives the pair (a full fence on each side): the models check the protocols
//! around the barrier, with the heavy side modelled conservatively as a plain full fence.

/// Whether this process takes part in the asymmetric barrier: `membarrier` offers
/// `GLOBAL_EXPEDITED` and this process registered for it (done once, on the first call). Call
/// it before publishing that this process sleeps with [`heavy`].
#[cfg(all(target_os = "linux", not(loom)))]
pub fn registered() -> bool {
    use std::sync::OnceLock;
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        use rustix::thread::{MembarrierCommand, MembarrierQuery, membarrier, membarrier_query};
        let offered = membarrier_query();
        offered.contains(MembarrierQuery::GLOBAL_EXPEDITED)
            && offered.contains(MembarrierQuery::REGISTER_GLOBAL_EXPEDITED)
            && std::env::var_os("VENOM_NO_MEMBARRIER").is_none()
            && membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok()
    })
}

/// Without Linux's `membarrier`: never registered (full fences on both sides). Under loom:
/// registered, so the models run the paths of a process that sleeps heavy ([`skip_fence`]
/// still never skips there, and [`heavy`] is its full fence).
#[cfg(any(not(target_os = "linux"), loom))]
pub fn registered() -> bool {
    cfg!(loom)
}

/// The waker's side, between publishing and checking whether the other side sleeps: `true`
/// if the caller may skip its full fence — `peer_heavy` (the other side said it sleeps with
/// [`heavy`]) and this process is [`registered`] — in which case a compiler fence was made
/// here; `false`: make the full fence. Always `false` under loom.
#[inline]
pub fn skip_fence(peer_heavy: bool) -> bool {
    #[cfg(not(loom))]
    if peer_heavy && registered() {
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        return true;
    }
    let _ = peer_heavy;
    false
}

/// The sleeper's side, right after its own `fence(SeqCst)` between announcing that it sleeps
/// and its last look: if this process is [`registered`],
/// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, the part that pairs with the wakers' skipped
/// fences. Costs a system call and an interrupt of every CPU running a registered process:
/// call it only on the way to sleep. Nothing under loom.
pub fn heavy() {
    #[cfg(all(target_os = "linux", not(loom)))]
    if registered() {
        use rustix::thread::{MembarrierCommand, membarrier};
        // Cannot fail once registration succeeded (the command needs no registration of the
        // caller); were it to, a waker's skipped fence might miss this sleeper, which then
        // wakes by its bounded nap.
        let _ = membarrier(MembarrierCommand::GlobalExpedited);
    }
}

#[cfg(all(test, target_os = "linux", not(loom)))]
mod tests {
    use super::*;
    use rustix::thread::{MembarrierQuery, membarrier_query};

    #[test]
    fn a_process_registers_where_the_kernel_offers_the_barrier() {
        let offered = membarrier_query().contains(MembarrierQuery::GLOBAL_EXPEDITED);
        let opted_out = std::env::var_os("VENOM_NO_MEMBARRIER").is_some();
        assert_eq!(registered(), offered && !opted_out);
        // The sleeper's barrier returns (a failing call would still fence, never hang).
        heavy();
    }
}
