//! A start-up step that needs NATS (a stream, a bucket, a fence) tried
//! again until it works: a JetStream cluster still electing its leaders,
//! or too loaded to answer within a request's timeout, is a reason to
//! wait, not to exit. An error the step calls fatal (settings that could
//! lose data) ends it at once.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The first wait between tries; it doubles up to [`MAX_DELAY`].
pub const FIRST_DELAY: Duration = Duration::from_millis(200);
/// The longest wait between tries.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// Runs `step` until it succeeds, logging each failure as `what` and
/// waiting between tries. An error `fatal` accepts is returned at once;
/// `None` when `shutdown` fires first.
pub async fn until_done<T, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    fatal: impl Fn(&anyhow::Error) -> bool,
    mut step: impl FnMut() -> Fut,
) -> anyhow::Result<Option<T>>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut delay = FIRST_DELAY;
    loop {
        match step().await {
            Ok(done) => return Ok(Some(done)),
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), retry_in = ?delay, "cannot {what} yet")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_DELAY);
    }
}

/// For steps with no fatal error.
pub fn never(_: &anyhow::Error) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_step_is_tried_again_until_it_works() {
        let mut tries = 0;
        let done = until_done("count", &CancellationToken::new(), never, || {
            tries += 1;
            let now = tries;
            async move {
                if now < 4 {
                    anyhow::bail!("no meta leader")
                }
                Ok(now)
            }
        })
        .await
        .unwrap();
        assert_eq!(done, Some(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fatal_error_ends_it_at_once() {
        let mut tries = 0;
        let result: anyhow::Result<Option<()>> = until_done(
            "check",
            &CancellationToken::new(),
            |e| e.to_string() == "unsafe settings",
            || {
                tries += 1;
                async { anyhow::bail!("unsafe settings") }
            },
        )
        .await;
        assert_eq!(result.unwrap_err().to_string(), "unsafe settings");
        assert_eq!(tries, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_ends_the_waiting() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let result: Option<()> = until_done("wait", &shutdown, never, || async {
            anyhow::bail!("unavailable")
        })
        .await
        .unwrap();
        assert!(result.is_none());
    }
}
