//! igentai on a three-node NATS cluster (real nats-servers on loopback
//! ports, the real binaries): the candidate stream is kept on three nodes,
//! and killing one of them with SIGKILL, the stream's leader, then
//! restarting it, stalls the fleet for a moment and loses or repeats
//! nothing. A single server keeps one copy, and refuses more; a URL list
//! whose first server is down still connects. `NATS_CLUSTER=3` makes the
//! scripts start, reload (a new worker user) and stop three nodes.
//!
//! What "nothing lost" means is known in advance: besides two sim workers
//! (the fleet riding the failover), a publisher plays a predetermined
//! candidate stream, as `recovery.rs` does, whose unique items must all be
//! in `output.txt` once at the end.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;
use igentai_protocol::{Heartbeat, MetricsSnapshot, StreamStatus, subjects};
use testkit::stream::publish_all;
use testkit::{Control, KnownStream, NatsCluster, NatsServer, wait_for};

use common::{spawn_coordinator, spawn_coordinator_with, spawn_worker, wait_drained, wait_stream};

const TOPIC: &str = "Cluster test items";
const FOLDER: &str = "cluster-test-items";
const BATCHES: usize = 400;
const PER_BATCH: usize = 20;
/// The publisher's items, which no sim answer spells.
const MARK: &str = "Replicated ";

/// Popularity-skewed draws from 2000 items, so most are duplicates.
fn candidate_stream() -> KnownStream {
    KnownStream::skewed(
        0x9E37_79B9_7F4A_7C15,
        BATCHES,
        PER_BATCH,
        2000,
        (MARK, 4),
        "c",
    )
}

fn output(data: &Path) -> Vec<String> {
    testkit::folder::output_lines(&data.join(FOLDER))
}

/// The candidate stream's status in a snapshot.
fn stream_status(s: &MetricsSnapshot) -> Option<&StreamStatus> {
    s.streams.iter().find(|s| s.name == subjects::STREAM)
}

/// The candidate stream's status once it has three copies, a leader and
/// both followers current and online.
fn three_current_copies(s: &MetricsSnapshot) -> Option<StreamStatus> {
    let stream = stream_status(s)?;
    (stream.replicas == 3
        && stream.leader.is_some()
        && stream.peers.len() == 2
        && stream.peers.iter().all(|p| p.current && !p.offline))
    .then(|| stream.clone())
}

/// When each worker's count of acknowledged batches grew, as its
/// heartbeats (every 200 ms) report it: (when, worker id).
type Progress = Arc<Mutex<Vec<(Instant, String)>>>;

fn watch_heartbeats(mut heartbeats: async_nats::Subscriber) -> Progress {
    let progress: Progress = Arc::default();
    let record = progress.clone();
    tokio::spawn(async move {
        let mut published: HashMap<String, u64> = HashMap::new();
        while let Some(msg) = heartbeats.next().await {
            let Ok(hb) = serde_json::from_slice::<Heartbeat>(&msg.payload) else {
                continue;
            };
            let last = published.entry(hb.worker_id.clone()).or_default();
            if hb.batches_published > *last {
                *last = hb.batches_published;
                record.lock().unwrap().push((Instant::now(), hb.worker_id));
            }
        }
    });
    progress
}

/// The longest time, from `since` on, in which `worker` had no batch
/// acknowledged, once it had `after` acknowledged since then.
fn longest_pause(
    progress: &Progress,
    worker: &str,
    since: Instant,
    after: usize,
) -> Option<Duration> {
    let progress = progress.lock().unwrap();
    let times: Vec<Instant> = progress
        .iter()
        .filter(|(t, w)| w == worker && *t > since)
        .map(|(t, _)| *t)
        .collect();
    (times.len() >= after).then(|| {
        let mut last = since;
        times.iter().fold(Duration::ZERO, |longest, t| {
            let gap = *t - last;
            last = *t;
            longest.max(gap)
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_stream_leader_loses_and_repeats_nothing() {
    let dir = testkit::test_dir();
    let mut cluster = NatsCluster::start(dir.path(), 3).await;
    let client = cluster.client().await;
    let js = jetstream::new(client.clone());
    // A stream from before the cluster, with one copy: the coordinator
    // grows it to three.
    js.create_stream(igentai_client::stream::candidates(1))
        .await
        .expect("create an R1 candidate stream");
    let data = dir.path().join("data");
    let progress = watch_heartbeats(
        client
            .subscribe(subjects::HEARTBEAT_ALL)
            .await
            .expect("subscribe to heartbeats"),
    );
    let _coordinator = spawn_coordinator(dir.path(), &cluster.urls(), &data);
    wait_stream(&js).await;
    let control = Control::new(&client);
    let run_id = control.start_topic(TOPIC).await;
    let workers = [
        spawn_worker(dir.path(), &cluster, "w1").await,
        spawn_worker(dir.path(), &cluster, "w2").await,
    ];

    // Grown from one copy: killing the leader before the others caught up
    // would lose the only full copy.
    let replicated = control
        .wait_status(
            "status to report three copies and a leader",
            Duration::from_secs(60),
            three_current_copies,
        )
        .await;

    // The predetermined stream, published as a worker does (retried with
    // the same id until acknowledged); when each batch was acknowledged.
    let stream = candidate_stream();
    let expected = stream.items();
    // It publishes the first half, then waits for the kill, so the second
    // half rides the failover however fast the first went.
    let acks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let killed_signal = Arc::new(tokio::sync::Notify::new());
    let publisher = {
        let (js, run_id, acks) = (js.clone(), run_id.clone(), acks.clone());
        let killed_signal = killed_signal.clone();
        tokio::spawn(async move {
            for (i, b) in stream.batches.iter().enumerate() {
                if i == BATCHES / 2 {
                    killed_signal.notified().await;
                }
                publish_all(&js, &run_id, TOPIC, std::slice::from_ref(b)).await;
                acks.lock().unwrap().push(Instant::now());
            }
        })
    };
    wait_for("half of the batches", Duration::from_secs(120), || {
        let n = acks.lock().unwrap().len();
        async move { (n >= BATCHES / 2).then_some(()) }
    })
    .await;
    let started = Instant::now();
    wait_for("both workers' batches", Duration::from_secs(60), || {
        let both = ["w1", "w2"]
            .iter()
            .all(|w| longest_pause(&progress, w, started, 1).is_some());
        async move { both.then_some(()) }
    })
    .await;

    let victim = cluster
        .stream_leader(subjects::STREAM)
        .await
        .or_else(|| cluster.index(replicated.leader.as_deref()?))
        .expect("the stream has a leader");
    let killed = Instant::now();
    cluster.kill9(victim);
    killed_signal.notify_one();
    // The longest pause in each worker's acknowledged batches from the
    // kill on, once each had a few more.
    let workers_stall = wait_for(
        "both workers' batches acknowledged again",
        Duration::from_secs(60),
        || {
            let pauses: Option<Vec<Duration>> = ["w1", "w2"]
                .iter()
                .map(|w| longest_pause(&progress, w, killed, 5))
                .collect();
            async move { pauses.map(|p| p.into_iter().max().unwrap_or_default()) }
        },
    )
    .await;
    // The longest pause between two acknowledgements of the publisher
    // from the kill on (it publishes one batch after the other).
    wait_for(
        "the publisher's acknowledgements to resume",
        Duration::from_secs(60),
        || {
            let n = acks.lock().unwrap().iter().filter(|t| **t > killed).count();
            async move { (n >= 10).then_some(()) }
        },
    )
    .await;
    let publisher_stall = {
        let acks = acks.lock().unwrap();
        let mut last = killed;
        let mut longest = Duration::ZERO;
        for t in acks.iter().filter(|t| **t > killed) {
            longest = longest.max(*t - last);
            last = *t;
        }
        longest
    };
    eprintln!(
        "killed node {} (the stream leader): publisher's longest pause between \
         acknowledgements {publisher_stall:?}; workers' longest pause between acknowledged \
         batches {workers_stall:?} (heartbeats every 200 ms)",
        cluster.name(victim)
    );
    let victim_name = cluster.name(victim).to_string();
    control
        .wait_status(
            "status to name a new leader",
            Duration::from_secs(60),
            |s| {
                let leader = stream_status(s)?.leader.clone()?;
                (leader != victim_name).then_some(())
            },
        )
        .await;

    cluster.restart(victim).await;
    tokio::time::timeout(Duration::from_secs(180), publisher)
        .await
        .expect("the publisher finishes")
        .unwrap();
    control
        .wait_status(
            "the restarted node's copy to be current again",
            Duration::from_secs(60),
            three_current_copies,
        )
        .await;

    control.stop().await;
    wait_drained(&js, Duration::from_secs(120)).await;

    let out = output(&data);
    let distinct: HashSet<&String> = out.iter().collect();
    assert_eq!(distinct.len(), out.len(), "an item was written twice");
    let published: BTreeSet<String> = out
        .iter()
        .filter(|l| l.starts_with(MARK))
        .cloned()
        .collect();
    let missing: Vec<_> = expected.difference(&published).take(5).collect();
    let extra: Vec<_> = published.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unexpected {extra:?}"
    );
    assert!(
        out.len() > expected.len(),
        "the sim workers' items are there too"
    );
    let unique = control
        .wait_status("the final count", Duration::from_secs(30), |s| {
            let n = output(&data).len() as u64;
            (s.totals.unique == n).then_some(n)
        })
        .await;
    assert_eq!(unique as usize, out.len());
    // Every node knows the workers' users and permissions. A reply may be
    // refused: the right to answer a request lives on the node that
    // delivered it, so an answer sent after the worker failed over to
    // another node is denied (the coordinator asks again).
    for w in &workers {
        let log = w.log_text();
        let denied: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Permissions Violation") && !l.contains("_INBOX."))
            .collect();
        assert!(denied.is_empty(), "{denied:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_server_keeps_one_copy_and_refuses_more_and_a_dead_first_url_is_skipped() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let control = nats.control().await;
    let data = dir.path().join("data");

    let mut refused = spawn_coordinator_with(
        dir.path(),
        &nats.url,
        &data,
        &[("IGENTAI_STREAM_REPLICAS", "3")],
    );
    let status = refused.wait_exit(Duration::from_secs(30)).await;
    assert!(!status.success());
    assert!(
        refused
            .log_text()
            .contains("JetStream cannot place 3 copies"),
        "{}",
        refused.log_tail()
    );
    drop(refused);

    // The first URL of the list answers nothing: the client moves on.
    let urls = format!("nats://127.0.0.1:{},{}", testkit::free_port(), nats.url);
    let _coordinator = spawn_coordinator(dir.path(), &urls, &data);
    let stream = control
        .wait_status(
            "status to report the stream",
            Duration::from_secs(30),
            |s| {
                stream_status(s)
                    .cloned()
                    .map(|st| (st, s.last_error.clone()))
            },
        )
        .await;
    assert_eq!((stream.0.replicas, stream.0.peers.len()), (1, 0));
    assert_eq!(stream.1, None);
}

/// Runs `scripts/<script>` with `env`; its combined output, or a panic
/// with it when it fails.
fn script(script: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(testkit::repo_root().join("scripts").join(script))
        .args(args)
        .current_dir(testkit::repo_root())
        .env_remove("NATS_URL")
        .env_remove("IGENTAI_CREDENTIALS")
        .env_remove("IGENTAI_WORKERS_DIR");
    for role in testkit::Role::ALL {
        cmd.env_remove(role.password_var());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run a script");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script} failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripts_start_reload_and_stop_a_local_cluster() {
    let dir = testkit::test_dir();
    let run = dir.path().join("run");
    // One block of nine, so the three ranges cannot overlap.
    let base = testkit::free_ports(9);
    let (port, monitor, route) = (base, base + 3, base + 6);
    let env = [
        ("NATS_CLUSTER", "3".to_string()),
        ("NATS_PORT", port.to_string()),
        ("NATS_MONITOR_PORT", monitor.to_string()),
        ("NATS_ROUTE_PORT", route.to_string()),
        (
            "IGENTAI_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("IGENTAI_RUN_DIR", run.display().to_string()),
    ];
    let urls: Vec<String> = (0..3)
        .map(|i| format!("nats://127.0.0.1:{}", port + i))
        .collect();
    let said = script("start-nats.sh", &[], &env);
    assert!(said.contains(&urls.join(",")), "{said}");

    let credentials = std::fs::read_to_string(run.join("credentials.env")).unwrap();
    let operator = credentials
        .lines()
        .find_map(|l| l.strip_prefix("IGENTAI_OPERATOR_PASSWORD="))
        .expect("the operator's password")
        .to_string();
    let login = |user: &str, password: &str| {
        async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
    };
    // One cluster: JetStream answers through any node once a meta leader
    // was elected, and a stream gets three copies.
    let js = jetstream::new(
        login("operator", &operator)
            .connect(urls.clone())
            .await
            .unwrap(),
    );
    wait_for(
        "the cluster's JetStream",
        // A meta leader is elected within seconds, or tens of seconds on
        // a loaded 2-core machine running other clusters.
        Duration::from_secs(90),
        || async { js.query_account().await.ok().map(|_| ()) },
    )
    .await;
    let mut stream = js
        .create_stream(igentai_client::stream::candidates(3))
        .await
        .expect("a stream with three copies");
    let info = stream.info().await.unwrap();
    assert_eq!(info.cluster.as_ref().map(|c| c.replicas.len()), Some(2));

    // A worker added while the nodes run may log in on each of them.
    let said = script("add-worker.sh", &["t1"], &env);
    assert!(said.contains(&urls.join(",")), "{said}");
    let worker = std::fs::read_to_string(run.join("workers/t1.env")).unwrap();
    let password = worker
        .lines()
        .find_map(|l| l.strip_prefix("NATS_PASSWORD="))
        .expect("the worker's password")
        .to_string();
    for url in &urls {
        login("worker-t1", &password)
            .connect(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("worker-t1 on {url}: {e}"));
    }

    script("stop.sh", &[], &env);
    for i in 1..=3 {
        assert!(!run.join(format!("nats-{i}.pid")).exists());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port + i as u16 - 1)).is_err());
    }
}
