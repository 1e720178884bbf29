//! `BatchVendor`: OpenAI's Batch API on a local wiremock server, with the
//! vendor's shapes and the state a worker's batch runner goes through: an
//! uploaded file's requests remembered, batches made of files, each batch
//! `in_progress` until the test releases them, then `completed` with an
//! output file answering every request of its file; a cancelled batch
//! ends `cancelled` with the answers to its first [`DELIVERED_ON_CANCEL`]
//! requests. How many batches were
//! submitted before any result was read, and how often they were polled,
//! is what tests assert on (exactly one submission across a worker's
//! restart: a worker that submitted again instead of resuming would make
//! two).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Names the answers list, two per request: request `r<i>` answers
/// `NAMES[2i]` and `NAMES[2i + 1]` (wrapping), so every request of a batch
/// up to ten has items no other has.
pub const NAMES: [&str; 20] = [
    "Louvre",
    "Musee d'Orsay",
    "Eiffel Tower",
    "Arc de Triomphe",
    "Notre-Dame de Paris",
    "Sainte-Chapelle",
    "Pantheon",
    "Sacre-Coeur",
    "Palais Garnier",
    "Centre Pompidou",
    "Musee Rodin",
    "Musee de l'Orangerie",
    "Place des Vosges",
    "Jardin du Luxembourg",
    "Pont Neuf",
    "Conciergerie",
    "Les Invalides",
    "Musee Picasso",
    "Pere Lachaise Cemetery",
    "Catacombs of Paris",
];

/// Requests a cancelled batch had answered before its cancel.
pub const DELIVERED_ON_CANCEL: usize = 2;

#[derive(Default)]
struct State {
    /// Batches cancelled.
    cancelled: Mutex<std::collections::BTreeSet<String>>,
    /// Custom ids of each uploaded file, by file id.
    files: Mutex<BTreeMap<String, Vec<String>>>,
    /// The input file of each batch, by batch id.
    batches: Mutex<BTreeMap<String, String>>,
    released: AtomicBool,
    submissions: AtomicUsize,
    /// Requests in the batches accepted.
    requests: AtomicUsize,
    /// Submissions made before any output file was read.
    early_submissions: AtomicUsize,
    fetched: AtomicBool,
    polls: AtomicUsize,
    /// Batches accepted; later submissions are refused as over the queue.
    max_batches: usize,
}

pub struct BatchVendor {
    pub server: MockServer,
    state: Arc<State>,
}

impl BatchVendor {
    /// A vendor that accepts `max_batches` batches and refuses more with a
    /// 429, as OpenAI does past an organisation's enqueued-token limit.
    pub async fn start(max_batches: usize) -> BatchVendor {
        let server = MockServer::start().await;
        let state = Arc::new(State {
            max_batches,
            ..State::default()
        });
        let s = state.clone();
        Mock::given(method("POST"))
            .and(path("/v1/files"))
            .respond_with(move |r: &Request| s.upload(r))
            .mount(&server)
            .await;
        let s = state.clone();
        Mock::given(method("POST"))
            .and(path("/v1/batches"))
            .respond_with(move |r: &Request| s.create(r))
            .mount(&server)
            .await;
        let s = state.clone();
        Mock::given(method("POST"))
            .and(path_regex("^/v1/batches/[^/]+/cancel$"))
            .respond_with(move |r: &Request| s.cancel(r))
            .mount(&server)
            .await;
        let s = state.clone();
        Mock::given(method("GET"))
            .and(path_regex("^/v1/batches/[^/]+$"))
            .respond_with(move |r: &Request| s.poll(r))
            .mount(&server)
            .await;
        let s = state.clone();
        Mock::given(method("GET"))
            .and(path_regex("^/v1/files/[^/]+/content$"))
            .respond_with(move |r: &Request| s.content(r))
            .mount(&server)
            .await;
        BatchVendor { server, state }
    }

    /// The base URL of a provider of kind `openai`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    /// From now on every batch is `completed`.
    pub fn release(&self) {
        self.state.released.store(true, Ordering::SeqCst);
    }

    /// Submissions tried (the refused ones included) before the first
    /// output file was read.
    pub fn submissions_before_results(&self) -> usize {
        self.state.early_submissions.load(Ordering::SeqCst)
    }

    /// Submissions tried, the refused ones included.
    pub fn attempts(&self) -> usize {
        self.state.submissions.load(Ordering::SeqCst)
    }

    /// Requests in the batches accepted so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Batches cancelled so far.
    pub fn cancelled(&self) -> usize {
        self.state.cancelled.lock().unwrap().len()
    }

    pub fn polls(&self) -> usize {
        self.state.polls.load(Ordering::SeqCst)
    }

    /// The items request `custom_id` (`r<i>`) is answered with.
    pub fn items_of(custom_id: &str) -> [&'static str; 2] {
        let i: usize = custom_id.trim_start_matches('r').parse().unwrap_or(0);
        [
            NAMES[(2 * i) % NAMES.len()],
            NAMES[(2 * i + 1) % NAMES.len()],
        ]
    }
}

fn json(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// The batch object `GET /v1/batches/{id}` answers with.
fn batch_object(id: &str, status: &str, total: usize, done: usize) -> serde_json::Value {
    let output = matches!(status, "completed" | "cancelled").then(|| format!("file-out-{id}"));
    serde_json::json!({
        "id": id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": null,
        "input_file_id": "file-in", "completion_window": "24h", "status": status,
        "output_file_id": output, "error_file_id": null, "created_at": 1764900000,
        "request_counts": {"total": total, "completed": done, "failed": 0}, "metadata": {},
    })
}

impl State {
    /// `POST /v1/files`: the custom ids of the JSONL part remembered.
    fn upload(&self, r: &Request) -> ResponseTemplate {
        let ids: Vec<String> = String::from_utf8_lossy(&r.body)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["custom_id"].as_str().map(str::to_string))
            .collect();
        let mut files = self.files.lock().unwrap();
        let id = format!("file-in{}", files.len());
        files.insert(id.clone(), ids);
        json(
            200,
            serde_json::json!({"id": id, "object": "file", "bytes": r.body.len(),
                "created_at": 1764900000, "filename": "batch.jsonl", "purpose": "batch"}),
        )
    }

    /// `POST /v1/batches`: a batch of an uploaded file, within the limit.
    fn create(&self, r: &Request) -> ResponseTemplate {
        let n = self.submissions.fetch_add(1, Ordering::SeqCst);
        if !self.fetched.load(Ordering::SeqCst) {
            self.early_submissions.fetch_add(1, Ordering::SeqCst);
        }
        if n >= self.max_batches {
            return json(
                429,
                serde_json::json!({"error": {"message": "Enqueued token limit reached for gpt-4o-mini.",
                    "type": "invalid_request_error", "param": null, "code": "token_limit_exceeded"}}),
            );
        }
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let file = body["input_file_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let total = self.files.lock().unwrap().get(&file).map_or(0, Vec::len);
        let id = format!("batch_{n}");
        self.requests.fetch_add(total, Ordering::SeqCst);
        self.batches.lock().unwrap().insert(id.clone(), file);
        json(200, batch_object(&id, "validating", total, 0))
    }

    fn requests_of(&self, batch: &str) -> Vec<String> {
        let file = self.batches.lock().unwrap().get(batch).cloned();
        file.and_then(|f| self.files.lock().unwrap().get(&f).cloned())
            .unwrap_or_default()
    }

    /// `GET /v1/batches/{id}`: in progress until released.
    fn poll(&self, r: &Request) -> ResponseTemplate {
        self.polls.fetch_add(1, Ordering::SeqCst);
        let id = r.url.path().rsplit('/').next().unwrap_or_default();
        if !self.batches.lock().unwrap().contains_key(id) {
            return json(
                404,
                serde_json::json!({"error": {"message": "No batch found", "type": "invalid_request_error"}}),
            );
        }
        let total = self.requests_of(id).len();
        if self.cancelled.lock().unwrap().contains(id) {
            let done = total.min(DELIVERED_ON_CANCEL);
            return json(200, batch_object(id, "cancelled", total, done));
        }
        match self.released.load(Ordering::SeqCst) {
            true => json(200, batch_object(id, "completed", total, total)),
            false => json(200, batch_object(id, "in_progress", total, 0)),
        }
    }

    /// `POST /v1/batches/{id}/cancel`: cancelling; cancelled at the next
    /// poll.
    fn cancel(&self, r: &Request) -> ResponseTemplate {
        let segments: Vec<&str> = r.url.path().split('/').collect();
        let id = segments.iter().rev().nth(1).copied().unwrap_or_default();
        let total = self.requests_of(id).len();
        self.cancelled.lock().unwrap().insert(id.to_string());
        json(200, batch_object(id, "cancelling", total, 0))
    }

    /// `GET /v1/files/file-out-{batch}/content`: an answer to every request
    /// (to the first few of a cancelled batch).
    fn content(&self, r: &Request) -> ResponseTemplate {
        self.fetched.store(true, Ordering::SeqCst);
        let segments: Vec<&str> = r.url.path().split('/').collect();
        let batch = segments
            .iter()
            .rev()
            .nth(1)
            .and_then(|f| f.strip_prefix("file-out-"))
            .unwrap_or_default();
        let mut requests = self.requests_of(batch);
        if self.cancelled.lock().unwrap().contains(batch) {
            requests.truncate(DELIVERED_ON_CANCEL);
        }
        let lines: Vec<String> = requests
            .iter()
            .map(|custom_id| {
                let items = BatchVendor::items_of(custom_id);
                let content = serde_json::json!({"items": items}).to_string();
                serde_json::json!({
                    "id": format!("batch_req_{custom_id}"), "custom_id": custom_id,
                    "response": {"status_code": 200, "request_id": format!("req_{custom_id}"), "body": {
                        "id": format!("chatcmpl-{custom_id}"), "object": "chat.completion",
                        "created": 1764900100, "model": "gpt-4o-mini-2024-07-18",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null},
                            "logprobs": null, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100,
                            "prompt_tokens_details": {"cached_tokens": 0}},
                    }},
                    "error": null,
                })
                .to_string()
            })
            .collect();
        ResponseTemplate::new(200).set_body_raw(lines.join("\n").into_bytes(), "application/jsonl")
    }
}
