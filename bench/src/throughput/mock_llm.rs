//! A local OpenAI-compatible server for the fleet benchmark: answers
//! `POST /v1/chat/completions` after a fixed latency with a real Chat
//! Completions body (a numbered list of items never answered before, usage
//! tokens, `finish_reason`), and counts the requests it served.
//!
//! Loopback only. The latency is a timer, not work, so the server costs
//! little CPU beside the workers it serves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Items in every answer.
pub const ITEMS_PER_ANSWER: u64 = 20;

#[derive(Clone)]
struct Mock {
    latency: Duration,
    served: Arc<AtomicU64>,
}

/// A running mock server.
pub struct MockLlm {
    pub addr: SocketAddr,
    served: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl MockLlm {
    pub async fn start(latency: Duration) -> anyhow::Result<MockLlm> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let served = Arc::new(AtomicU64::new(0));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(Mock {
                latency,
                served: served.clone(),
            });
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(until.cancelled_owned())
                .await;
        });
        Ok(MockLlm { addr, served, stop })
    }

    /// The base URL a providers file names.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn complete(State(mock): State<Mock>, Json(request): Json<Value>) -> Json<Value> {
    tokio::time::sleep(mock.latency).await;
    let n = mock.served.fetch_add(1, Ordering::Relaxed);
    let first = n * ITEMS_PER_ANSWER;
    let content: String = (first..first + ITEMS_PER_ANSWER)
        .enumerate()
        .map(|(i, k)| format!("{}. {}\n", i + 1, super::workload::item(k)))
        .collect();
    let model = request["model"].as_str().unwrap_or("mock").to_string();
    Json(json!({
        "id": format!("chatcmpl-bench-{n}"),
        "object": "chat.completion",
        "created": 1_700_000_000u64,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 120, "completion_tokens": 160, "total_tokens": 280}
    }))
}
