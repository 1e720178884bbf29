//! The README's command for a local cluster, `NATS_CLUSTER=3 scripts/run.sh
//! TOPIC --target N`, as a user runs it: three nats-servers, the
//! coordinator, sim workers and the dashboard, every port from one free
//! block, the binaries this build made.
//!
//! Mid-run the node leading the candidate stream is killed with SIGKILL:
//! the run goes on and reaches its target, the script restarts the node,
//! `output.txt` holds every item once, and the script stops everything and
//! exits 0 without an error line.
//!
//! The script driver and the free port block are this file's own (the
//! shared harness is `testkit`'s; `tests/run_script.rs` drives the single
//! server the same way).

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use igentai_protocol::{MetricsSnapshot, subjects};
use tempfile::TempDir;
use testkit::{bin_path, repo_root, wait_for};

const TOPIC: &str = "Sea birds";
const SLUG: &str = "sea-birds";
const NODES: u16 = 3;
const TARGET: u64 = 2000;

/// `base..base + count` all free on loopback right now.
fn free_ports(count: u16) -> u16 {
    loop {
        let base = testkit::free_port();
        if base < u16::MAX - count
            && (0..count).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
    }
}

/// `NATS_CLUSTER=3 scripts/run.sh` in a process group of its own, as a
/// terminal runs a foreground job.
struct ClusterRun {
    dir: TempDir,
    /// Client ports `base..base+3`, monitoring `+3..`, routes `+6..`, the
    /// dashboard `+9`.
    base: u16,
    child: Option<Child>,
}

impl ClusterRun {
    fn start(args: &[&str]) -> ClusterRun {
        let dir = testkit::test_dir();
        let base = free_ports(3 * NODES + 1);
        let out = std::fs::File::create(dir.path().join("run.sh.out")).unwrap();
        let err = std::fs::File::create(dir.path().join("run.sh.err")).unwrap();
        let bin = bin_path("coordinator").parent().unwrap().to_path_buf();
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/run.sh"))
            .args(args)
            .current_dir(repo_root())
            .env("NATS_CLUSTER", NODES.to_string())
            .env("NATS_PORT", base.to_string())
            .env("NATS_MONITOR_PORT", (base + NODES).to_string())
            .env("NATS_ROUTE_PORT", (base + 2 * NODES).to_string())
            .env(
                "IGENTAI_DASHBOARD_ADDR",
                format!("127.0.0.1:{}", base + 3 * NODES),
            )
            .env("IGENTAI_DATA_DIR", dir.path().join("data"))
            .env("IGENTAI_RUN_DIR", dir.path().join("run"))
            .env("IGENTAI_BIN", bin)
            .env("IGENTAI_BUILD", "0")
            .env("WORKERS", "2")
            .env_remove("NATS_URL")
            .env_remove("IGENTAI_CREDENTIALS")
            .env_remove("IGENTAI_WORKERS_DIR")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        for role in testkit::Role::ALL {
            cmd.env_remove(role.password_var());
        }
        let child = cmd.spawn().expect("start scripts/run.sh");
        ClusterRun {
            dir,
            base,
            child: Some(child),
        }
    }

    fn urls(&self) -> Vec<String> {
        (0..NODES)
            .map(|i| format!("nats://127.0.0.1:{}", self.base + i))
            .collect()
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

    fn items(&self) -> usize {
        let output = self.output();
        if output.exists() {
            common::lines(&output).len()
        } else {
            0
        }
    }

    /// Waits for `at_least` items; fails at once when the script exited.
    async fn wait_items(&self, at_least: usize, within: Duration) {
        let script = self.child.as_ref().expect("the script runs").id();
        wait_for(
            &format!("{at_least} items in {}", self.output().display()),
            within,
            || {
                assert!(alive(script), "scripts/run.sh exited\n{}", self.logs());
                let n = self.items();
                async move { (n >= at_least).then_some(()) }
            },
        )
        .await;
    }

    /// The operator's client, with the password the script generated.
    async fn operator(&self) -> async_nats::Client {
        let credentials = self.run_dir().join("credentials.env");
        let password = wait_for(
            "the script to generate the NATS passwords",
            Duration::from_secs(60),
            || {
                let password = std::fs::read_to_string(&credentials).ok().and_then(|c| {
                    c.lines()
                        .find_map(|l| l.strip_prefix("IGENTAI_OPERATOR_PASSWORD="))
                        .map(str::to_string)
                });
                async move { password }
            },
        )
        .await;
        async_nats::ConnectOptions::with_user_and_password("operator".into(), password)
            .custom_inbox_prefix(subjects::inbox_prefix("operator"))
            .retry_on_initial_connect()
            .connect(self.urls())
            .await
            .expect("connect as the operator")
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

    fn said(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("run.sh.out"), read("run.sh.err"))
    }

    fn logs(&self) -> String {
        let mut out = format!("--- run.sh ---\n{}", self.said());
        for name in [
            "coordinator",
            "worker-1",
            "worker-2",
            "dashboard",
            "nats-1",
            "nats-2",
            "nats-3",
        ] {
            let log = std::fs::read_to_string(self.run_dir().join(format!("{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            out += &format!("\n--- {name}.log (last lines) ---\n{}", tail.join("\n"));
        }
        out
    }
}

impl Drop for ClusterRun {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
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

/// True while `pid` is a live process (a zombie has exited).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The node (1..=3) leading the candidate stream once it has three copies,
/// every one up to date: killing it then loses no acknowledged batch.
fn settled_leader(s: &MetricsSnapshot) -> Option<u16> {
    let stream = s.streams.iter().find(|s| s.name == subjects::STREAM)?;
    let settled = stream.replicas == NODES as usize
        && stream.peers.len() == NODES as usize - 1
        && stream.peers.iter().all(|p| p.current && !p.offline);
    settled.then_some(())?;
    stream.leader.as_deref()?.strip_prefix('n')?.parse().ok()
}

fn verify(folder: &Path, min_items: u64) {
    let out = Command::new(bin_path("coordinator"))
        .arg("verify")
        .arg(folder)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_stream_leader_node_mid_run_still_reaches_the_target() {
    let mut run = ClusterRun::start(&[TOPIC, "--target", &TARGET.to_string()]);
    let operator = run.operator().await;
    // A meta leader within seconds, or tens of seconds on a loaded machine
    // running other clusters; then the replicated streams.
    run.wait_items(50, Duration::from_secs(240)).await;
    let leader = wait_for(
        "the candidate stream on three nodes, all up to date",
        Duration::from_secs(90),
        || async {
            let s = common::try_status(&operator).await?;
            settled_leader(&s)
        },
    )
    .await;
    let node = format!("nats-{leader}");
    let pid = run.pid(&node).expect("the leader's pid file");
    let before = run.items();
    assert!(
        (before as u64) < TARGET,
        "the run reached its target before the kill: raise TARGET"
    );
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );

    // The script starts the node again, and the run goes on.
    let run_ref = &run;
    let node_ref = &node;
    wait_for(
        &format!("{node} restarted by the script"),
        Duration::from_secs(90),
        || {
            let restarted = run_ref.pid(node_ref).filter(|&p| p != pid && alive(p));
            async move { restarted.map(|_| ()) }
        },
    )
    .await;
    run.wait_items(before + 50, Duration::from_secs(120)).await;

    let status = run.wait_exit(Duration::from_secs(600)).await;
    assert_eq!(status.code(), Some(0), "exit status\n{}", run.logs());
    let said = run.said();
    assert!(said.contains(&format!("{node} exited")), "{said}");
    assert!(said.contains(&format!("{node} restarted")), "{said}");
    assert!(said.contains("stopped: target reached"), "{said}");
    for noise in ["[igentai] error", "Broken pipe", "refused"] {
        assert!(
            !said.contains(noise),
            "{noise:?} in what the script said\n{said}"
        );
    }
    for i in 1..=NODES {
        assert!(
            run.pid(&format!("nats-{i}")).is_none(),
            "nats-{i} still has a pid file"
        );
    }
    verify(run.output().parent().unwrap(), TARGET);
}
