//! The dashboard takes `--nats-url` as every role does: one URL or a
//! comma-separated list of a cluster's nodes (what `NATS_CLUSTER=3
//! scripts/run.sh` passes). With a list whose first server is down, the
//! real binary still opens its port, connects to the live one and relays
//! the coordinator's snapshots.

mod common;

use common::*;
use testkit::{NatsServer, Role};

/// Snapshot sequence numbers start at the coordinator's wall clock.
const BASE: u64 = 1_700_000_000_000;

/// A loopback URL nothing listens on.
fn dead_url() -> String {
    format!("nats://127.0.0.1:{}", testkit::free_port())
}

async fn relays_with(urls: impl Fn(&str) -> String) {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let coordinator = nats.client_as(Role::Coordinator).await;
    let (mut dashboard, addr) = start_dashboard(&urls(&nats.url), &[], dir.path()).await;
    assert!(
        dashboard.is_running(),
        "the dashboard exited\n{}",
        dashboard.log_tail()
    );
    wait_nats_connected(&addr, &[]).await;

    let relayed = prime(&coordinator, &addr, BASE).await;
    let mut ws = ws_connect(&addr).await;
    assert_eq!(recv(&mut ws).await.data, relayed);
    let newer = publish_snapshot(&coordinator, &snapshot(BASE + 1, 11)).await;
    assert_eq!(recv(&mut ws).await.data, newer);
}

#[tokio::test]
async fn a_list_whose_first_server_is_down_connects_to_the_next() {
    relays_with(|live| format!("{},{live}", dead_url())).await;
}

#[tokio::test]
async fn a_list_naming_one_server_twice_connects() {
    relays_with(|live| format!("{live}, {live}")).await;
}
