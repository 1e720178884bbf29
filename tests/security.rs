//! What a compromised client can and cannot do, each sentence of
//! docs/security.md (the README's Security section in short) proved
//! against the real nats-server running
//! the repository's `nats.conf` and the real coordinator: no anonymous or
//! wrongly authenticated client gets in; each role, and each worker with its
//! own user, may publish and subscribe only what it needs (the server
//! answers anything else with a permissions violation and delivers
//! nothing); and what a worker may still publish on its own subjects is
//! checked by the coordinator: a batch that speaks for another worker, for
//! a run never started or claims more than one LLM call can is rejected and
//! counted, and a stop confirmation counts only from the worker stopped.

#[path = "security/claims.rs"]
mod claims;
mod common;
#[path = "security/permissions.rs"]
mod permissions;
#[path = "security/probe.rs"]
mod probe;
#[path = "security/scripts.rs"]
mod scripts;

use std::time::Duration;

use igentai_protocol::MetricsSnapshot;

const WAIT: Duration = Duration::from_secs(20);

/// The coordinator's status through the operator's client, or `None` while
/// none answers.
pub async fn status(operator: &async_nats::Client) -> Option<MetricsSnapshot> {
    testkit::Control::new(operator).try_status().await
}
