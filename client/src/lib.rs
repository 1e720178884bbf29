//! The NATS connection every igentai role opens: where (`--nats-url`, one
//! URL or a comma-separated list of a cluster's nodes) and as whom (`--nats-user`/`--nats-password`, `--nats-token` or
//! `--nats-creds`), each with an environment fallback.
//!
//! Credentials never go in the URL (async-nats ignores them there, so a
//! URL with credentials is refused with a clear error) and never appear in
//! `Debug` output or logs. With a list, the client starts with whichever
//! node answers and moves to another when its node dies: the first node
//! being down at start is no different from it dying later. Each role gets its own inbox prefix
//! (`_INBOX.<role>`, from `protocol`), so `nats.conf` can let a role read
//! only its own replies. At exit every role closes the connection the same
//! way ([`close`]).

mod process;
pub mod retry;
pub mod stream;
pub use process::{init_tracing, shutdown_on_signals};

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::Event;
use clap::Args;
use igentai_protocol::subjects;

/// A secret from a flag or the environment; prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Where and as whom to connect.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS server URL, or a comma-separated list of a cluster's nodes
    /// (`nats://h1:4222,nats://h2:4222`); no credentials in them: use the
    /// flags below.
    #[arg(
        long = "nats-url",
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    pub url: String,

    /// User name (with --nats-password).
    #[arg(long = "nats-user", env = "NATS_USER", global = true)]
    pub user: Option<String>,

    /// Password of --nats-user.
    #[arg(
        long = "nats-password",
        env = "NATS_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub password: Option<Secret>,

    /// Token authentication, instead of user and password.
    #[arg(
        long = "nats-token",
        env = "NATS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<Secret>,

    /// A NATS credentials file (JWT + NKey), instead of the above.
    #[arg(long = "nats-creds", env = "NATS_CREDS", global = true)]
    pub creds: Option<PathBuf>,
}

impl NatsArgs {
    /// Connect options for `role` (`coordinator`, `worker`, `dashboard`,
    /// `operator`), after checking the settings make sense.
    pub async fn options(&self, role: &str) -> anyhow::Result<async_nats::ConnectOptions> {
        self.servers()?;
        let methods = [
            self.user.is_some(),
            self.token.is_some(),
            self.creds.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            bail!("give one of --nats-user, --nats-token or --nats-creds");
        }
        let mut options = match (&self.user, &self.password, &self.token, &self.creds) {
            (Some(user), Some(password), _, _) => {
                async_nats::ConnectOptions::with_user_and_password(
                    user.clone(),
                    password.expose().to_string(),
                )
            }
            (Some(_), None, _, _) => bail!("--nats-user needs --nats-password (or NATS_PASSWORD)"),
            (None, Some(_), _, _) => bail!("--nats-password needs --nats-user (or NATS_USER)"),
            (None, None, Some(token), _) => {
                async_nats::ConnectOptions::with_token(token.expose().to_string())
            }
            (None, None, None, Some(creds)) => {
                async_nats::ConnectOptions::with_credentials_file(creds)
                    .await
                    .with_context(|| format!("read credentials file {}", creds.display()))?
            }
            (None, None, None, None) => async_nats::ConnectOptions::new(),
        };
        options = options.custom_inbox_prefix(subjects::inbox_prefix(role));
        Ok(options)
    }

    /// The servers of `--nats-url`, in order: each one a URL without
    /// credentials.
    pub fn servers(&self) -> anyhow::Result<Vec<async_nats::ServerAddr>> {
        parse_servers(&self.url)
    }

    /// Connects as `role` under the connection name `name` (shown by the
    /// server's monitoring), retrying forever in the background: a role may
    /// start before nats-server and must outlive its restarts.
    pub async fn connect(&self, role: &str, name: &str) -> anyhow::Result<async_nats::Client> {
        self.connect_with(role, name, |options| options).await
    }

    /// [`NatsArgs::connect`] with further options set by `tune` (the
    /// dashboard's request timeout).
    pub async fn connect_with(
        &self,
        role: &str,
        name: &str,
        tune: impl FnOnce(async_nats::ConnectOptions) -> async_nats::ConnectOptions,
    ) -> anyhow::Result<async_nats::Client> {
        let options = self
            .options(role)
            .await?
            .name(name)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .event_callback(|event| async move { log_event(event) });
        tune(options)
            .connect(self.servers()?)
            .await
            .with_context(|| format!("connect to NATS at {}", self.url))
    }

    /// Connects once, failing after `timeout`: for one-shot commands.
    pub async fn connect_once(
        &self,
        role: &str,
        timeout: Duration,
    ) -> anyhow::Result<async_nats::Client> {
        self.options(role)
            .await?
            .name(format!("igentai-{role}"))
            .connection_timeout(timeout)
            .connect(self.servers()?)
            .await
            .with_context(|| format!("connect to NATS at {}", self.url))
    }
}

/// Logs a connection event: losing and regaining the server is news, each
/// failed attempt to reconnect is not.
fn log_event(event: Event) {
    match event {
        Event::Connected => tracing::info!("connected to NATS"),
        Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
        Event::ClientError(e) => tracing::debug!(error = %e, "NATS client error"),
        Event::Draining | Event::Closed => {
            tracing::debug!(%event, "NATS connection closing")
        }
        other => tracing::warn!(event = %other, "NATS event"),
    }
}

/// How long a stop's sender waits for the coordinator's answer: it answers
/// once the workers confirmed or its stop timeout (15 s by default)
/// passed, and a worker's stop may cancel vendor batches first.
/// `coordinator ctl` and the dashboard's Stop wait this long.
pub const STOP_ANSWER: Duration = Duration::from_secs(60);

/// A request that waits `timeout` for its answer. `Client::request` waits
/// the client's own request timeout (10 s), shorter than one call of a
/// slow model (a local one on a CPU above all) and than a worker's stop
/// grace; every request that may take longer is sent with this.
pub fn request_within(payload: Vec<u8>, timeout: Duration) -> async_nats::Request {
    async_nats::Request::new()
        .payload(payload.into())
        .timeout(Some(timeout))
}

/// Closes the connection at exit: flushes first, up to 5 s, because
/// `drain` only queues its request and the last acknowledgements,
/// heartbeats, answers and snapshots must reach the server before the
/// process ends; then drains (every subscription's messages handled, the
/// connection closed).
pub async fn close(client: &async_nats::Client) -> anyhow::Result<()> {
    match tokio::time::timeout(Duration::from_secs(5), client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not flush NATS before exit"),
        Err(_) => tracing::warn!("could not flush NATS within 5 s before exit"),
    }
    client.drain().await.context("drain NATS connection")
}

/// Parses a comma-separated list of NATS URLs (a bare `host:port` means
/// `nats://host:port`), refusing an empty list, an unparsable entry and
/// credentials in any of them.
pub fn parse_servers(list: &str) -> anyhow::Result<Vec<async_nats::ServerAddr>> {
    let mut servers = Vec::new();
    for url in list.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        // Checked on the text too: a URL that does not parse may still
        // carry a password, which must not be echoed back.
        let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
        if authority.split('/').next().is_some_and(|h| h.contains('@')) {
            bail!(
                "the NATS URL must not hold credentials (the client ignores them): \
                 use --nats-user/--nats-password, --nats-token or --nats-creds"
            );
        }
        let server = url
            .parse::<async_nats::ServerAddr>()
            .map_err(|e| anyhow::anyhow!("bad NATS URL {url:?} in --nats-url/NATS_URL: {e}"))?;
        servers.push(server);
    }
    if servers.is_empty() {
        bail!("--nats-url/NATS_URL names no server");
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        nats: NatsArgs,
    }

    fn args(argv: &[&str]) -> NatsArgs {
        let mut full = vec!["x"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().nats
    }

    async fn error(argv: &[&str]) -> String {
        args(argv).options("worker").await.unwrap_err().to_string()
    }

    #[tokio::test]
    async fn refuses_unclear_credentials() {
        assert!(
            error(&["--nats-url", "nats://bob:pw@localhost:4222"])
                .await
                .contains("must not hold credentials")
        );
        assert!(
            error(&["--nats-user", "bob"])
                .await
                .contains("needs --nats-password")
        );
        assert!(
            error(&["--nats-password", "pw"])
                .await
                .contains("needs --nats-user")
        );
        assert!(
            error(&[
                "--nats-user",
                "a",
                "--nats-password",
                "b",
                "--nats-token",
                "t"
            ])
            .await
            .contains("one of")
        );
        assert!(
            args(&["--nats-user", "a", "--nats-password", "b"])
                .options("worker")
                .await
                .is_ok()
        );
        assert!(args(&[]).options("worker").await.is_ok());
    }

    /// The servers `list` parses to (as `host:port`), or the start of the
    /// error.
    fn check(list: &str, expected: Result<&[&str], &str>) {
        let got = parse_servers(list).map(|servers| {
            servers
                .iter()
                .map(|s| format!("{}:{}", s.host(), s.port()))
                .collect::<Vec<_>>()
        });
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{list}"),
            (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{list}: {e}"),
            (got, want) => panic!("{list}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn url_lists() {
        check("nats://127.0.0.1:4222", Ok(&["127.0.0.1:4222"]));
        check("nats://h1", Ok(&["h1:4222"]));
        check("h1:5000", Ok(&["h1:5000"]));
        check(
            "nats://h1:4222,nats://h2:4223, nats://h3:4224 ,",
            Ok(&["h1:4222", "h2:4223", "h3:4224"]),
        );
        check(
            "nats://h1:4222,http://h2:4222",
            Err("bad NATS URL \"http://h2:4222\""),
        );
        check("nats://h1:notaport", Err("bad NATS URL"));
        check(
            "nats://h1:4222,nats://bob:pw@h2:4222",
            Err("must not hold credentials"),
        );
        check("nats://tok@h1", Err("must not hold credentials"));
        check("", Err("names no server"));
        check(" , ", Err("names no server"));
    }

    #[test]
    fn secrets_stay_hidden() {
        let a = args(&[
            "--nats-user",
            "worker",
            "--nats-password",
            "hunter2",
            "--nats-token",
            "tok",
        ]);
        let debug = format!("{a:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("tok\""),
            "{debug}"
        );
        assert!(debug.contains("worker"));
    }
}
