//! Jobs on a slow model: a judge call or a partition call that takes
//! longer than the NATS client's own request timeout (10 s), as one on a
//! local model on a CPU does, still counts. Real nats-server, coordinator
//! and worker binaries, on a sim slower than that for every call.

mod common;

use std::time::Duration;

use testkit::Fleet;

/// The sim's latency grows with the square root of the items asked for:
/// 24 s for 20, so 17 s for an answer of 10 items, 15 s for a partition
/// job's 8 sub-categories, and over 10 s for a judge of 4 items or more
/// (the first judge job has the first answer's new items).
const SLOW: &str = r#"
[[providers]]
name = "slow"
kind = "sim"
[providers.sim]
latency_ms = 24000
latency_sigma = 0.0
"#;

/// An answer and a judge call one after the other, and room for a loaded
/// machine.
const WITHIN: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judge_and_partition_jobs_slower_than_ten_seconds_are_counted() {
    let fleet = Fleet::builder()
        .workers(1)
        .providers(SLOW)
        // The topic is split at once: its own answers would take minutes
        // to tell it saturated.
        .coordinator_env(&[
            ("IGENTAI_JUDGE_RATE", "1"),
            ("IGENTAI_TOPIC_JUDGE_AFTER", "0"),
        ])
        .start()
        .await;
    fleet.wait_workers(1).await;
    fleet
        .control
        .start(r#"{"topic":"Slow cheeses","items_per_request":10}"#)
        .await;

    let s = fleet
        .control
        .wait_status(
            "a judge's verdicts and the topic's sub-categories",
            WITHIN,
            |s| {
                let v = &s.totals.validity;
                let split = s.partitions.iter().any(|p| p.name != "(whole topic)");
                (v.jobs >= 1 && v.judged >= 1 && split).then(|| s.clone())
            },
        )
        .await;
    let v = &s.totals.validity;
    assert_eq!(v.failed_jobs, 0, "a judge job failed: {v:?}");
    assert_eq!(v.valid + v.invalid + v.unsure, v.judged, "{v:?}");
    let log = std::fs::read_to_string(fleet.dir.path().join("coordinator.log")).unwrap();
    assert!(
        !log.contains("partition request failed") && !log.contains("judge job failed"),
        "{log}"
    );
    fleet.control.stop().await;
}

/// A worker asked to stop while a slow call is in flight lets it run for
/// its stop grace (12 s here) before it answers; the coordinator waits for
/// that answer as long as its stop timeout says (30 s here), not the NATS
/// client's 10 s, and reports the worker stopped; `coordinator ctl stop`
/// waits for that reply as long too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_waits_for_a_worker_longer_than_ten_seconds() {
    let fleet = Fleet::builder()
        .workers(1)
        .providers(SLOW)
        .worker_env(&[("IGENTAI_STOP_GRACE_MS", "12000")])
        .coordinator_env(&[("IGENTAI_STOP_TIMEOUT_MS", "30000")])
        .start()
        .await;
    fleet.wait_workers(1).await;
    fleet
        .control
        .start(r#"{"topic":"Slow cheeses","items_per_request":20,"judge_rate":0}"#)
        .await;
    fleet
        .control
        .wait_status("a call in flight", WITHIN, |s| {
            s.workers.iter().any(|w| w.in_flight >= 1).then_some(())
        })
        .await;
    let ctl = tokio::process::Command::new(testkit::bin_path("coordinator"))
        .args(["ctl", "stop"])
        .env("NATS_URL", &fleet.nats.url)
        .envs(testkit::login::creds(testkit::login::Role::Operator))
        .output()
        .await
        .expect("run coordinator ctl stop");
    let stderr = String::from_utf8_lossy(&ctl.stderr);
    assert!(ctl.status.success(), "ctl stop failed: {stderr}");
    let reply: igentai_protocol::StopReply = serde_json::from_slice(&ctl.stdout)
        .unwrap_or_else(|e| panic!("ctl stop printed no stop reply ({e}): {stderr}"));
    assert_eq!(reply.workers_stopped, vec!["w1".to_string()], "{reply:?}");
    assert!(reply.workers_unresponsive.is_empty(), "{reply:?}");
}
