//! The CPU time the processes around the model server use in a window:
//! the server itself (how much of a core it got, and how many tokens it
//! made of it) and the fleet's processes (what they take from it on a
//! small machine). Processes testkit starts without telling their pid
//! (the model server, nats-server) are found by their command line.

use std::time::Duration;

use crate::throughput::procs;

/// The pid of the process whose command line holds every one of
/// `needles` as an argument, if one runs.
pub fn find_pid(needles: &[&str]) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            needles
                .iter()
                .all(|n| args.contains(&n.as_bytes()))
                .then_some(pid)
        })
}

/// Named processes and the CPU time each had used when sampled.
pub struct Sample(Vec<(String, u32, Duration)>);

impl Sample {
    /// The CPU time of each `(name, pid)` now (zero for one that is gone).
    pub fn now(processes: &[(&str, u32)]) -> Sample {
        Sample(
            processes
                .iter()
                .map(|&(name, pid)| {
                    let cpu = procs::cpu_time(pid).unwrap_or_default();
                    (name.to_string(), pid, cpu)
                })
                .collect(),
        )
    }

    /// The CPU time each process used since `earlier`, over `wall`: its
    /// share of one core.
    pub fn shares_since(&self, earlier: &Sample, wall: Duration) -> Vec<(String, f64)> {
        self.0
            .iter()
            .map(|(name, pid, cpu)| {
                let before = earlier
                    .0
                    .iter()
                    .find(|(_, p, _)| p == pid)
                    .map_or(Duration::ZERO, |(_, _, c)| *c);
                let used = cpu.saturating_sub(before);
                (name.clone(), used.as_secs_f64() / wall.as_secs_f64())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_process_by_its_arguments() {
        let marker = format!("saturation-test-{}", std::process::id());
        // `; true` keeps the shell (and its arguments) from being replaced
        // by `sleep`; its first line says it runs as `sh`, past the fork
        // whose command line is still the test's.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "echo started; sleep 5; true", &marker])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "started\n");
        let found = find_pid(&["-c", &marker]);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, Some(child.id()));
        assert_eq!(find_pid(&[&format!("{marker}-none")]), None);
    }
}
