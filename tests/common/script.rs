//! `scripts/run.sh` as a user runs it, for the tests of the README's
//! commands: in a process group of its own (what a terminal's foreground
//! job is), on a temporary data and run dir, with the binaries this build
//! made and the ports the caller picked.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use testkit::{alive, bin_path, repo_root, wait_for};

pub struct Script {
    dir: TempDir,
    slug: String,
    child: Option<Child>,
}

impl Script {
    /// Starts `scripts/run.sh ARGS` with two workers, the caller's `env`
    /// (ports, cluster size, limits) on top; `slug` names the topic's
    /// folder.
    pub fn start(slug: &str, args: &[&str], env: &[(&str, String)]) -> Script {
        let dir = testkit::test_dir();
        let out = std::fs::File::create(dir.path().join("run.sh.out")).unwrap();
        let err = std::fs::File::create(dir.path().join("run.sh.err")).unwrap();
        let bin = bin_path("coordinator").parent().unwrap().to_path_buf();
        // Through `env --default-signal=INT`: a test run started in the
        // background (`cmd &`, nohup) inherits SIGINT ignored, and a shell
        // cannot trap a signal ignored when it started; a terminal's
        // Ctrl-C reaches run.sh with SIGINT at its default.
        let mut cmd = Command::new("env");
        cmd.args(["--default-signal=INT", "bash"])
            .arg(repo_root().join("scripts/run.sh"))
            .args(args)
            .current_dir(repo_root())
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
            // A process group of its own, led by the script.
            .process_group(0);
        for role in testkit::Role::ALL {
            cmd.env_remove(role.password_var());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start scripts/run.sh");
        Script {
            dir,
            slug: slug.to_string(),
            child: Some(child),
        }
    }

    pub fn output(&self) -> PathBuf {
        self.dir
            .path()
            .join("data")
            .join(&self.slug)
            .join("output.txt")
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The pid in `run/<name>.pid`, while there is one.
    pub fn pid(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.run_dir().join(format!("{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Lines of `output.txt` so far; none before the coordinator made it.
    pub fn items(&self) -> usize {
        let output = self.output();
        if output.exists() {
            super::lines(&output).len()
        } else {
            0
        }
    }

    /// Waits for `at_least` items; fails at once when the script exited.
    pub async fn wait_items(&self, at_least: usize, within: Duration) {
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

    /// Waits until each of `names` has a pid file, and returns the pids;
    /// fails at once when the script exited.
    pub async fn wait_pids(&self, names: &[&str], within: Duration) -> Vec<(String, u32)> {
        let script = self.child.as_ref().expect("the script runs").id();
        wait_for(&format!("pid files of {names:?}"), within, || {
            assert!(alive(script), "scripts/run.sh exited\n{}", self.logs());
            let pids: Option<Vec<(String, u32)>> = names
                .iter()
                .map(|name| Some((name.to_string(), self.pid(name)?)))
                .collect();
            async move { pids }
        })
        .await
    }

    /// Asserts that none of `pids` (a role's name and pid) still runs.
    pub fn assert_stopped(&self, pids: &[(String, u32)]) {
        for (name, pid) in pids {
            assert!(
                !testkit::alive(*pid),
                "{name} (pid {pid}) still runs\n{}",
                self.logs()
            );
        }
    }

    /// The names of the pid files left in the run dir.
    pub fn pid_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.run_dir())
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pid"))
            .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    }

    /// Waits until `name`'s pid file names a live process other than
    /// `old`: the script restarted it.
    pub async fn wait_restarted(&self, name: &str, old: u32, within: Duration) -> u32 {
        wait_for(&format!("{name} restarted by the script"), within, || {
            let restarted = self.pid(name).filter(|&p| p != old && alive(p));
            async move { restarted }
        })
        .await
    }

    /// Sends `signal` to the script's whole process group, as a terminal
    /// does for Ctrl-C.
    pub fn signal_group(&self, signal: &str) {
        let pgid = self.child.as_ref().unwrap().id();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal} -{pgid} failed");
    }

    /// Waits (bounded) for the script to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("the script runs");
        let status = wait_for("scripts/run.sh to exit", within, || {
            let status = child.try_wait().expect("wait for scripts/run.sh");
            async move { status }
        })
        .await;
        self.child = None;
        status
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run.sh.out")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run.sh.err")).unwrap_or_default()
    }

    /// Everything the script said, stdout then stderr.
    pub fn said(&self) -> String {
        self.stdout() + &self.stderr()
    }

    /// A role's log, `run/<name>.log`.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.run_dir().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// What the script said and the last lines of every role's log.
    pub fn logs(&self) -> String {
        let mut out = format!(
            "--- run.sh stdout ---\n{}\n--- run.sh stderr ---\n{}",
            self.stdout(),
            self.stderr()
        );
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.run_dir())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
        logs.sort();
        for path in logs {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let name = path.file_name().unwrap().to_string_lossy();
            out += &format!("\n--- {name} (last lines) ---\n{}", tail_of(&log));
        }
        out
    }

    /// `coordinator verify` on the topic's folder: every key once, no torn
    /// line, at least `min_items`.
    pub fn verify(&self, min_items: u64) {
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

impl Drop for Script {
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

/// A log's last 30 lines, after the lines that say why a process ended
/// (a panic's message, an error) from anywhere before them, so a long
/// backtrace cannot push the cause out of the test's failure message.
fn tail_of(log: &str) -> String {
    const TAIL: usize = 30;
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.len().saturating_sub(TAIL);
    let causes = lines[..start]
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("panicked at") || l.contains("ERROR") || l.starts_with("Error"))
        .flat_map(|(i, _)| &lines[i..(i + 3).min(start)]);
    let mut out: Vec<&str> = causes.copied().collect();
    if !out.is_empty() {
        out.push("…");
    }
    out.extend(&lines[start..]);
    out.join("\n")
}
