//! Faults against a steered run, with the real binaries on a real
//! nats-server: a worker killed with SIGKILL hands its partition to the
//! survivors; with every strategy on, production goes on through a provider
//! failing half its calls and a healthy one while the weights move away
//! from one answering only 429s and one failing every call; and a
//! nats-server restart mid-run is ridden out by the coordinator, the
//! workers and the dashboard alike, with nothing lost.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use coordinator::ItemRecord;
use coordinator::normalize;
use futures::StreamExt;
use igentai_protocol::{
    Heartbeat, MetricsSnapshot, RunState, WeightsUpdate, WorkerState, subjects,
};
use testkit::http::get;
use testkit::{
    Control, CoordinatorSpec, NatsServer, Proc, Role, WorkerSpec, bin_path, creds, wait_for,
};
use tokio_tungstenite::tungstenite::Message;

use common::{lines, spawn_coordinator, wait_drained};

const WITHIN: Duration = Duration::from_secs(60);
/// How long one request to the dashboard may take.
const FIVE_S: Duration = Duration::from_secs(5);

fn write_providers(dir: &Path, toml: &str) -> std::path::PathBuf {
    let path = dir.join("providers.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

async fn wait_alive(control: &Control, n: usize) {
    control
        .wait_status(&format!("{n} workers alive"), WITHIN, |s| {
            (s.workers.iter().filter(|w| w.alive).count() == n).then_some(())
        })
        .await;
}

/// The item records of items.jsonl written in full so far.
fn records(output_dir: &Path) -> Vec<ItemRecord> {
    common::item_records(&output_dir.join("items.jsonl"))
}

/// Every item once: no two lines of output.txt share a dedup key.
fn assert_no_duplicates(output: &[String]) {
    let mut keys = HashSet::new();
    for item in output {
        assert!(keys.insert(normalize(item)), "{item:?} written twice");
    }
}

// ---- a killed worker's partition ---------------------------------------

/// A world of three sub-categories with no deeper levels, large enough
/// that none of them saturates during the test.
const THREE_PARTITIONS: &str = r#"
[[providers]]
name = "sim"
kind = "sim"
[providers.sim]
universe = 30000
fanout = 3
depth = 1
latency_ms = 30
"#;

/// Active sub-categories of the topic (not the whole topic).
fn active(s: &MetricsSnapshot) -> BTreeSet<String> {
    s.partitions
        .iter()
        .filter(|p| p.state == "active" && p.name != "(whole topic)")
        .map(|p| p.name.clone())
        .collect()
}

/// Partition each alive worker of the run reports working on.
fn worked_by(s: &MetricsSnapshot, run_id: &str) -> BTreeMap<String, String> {
    s.workers
        .iter()
        .filter(|w| w.alive && w.run_id.as_deref() == Some(run_id))
        .filter_map(|w| Some((w.worker_id.clone(), w.partition.clone()?)))
        .collect()
}

fn batches_in(s: &MetricsSnapshot, partition: &str) -> u64 {
    s.partitions
        .iter()
        .find(|p| p.name == partition)
        .map_or(0, |p| p.yields.batches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_partition_is_taken_over_by_a_survivor() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let providers = write_providers(dir.path(), THREE_PARTITIONS);
    // The topic is split at once, and partitions are never judged, so
    // never split or retired. The partitions arm still rotates a share of
    // the workers onto the broad prompt (a new turn every few seconds), so
    // at any moment three or four of them are on partitions.
    let _coordinator = CoordinatorSpec::new()
        .env(&[
            ("IGENTAI_TOPIC_JUDGE_AFTER", "0"),
            ("IGENTAI_PARTITION_MAX_DEPTH", "1"),
            ("IGENTAI_PARTITION_JUDGE_AFTER", "1000000000"),
        ])
        .spawn(dir.path(), &nats.url, &data);
    let mut workers: BTreeMap<String, Proc> = BTreeMap::new();
    for i in 1..=4 {
        let id = format!("w{i}");
        let proc = WorkerSpec::on(&id, &providers)
            .spawn(dir.path(), &nats)
            .await;
        workers.insert(id, proc);
    }
    let client = nats.client_as(Role::Operator).await;
    let control = Control::new(&client);
    wait_alive(&control, 4).await;
    let started = control.start(
        r#"{"topic":"Paris attractions","strategies":{"weights":true,"partitions":true,"avoid":true}}"#,
    )
    .await;
    let run_id = started.run_id.as_str();

    // Four workers over three partitions: every partition is worked, so at
    // least two of them by a single worker (the fourth is on the broad
    // prompt or doubles one).
    let (victim, partition) = wait_for(
        "every partition worked, one by a single worker",
        WITHIN,
        || async {
            let s = control.try_status().await?;
            let active = active(&s);
            let on = worked_by(&s, run_id);
            let covered: BTreeSet<String> = on.values().cloned().collect();
            if active.len() != 3 || covered != active {
                return None;
            }
            on.iter()
                .find(|(w, p)| on.iter().all(|(o, q)| o == *w || q != *p))
                .map(|(w, p)| (w.clone(), p.clone()))
        },
    )
    .await;

    let out = Path::new(&started.output_dir);
    let in_partition = |r: &ItemRecord| r.partition.as_deref() == Some(partition.as_str());
    wait_for(
        &format!("{victim}'s first items in {partition:?}"),
        WITHIN,
        || async {
            records(out)
                .iter()
                .any(|r| in_partition(r) && r.worker == victim)
                .then_some(())
        },
    )
    .await;
    let unique_at_kill = control.try_status().await.expect("status").totals.unique;
    workers.get_mut(&victim).unwrap().kill9();
    let gone = wait_for(&format!("{victim} marked gone"), WITHIN, || async {
        let s = control.try_status().await?;
        s.workers
            .iter()
            .any(|w| w.worker_id == victim && !w.alive)
            .then_some(s)
    })
    .await;
    let before = batches_in(&gone, &partition);

    // Its partition goes to a survivor, which produces in it; every active
    // partition is worked by a live worker again.
    let after = wait_for(
        &format!("{partition:?} worked by a survivor"),
        WITHIN,
        || async {
            let s = control.try_status().await?;
            let on = worked_by(&s, run_id);
            let covered: BTreeSet<String> = on.values().cloned().collect();
            let taken = on.iter().any(|(w, p)| *w != victim && *p == partition);
            (taken && covered == active(&s) && batches_in(&s, &partition) >= before + 5)
                .then_some(s)
        },
    )
    .await;
    let on = worked_by(&after, run_id);
    assert_eq!(on.len(), 3, "three survivors, each on a partition: {on:?}");
    assert!(!on.contains_key(&victim), "{on:?}");
    assert_eq!(active(&after).len(), 3, "{:?}", after.partitions);
    assert_eq!(after.state, RunState::Running);

    // The items on disk tell the same: the victim worked the partition
    // until it died, and survivors found new items in it since.
    let survivors = wait_for(
        "survivors' items in the partition on disk",
        WITHIN,
        || async {
            let records = records(out);
            let earlier: BTreeSet<String> = records
                .iter()
                .filter(|r| in_partition(r) && r.seq <= unique_at_kill)
                .map(|r| r.worker.clone())
                .collect();
            // Others may have produced in it too while the spread settled
            // (a batch is published under the partition it was asked for).
            assert!(
                earlier.contains(&victim),
                "who worked {partition:?} before the kill: {earlier:?}"
            );
            let later: BTreeSet<String> = records
                .iter()
                .filter(|r| in_partition(r) && r.seq > unique_at_kill && r.worker != victim)
                .map(|r| r.worker.clone())
                .collect();
            (!later.is_empty()).then_some(later)
        },
    )
    .await;
    assert!(
        survivors.iter().all(|w| on.contains_key(w)),
        "{survivors:?} vs {on:?}"
    );
}

// ---- weights away from failing providers --------------------------------

/// Four sims of one world, alike but for their faults: one fails half its
/// calls, one answers every call with a 429 (a rate limit that lasts), one
/// fails every call, one is healthy.
const FAULTY: &str = r#"
[[providers]]
name = "flaky"
kind = "sim"
[providers.sim]
latency_ms = 40
failure_rate = 0.5

[[providers]]
name = "limited"
kind = "sim"
[providers.sim]
latency_ms = 40
rate_limit_rate = 1.0

[[providers]]
name = "broken"
kind = "sim"
[providers.sim]
latency_ms = 40
failure_rate = 1.0

[[providers]]
name = "steady"
kind = "sim"
[providers.sim]
latency_ms = 40
"#;

/// The next weights update of `run_id` that satisfies `done`.
async fn weights_where(
    updates: &mut async_nats::Subscriber,
    run_id: &str,
    what: &str,
    done: impl Fn(&WeightsUpdate) -> bool,
) -> WeightsUpdate {
    tokio::time::timeout(WITHIN, async {
        loop {
            let msg = updates.next().await.expect("weights subscription open");
            let update: WeightsUpdate =
                serde_json::from_slice(&msg.payload).expect("weights updates decode");
            if update.run_id == run_id && done(&update) {
                return update;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no weights update {what} within {WITHIN:?}"))
}

/// With every strategy on (the default), the fleet produces through the
/// healthy provider and the half-failing one, and the published weights
/// move away from the faulty ones: zero for the one failing every call,
/// the exploration floor for the one answering only 429s, less than half
/// the healthy one's weight for the half-failing one (its answers are as
/// good, but only half its calls answer), the lead for the healthy one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_move_away_from_faulty_providers_while_production_continues() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let providers = write_providers(dir.path(), FAULTY);
    let _coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
    let mut _workers: Vec<Proc> = Vec::new();
    for i in 1..=2 {
        let spec = WorkerSpec::on(&format!("w{i}"), &providers);
        _workers.push(spec.spawn(dir.path(), &nats).await);
    }
    let client = nats.client_as(Role::Operator).await;
    let control = Control::new(&client);
    wait_alive(&control, 2).await;
    let mut updates = client.subscribe(subjects::WEIGHTS).await.unwrap();
    client.flush().await.unwrap();
    let started = control.start("Fault weights").await;
    let run_id = started.run_id.as_str();

    // The weights move away from the faulty providers: `broken` opens its
    // breaker in both workers, the fleet reports it unhealthy and it gets
    // zero; `limited` never answers, so it keeps only the exploration
    // floor; `flaky` is scored on the half of its calls that answer;
    // `steady` leads.
    let away = |w: &BTreeMap<String, f64>| {
        let weight = |name: &str| w.get(name).copied().unwrap_or(f64::NAN);
        weight("broken") == 0.0
            && weight("limited") < 0.1
            && weight("steady") > 0.5
            && weight("flaky") < weight("steady") / 2.0
    };
    let moved = wait_for("weights away from the faulty providers", WITHIN, || async {
        let s = control.try_status().await?;
        let broken = s.providers.get("broken")?;
        (away(&s.weights) && broken.open_breakers == 2 && s.totals.unique >= 300).then_some(s)
    })
    .await;
    assert!(!moved.weights_manual);
    let update = weights_where(
        &mut updates,
        run_id,
        "away from the faulty providers",
        |u| away(&u.weights),
    )
    .await;
    assert!(!update.manual);
    let total: f64 = update.weights.values().sum();
    assert!((total - 1.0).abs() < 1e-6, "weights sum to one: {update:?}");

    // Production goes on through the others.
    let before = moved.totals.unique;
    let s = wait_for("1000 more unique items", WITHIN, || async {
        let s = control.try_status().await?;
        (s.totals.unique >= before + 1000).then_some(s)
    })
    .await;
    assert_eq!(s.state, RunState::Running);
    let (flaky, limited, broken, steady) = (
        &s.providers["flaky"],
        &s.providers["limited"],
        &s.providers["broken"],
        &s.providers["steady"],
    );
    assert!(
        flaky.failures.get("server_error").is_some_and(|n| *n > 0) && flaky.yields.batches > 0,
        "flaky fails some calls and answers others: {flaky:?}"
    );
    assert!(
        limited.requests > 0
            && limited.failures.get("rate_limited") == Some(&limited.requests)
            && limited.yields.batches == 0,
        "every call of limited is a 429: {limited:?}"
    );
    assert!(
        broken.requests > 0 && broken.yields.batches == 0,
        "{broken:?}"
    );
    assert!(
        steady.failures.is_empty() && steady.yields.batches > flaky.yields.batches,
        "the healthy provider answers most: steady {steady:?}, flaky {flaky:?}"
    );

    let reply = client
        .request(subjects::CONTROL_STOP, "".into())
        .await
        .unwrap();
    let stopped: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(stopped["ok"], true, "{stopped}");
    wait_drained(&jetstream::new(client.clone()), WITHIN).await;
    let out = Path::new(&started.output_dir);
    let records = records(out);
    let by: BTreeSet<&str> = records.iter().map(|r| r.provider.as_str()).collect();
    assert_eq!(by, BTreeSet::from(["flaky", "steady"]));
    let output = lines(&out.join("output.txt"));
    assert_eq!(records.len(), output.len());
    assert_no_duplicates(&output);
}

// ---- a nats-server restart under the whole fleet ------------------------

/// The dashboard on a free port, logged in as `dashboard`; returns it and
/// its address.
fn spawn_dashboard(dir: &Path, nats_url: &str, data: &Path) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", testkit::free_port());
    let [user, password] = creds(Role::Dashboard);
    let proc = Proc::spawn(
        "dashboard",
        &bin_path("dashboard"),
        &["--nats-url", nats_url, "--listen", &addr],
        &[user, password, ("IGENTAI_DATA_DIR", data.to_str().unwrap())],
        dir,
    );
    (proc, addr)
}

/// What a browser saw of one metrics snapshot.
#[derive(Debug, Clone, Copy)]
struct Shown {
    seq: u64,
    ts_ms: u64,
    state: RunState,
    unique: u64,
}

/// Every metrics snapshot the dashboard relayed over one WebSocket, in order.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<Shown>>>;

/// Opens a WebSocket to the dashboard and records every snapshot it relays
/// until the connection ends (which the test then notices: nothing new).
async fn watch(addr: &str) -> Seen {
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")),
    )
    .await
    .expect("websocket handshake within 10 s")
    .expect("websocket handshake");
    let seen = Seen::default();
    let sink = seen.clone();
    tokio::spawn(async move {
        #[derive(serde::Deserialize)]
        struct Frame {
            #[serde(rename = "type")]
            kind: String,
            data: serde_json::Value,
        }
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let frame: Frame = serde_json::from_str(text.as_str()).expect("frames are JSON");
            if frame.kind == "metrics" {
                let s: MetricsSnapshot =
                    serde_json::from_value(frame.data).expect("metrics frames hold snapshots");
                sink.lock().unwrap().push(Shown {
                    seq: s.seq,
                    ts_ms: s.ts_ms,
                    state: s.state,
                    unique: s.totals.unique,
                });
            }
        }
    });
    seen
}

fn last_seen(seen: &Seen) -> Option<Shown> {
    seen.lock().unwrap().last().copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_fleet_and_dashboard_ride_out_a_nats_restart() {
    const TARGET: u64 = 4000;
    let dir = testkit::test_dir();
    let mut nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let _coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
    let mut _workers: Vec<Proc> = Vec::new();
    for i in 1..=2 {
        _workers.push(common::spawn_worker(dir.path(), &nats, &format!("w{i}")).await);
    }
    let (_dashboard, addr) = spawn_dashboard(dir.path(), &nats.url, &data);
    let client = nats.client_as(Role::Operator).await;
    let control = Control::new(&client);
    wait_alive(&control, 2).await;
    wait_for("the dashboard connected to NATS", WITHIN, || async {
        let (code, body) = get(&addr, "/api/relay", FIVE_S).await?;
        (code == 200 && body.contains(r#""nats":"connected""#)).then_some(())
    })
    .await;
    let seen = watch(&addr).await;

    // No partition jobs: then every answer a worker gets is a batch, and
    // its heartbeat counters tell whether one was lost.
    let started = control
        .start(&format!(
            r#"{{"topic":"Restart under the dashboard","target":{TARGET},
                "strategies":{{"partitions":false}}}}"#
        ))
        .await;
    let before = wait_for("the browser to see 500 items", WITHIN, || async {
        last_seen(&seen).filter(|s| s.state == RunState::Running && s.unique >= 500)
    })
    .await;
    assert!(before.unique < TARGET, "the run is still going: {before:?}");

    nats.restart().await;
    let back_at_ms = igentai_protocol::now_ms();

    // The dashboard reconnects by itself: the same browser connection goes
    // on receiving fresh snapshots of a growing run, and /api/status is
    // answered by the coordinator through it again.
    wait_for("fresh snapshots on the same WebSocket", WITHIN, || async {
        last_seen(&seen)
            .filter(|s| s.ts_ms > back_at_ms && s.seq > before.seq && s.unique > before.unique)
    })
    .await;
    let body = wait_for("/api/status answered again", WITHIN, || async {
        let (code, body) = get(&addr, "/api/status", FIVE_S).await?;
        (code == 200 && body.contains(&started.run_id)).then_some(body)
    })
    .await;
    assert!(body.contains(r#""ok":true"#), "{body}");

    // The run reaches its target and stops; everything acknowledged is
    // ingested.
    let done = wait_for("the run to reach its target", WITHIN, || async {
        let s = control.try_status().await?;
        (s.state == RunState::Stopped).then_some(s)
    })
    .await;
    let reason = done.run.as_ref().and_then(|r| r.stop_reason.clone());
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.starts_with("target reached")),
        "{reason:?}"
    );
    let mut heartbeats = client.subscribe(subjects::HEARTBEAT_ALL).await.unwrap();
    wait_for("workers idle", WITHIN, || async {
        let s = control.try_status().await?;
        s.workers
            .iter()
            .all(|w| w.alive && w.state == WorkerState::Idle && w.in_flight == 0)
            .then_some(())
    })
    .await;
    wait_drained(&jetstream::new(client.clone()), WITHIN).await;
    let s = control.try_status().await.expect("status");

    // Nothing lost, nothing twice: output.txt holds each item once, as many
    // as the coordinator counts, with a provenance record each.
    let out = Path::new(&started.output_dir);
    let output = lines(&out.join("output.txt"));
    assert_no_duplicates(&output);
    assert!(s.totals.unique >= TARGET, "{:?}", s.totals);
    assert_eq!(s.totals.unique, output.len() as u64);
    assert_eq!(records(out).len(), output.len());

    // The browser saw the run end, with the same count.
    wait_for("the browser to see the stopped run", WITHIN, || async {
        last_seen(&seen).filter(|b| b.state == RunState::Stopped && b.unique == s.totals.unique)
    })
    .await;
    let seqs: Vec<u64> = seen.lock().unwrap().iter().map(|b| b.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "the dashboard relayed a stale snapshot: {seqs:?}"
    );

    // Every answer a worker got was published, and every published batch
    // ingested.
    for id in ["w1", "w2"] {
        let hb = tokio::time::timeout(WITHIN, async {
            loop {
                let msg = heartbeats
                    .next()
                    .await
                    .expect("heartbeat subscription open");
                let hb: Heartbeat =
                    serde_json::from_slice(&msg.payload).expect("heartbeats decode");
                if hb.worker_id == id && hb.state == WorkerState::Idle && hb.in_flight == 0 {
                    return hb;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no heartbeat from {id}"));
        let answers: u64 = hb
            .providers
            .iter()
            .map(|p| p.requests - p.failures.values().sum::<u64>())
            .sum();
        assert_eq!(
            answers, hb.batches_published,
            "{id} lost a paid answer: {hb:?}"
        );
        let ingested = s
            .workers
            .iter()
            .find(|w| w.worker_id == id)
            .map_or(0, |w| w.yields.batches);
        assert!(
            ingested >= hb.batches_published && hb.batches_published > 0,
            "{id}: published {}, ingested {ingested}",
            hb.batches_published
        );
    }
}
