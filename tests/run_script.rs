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

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::script::Script;
use testkit::free_port;

const TOPIC: &str = "Rare cheeses";
const SLUG: &str = "rare-cheeses";

/// `scripts/run.sh ARGS` on one nats-server, on free ports.
fn start(args: &[&str], env: &[(&str, &str)]) -> Script {
    let mut vars = vec![
        ("NATS_PORT", free_port().to_string()),
        ("NATS_MONITOR_PORT", free_port().to_string()),
        (
            "IGENTAI_DASHBOARD_ADDR",
            format!("127.0.0.1:{}", free_port()),
        ),
    ];
    vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    Script::start(SLUG, args, &vars)
}

/// The pids of every role the script started.
fn role_pids(run: &Script) -> Vec<(String, u32)> {
    ["nats", "coordinator", "dashboard", "worker-1", "worker-2"]
        .iter()
        .map(|name| {
            let pid = run
                .pid(name)
                .unwrap_or_else(|| panic!("no pid file for {name}\n{}", run.logs()));
            (name.to_string(), pid)
        })
        .collect()
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
    let mut run = start(&[TOPIC], &[]);
    run.wait_items(100, Duration::from_secs(180)).await;
    let pids = role_pids(&run);

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
    run.assert_stopped(&pids);
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
    let mut run = start(&[TOPIC, "--target", &TARGET.to_string()], &[]);
    run.wait_items(50, Duration::from_secs(180)).await;
    for round in 1..=3 {
        let pid = run.pid("coordinator").expect("coordinator pid");
        assert!(
            (run.items() as u64) < TARGET,
            "the run reached its target before kill {round}: raise TARGET"
        );
        assert!(
            Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
        let before = run.items();
        // Restarted under a new pid, and ingesting again.
        run.wait_restarted("coordinator", pid, Duration::from_secs(60))
            .await;
        run.wait_items(before + 20, Duration::from_secs(60)).await;
    }

    let status = run.wait_exit(Duration::from_secs(300)).await;
    assert_eq!(status.code(), Some(0), "exit status\n{}", run.logs());
    let out = run.said();
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
    let mut run = start(&[TOPIC], &[("IGENTAI_MAX_RESTARTS", "1")]);
    run.wait_items(20, Duration::from_secs(180)).await;
    let first = run.pid("coordinator").expect("coordinator pid");
    Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    let second = run
        .wait_restarted("coordinator", first, Duration::from_secs(60))
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
