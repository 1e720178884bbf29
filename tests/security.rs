//! What a compromised client can and cannot do, each sentence of the
//! README's Security section proved against the real nats-server running
//! the repository's `nats.conf` and the real coordinator: no anonymous or
//! wrongly authenticated client gets in; each role, and each worker with its
//! own user, may publish and subscribe only what it needs (the server
//! answers anything else with a permissions violation and delivers
//! nothing); and what a worker may still publish on its own subjects is
//! checked by the coordinator: a batch that speaks for another worker, for
//! a run never started or claims more than one LLM call can is rejected and
//! counted, and a stop confirmation counts only from the worker stopped.

mod common;
#[path = "security/probe.rs"]
mod probe;

use std::time::Duration;

use async_nats::ConnectErrorKind;
use async_nats::jetstream;
use igentai_protocol::{
    CandidateBatch, Heartbeat, MetricsSnapshot, RunState, StopReply, VERSION, WorkerAck,
    WorkerState, decode_reply, now_ms, subjects,
};
use testkit::{NatsServer, Role, wait_for};

use common::{batch, lines, spawn_coordinator, start_run};
use probe::{Login, check_publishes, check_subscriptions, publish_violation, watched};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn only_known_users_with_their_password_connect() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let refused = |result: Result<async_nats::Client, async_nats::ConnectError>, who: &str| {
        let error = result
            .map(|_| ())
            .expect_err(&format!("{who} must not connect"));
        assert_eq!(
            error.kind(),
            ConnectErrorKind::AuthorizationViolation,
            "{who}: {error}"
        );
    };
    refused(
        async_nats::ConnectOptions::new().connect(&nats.url).await,
        "an anonymous client",
    );
    let w1 = nats.add_worker("w1").await;
    let w2 = nats.add_worker("w2").await;
    refused(
        async_nats::ConnectOptions::with_user_and_password(w1.user.clone(), "guess".into())
            .connect(&nats.url)
            .await,
        "a worker with a wrong password",
    );
    refused(
        async_nats::ConnectOptions::with_user_and_password(w1.user.clone(), w2.password.clone())
            .connect(&nats.url)
            .await,
        "a worker with another worker's password",
    );
    refused(
        async_nats::ConnectOptions::with_user_and_password("worker".into(), w1.password.clone())
            .connect(&nats.url)
            .await,
        "the shared worker user of old",
    );
    refused(
        async_nats::ConnectOptions::with_user_and_password("operator".into(), w1.password.clone())
            .connect(&nats.url)
            .await,
        "the operator with a worker's password",
    );
    refused(
        async_nats::ConnectOptions::with_user_and_password("root".into(), "root".into())
            .connect(&nats.url)
            .await,
        "an unknown user",
    );
    refused(
        async_nats::ConnectOptions::with_token(Role::Operator.password().into())
            .connect(&nats.url)
            .await,
        "a token instead of a user",
    );
    for login in Role::ALL
        .map(Login::Role)
        .into_iter()
        .chain([Login::Worker(w1)])
    {
        watched(&nats, &login)
            .await
            .client
            .flush()
            .await
            .expect("the connection works");
    }
}

#[tokio::test]
async fn a_worker_publishes_only_its_own_batches_and_heartbeats() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let w1 = Login::Worker(nats.add_worker("w1").await);
    nats.add_worker("w2").await;
    check_publishes(
        &nats,
        &w1,
        &["igentai.candidates.w1", "igentai.heartbeat.w1"],
        &[
            "igentai.candidates.w2",
            "igentai.heartbeat.w2",
            "igentai.candidates.w1.x",
            subjects::CONTROL_START,
            subjects::CONTROL_STOP,
            subjects::CONTROL_WEIGHTS,
            "igentai.work.w2",
            subjects::PARTITION_JOBS,
            subjects::WEIGHTS,
            subjects::METRICS,
            subjects::ITEMS,
            "$JS.API.STREAM.PURGE.IGENTAI_CANDIDATES",
            "$JS.API.CONSUMER.DELETE.IGENTAI_CANDIDATES.coordinator",
            "$JS.ACK.IGENTAI_CANDIDATES.coordinator.1.1.1.0.0",
            "_INBOX.coordinator.reply",
            "_INBOX.worker.w2.reply",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_worker_reads_only_its_own_work_and_replies_weights_and_service_pings() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let w1 = Login::Worker(nats.add_worker("w1").await);
    nats.add_worker("w2").await;
    check_subscriptions(
        &nats,
        &w1,
        &[
            ("igentai.work.w1", "igentai.work.w1"),
            (subjects::PARTITION_JOBS, subjects::PARTITION_JOBS),
            (subjects::WEIGHTS, subjects::WEIGHTS),
            ("$SRV.PING", "$SRV.PING"),
            ("_INBOX.worker.w1.*", "_INBOX.worker.w1.1"),
        ],
        &[
            ("igentai.work.w2", "igentai.work.w2"),
            ("igentai.work.*", "igentai.work.w2"),
            ("igentai.work.>", "igentai.work.w2"),
            ("_INBOX.worker.w2.>", "_INBOX.worker.w2.1"),
            ("_INBOX.worker.>", "_INBOX.worker.w2.2"),
            (subjects::CONTROL_ALL, subjects::CONTROL_START),
            (subjects::CANDIDATES_ALL, "igentai.candidates.w2"),
            (subjects::HEARTBEAT_ALL, "igentai.heartbeat.w2"),
            (subjects::METRICS, subjects::METRICS),
            (subjects::ITEMS, subjects::ITEMS),
            ("_INBOX.coordinator.>", "_INBOX.coordinator.x.1"),
            ("_INBOX.dashboard.>", "_INBOX.dashboard.x.1"),
            ("_INBOX.operator.>", "_INBOX.operator.x.1"),
            (">", "igentai.anything"),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_dashboard_reads_metrics_and_items_and_sends_only_control() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    check_publishes(
        &nats,
        &Login::Role(Role::Dashboard),
        &[subjects::CONTROL_STATUS, subjects::CONTROL_START],
        &[
            "igentai.work.w1",
            subjects::PARTITION_JOBS,
            subjects::WEIGHTS,
            "igentai.candidates.w1",
            "igentai.heartbeat.w1",
            subjects::METRICS,
            subjects::ITEMS,
            "$JS.API.STREAM.PURGE.IGENTAI_CANDIDATES",
            "$SRV.PING",
        ],
    )
    .await;
    check_subscriptions(
        &nats,
        &Login::Role(Role::Dashboard),
        &[
            (subjects::METRICS, subjects::METRICS),
            (subjects::ITEMS, subjects::ITEMS),
            ("_INBOX.dashboard.x.*", "_INBOX.dashboard.x.1"),
        ],
        &[
            (subjects::CONTROL_ALL, subjects::CONTROL_START),
            (subjects::HEARTBEAT_ALL, "igentai.heartbeat.w1"),
            (subjects::CANDIDATES_ALL, "igentai.candidates.w1"),
            ("igentai.work.>", "igentai.work.w1"),
            (subjects::WEIGHTS, subjects::WEIGHTS),
            ("_INBOX.coordinator.>", "_INBOX.coordinator.x.1"),
            (">", "igentai.anything"),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_coordinator_publishes_work_and_results_but_no_control_or_batches() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    check_publishes(
        &nats,
        &Login::Role(Role::Coordinator),
        &[
            "igentai.work.w1",
            subjects::PARTITION_JOBS,
            subjects::WEIGHTS,
            subjects::METRICS,
            subjects::ITEMS,
        ],
        &[
            subjects::CONTROL_START,
            "igentai.candidates.w1",
            "igentai.heartbeat.w1",
        ],
    )
    .await;
    check_subscriptions(
        &nats,
        &Login::Role(Role::Coordinator),
        &[
            (subjects::CONTROL_ALL, subjects::CONTROL_STOP),
            (subjects::HEARTBEAT_ALL, "igentai.heartbeat.w1"),
            ("_INBOX.coordinator.x.*", "_INBOX.coordinator.x.1"),
        ],
        &[
            (subjects::CANDIDATES_ALL, "igentai.candidates.w1"),
            ("igentai.work.>", "igentai.work.w1"),
            ("_INBOX.worker.>", "_INBOX.worker.x.1"),
            (">", "igentai.anything"),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_operator_may_do_anything() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let all = [
        subjects::CONTROL_START,
        "igentai.work.w1",
        subjects::WEIGHTS,
        "igentai.candidates.w1",
        subjects::METRICS,
    ];
    let operator = Login::Role(Role::Operator);
    check_publishes(&nats, &operator, &all, &[]).await;
    check_subscriptions(
        &nats,
        &operator,
        &[
            (">", "igentai.anything"),
            ("_INBOX.coordinator.>", "_INBOX.coordinator.x.1"),
        ],
        &[],
    )
    .await;
}

async fn status(operator: &async_nats::Client) -> Option<MetricsSnapshot> {
    let msg = operator
        .request(subjects::CONTROL_STATUS, "".into())
        .await
        .ok()?;
    Some(decode_reply(&msg.payload).expect("status is ok"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_forged_with_worker_credentials_changes_nothing() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let _coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
    let operator = nats.client().await;
    let idle = wait_for("the coordinator to answer", WAIT, || status(&operator)).await;
    assert_eq!(idle.state, RunState::Idle);

    // A compromised worker tries to start a run: as a request and as a
    // fire-and-forget message, JSON and plain text.
    let worker = watched(&nats, &Login::Worker(nats.add_worker("w1").await)).await;
    let asked = tokio::time::timeout(
        WAIT,
        worker
            .client
            .request(subjects::CONTROL_START, "Forged topic".into()),
    )
    .await
    .expect("the request ends within the client's timeout");
    assert!(asked.is_err(), "a forged start was answered: {asked:?}");
    worker
        .client
        .publish(
            subjects::CONTROL_START,
            r#"{"topic":"Forged topic","budget_usd":1000}"#.into(),
        )
        .await
        .unwrap();
    worker.client.flush().await.unwrap();
    worker
        .wait_violations(&[publish_violation(subjects::CONTROL_START)])
        .await;
    let after = status(&operator).await.expect("the coordinator answers");
    assert_eq!(after.state, RunState::Idle, "{after:?}");
    assert!(after.run.is_none(), "{after:?}");

    // With a real run going, a forged stop, start and weights override
    // change nothing either.
    let reply = operator
        .request(subjects::CONTROL_START, "Real topic".into())
        .await
        .expect("the coordinator answers start");
    let reply: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    let running = status(&operator).await.expect("status");
    let run = running.run.clone().expect("a run");
    assert_eq!(
        (running.state, run.topic.as_str()),
        (RunState::Running, "Real topic")
    );

    let forged = [
        (subjects::CONTROL_STOP, "".to_string()),
        (subjects::CONTROL_START, "Forged topic".to_string()),
        (
            subjects::CONTROL_WEIGHTS,
            r#"{"weights":{"sim":0}}"#.to_string(),
        ),
    ];
    for (subject, payload) in &forged {
        worker
            .client
            .publish(*subject, payload.clone().into())
            .await
            .unwrap();
    }
    worker.client.flush().await.unwrap();
    let violations: Vec<String> = forged.iter().map(|(s, _)| publish_violation(s)).collect();
    worker.wait_violations(&violations).await;

    let after = status(&operator).await.expect("status");
    let after_run = after.run.clone().expect("still a run");
    assert_eq!(after.state, RunState::Running, "{after:?}");
    assert_eq!(
        (after_run.run_id, after_run.topic),
        (run.run_id, run.topic),
        "the run changed"
    );
    assert!(!after.weights_manual, "the weights were overridden");
    assert!(
        !data.join("forged-topic").exists(),
        "a folder for the forged topic exists"
    );
}

/// A coordinator on a fresh data dir, with a run on `topic` started by the
/// operator.
struct Running {
    dir: tempfile::TempDir,
    nats: NatsServer,
    _coordinator: testkit::Proc,
    operator: async_nats::Client,
    run_id: String,
}

impl Running {
    async fn start(topic: &str) -> Running {
        let dir = testkit::test_dir();
        let nats = NatsServer::start(dir.path()).await;
        let coordinator = spawn_coordinator(dir.path(), &nats.url, &dir.path().join("data"));
        let operator = nats.client().await;
        common::wait_stream(&jetstream::new(operator.clone())).await;
        let run_id = start_run(&operator, topic).await;
        Running {
            dir,
            nats,
            _coordinator: coordinator,
            operator,
            run_id,
        }
    }

    fn folder(&self, slug: &str) -> std::path::PathBuf {
        self.dir.path().join("data").join(slug)
    }

    /// Waits until the coordinator counted `batches` ingested and
    /// `rejected` rejected batches, and returns that snapshot.
    async fn counted(&self, batches: u64, rejected: u64) -> MetricsSnapshot {
        wait_for(
            &format!("{batches} batches ingested and {rejected} rejected"),
            WAIT,
            || async {
                let s = status(&self.operator).await?;
                (s.totals.batches == batches && s.totals.rejected_batches == rejected).then_some(s)
            },
        )
        .await
    }
}

/// Publishes `batch` to JetStream as worker `as_worker`, on its own subject,
/// until the stream acknowledges it.
async fn publish_as(nats: &NatsServer, as_worker: &str, batch: &CandidateBatch) {
    let js = jetstream::new(nats.worker_client(as_worker).await);
    let payload: bytes::Bytes = serde_json::to_vec(batch).unwrap().into();
    wait_for("JetStream to store the batch", WAIT, || {
        let (js, payload) = (js.clone(), payload.clone());
        async move {
            let message = jetstream::message::PublishMessage::build()
                .payload(payload)
                .message_id(&batch.batch_id);
            let ack = js
                .send_publish(subjects::candidates(as_worker), message)
                .await
                .ok()?;
            tokio::time::timeout(Duration::from_secs(2), ack)
                .await
                .ok()?
                .ok()
        }
    })
    .await;
}

/// A batch from worker `worker_id` of run `run_id` on `topic`.
fn from(worker_id: &str, id: &str, run_id: &str, topic: &str, items: &[&str]) -> CandidateBatch {
    CandidateBatch {
        worker_id: worker_id.to_string(),
        ..batch(id, run_id, topic, "sim", items)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_claiming_another_worker_is_rejected_counted_and_changes_nothing() {
    let run = Running::start("Rare cheeses").await;
    // w1 may publish only on its own subject; there it claims to be w2.
    let forged = from("w2", "forged", &run.run_id, "Rare cheeses", &["Forged"]);
    publish_as(&run.nats, "w1", &forged).await;
    let honest = from(
        "w1",
        "honest",
        &run.run_id,
        "Rare cheeses",
        &["Brie", "Comté"],
    );
    publish_as(&run.nats, "w1", &honest).await;

    let s = run.counted(1, 1).await;
    assert_eq!(
        s.totals.rejected_by_kind.get("wrong_worker"),
        Some(&1),
        "{:?}",
        s.totals
    );
    assert_eq!(
        (s.totals.candidates, s.totals.unique),
        (2, 2),
        "{:?}",
        s.totals
    );
    assert_eq!(s.totals.cost_usd, honest.cost_usd);
    assert!(
        !s.workers.iter().any(|w| w.worker_id == "w2"),
        "{:?}",
        s.workers
    );
    assert_eq!(
        lines(&run.folder("rare-cheeses").join("output.txt")),
        ["Brie", "Comté"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_a_run_never_started_or_of_another_topic_is_rejected() {
    let run = Running::start("Rare cheeses").await;
    let unknown = from(
        "w1",
        "unknown",
        "rare-cheeses-1",
        "Rare cheeses",
        &["Unknown"],
    );
    let elsewhere = from(
        "w1",
        "elsewhere",
        &run.run_id,
        "Forged topic",
        &["Elsewhere"],
    );
    publish_as(&run.nats, "w1", &unknown).await;
    publish_as(&run.nats, "w1", &elsewhere).await;

    // A batch of an earlier run still lands in that run's folder.
    let stopped = run
        .operator
        .request(subjects::CONTROL_STOP, "".into())
        .await
        .expect("stop answered");
    decode_reply::<StopReply>(&stopped.payload).expect("the run stops");
    let paris = start_run(&run.operator, "Paris attractions").await;
    let late = from("w1", "late", &run.run_id, "Rare cheeses", &["Brie"]);
    let current = from("w1", "current", &paris, "Paris attractions", &["Louvre"]);
    publish_as(&run.nats, "w1", &late).await;
    publish_as(&run.nats, "w1", &current).await;

    // The new run's counters start at zero: the rejections before it were
    // counted by the first run, so wait for the files instead.
    wait_for("both good batches written", WAIT, || async {
        let cheeses =
            std::fs::read_to_string(run.folder("rare-cheeses").join("output.txt")).ok()?;
        let paris =
            std::fs::read_to_string(run.folder("paris-attractions").join("output.txt")).ok()?;
        (cheeses == "Brie\n" && paris == "Louvre\n").then_some(())
    })
    .await;
    common::wait_drained(&jetstream::new(run.operator.clone()), WAIT).await;
    assert!(
        !run.folder("forged-topic").exists(),
        "a folder for the forged topic"
    );
    assert_eq!(
        lines(&run.folder("rare-cheeses").join("output.txt")),
        ["Brie"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_rejections_of_a_run_are_counted_by_kind() {
    let run = Running::start("Rare cheeses").await;
    let unknown = from(
        "w1",
        "unknown",
        "rare-cheeses-1",
        "Rare cheeses",
        &["Unknown"],
    );
    let elsewhere = from(
        "w1",
        "elsewhere",
        &run.run_id,
        "Forged topic",
        &["Elsewhere"],
    );
    publish_as(&run.nats, "w1", &unknown).await;
    publish_as(&run.nats, "w1", &elsewhere).await;
    let s = run.counted(0, 2).await;
    assert_eq!(
        s.totals.rejected_by_kind.get("unknown_run"),
        Some(&1),
        "{:?}",
        s.totals
    );
    assert_eq!(
        s.totals.rejected_by_kind.get("wrong_topic"),
        Some(&1),
        "{:?}",
        s.totals
    );
    assert_eq!(s.totals.candidates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_beyond_one_call_are_rejected_and_the_run_does_not_stop_on_budget() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let _coordinator = spawn_coordinator(dir.path(), &nats.url, &dir.path().join("data"));
    let operator = nats.client().await;
    common::wait_stream(&jetstream::new(operator.clone())).await;
    let reply = operator
        .request(
            subjects::CONTROL_START,
            r#"{"topic":"Rare cheeses","budget_usd":1.0}"#.into(),
        )
        .await
        .expect("start answered");
    let started: igentai_protocol::StartReply = decode_reply(&reply.payload).expect("started");
    let run_id = started.run_id;

    let good = from("w1", "good", &run_id, "Rare cheeses", &["Brie"]);
    let mut huge_cost = from("w1", "huge-cost", &run_id, "Rare cheeses", &["A"]);
    huge_cost.cost_usd = 1e300;
    // 150 tokens at the default ceiling of $100 per million: at most $0.015.
    let mut over_price = from("w1", "over-price", &run_id, "Rare cheeses", &["B"]);
    over_price.cost_usd = 0.9;
    let mut tokens = from("w1", "tokens", &run_id, "Rare cheeses", &["C"]);
    (tokens.tokens_out, tokens.cost_usd) = (1_000_000_000, 0.9);
    let many: Vec<String> = (0..2001).map(|i| format!("i{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let items = from("w1", "items", &run_id, "Rare cheeses", &many);
    let mut negative = from("w1", "negative", &run_id, "Rare cheeses", &["D"]);
    negative.cost_usd = -5.0;
    for b in [&huge_cost, &over_price, &tokens, &items, &negative, &good] {
        publish_as(&nats, "w1", b).await;
    }

    let s = wait_for("6 batches counted", WAIT, || async {
        let s = status(&operator).await?;
        (s.totals.batches == 1 && s.totals.rejected_batches == 5).then_some(s)
    })
    .await;
    assert_eq!(
        s.totals.rejected_by_kind.get("over_limit"),
        Some(&5),
        "{:?}",
        s.totals
    );
    assert_eq!(s.totals.cost_usd, good.cost_usd);
    assert_eq!(
        (s.totals.candidates, s.totals.tokens_out),
        (1, good.tokens_out)
    );
    assert_eq!(s.state, RunState::Running, "{:?}", s.run);
    // The next snapshots too: nothing is left to stop the run later.
    let seq = s.seq;
    let later = wait_for("a later snapshot", WAIT, || async {
        status(&operator).await.filter(|l| l.seq > seq)
    })
    .await;
    assert_eq!(later.state, RunState::Running, "{:?}", later.run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_confirmation_counts_only_from_the_worker_stopped() {
    let run = Running::start("Rare cheeses").await;
    let w1 = run.nats.add_worker("w1").await;
    let w2 = watched(&run.nats, &Login::Worker(run.nats.add_worker("w2").await)).await;

    // w1 is alive (it heartbeats) and answers its commands, but names
    // another worker in its answers.
    let w1_client = w1
        .options()
        .connect(&run.nats.url)
        .await
        .expect("w1 logs in");
    let mut commands =
        testkit::subscribe_confirmed(&run.nats, &w1_client, &subjects::worker_command("w1")).await;
    let answering = w1_client.clone();
    let answers = tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(msg) = commands.next().await {
            let ack = WorkerAck {
                v: VERSION,
                worker_id: "w9".into(),
                ok: true,
                error: None,
            };
            if let Some(reply) = msg.reply {
                let _ = answering
                    .publish(reply, serde_json::to_vec(&ack).unwrap().into())
                    .await;
            }
        }
    });
    let beating = w1_client.clone();
    let heartbeats = tokio::spawn(async move {
        loop {
            let hb = Heartbeat {
                v: VERSION,
                worker_id: "w1".into(),
                state: WorkerState::Idle,
                run_id: None,
                partition: None,
                concurrency: 1,
                in_flight: 0,
                batches_published: 0,
                items_published: 0,
                publish_retries: 0,
                llm_failures: 0,
                providers: Vec::new(),
                started_at_ms: 0,
                sent_at_ms: now_ms(),
                version: "test".into(),
            };
            let _ = beating
                .publish(
                    subjects::heartbeat("w1"),
                    serde_json::to_vec(&hb).unwrap().into(),
                )
                .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    wait_for("w1 alive", WAIT, || async {
        let s = status(&run.operator).await?;
        s.workers
            .iter()
            .any(|w| w.worker_id == "w1" && w.alive)
            .then_some(())
    })
    .await;

    // w2 tries to take w1's commands, to confirm a stop for it.
    let mut stolen = w2
        .client
        .subscribe(subjects::worker_command("w1"))
        .await
        .expect("the client sends");
    w2.client.flush().await.unwrap();
    w2.wait_violations(&[probe::subscribe_violation(&subjects::worker_command("w1"))])
        .await;
    let w2_client = w2.client.clone();
    let forging = tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(msg) = stolen.next().await {
            let ack = WorkerAck {
                v: VERSION,
                worker_id: "w1".into(),
                ok: true,
                error: None,
            };
            if let Some(reply) = msg.reply {
                let _ = w2_client
                    .publish(reply, serde_json::to_vec(&ack).unwrap().into())
                    .await;
            }
        }
    });

    let stopped = run
        .operator
        .request(subjects::CONTROL_STOP, "".into())
        .await
        .expect("stop answered");
    let reply: StopReply = decode_reply(&stopped.payload).expect("the run stops");
    assert!(reply.workers_stopped.is_empty(), "{reply:?}");
    assert_eq!(reply.workers_unresponsive, ["w1"], "{reply:?}");
    for task in [answers, heartbeats, forging] {
        task.abort();
    }
}
