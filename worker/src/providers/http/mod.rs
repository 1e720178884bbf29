//! The HTTP providers: the Chat Completions API (`openai.rs`, OpenAI and
//! every compatible server) and Anthropic's Messages API
//! (`anthropic.rs`), over what they share: the client and the mapping of
//! statuses to `LlmError` (`client.rs`), rate-limit headers
//! (`headers.rs`), structured output and its step-down once a server
//! refuses a form (`structured.rs`), what the pure decoders need
//! (`decode.rs`), and the vendors' batch APIs (`batch/`).

pub mod anthropic;
pub mod batch;
pub mod client;
pub mod decode;
pub mod headers;
pub mod openai;
pub mod structured;

pub use anthropic::Anthropic;
pub use openai::OpenAi;
