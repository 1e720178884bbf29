//! Helpers for the worker's integration tests: providers built from a
//! providers.toml text (keys from a fake environment), a prompt, and a
//! wiremock server answering once with a canned response.

#![allow(dead_code)]

use std::time::Duration;

use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use worker::prompt::Prompt;
use worker::providers::{Completion, LlmError, Providers, settings};

/// The key the fake environment holds under `TEST_KEY`.
pub const KEY: &str = "sk-test-0123456789abcdef";

/// The batch API client of the first provider of `toml`, which must be in
/// batch mode.
pub fn batch_client(toml: &str) -> worker::providers::batch_api::BatchClient {
    let env = |var: &str| (var == "TEST_KEY").then(|| KEY.to_string());
    let settings = settings::parse(toml, env).expect("valid providers file");
    worker::providers::batch_api::BatchClient::build(&settings[0])
        .expect("client builds")
        .expect("batch mode")
}

pub fn providers(toml: &str) -> Providers {
    let env = |var: &str| (var == "TEST_KEY").then(|| KEY.to_string());
    let settings = settings::parse(toml, env).expect("valid providers file");
    Providers::build(&settings, "w-test").expect("providers build")
}

pub fn prompt() -> Prompt {
    Prompt {
        task: Default::default(),
        system: "You produce long, precise lists.".into(),
        user: "List 3 distinct Paris attractions.".into(),
        topic: "Paris attractions".into(),
        partition: None,
        avoid: vec![],
        count: 3,
        judged: vec![],
    }
}

/// A server whose every request to `route` gets `response`.
pub async fn serving(route: &str, response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// One call through the provider's lease, as a worker slot makes it.
pub async fn call(providers: &Providers) -> Result<Completion, LlmError> {
    let entry = &providers.entries()[0];
    let lease = entry
        .try_lease(Instant::now(), 100)
        .expect("the provider is available");
    tokio::time::timeout(Duration::from_secs(20), lease.call(&prompt()))
        .await
        .expect("the call ends within its timeout")
}

pub fn json(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

/// An error case: its name, the server's response, what the error must
/// be, and whether the provider is still healthy afterwards.
pub type ErrorCase = (&'static str, ResponseTemplate, fn(&LlmError) -> bool, bool);

/// The candidate stream, as the coordinator creates it: a work queue that
/// deduplicates by `Nats-Msg-Id`.
pub async fn create_stream(client: &async_nats::Client) -> async_nats::jetstream::stream::Stream {
    async_nats::jetstream::new(client.clone())
        .create_stream(igentai_client::stream::candidates(1))
        .await
        .expect("create the candidate stream")
}

/// `worker::run` in a task, with `args` after the program name.
pub fn spawn_worker(
    args: &[&str],
    shutdown: &tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    use clap::Parser;
    let config = worker::Config::parse_from(std::iter::once("worker").chain(args.iter().copied()));
    tokio::spawn(worker::run(config, shutdown.clone()))
}

/// `worker::run` in a task as worker `id` of `nats`, with its own login and
/// the providers file `providers`, then `extra` arguments.
pub async fn spawn_worker_on(
    nats: &testkit::NatsServer,
    id: &str,
    providers: &std::path::Path,
    extra: &[&str],
    shutdown: &tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let identity = nats.add_worker(id).await;
    let providers = providers.to_str().expect("a UTF-8 path");
    let mut args = vec![
        "--nats-url",
        &nats.url,
        "--nats-user",
        &identity.user,
        "--nats-password",
        &identity.password,
        "--worker-id",
        id,
        "--providers",
        providers,
    ];
    args.extend_from_slice(extra);
    spawn_worker(&args, shutdown)
}

/// The worker's micro service INFO once its three endpoints (work,
/// partitions, judge) are registered, just after it starts.
pub async fn service_info(client: &async_nats::Client) -> serde_json::Value {
    testkit::wait_for(
        "the micro service answers INFO with its endpoints",
        std::time::Duration::from_secs(20),
        || async {
            let msg = client
                .request(
                    format!("$SRV.INFO.{}", worker::micro::SERVICE_NAME),
                    "".into(),
                )
                .await
                .ok()?;
            let info: serde_json::Value = serde_json::from_slice(&msg.payload).ok()?;
            (info["endpoints"].as_array()?.len() == 3).then_some(info)
        },
    )
    .await
}
