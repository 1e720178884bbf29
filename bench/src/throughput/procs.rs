//! What the benchmarks read about processes and the machine: where the
//! release binaries are, a process's resident memory and CPU time from
//! `/proc`, and the machine's description for `BENCHMARKS.md`.
//!
//! Linux only, as the benchmarks are: `/proc/<pid>/status` (VmRSS, VmHWM)
//! and `/proc/<pid>/stat` (utime, stime in clock ticks).

use std::path::PathBuf;
use std::time::Duration;

/// A release binary of the workspace, next to the running benchmark
/// (`target/release/`).
pub fn bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .map(|d| d.join(name))
        .ok_or_else(|| anyhow::anyhow!("benchmark binary has no folder"))?;
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build it first (`cargo build --release -p {name}`, which scripts/bench.sh does)",
        path.display()
    );
    Ok(path)
}

/// Resident memory of a process: now and its peak, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss: u64,
    pub peak: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Ok(Memory {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
    })
}

/// CPU time a process has used (user + system).
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it are fixed.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ")": state is field 3 of stat(5); utime 14 and stime 15.
    let tick = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    let (Some(utime), Some(stime)) = (tick(14), tick(15)) else {
        anyhow::bail!("unreadable /proc/{pid}/stat");
    };
    Ok(ticks(utime + stime))
}

/// CPU time of the calling process (all its threads).
pub fn own_cpu_time() -> anyhow::Result<Duration> {
    cpu_time(std::process::id())
}

fn ticks(n: u64) -> Duration {
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(n * 10)
}

/// The machine, as one line: cores, CPU model, memory, kernel.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpus} cores ({model}), {mem_gib:.1} GiB memory, Linux {}",
        kernel.trim()
    )
}

/// The 1-minute load average: how busy the machine was when measured.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}
