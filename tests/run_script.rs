//! The README's first command, `scripts/run.sh`, as a user runs it: the
//! whole fleet (nats-server, coordinator, sim workers, dashboard) on free
//! ports, with the binaries this build made.
//!
//! - Ctrl-C as a terminal sends it (SIGINT to the whole process group): the
//!   roles stop in order, every answer a worker got acknowledged was
//!   ingested, nothing is left running, exit code 130 and no error.
//! - Unattended with a target: a coordinator killed with SIGKILL three times
//!   is restarted each time, and the run still ends on its target with every
//!   key once; a role that keeps dying makes the script give up with the
//!   reason.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use testkit::{bin_path, free_port, repo_root, wait_for};

const TOPIC: &str = "Rare cheeses";
const SLUG: &str = "rare-cheeses";

/// `scripts/run.sh` running in a process group of its own, as a terminal
/// runs a foreground job.
struct RunScript {
    dir: TempDir,
    child: Option<Child>,
}

impl RunScript {
    fn start(args: &[&str], env: &[(&str, &str)]) -> RunScript {
        let dir = testkit::test_dir();
        let out = std::fs::File::create(dir.path().join("run.sh.out")).unwrap();
        let err = std::fs::File::create(dir.path().join("run.sh.err")).unwrap();
        let bin = bin_path("coordinator").parent().unwrap().to_path_buf();
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/run.sh"))
            .args(args)
            .current_dir(repo_root())
            .env("IGENTAI_DATA_DIR", dir.path().join("data"))
            .env("IGENTAI_RUN_DIR", dir.path().join("run"))
            .env("NATS_PORT", free_port().to_string())
            .env("NATS_MONITOR_PORT", free_port().to_string())
            .env(
                "IGENTAI_DASHBOARD_ADDR",
                format!("127.0.0.1:{}", free_port()),
            )
            .env("IGENTAI_BIN", bin)
            .env("IGENTAI_BUILD", "0")
            .env("WORKERS", "2")
            .env_remove("NATS_URL")
            .env_remove("IGENTAI_CREDENTIALS")
            .env_remove("IGENTAI_WORKERS_DIR")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // A process group of its own, led by the script: what a
            // terminal's foreground job is.
            .process_group(0);
        for role in testkit::Role::ALL {
            cmd.env_remove(role.password_var());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start scripts/run.sh");
        RunScript {
            dir,
            child: Some(child),
        }
    }

    fn output(&self) -> PathBuf {
        self.dir.path().join("data").join(SLUG).join("output.txt")
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    fn pid(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.run_dir().join(format!("{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The pids of every role the script started.
    fn role_pids(&self) -> Vec<(String, u32)> {
        ["nats", "coordinator", "dashboard", "worker-1", "worker-2"]
            .iter()
            .map(|name| {
                let pid = self
                    .pid(name)
                    .unwrap_or_else(|| panic!("no pid file for {name}\n{}", self.logs()));
                (name.to_string(), pid)
            })
            .collect()
    }

    async fn wait_items(&self, at_least: usize, within: Duration) {
        let output = self.output();
        wait_for(
            &format!("{at_least} items in {}", output.display()),
            within,
            || {
                let n = lines(&output).len();
                async move { (n >= at_least).then_some(()) }
            },
        )
        .await;
    }

    /// Sends `signal` to the script's whole process group, as a terminal
    /// does for Ctrl-C.
    fn signal_group(&self, signal: &str) {
        let pgid = self.child.as_ref().unwrap().id();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal} -{pgid} failed");
    }

    async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "scripts/run.sh did not exit within {within:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run.sh.out")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run.sh.err")).unwrap_or_default()
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.run_dir().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn logs(&self) -> String {
        let mut out = format!(
            "--- run.sh stdout ---\n{}\n--- run.sh stderr ---\n{}",
            self.stdout(),
            self.stderr()
        );
        for name in ["coordinator", "worker-1", "worker-2", "dashboard", "nats"] {
            let log = self.log(name);
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            out += &format!("\n--- {name}.log (last lines) ---\n{}", tail.join("\n"));
        }
        out
    }

    fn verify(&self, min_items: u64) {
        let out = Command::new(bin_path("coordinator"))
            .arg("verify")
            .arg(self.output().parent().unwrap())
            .args(["--min-items", &min_items.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "coordinator verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for RunScript {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        // Whatever happened, leave nothing running.
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
        if let Ok(entries) = std::fs::read_dir(self.run_dir()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "pid")
                    && let Ok(pid) = std::fs::read_to_string(&path)
                {
                    let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
                }
            }
        }
    }
}

/// The lines of `output.txt` so far; none before the coordinator made it.
fn lines(path: &Path) -> Vec<String> {
    if path.exists() {
        common::lines(path)
    } else {
        Vec::new()
    }
}

/// True while `pid` is a live process (a zombie has exited).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The `batches_published` a worker logged when it stopped.
fn acknowledged_batches(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains(" stopped"))?;
    let (_, rest) = line.split_once("batches_published=")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn metrics_batches(folder: &Path) -> u64 {
    let text = std::fs::read_to_string(folder.join("metrics.json")).expect("metrics.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("metrics.json is JSON");
    json["totals"]["batches"]
        .as_u64()
        .expect("metrics.json totals.batches")
}

#[tokio::test]
async fn ctrl_c_stops_every_role_in_order_and_loses_nothing() {
    let mut run = RunScript::start(&[TOPIC], &[]);
    run.wait_items(100, Duration::from_secs(180)).await;
    let pids = run.role_pids();

    let interrupted = Instant::now();
    run.signal_group("INT");
    let status = run.wait_exit(Duration::from_secs(90)).await;
    eprintln!(
        "everything stopped {:?} after Ctrl-C",
        interrupted.elapsed()
    );

    assert_eq!(status.code(), Some(130), "exit status\n{}", run.logs());
    let stderr = run.stderr();
    assert!(
        !stderr.to_lowercase().contains("error"),
        "an error line after Ctrl-C:\n{stderr}"
    );
    for (name, pid) in &pids {
        assert!(
            !alive(*pid),
            "{name} (pid {pid}) still runs\n{}",
            run.logs()
        );
    }
    assert!(
        std::fs::read_dir(run.run_dir())
            .unwrap()
            .flatten()
            .all(|e| e.path().extension().is_none_or(|x| x != "pid")),
        "pid files left behind"
    );

    // Every batch JetStream acknowledged to a worker was ingested by the
    // coordinator before it stopped: the workers' count equals the
    // coordinator's, and no worker reports a loss.
    let mut acknowledged = 0;
    for worker in ["worker-1", "worker-2"] {
        let log = run.log(worker);
        assert!(
            !log.contains("stopped with losses"),
            "{worker} lost answers:\n{log}"
        );
        acknowledged += acknowledged_batches(&log)
            .unwrap_or_else(|| panic!("{worker} logged no final count:\n{log}"));
    }
    assert!(acknowledged > 0);
    let folder = run.output().parent().unwrap().to_path_buf();
    assert_eq!(
        metrics_batches(&folder),
        acknowledged,
        "batches the coordinator ingested vs batches the workers had acknowledged\n{}",
        run.logs()
    );
    run.verify(100);
}

#[tokio::test]
async fn a_killed_coordinator_comes_back_and_the_run_reaches_its_target() {
    const TARGET: u64 = 3000;
    let mut run = RunScript::start(&[TOPIC, "--target", &TARGET.to_string()], &[]);
    run.wait_items(50, Duration::from_secs(180)).await;
    for round in 1..=3 {
        let pid = run.pid("coordinator").expect("coordinator pid");
        assert!(
            (lines(&run.output()).len() as u64) < TARGET,
            "the run reached its target before kill {round}: raise TARGET"
        );
        assert!(
            Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
        let before = lines(&run.output()).len();
        // Restarted under a new pid, and ingesting again.
        let run_ref = &run;
        wait_for(
            &format!("the coordinator restarted after kill {round}"),
            Duration::from_secs(60),
            || {
                let restarted = run_ref.pid("coordinator").filter(|&p| p != pid && alive(p));
                async move { restarted.map(|_| ()) }
            },
        )
        .await;
        run.wait_items(before + 20, Duration::from_secs(60)).await;
    }

    let status = run.wait_exit(Duration::from_secs(300)).await;
    assert_eq!(status.code(), Some(0), "exit status\n{}", run.logs());
    let out = run.stdout() + &run.stderr();
    assert_eq!(
        out.matches("coordinator exited").count(),
        3,
        "each death is reported\n{out}"
    );
    assert!(out.contains("stopped: target reached"), "{out}");
    run.verify(TARGET);
}

#[tokio::test]
async fn a_role_that_keeps_dying_makes_the_script_give_up_with_the_reason() {
    let mut run = RunScript::start(&[TOPIC], &[("IGENTAI_MAX_RESTARTS", "1")]);
    run.wait_items(20, Duration::from_secs(180)).await;
    let first = run.pid("coordinator").expect("coordinator pid");
    Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    let run_ref = &run;
    let second = wait_for("the coordinator restarted", Duration::from_secs(60), || {
        let restarted = run_ref
            .pid("coordinator")
            .filter(|&p| p != first && alive(p));
        async move { restarted }
    })
    .await;
    Command::new("kill")
        .args(["-KILL", &second.to_string()])
        .status()
        .unwrap();

    let status = run.wait_exit(Duration::from_secs(90)).await;
    assert_eq!(status.code(), Some(1), "exit status\n{}", run.logs());
    let stderr = run.stderr();
    assert!(
        stderr.contains("coordinator died 2 times") && stderr.contains("giving up"),
        "{stderr}"
    );
    for name in ["nats", "dashboard", "worker-1", "worker-2"] {
        assert!(run.pid(name).is_none(), "{name} still has a pid file");
    }
}
