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

/// The C++ seed's IPC example message (`int id; char content[256];`), as plain data.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Message {
    /// Message number.
    pub id: i32,
    /// NUL-terminated text.
    pub content_bytes: [u8; 256],
}

impl Default for Message {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

impl Message {
    /// Stores `text` (cut at 255 bytes, like `snprintf` into `char[256]`) NUL-terminated.
    pub fn set_content(&mut self, text: &str) {
        let n = text.len().min(255);
        self.content_bytes = [0; 256];
        self.content_bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
    }

    /// The text up to the first NUL.
    pub fn content(&self) -> String {
        let end = self
            .content_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(256);
        String::from_utf8_lossy(&self.content_bytes[..end]).into_owned()
    }
}
