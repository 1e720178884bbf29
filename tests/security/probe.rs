//! Probes of what nats-server lets a client do: publish and subscribe as
//! someone and see what the server refuses (it reports each refusal as a
//! permissions violation) and what it delivers.
//!
//! "Delivered nothing" is shown without waiting for silence: messages from
//! one connection reach a subscriber in the order they were published, so
//! once an allowed message published *after* a forbidden one has arrived,
//! the forbidden one would already be there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Event, ServerError};
use futures::{FutureExt, StreamExt};
use testkit::{NatsServer, Role, WorkerIdentity, wait_for};

const WAIT: Duration = Duration::from_secs(20);

/// Who logs in: a role, or one worker with its own user.
#[derive(Debug, Clone)]
pub enum Login {
    Role(Role),
    Worker(WorkerIdentity),
}

impl Login {
    pub fn user(&self) -> &str {
        match self {
            Login::Role(role) => role.user(),
            Login::Worker(identity) => &identity.user,
        }
    }

    fn options(&self) -> async_nats::ConnectOptions {
        match self {
            Login::Role(role) => testkit::options(*role),
            Login::Worker(identity) => identity.options(),
        }
    }
}

/// A client logged in as someone, with every error the server sent it.
pub struct Watched {
    pub client: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
}

pub async fn watched(nats: &NatsServer, login: &Login) -> Watched {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let client = login
        .options()
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
        .unwrap_or_else(|e| panic!("{} logs in: {e}", login.user()));
    Watched { client, errors }
}

impl Watched {
    /// Waits until the server has reported each of `violations`.
    pub async fn wait_violations(&self, violations: &[String]) {
        wait_for(
            &format!("the server to refuse {violations:?}"),
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

pub fn publish_violation(subject: &str) -> String {
    format!("Permissions Violation for Publish to \"{subject}\"")
}

pub fn subscribe_violation(subject: &str) -> String {
    format!("Permissions Violation for Subscription to \"{subject}\"")
}

/// `login` publishes every forbidden subject, then every allowed one: the
/// server refuses each forbidden one by name, an operator listening on all
/// of them gets the allowed ones and none of the forbidden ones.
pub async fn check_publishes(
    nats: &NatsServer,
    login: &Login,
    allowed: &[&str],
    forbidden: &[&str],
) {
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

    let sender = watched(nats, login).await;
    for subject in forbidden.iter().chain(allowed) {
        sender
            .client
            .publish(subject.to_string(), "forged?".into())
            .await
            .expect("the client sends");
    }
    sender.client.flush().await.expect("flush");

    let violations: Vec<String> = forbidden.iter().map(|s| publish_violation(s)).collect();
    sender.wait_violations(&violations).await;
    for (subject, sub) in &mut allowed_subs {
        sender.no_violation(&publish_violation(subject));
        tokio::time::timeout(WAIT, sub.next())
            .await
            .unwrap_or_else(|_| panic!("{} may publish {subject}", login.user()))
            .expect("subscription open");
    }
    for (subject, sub) in &mut forbidden_subs {
        assert!(
            sub.next().now_or_never().is_none(),
            "{}'s publish to {subject} was delivered",
            login.user()
        );
    }
}

/// `login` subscribes every forbidden pattern and every allowed one: the
/// server refuses each forbidden one by name; the operator then publishes
/// on a subject matching each (forbidden ones first), and only the allowed
/// subscriptions get anything.
pub async fn check_subscriptions(
    nats: &NatsServer,
    login: &Login,
    allowed: &[(&str, &str)],
    forbidden: &[(&str, &str)],
) {
    let listener = watched(nats, login).await;
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
    listener.wait_violations(&violations).await;

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
            .unwrap_or_else(|_| panic!("{} may subscribe {pattern}", login.user()))
            .expect("subscription open");
        assert_eq!(msg.subject.as_str(), *subject);
    }
    for (pattern, _, sub) in &mut forbidden_subs {
        assert!(
            sub.next().now_or_never().is_none(),
            "{} read {pattern}",
            login.user()
        );
    }
}
