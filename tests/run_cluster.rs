//! The README's command for a local cluster, `NATS_CLUSTER=3 scripts/run.sh
//! TOPIC --target N`, as a user runs it: three nats-servers, the
//! coordinator, sim workers and the dashboard, every port from one free
//! block, the binaries this build made.
//!
//! Mid-run the node leading the candidate stream is killed with SIGKILL:
//! the run goes on and reaches its target, the script restarts the node,
//! `output.txt` holds every item once, and the script stops everything and
//! exits 0 without an error line.

mod common;

use std::process::Command;
use std::time::Duration;

use common::script::Script;
use igentai_protocol::{MetricsSnapshot, subjects};
use testkit::wait_for;

const TOPIC: &str = "Sea birds";
const SLUG: &str = "sea-birds";
const NODES: u16 = 3;
const TARGET: u64 = 2000;

/// `NATS_CLUSTER=3 scripts/run.sh ARGS`, every port from one free block:
/// client ports `base..base+3`, monitoring `+3..`, routes `+6..`, the
/// dashboard `+9`. Returns the script and the nodes' client URLs.
fn start(args: &[&str]) -> (Script, Vec<String>) {
    let base = testkit::free_ports(3 * NODES + 1);
    let env = [
        ("NATS_CLUSTER", NODES.to_string()),
        ("NATS_PORT", base.to_string()),
        ("NATS_MONITOR_PORT", (base + NODES).to_string()),
        ("NATS_ROUTE_PORT", (base + 2 * NODES).to_string()),
        (
            "IGENTAI_DASHBOARD_ADDR",
            format!("127.0.0.1:{}", base + 3 * NODES),
        ),
    ];
    let urls = (0..NODES)
        .map(|i| format!("nats://127.0.0.1:{}", base + i))
        .collect();
    (Script::start(SLUG, args, &env), urls)
}

/// The operator's client on `urls`, with the password the script
/// generated.
async fn operator(run: &Script, urls: Vec<String>) -> async_nats::Client {
    let credentials = run.run_dir().join("credentials.env");
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
        .connect(urls)
        .await
        .expect("connect as the operator")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_stream_leader_node_mid_run_still_reaches_the_target() {
    let (mut run, urls) = start(&[TOPIC, "--target", &TARGET.to_string()]);
    let operator = operator(&run, urls).await;
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
    run.wait_restarted(&node, pid, Duration::from_secs(90))
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
    run.verify(TARGET);
}
