//! The client registry: one 64-byte entry per client id, holding the pid of the shell that
//! claimed it (0 = free), and the high-water mark below which the daemon looks for requests.
//!
//! ```text
//! claim:   CAS pid 0 → me            [G1]   (or CAS dead pid → me, after a liveness check)
//!          fetch_max(clients_hwm, entry + 1)
//! release: CAS pid me → 0            [G2]
//! ```

use venom_shm::sync::Ordering;
use venom_shm::wait;

use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::layout::{ChannelHeader, RegistryEntry};

/// The registry of one mapped channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Registry<'a> {
    pub(crate) header: &'a ChannelHeader,
    pub(crate) entries: &'a [RegistryEntry],
}

impl Registry<'_> {
    /// Claims a free entry, or one whose process is dead, for this process.
    ///
    /// # Errors
    /// [`Error::ChannelFull`].
    pub(crate) fn claim(&self) -> Result<ClientId> {
        let me = wait::current_pid();
        // SYNC POINT [G1]: the Acquire of a successful claim pairs with the previous holder's
        // Release in `release` [G2], so its last use of the entry's cell happens before ours.
        let cas = |e: &RegistryEntry, from: u32| {
            e.pid
                .compare_exchange(from, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        };
        let free = self.entries.iter().position(|e| cas(e, 0));
        let entry = free.or_else(|| {
            self.entries.iter().position(|e| {
                let pid = e.pid.load(Ordering::Relaxed);
                let start = e.start.load(Ordering::Relaxed);
                pid != 0 && !wait::holder_alive(pid, start) && cas(e, pid)
            })
        });
        let entry = entry.ok_or(Error::ChannelFull {
            max_clients: self.entries.len() as u32,
        })?;
        // The holder is named by pid and start time: a reused pid is not this shell.
        self.entries[entry]
            .start
            .store(wait::current_start_time(), Ordering::Relaxed);
        // The daemon looks for requests in the cells below the high-water mark.
        self.header
            .clients_hwm
            .fetch_max(entry as u32 + 1, Ordering::Relaxed);
        Ok(ClientId::of_entry(entry))
    }

    /// Frees `id`'s entry if this process still holds it.
    pub(crate) fn release(&self, id: ClientId) {
        if let Some(e) = self.entries.get(id.entry()) {
            // SYNC POINT [G2]: pairs with the next holder's Acquire claim [G1].
            let _ = e.pid.compare_exchange(
                wait::current_pid(),
                0,
                Ordering::Release,
                Ordering::Relaxed,
            );
        }
    }

    /// One past the highest entry ever claimed (as read now), at most the entry count.
    pub(crate) fn high_water_mark(&self) -> usize {
        (self.header.clients_hwm.load(Ordering::Relaxed) as usize).min(self.entries.len())
    }
}
