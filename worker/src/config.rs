//! Command line and environment of the `worker` binary.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::providers::{SimConfig, settings as providers_file};

/// A worker's own NATS user is this prefix and its id (`nats.conf`).
pub const WORKER_USER_PREFIX: &str = "worker-";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "worker",
    version,
    about = "igentai worker: calls LLM providers and publishes candidate batches"
)]
pub struct Config {
    #[command(flatten)]
    pub nats: igentai_client::NatsArgs,

    /// This worker's id (letters, digits, `-`, `_`); default: the id of its
    /// NATS user `worker-<id>`, else host name and pid.
    #[arg(long, env = "IGENTAI_WORKER_ID")]
    pub worker_id: Option<String>,

    /// LLM calls in flight at once.
    #[arg(long, env = "IGENTAI_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u32,

    #[arg(long, env = "IGENTAI_HEARTBEAT_INTERVAL_MS", default_value_t = 1000)]
    pub heartbeat_interval_ms: u64,

    /// On stop or SIGTERM: how long calls in flight may finish before they
    /// are abandoned.
    #[arg(long, env = "IGENTAI_STOP_GRACE_MS", default_value_t = 5000)]
    pub stop_grace_ms: u64,

    /// On SIGTERM: how long answers already paid for may keep retrying their
    /// publish before the worker exits anyway.
    #[arg(long, env = "IGENTAI_PUBLISH_GRACE_MS", default_value_t = 10_000)]
    pub publish_grace_ms: u64,

    /// The providers file (see `providers.toml.example`). Without one: `sim`
    /// from the `--sim-*` flags, plus `openai` / `anthropic` when
    /// `OPENAI_API_KEY` / `ANTHROPIC_API_KEY` are set.
    #[arg(long, env = "IGENTAI_PROVIDERS")]
    pub providers: Option<PathBuf>,

    /// Seed of the `sim` provider.
    #[arg(long, env = "IGENTAI_SIM_SEED", default_value_t = SimConfig::default().seed)]
    pub sim_seed: u64,

    /// Median latency of a `sim` answer.
    #[arg(long, env = "IGENTAI_SIM_LATENCY_MS", default_value_t = SimConfig::default().latency_ms)]
    pub sim_latency_ms: f64,

    /// Distinct items in each topic of the `sim` provider.
    #[arg(long, env = "IGENTAI_SIM_UNIVERSE", default_value_t = SimConfig::default().universe)]
    pub sim_universe: usize,

    /// Share of `sim` calls that fail with a server error.
    #[arg(long, env = "IGENTAI_SIM_FAILURE_RATE", default_value_t = SimConfig::default().failure_rate)]
    pub sim_failure_rate: f64,

    /// Share of `sim` calls answered with a rate limit.
    #[arg(long, env = "IGENTAI_SIM_RATE_LIMIT_RATE", default_value_t = SimConfig::default().rate_limit_rate)]
    pub sim_rate_limit_rate: f64,

    /// Chance the `sim` makes up the first item of a list (more further
    /// down, under partitions and with avoid hints); 0 makes up none.
    #[arg(long, env = "IGENTAI_SIM_INVENTION_RATE", default_value_t = SimConfig::default().invention_rate)]
    pub sim_invention_rate: f64,
}

impl Config {
    pub fn worker_id(&self) -> anyhow::Result<String> {
        // nats.conf lets user worker-<id> publish only as <id>: another id
        // would have every batch refused, so say so at once.
        let of_user = self
            .nats
            .user
            .as_deref()
            .and_then(|u| u.strip_prefix(WORKER_USER_PREFIX));
        let id = match (&self.worker_id, of_user) {
            (Some(id), Some(user_id)) if id != user_id => anyhow::bail!(
                "worker id {id:?} is not the id of NATS user {WORKER_USER_PREFIX}{user_id}, \
                 which may publish only as {user_id:?}"
            ),
            (Some(id), _) => id.clone(),
            (None, Some(user_id)) => user_id.to_string(),
            (None, None) => default_worker_id(),
        };
        anyhow::ensure!(
            igentai_protocol::subjects::valid_token(&id),
            "worker id {id:?} must be 1-64 letters, digits, '-' or '_'"
        );
        Ok(id)
    }

    /// The `sim` provider of a worker without a providers file: the
    /// defaults, with what the `--sim-*` flags set.
    pub fn sim(&self) -> SimConfig {
        SimConfig {
            seed: self.sim_seed,
            latency_ms: self.sim_latency_ms.max(0.0),
            universe: self.sim_universe.max(1),
            failure_rate: self.sim_failure_rate.clamp(0.0, 1.0),
            rate_limit_rate: self.sim_rate_limit_rate.clamp(0.0, 1.0),
            ..SimConfig::default().inventing(self.sim_invention_rate)
        }
    }

    /// The providers to call: from `--providers`, or the defaults.
    pub fn provider_settings(&self) -> anyhow::Result<Vec<providers_file::Settings>> {
        let env = |var: &str| std::env::var(var).ok();
        match &self.providers {
            Some(path) => providers_file::load(path, env),
            None => Ok(providers_file::defaults(self.sim(), env)),
        }
    }

    pub fn stop_grace(&self) -> Duration {
        Duration::from_millis(self.stop_grace_ms)
    }

    pub fn publish_grace(&self) -> Duration {
        Duration::from_millis(self.publish_grace_ms)
    }
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "worker".into());
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worker id of these arguments, or the start of the error.
    fn check(args: &[&str], expected: Result<&str, &str>) {
        let config = Config::parse_from(["worker"].iter().chain(args));
        match (config.worker_id(), expected) {
            (Ok(id), Ok(want)) => assert_eq!(id, want, "{args:?}"),
            (Err(e), Err(want)) => assert!(e.to_string().starts_with(want), "{args:?}: {e}"),
            (got, want) => panic!("{args:?}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn the_worker_id_is_its_users() {
        let pw = ["--nats-password", "p"];
        for (args, expected) in [
            (vec!["--worker-id", "w1"], Ok("w1")),
            (vec!["--nats-user", "worker-w1"], Ok("w1")),
            (
                vec!["--nats-user", "worker-w1", "--worker-id", "w1"],
                Ok("w1"),
            ),
            (
                vec!["--nats-user", "operator", "--worker-id", "w1"],
                Ok("w1"),
            ),
            (
                vec!["--nats-user", "worker-w1", "--worker-id", "w2"],
                Err("worker id \"w2\" is not the id of NATS user worker-w1"),
            ),
            (vec!["--worker-id", "a.b"], Err("worker id \"a.b\" must be")),
        ] {
            let mut args = args;
            if args.contains(&"--nats-user") {
                args.extend(pw);
            }
            check(&args, expected);
        }
    }

    #[test]
    fn the_sim_invents_at_the_flags_rate_and_not_at_all_at_zero() {
        let sim = |args: &[&str]| Config::parse_from(["worker"].iter().chain(args)).sim();
        let default = sim(&[]);
        assert_eq!(default.invention_rate, SimConfig::default().invention_rate);
        assert!(default.invention_exhausted > 0.0);
        let honest = sim(&["--sim-invention-rate", "0"]);
        assert_eq!(
            (honest.invention_rate, honest.invention_exhausted),
            (0.0, 0.0)
        );
        assert_eq!(sim(&["--sim-invention-rate", "0.4"]).invention_rate, 0.4);
    }
}
