//! The NATS connection every igentai role opens: where (`--nats-url`) and
//! as whom (`--nats-user`/`--nats-password`, `--nats-token` or
//! `--nats-creds`), each with an environment fallback.
//!
//! Credentials never go in the URL (async-nats ignores them there, so a
//! URL with credentials is refused with a clear error) and never appear in
//! `Debug` output or logs. Each role gets its own inbox prefix
//! (`_INBOX.<role>`), so `nats.conf` can let a role read only its own
//! replies.

mod process;
pub mod stream;
pub use process::{init_tracing, shutdown_on_signals};

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

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
    /// NATS server URL (no credentials in it: use the flags below).
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
        if let Some((_, rest)) = self.url.split_once("://")
            && rest
                .split('/')
                .next()
                .is_some_and(|host| host.contains('@'))
        {
            bail!(
                "the NATS URL must not hold credentials (the client ignores them): \
                 use --nats-user/--nats-password, --nats-token or --nats-creds"
            );
        }
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
        options = options.custom_inbox_prefix(format!("_INBOX.{role}"));
        Ok(options)
    }

    /// Connects as `role` under the connection name `name` (shown by the
    /// server's monitoring), retrying forever in the background: a role may
    /// start before nats-server and must outlive its restarts.
    pub async fn connect(&self, role: &str, name: &str) -> anyhow::Result<async_nats::Client> {
        self.options(role)
            .await?
            .name(name)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .event_callback(|event| async move {
                tracing::info!(%event, "nats connection event");
            })
            .connect(&self.url)
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
            .connect(&self.url)
            .await
            .with_context(|| format!("connect to NATS at {}", self.url))
    }
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
