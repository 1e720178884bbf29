//! Who may log in, and what each role and each worker may publish and
//! subscribe: the server refuses the rest and delivers none of it.

use async_nats::ConnectErrorKind;
use igentai_protocol::{RunState, subjects};
use testkit::{NatsServer, Role, wait_for};

use crate::common::spawn_coordinator;
use crate::probe::{Login, check_publishes, check_subscriptions, publish_violation, watched};
use crate::{WAIT, status};

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
        &[
            "igentai.candidates.w1",
            "igentai.heartbeat.w1",
            // Its own bucket of vendor batches, and no other.
            "$KV.IGENTAI_BATCHES_w1.0123",
            "$JS.API.STREAM.INFO.KV_IGENTAI_BATCHES_w1",
        ],
        &[
            "$KV.IGENTAI_BATCHES_w2.0123",
            "$JS.API.STREAM.INFO.KV_IGENTAI_BATCHES_w2",
            "$JS.API.STREAM.CREATE.KV_IGENTAI_BATCHES_w2",
            "$JS.API.STREAM.DELETE.KV_IGENTAI_BATCHES_w1",
            "$KV.igentai_runs.current",
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
