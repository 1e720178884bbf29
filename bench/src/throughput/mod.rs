//! Throughput and memory: how close igentai gets to what the machine and
//! NATS allow. Five benchmarks, each against a target and, where there is
//! one, a limit measured in the same run:
//!
//! - [`ingest`]: candidates/s from JetStream through the coordinator to
//!   synced disk, against a bare consume-and-ack program;
//! - [`dedup`]: normalize + hash + insert on one thread, against inserting
//!   precomputed hashes into the same set;
//! - [`memory`]: the coordinator's resident memory and start-up time with
//!   ten million items on disk;
//! - [`fleet`]: 100 worker processes against a mock LLM server ([`mock_llm`]);
//! - [`dashboard`]: 200 WebSocket clients on one dashboard.
//!
//! Every loop is bounded in count and time, every address is loopback, and
//! every process started is killed when its benchmark ends.

pub mod dashboard;
pub mod dedup;
pub mod fleet;
pub mod ingest;
pub mod jetstream;
pub mod memory;
pub mod mock_llm;
pub mod procs;
pub mod report;
pub mod workload;
