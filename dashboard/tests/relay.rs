//! The relay end to end: snapshots and items published on a real
//! nats-server reach WebSocket clients of the real dashboard binary, in
//! order, verbatim, without stale snapshots, and a client that connects late
//! (or reconnects) starts from the latest state.

mod common;

use common::*;
use igentai_protocol::subjects::{ITEMS, METRICS};
use serde::Deserialize;

/// Snapshot sequence numbers start at the coordinator's wall clock.
const BASE: u64 = 1_700_000_000_000;

/// `GET /api/relay`, the fields this test reads.
#[derive(Debug, Deserialize)]
struct RelayStats {
    last_seq: Option<u64>,
    snapshots: u64,
    items_events: u64,
    stale_snapshots: u64,
    bad_metrics: u64,
    bad_items: u64,
}

async fn relay_stats(addr: &str) -> RelayStats {
    let response = http(addr, "GET", "/api/relay", &[], b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("{e}: {response:?}"))
}

#[tokio::test]
async fn snapshots_are_relayed_in_order_without_stale_ones() {
    let mut s = setup(&[]).await;
    let first = prime(&s.client, &s.addr, BASE).await;

    // Published before this client connected: sent on connect.
    let mut ws = ws_connect(&s.addr).await;
    let got = recv(&mut ws).await;
    assert_eq!(
        got,
        Got {
            kind: "metrics".into(),
            data: first
        }
    );
    assert_eq!(got.metrics().seq, BASE);

    let newer = publish_snapshot(&s.client, &snapshot(BASE + 1, 11)).await;
    assert_eq!(recv(&mut ws).await.data, newer);

    // Stale, repeated and unreadable payloads are dropped, and do not hurt...
    // (priming may already have repeated the first snapshot: count from here)
    let before = relay_stats(&s.addr).await;
    publish_snapshot(&s.client, &snapshot(BASE - 1, 9)).await;
    publish_snapshot(&s.client, &snapshot(BASE + 1, 99)).await;
    publish(&s.client, METRICS, "not json".into()).await;
    publish(&s.client, METRICS, r#"{"state":"running"}"#.into()).await;
    publish(&s.client, ITEMS, "<img src=x onerror=alert(1)>".into()).await;
    publish(&s.client, ITEMS, r#"{"run_id":"run-1"}"#.into()).await;
    // ...as the relay's counters say, once it has read them all...
    let (addr, stale_before) = (s.addr.as_str(), before.stale_snapshots);
    let stats = testkit::wait_for(
        "the relay to count the dropped payloads",
        WAIT,
        move || async move {
            let stats = relay_stats(addr).await;
            let counted = stats.stale_snapshots - stale_before == 2
                && stats.bad_metrics == 2
                && stats.bad_items == 2;
            counted.then_some(stats)
        },
    )
    .await;
    assert_eq!(
        (stats.last_seq, stats.snapshots, stats.items_events),
        (Some(BASE + 1), 2, 0)
    );
    // ...so a client connecting now still starts from the last good snapshot,
    let mut joining = ws_connect(&s.addr).await;
    assert_eq!(recv(&mut joining).await.data, newer);
    // and, NATS keeping one publisher's order, the next frame is the next good snapshot.
    let next = publish_snapshot(&s.client, &snapshot(BASE + 2, 12)).await;
    assert_eq!(recv(&mut joining).await.data, next);
    let got = recv(&mut ws).await;
    assert_eq!(got.data, next);
    assert_eq!(got.metrics().totals.unique, 12);

    // Items are relayed byte for byte, markup included: escaping is the page's job.
    let event = items_event(
        1,
        &[
            "<script>alert(1)</script>",
            "Louvre",
            "<img src=x onerror=alert(2)>",
        ],
    );
    let items = publish_items(&s.client, &event).await;
    let got = recv(&mut ws).await;
    assert_eq!(
        got,
        Got {
            kind: "items".into(),
            data: items.clone()
        }
    );
    assert_eq!(got.items(), event);

    // A client joining now starts from the latest snapshot and the recent items.
    let mut late = ws_connect(&s.addr).await;
    assert_eq!(recv(&mut late).await.data, next);
    assert_eq!(recv(&mut late).await.data, items);

    assert!(
        s.dashboard.is_running(),
        "bad payloads must not stop the dashboard"
    );
}

#[tokio::test]
async fn every_client_gets_every_update_and_reconnects_get_the_latest() {
    let s = setup(&[]).await;
    let first = prime(&s.client, &s.addr, BASE).await;

    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = ws_connect(&s.addr).await;
        assert_eq!(recv(&mut ws).await.data, first);
        clients.push(ws);
    }

    let mut snapshots = Vec::new();
    let mut items = Vec::new();
    for i in 1..=5 {
        snapshots.push(publish_snapshot(&s.client, &snapshot(BASE + i, 10 + i)).await);
        items.push(publish_items(&s.client, &items_event(i, &["Eiffel Tower"])).await);
    }
    for (n, ws) in clients.iter_mut().enumerate() {
        // Order holds per subject; metrics and items are separate streams.
        let (mut got_snapshots, mut got_items) = (Vec::new(), Vec::new());
        for _ in 0..snapshots.len() + items.len() {
            let got = recv(ws).await;
            match got.kind.as_str() {
                "metrics" => got_snapshots.push(got.data),
                "items" => got_items.push(got.data),
                other => panic!("client {n}: unexpected frame type {other}"),
            }
        }
        assert_eq!(got_snapshots, snapshots, "client {n}");
        assert_eq!(got_items, items, "client {n}");
    }

    // One client leaves; the others keep receiving; it comes back to the latest.
    close(clients.remove(0)).await;
    let latest = publish_snapshot(&s.client, &snapshot(BASE + 6, 16)).await;
    for ws in &mut clients {
        assert_eq!(recv(ws).await.data, latest);
    }
    let mut back = ws_connect(&s.addr).await;
    let got = recv(&mut back).await;
    assert_eq!(got.data, latest);
    assert_eq!(got.metrics().seq, BASE + 6);
}

#[tokio::test]
async fn starts_before_nats_and_relays_once_it_is_up() {
    let dir = testkit::test_dir();
    let port = testkit::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let (_dashboard, addr) = start_dashboard(&url, &[], dir.path()).await;

    // Serving, and saying plainly that it cannot reach NATS.
    let response = http(&addr, "GET", "/api/status", &[], b"").await;
    assert_eq!(response.status, 503, "{response:?}");
    assert!(
        response.body.starts_with(r#"{"ok":false,"error":"#),
        "{response:?}"
    );
    let response = http(&addr, "GET", "/api/relay", &[], b"").await;
    assert!(
        response.body.contains(r#""nats":"connecting""#),
        "{response:?}"
    );

    // The server comes up where the dashboard already looks.
    let nats = testkit::NatsServer::start_on(dir.path(), port).await;
    let client = nats.client_as(testkit::Role::Coordinator).await;

    let first = prime(&client, &addr, BASE).await;
    let mut ws = ws_connect(&addr).await;
    assert_eq!(recv(&mut ws).await.data, first);
    wait_nats_connected(&addr, &[]).await;
}

#[tokio::test]
async fn a_slow_client_skips_to_the_latest_instead_of_being_dropped() {
    const UPDATES: u64 = 400;
    let s = setup(&["--ws-buffer", "16"]).await;
    let first = prime(&s.client, &s.addr, BASE).await;

    // A browser that reads nothing for now, behind a tiny receive buffer:
    // the dashboard's writes to it block after a few frames.
    let mut slow = ws_connect_with_recv_buffer(&s.addr, 4096).await;
    let mut fast = ws_connect(&s.addr).await;
    assert_eq!(recv(&mut fast).await.data, first);

    // ~13 MiB of snapshots: far more than the kernel buffers plus 16 queued updates.
    let padding = "x".repeat(32 * 1024);
    for i in 1..=UPDATES {
        let mut snapshot = snapshot(BASE + i, 10 + i);
        snapshot.last_error = Some(padding.clone());
        let json = serde_json::to_string(&snapshot).expect("serializes");
        s.client
            .publish(METRICS, json.into())
            .await
            .expect("publish");
    }
    s.client.flush().await.expect("flush");
    // A reading client sees the last one: the dashboard has relayed them all.
    let mut last = BASE;
    while last < BASE + UPDATES {
        let seq = recv(&mut fast).await.metrics().seq;
        assert!(seq > last, "snapshots went backwards: {seq} after {last}");
        last = seq;
    }

    // The slow one now reads: never backwards, some skipped, up to the latest.
    let mut seqs = Vec::new();
    while seqs.last() != Some(&(BASE + UPDATES)) {
        let seq = recv(&mut slow).await.metrics().seq;
        assert!(
            seqs.last().is_none_or(|&last| seq > last),
            "{seq} after {seqs:?}"
        );
        seqs.push(seq);
    }
    assert_eq!(seqs[0], BASE);
    assert!(
        seqs.len() < (UPDATES + 1) as usize,
        "the slow client never lagged, so this test proved nothing: {} frames",
        seqs.len()
    );
    // ...and is still connected and served.
    let after = publish_snapshot(&s.client, &snapshot(BASE + UPDATES + 1, 1)).await;
    assert_eq!(recv(&mut slow).await.data, after);
}

#[tokio::test]
async fn a_connecting_client_gets_the_runs_history_for_its_charts() {
    #[derive(Debug, Deserialize)]
    struct History {
        run_id: Option<String>,
        points: Vec<Point>,
    }
    #[derive(Debug, Deserialize)]
    struct Point {
        ts_ms: u64,
        unique: u64,
    }
    async fn history_on_connect(addr: &str) -> (History, Got) {
        let mut ws = ws_connect(addr).await;
        let first = try_recv_any(&mut ws, FRAME).await.expect("a frame");
        assert_eq!(first.kind, "history", "{first:?}");
        let history = serde_json::from_str(&first.data).expect("history frame");
        let next = recv(&mut ws).await;
        close(ws).await;
        (history, next)
    }

    let s = setup(&[]).await;
    prime(&s.client, &s.addr, BASE).await;
    let mut last = String::new();
    for i in 1..=3 {
        last = publish_snapshot(&s.client, &snapshot(BASE + i * 1000, 10 + i)).await;
    }
    let addr = s.addr.as_str();
    testkit::wait_for("the relay to take the snapshots", WAIT, move || async move {
        (relay_stats(addr).await.last_seq == Some(BASE + 3000)).then_some(())
    })
    .await;

    // The run so far, then the latest snapshot itself.
    let (history, next) = history_on_connect(&s.addr).await;
    assert_eq!(history.run_id.as_deref(), Some("run-1"));
    let points: Vec<(u64, u64)> = history.points.iter().map(|p| (p.ts_ms, p.unique)).collect();
    assert_eq!(
        points,
        [
            (BASE, 10),
            (BASE + 1000, 11),
            (BASE + 2000, 12),
            (BASE + 3000, 13)
        ]
    );
    assert_eq!(next.data, last);

    // Another run starts another history.
    let mut other = snapshot(BASE + 4000, 1);
    other.run.as_mut().expect("a run").run_id = "run-2".into();
    let other = publish_snapshot(&s.client, &other).await;
    testkit::wait_for("the relay to take the new run", WAIT, move || async move {
        (relay_stats(addr).await.last_seq == Some(BASE + 4000)).then_some(())
    })
    .await;
    let (history, next) = history_on_connect(&s.addr).await;
    assert_eq!(history.run_id.as_deref(), Some("run-2"));
    assert_eq!(history.points.len(), 1);
    assert_eq!(next.data, other);
}
