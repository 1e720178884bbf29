//! The locked-down NATS of `nats.conf`, enforced by the real nats-server:
//! no anonymous or wrongly authenticated client gets in, each role may
//! publish and subscribe only what it needs (the server answers anything
//! else with a permissions violation and delivers nothing), and a control
//! command forged with worker credentials changes nothing.
//!
//! "Delivered nothing" is shown without waiting for silence: messages from
//! one connection reach a subscriber in the order they were published, so
//! once an allowed message published *after* a forbidden one has arrived,
//! the forbidden one would already be there.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{ConnectErrorKind, Event, ServerError};
use futures::{FutureExt, StreamExt};
use igentai_protocol::{MetricsSnapshot, RunState, decode_reply, subjects};
use testkit::{NatsServer, Role, wait_for};

use common::spawn_coordinator;

const WAIT: Duration = Duration::from_secs(20);

/// A client logged in as `role`, with every error the server sent it.
struct Watched {
    client: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
}

async fn watched(nats: &NatsServer, role: Role) -> Watched {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let client = testkit::options(role)
        // A refused request gets no answer: give up on it soon.
        .request_timeout(Some(Duration::from_secs(2)))
        .event_callback(move |event| {
            let seen = seen.clone();
            async move {
                if let Event::ServerError(ServerError::Other(message)) = event {
                    seen.lock().unwrap().push(message);
                }
            }
        })
        .connect(&nats.url)
        .await
        .unwrap_or_else(|e| panic!("{} logs in: {e}", role.user()));
    Watched { client, errors }
}

impl Watched {
    /// Waits until the server has reported each of `violations`.
    async fn wait_violations(&self, role: Role, violations: &[String]) {
        wait_for(
            &format!("the server to refuse {violations:?} to {}", role.user()),
            WAIT,
            || async {
                let errors = self.errors.lock().unwrap();
                violations.iter().all(|v| errors.contains(v)).then_some(())
            },
        )
        .await;
    }

    fn no_violation(&self, what: &str) {
        let errors = self.errors.lock().unwrap();
        assert!(
            !errors.iter().any(|e| e.contains(what)),
            "the server refused {what}: {errors:?}"
        );
    }
}

fn publish_violation(subject: &str) -> String {
    format!("Permissions Violation for Publish to \"{subject}\"")
}

fn subscribe_violation(subject: &str) -> String {
    format!("Permissions Violation for Subscription to \"{subject}\"")
}

/// `role` publishes every forbidden subject, then every allowed one: the
/// server refuses each forbidden one by name, an operator listening on all
/// of them gets the allowed ones and none of the forbidden ones.
async fn check_publishes(nats: &NatsServer, role: Role, allowed: &[&str], forbidden: &[&str]) {
    let observer = nats.client().await;
    let listen = |subject: &str| {
        let observer = observer.clone();
        let subject = subject.to_string();
        async move {
            observer
                .subscribe(subject)
                .await
                .expect("operator subscribes")
        }
    };
    let mut forbidden_subs = Vec::new();
    for subject in forbidden {
        forbidden_subs.push((*subject, listen(subject).await));
    }
    let mut allowed_subs = Vec::new();
    for subject in allowed {
        allowed_subs.push((*subject, listen(subject).await));
    }
    observer.flush().await.expect("flush");

    let sender = watched(nats, role).await;
    for subject in forbidden.iter().chain(allowed) {
        sender
            .client
            .publish(subject.to_string(), "forged?".into())
            .await
            .expect("the client sends");
    }
    sender.client.flush().await.expect("flush");

    let violations: Vec<String> = forbidden.iter().map(|s| publish_violation(s)).collect();
    sender.wait_violations(role, &violations).await;
    for (subject, sub) in &mut allowed_subs {
        sender.no_violation(&publish_violation(subject));
        tokio::time::timeout(WAIT, sub.next())
            .await
            .unwrap_or_else(|_| panic!("{} may publish {subject}", role.user()))
            .expect("subscription open");
    }
    for (subject, sub) in &mut forbidden_subs {
        assert!(
            sub.next().now_or_never().is_none(),
            "{}'s publish to {subject} was delivered",
            role.user()
        );
    }
}

/// `role` subscribes every forbidden pattern and every allowed one: the
/// server refuses each forbidden one by name; the operator then publishes
/// on a subject matching each (forbidden ones first), and only the allowed
/// subscriptions get anything.
async fn check_subscriptions(
    nats: &NatsServer,
    role: Role,
    allowed: &[(&str, &str)],
    forbidden: &[(&str, &str)],
) {
    let listener = watched(nats, role).await;
    let subscribe = |pattern: &str| {
        let client = listener.client.clone();
        let pattern = pattern.to_string();
        async move { client.subscribe(pattern).await.expect("the client sends") }
    };
    let mut forbidden_subs = Vec::new();
    for (pattern, subject) in forbidden {
        forbidden_subs.push((*pattern, *subject, subscribe(pattern).await));
    }
    let mut allowed_subs = Vec::new();
    for (pattern, subject) in allowed {
        allowed_subs.push((*pattern, *subject, subscribe(pattern).await));
    }
    listener.client.flush().await.expect("flush");
    let violations: Vec<String> = forbidden
        .iter()
        .map(|(p, _)| subscribe_violation(p))
        .collect();
    listener.wait_violations(role, &violations).await;

    let operator = nats.client().await;
    for (_, subject) in forbidden.iter().chain(allowed) {
        operator
            .publish(subject.to_string(), "secret".into())
            .await
            .expect("operator publishes");
    }
    operator.flush().await.expect("flush");
    for (pattern, subject, sub) in &mut allowed_subs {
        listener.no_violation(&subscribe_violation(pattern));
        let msg = tokio::time::timeout(WAIT, sub.next())
            .await
            .unwrap_or_else(|_| panic!("{} may subscribe {pattern}", role.user()))
            .expect("subscription open");
        assert_eq!(msg.subject.as_str(), *subject);
    }
    for (pattern, _, sub) in &mut forbidden_subs {
        assert!(
            sub.next().now_or_never().is_none(),
            "{} read {pattern}",
            role.user()
        );
    }
}

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
    refused(
        async_nats::ConnectOptions::with_user_and_password("worker".into(), "guess".into())
            .connect(&nats.url)
            .await,
        "a worker with a wrong password",
    );
    refused(
        async_nats::ConnectOptions::with_user_and_password(
            "operator".into(),
            Role::Worker.password().into(),
        )
        .connect(&nats.url)
        .await,
        "the operator with the worker's password",
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
    for role in Role::ALL {
        let client = testkit::options(role)
            .connect(&nats.url)
            .await
            .unwrap_or_else(|e| panic!("{} connects: {e}", role.user()));
        client.flush().await.expect("the connection works");
    }
}

#[tokio::test]
async fn workers_publish_only_batches_and_heartbeats() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    check_publishes(
        &nats,
        Role::Worker,
        &["igentai.candidates.w1", "igentai.heartbeat.w1"],
        &[
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
        ],
    )
    .await;
}

#[tokio::test]
async fn workers_read_only_their_work_weights_and_service_pings() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    check_subscriptions(
        &nats,
        Role::Worker,
        &[
            ("igentai.work.w1", "igentai.work.w1"),
            (subjects::PARTITION_JOBS, subjects::PARTITION_JOBS),
            (subjects::WEIGHTS, subjects::WEIGHTS),
            ("$SRV.PING", "$SRV.PING"),
            ("_INBOX.worker.x.*", "_INBOX.worker.x.1"),
        ],
        &[
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
        Role::Dashboard,
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
        Role::Dashboard,
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
        Role::Coordinator,
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
        Role::Coordinator,
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
    check_publishes(&nats, Role::Operator, &all, &[]).await;
    check_subscriptions(
        &nats,
        Role::Operator,
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
    let worker = watched(&nats, Role::Worker).await;
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
        .wait_violations(Role::Worker, &[publish_violation(subjects::CONTROL_START)])
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
    worker.wait_violations(Role::Worker, &violations).await;

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
