//! Types shared by the example programs (run them with `cargo run -p venom-examples --example
//! <name>`).

/// What `system_daemon` publishes and `status_bar` reads: a `#[repr(C)]` plain-data value.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SystemStats {
    /// CPU busy share since the previous sample, 0–100.
    pub cpu_percent: f32,
    /// Memory in use, percent of total.
    pub mem_percent: f32,
    /// Memory in use, KiB.
    pub mem_used_kib: u64,
    /// Memory in total, KiB.
    pub mem_total_kib: u64,
    /// Sample number, from 1.
    pub sample: u64,
    /// Publishing interval in milliseconds.
    pub interval_ms: u64,
}

/// The channel the two programs meet on.
pub const CHANNEL: &str = "system_stats";
