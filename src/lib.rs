//! The root package of the igentai workspace.
//!
//! It holds no product code: the roles live in `coordinator/`, `worker/` and
//! `dashboard/`, the wire protocol in `protocol/`. The package exists so that
//! Cargo runs the system tests in the root `tests/` folder, which start a real
//! `nats-server` and the real binaries.
