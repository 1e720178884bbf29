//! The dashboard's command line, with environment fallbacks so the scripts
//! and containers can configure it without flags.
//!
//! The NATS URL may carry credentials (`nats://user:pass@host`) and the
//! dashboard token is a secret, so `Debug` is written by hand and shows
//! neither.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::auth::Token;
use crate::host::HostName;

#[derive(Clone, Parser)]
#[command(
    name = "dashboard",
    version,
    about = "igentai dashboard: live metrics in the browser, start and stop runs"
)]
pub struct Config {
    /// The NATS server to read metrics from and send control requests to.
    #[command(flatten)]
    pub nats: igentai_client::NatsArgs,

    /// Address the web server listens on (`host:port`; port 0 picks a free one).
    #[arg(long, env = "IGENTAI_DASHBOARD_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// How long a start/status/weights request waits for the coordinator, in
    /// milliseconds; a stop waits at least `STOP_ANSWER` (60 s).
    #[arg(
        long,
        env = "IGENTAI_DASHBOARD_REQUEST_TIMEOUT_MS",
        default_value_t = 5000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub request_timeout_ms: u64,

    /// Updates queued for each browser; one that falls further behind skips
    /// to the latest snapshot (missing some items) instead of being dropped.
    #[arg(
        long,
        env = "IGENTAI_DASHBOARD_WS_BUFFER",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub ws_buffer: u32,

    /// The coordinator's data folder (same default as the coordinator's), so
    /// the page can offer the current topic's `output.txt` for download.
    #[arg(long, env = "IGENTAI_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// When set, every data and control route (all but the page and
    /// `/healthz`) needs it: `Authorization: Bearer <token>`, or the cookie
    /// the page gets by entering it. Required to listen beyond loopback.
    #[arg(
        id = "dashboard_token",
        long = "token",
        visible_alias = "control-token",
        env = "IGENTAI_DASHBOARD_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<Token>,

    /// A further name (or address) requests may carry in `Host`, besides
    /// localhost, loopback addresses and the address listened on; repeat
    /// the flag, or separate names with commas. Any other name is refused.
    #[arg(
        long = "allowed-host",
        env = "IGENTAI_DASHBOARD_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<HostName>,
}

impl Config {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("nats_url", &redact_url(&self.nats.url))
            .field("nats_user", &self.nats.user)
            .field("listen", &self.listen)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("ws_buffer", &self.ws_buffer)
            .field("data_dir", &self.data_dir)
            .field("token", &self.token)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

/// `nats://user:secret@host:4222` → `nats://***@host:4222`, for each URL of
/// a comma-separated list; URLs without credentials are unchanged.
pub fn redact_url(urls: &str) -> String {
    urls.split(',')
        .map(redact_one)
        .collect::<Vec<_>>()
        .join(",")
}

fn redact_one(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let redacted = match rest[..authority_end].rfind('@') {
        Some(at) => format!("***{}", &rest[at..]),
        None => rest.to_string(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{redacted}"),
        None => redacted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, expected: &str) {
        assert_eq!(redact_url(url), expected, "{url}");
    }

    #[test]
    fn credentials_never_show() {
        check("nats://127.0.0.1:4222", "nats://127.0.0.1:4222");
        check("nats://user:pw@host:4222", "nats://***@host:4222");
        check("tls://token@host", "tls://***@host");
        check("user:pw@host:4222", "***@host:4222");
        check(
            "nats://a:b@h1:4222,nats://h2:4222",
            "nats://***@h1:4222,nats://h2:4222",
        );
        check("nats://h1,nats://u:p@h2", "nats://h1,nats://***@h2");

        let config = Config::parse_from([
            "dashboard",
            "--nats-url",
            "nats://u:hunter2@h:1",
            "--control-token",
            "s3cret-token",
        ]);
        let debug = format!("{config:?}");
        let hosts = Config::parse_from([
            "dashboard",
            "--allowed-host",
            "a.example,B.example:80",
            "--allowed-host",
            "[::1]",
            "--token",
            "t",
        ]);
        let hosts: Vec<String> = hosts.allowed_hosts.iter().map(|h| h.to_string()).collect();
        assert_eq!(hosts, ["a.example", "b.example", "::1"]);
        assert!(Config::try_parse_from(["dashboard", "--allowed-host", "a b"]).is_err());
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains(r#"token: Some(***)"#), "{debug}");
        assert_eq!(config.request_timeout(), Duration::from_secs(5));
    }
}
