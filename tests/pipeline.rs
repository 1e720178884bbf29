//! The whole pipeline on a real nats-server with the real binaries:
//! coordinator + three sim workers, started by a plain-text `nats req`,
//! filling `output.txt` with distinct items, stopping cleanly, resuming.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use coordinator::ItemRecord;
use coordinator::normalize;
use futures::StreamExt;
use igentai_protocol::{Heartbeat, MetricsSnapshot, RunState, StartReply, StopReply, subjects};
use testkit::wait_for;

use common::{Fleet, lines};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_fills_output_stops_cleanly_and_resumes() {
    let fleet = Fleet::start(3).await;
    let mut metrics = fleet.client.subscribe(subjects::METRICS).await.unwrap();
    fleet.wait_workers(3).await;

    // Exactly what `nats req igentai.control.start 'Paris attractions'` sends.
    let reply = fleet
        .request(subjects::CONTROL_START, "Paris attractions")
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    let started: StartReply = serde_json::from_value(reply).unwrap();
    assert!(!started.resumed);
    let out_dir = std::path::PathBuf::from(&started.output_dir);
    assert!(out_dir.starts_with(&fleet.data), "{}", out_dir.display());

    wait_for("500 unique items", Duration::from_secs(90), || async {
        (fleet.status().await.totals.unique >= 500).then_some(())
    })
    .await;

    let reply = fleet.request(subjects::CONTROL_STOP, "").await;
    assert_eq!(reply["ok"], true, "{reply}");
    let stopped: StopReply = serde_json::from_value(reply).unwrap();
    let mut confirmed = stopped.workers_stopped.clone();
    confirmed.sort();
    assert_eq!(confirmed, ["w1", "w2", "w3"], "{stopped:?}");
    assert_eq!(stopped.stop_reason, "stop command");

    // Once stop is acknowledged, workers publish nothing more: the stream's
    // last sequence and every worker's published count stay put while each
    // worker sends two more heartbeats.
    let js = async_nats::jetstream::new(fleet.client.clone());
    let mut stream = js.get_stream(subjects::STREAM).await.unwrap();
    let last_seq = stream.info().await.unwrap().state.last_sequence;
    let mut heartbeats = fleet
        .client
        .subscribe(subjects::HEARTBEAT_ALL)
        .await
        .unwrap();
    let mut seen: BTreeMap<String, Vec<Heartbeat>> = BTreeMap::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while seen.len() < 3 || seen.values().any(|v| v.len() < 3) {
            let msg = heartbeats.next().await.unwrap();
            let hb: Heartbeat = serde_json::from_slice(&msg.payload).unwrap();
            seen.entry(hb.worker_id.clone()).or_default().push(hb);
        }
    })
    .await
    .expect("heartbeats from every worker");
    for (id, hbs) in &seen {
        assert!(
            hbs.iter().all(|h| h.run_id.is_none() && h.in_flight == 0),
            "{id}: {hbs:?}"
        );
        let published: HashSet<u64> = hbs.iter().map(|h| h.batches_published).collect();
        assert_eq!(
            published.len(),
            1,
            "{id} published after stop: {published:?}"
        );
    }
    assert_eq!(stream.info().await.unwrap().state.last_sequence, last_seq);

    // Everything published is ingested and acknowledged (the work queue empties).
    wait_for("the stream to drain", Duration::from_secs(30), || async {
        let mut stream = js.get_stream(subjects::STREAM).await.ok()?;
        (stream.info().await.ok()?.state.messages == 0).then_some(())
    })
    .await;

    let output = lines(&out_dir.join("output.txt"));
    assert!(output.len() >= 500, "{} items", output.len());
    let mut keys = HashSet::new();
    for item in &output {
        assert!(keys.insert(normalize(item)), "duplicate key for {item:?}");
    }
    let records: Vec<ItemRecord> = common::item_records(&out_dir.join("items.jsonl"));
    assert_eq!(records.len(), output.len());
    for (i, (record, item)) in records.iter().zip(&output).enumerate() {
        assert_eq!(record.seq, i as u64 + 1);
        assert_eq!(&record.item, item);
        assert_eq!(record.key, normalize(item));
        assert_eq!(record.run, started.run_id);
        assert_eq!(record.provider, "sim");
    }

    // Snapshots arrived with strictly increasing seq.
    let mut seqs = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(1), metrics.next()).await {
        let snapshot: MetricsSnapshot = serde_json::from_slice(&msg.payload).unwrap();
        seqs.push(snapshot.seq);
    }
    assert!(seqs.len() >= 3, "{} snapshots", seqs.len());
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let status = fleet.status().await;
    assert_eq!(status.state, RunState::Stopped);
    assert_eq!(status.totals.unique, output.len() as u64);
    assert!(status.estimate.is_some());

    // Starting the topic again resumes it: what is on disk is known.
    let reply = fleet
        .request(
            subjects::CONTROL_START,
            r#"{"topic":"Paris attractions","target":50}"#,
        )
        .await;
    let resumed: StartReply =
        serde_json::from_value(reply.clone()).unwrap_or_else(|_| panic!("{reply}"));
    assert!(resumed.resumed);
    assert_eq!(resumed.known_items, output.len() as u64);
    assert_eq!(resumed.output_dir, started.output_dir);
    // The target (50) is already met: the run stops by itself.
    wait_for(
        "the resumed run to stop at its target",
        Duration::from_secs(30),
        || async {
            let s = fleet.status().await;
            let reason = s.run.and_then(|r| r.stop_reason).unwrap_or_default();
            (s.state == RunState::Stopped && reason.starts_with("target reached")).then_some(())
        },
    )
    .await;
    let again = lines(&out_dir.join("output.txt"));
    assert_eq!(&again[..output.len()], &output[..]);
    let mut keys = HashSet::new();
    assert!(again.iter().all(|i| keys.insert(normalize(i))));
}
