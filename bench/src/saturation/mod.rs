//! The saturation benchmark (`src/bin/saturation.rs`): does the fleet keep
//! a real model server as busy as a bare load generator does? Both send
//! the worker's prompt through the worker's `openai` provider to the same
//! llama-cpp-python server: `bare.rs` from loops that do nothing else,
//! `fleet.rs` through NATS, the real coordinator and a real worker.
//! `window.rs` turns each one's answered calls into the server's tokens
//! per second (pure), `cpu.rs` samples who used the machine's cores, and
//! `report.rs` renders the tables and what limits the fleet's share.

pub mod bare;
pub mod cpu;
pub mod fleet;
pub mod report;
pub mod window;

use window::Window;

/// The model server's name among a phase's processes.
pub const SERVER: &str = "model server";

/// One measured phase: the server's work in its window, and the machine
/// around it.
#[derive(Debug, Clone)]
pub struct Phase {
    /// `bare`, `fleet`, or `bare again` (after the fleet).
    pub name: &'static str,
    /// Calls kept in flight.
    pub concurrency: usize,
    pub window: Window,
    pub failures: u64,
    /// Share of one core each process used over the phase's window: the
    /// model server and the client (the load generator, or the fleet's
    /// processes).
    pub cpu: Vec<(String, f64)>,
    /// The 1-minute load average at the window's end.
    pub load_after: String,
}

/// The providers file both clients read: the local server in `output`
/// mode (`text` or `json`), at most `concurrency` calls at a time.
pub fn providers_toml(
    base_url: &str,
    model: &str,
    output: &str,
    max_tokens: u32,
    temperature: f64,
    concurrency: usize,
) -> String {
    format!(
        r#"[[providers]]
name = "local"
kind = "openai"
base_url = "{base_url}"
model = "{model}"
output = "{output}"
max_tokens = {max_tokens}
temperature = {temperature}
max_concurrency = {concurrency}
timeout_s = 900
"#
    )
}
