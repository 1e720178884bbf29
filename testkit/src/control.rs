//! The coordinator's control surface as the tests use it: `status`, `start`
//! and `stop` requests over a NATS client, exactly as `nats req` sends
//! them, and bounded waits until the status satisfies a predicate. Every
//! request is bounded; a status nobody answers is `None`, so a wait can
//! poll through a coordinator that is still starting or taking over.

use std::time::Duration;

use igentai_protocol::{MetricsSnapshot, StartReply, StopReply, decode_reply, subjects};

use crate::wait_for;

/// How long a status request may take before it counts as unanswered.
const REQUEST: Duration = Duration::from_secs(5);
/// How long `start`, `stop` and other requests may take to be answered.
const ANSWER: Duration = Duration::from_secs(60);

/// A NATS client talking to the coordinator's control subjects.
#[derive(Clone)]
pub struct Control {
    pub client: async_nats::Client,
}

impl Control {
    pub fn new(client: &async_nats::Client) -> Control {
        Control {
            client: client.clone(),
        }
    }

    /// The status, or `None` while no coordinator answers (within 5 s).
    pub async fn try_status(&self) -> Option<MetricsSnapshot> {
        let msg = tokio::time::timeout(
            REQUEST,
            self.client.request(subjects::CONTROL_STATUS, "".into()),
        )
        .await
        .ok()?
        .ok()?;
        Some(decode_reply(&msg.payload).expect("status is ok"))
    }

    /// The status; the coordinator must answer.
    pub async fn status(&self) -> MetricsSnapshot {
        self.try_status()
            .await
            .expect("the coordinator answers status")
    }

    /// Polls the status until `check` returns `Some`, for at most `within`.
    pub async fn wait_status<T>(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn(&MetricsSnapshot) -> Option<T>,
    ) -> T {
        let check = &check;
        wait_for(
            what,
            within,
            || async move { check(&self.try_status().await?) },
        )
        .await
    }

    /// Waits until the coordinator answers and sees at least `n` workers
    /// alive.
    pub async fn wait_workers(&self, n: usize, within: Duration) -> MetricsSnapshot {
        self.wait_status(&format!("{n} workers alive"), within, |s| {
            (s.workers.iter().filter(|w| w.alive).count() >= n).then(|| s.clone())
        })
        .await
    }

    /// Sends a control request exactly as `nats req SUBJECT PAYLOAD` does
    /// and returns the raw reply. Sent again while no coordinator listens,
    /// never after one received it; a request not answered within 60 s (a
    /// stop waits for the workers' confirmations) fails the test.
    pub async fn request(&self, subject: &str, payload: impl Into<Vec<u8>>) -> Vec<u8> {
        let payload: bytes::Bytes = payload.into().into();
        let ask = async {
            loop {
                let request = async_nats::Request::new()
                    .payload(payload.clone())
                    .timeout(Some(ANSWER));
                match self.client.send_request(subject.to_string(), request).await {
                    Ok(msg) => return msg.payload.to_vec(),
                    Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Err(e) => panic!("{subject}: {e}"),
                }
            }
        };
        tokio::time::timeout(ANSWER, ask)
            .await
            .unwrap_or_else(|_| panic!("no coordinator answered {subject} within {ANSWER:?}"))
    }

    /// Starts a run with `request` (the JSON `start` takes); the run must
    /// start.
    pub async fn start(&self, request: &str) -> StartReply {
        let reply = self
            .request(subjects::CONTROL_START, request.as_bytes())
            .await;
        decode_reply(&reply).unwrap_or_else(|e| panic!("the run does not start ({e}): {request}"))
    }

    /// Starts a run on `topic` and returns its id.
    pub async fn start_topic(&self, topic: &str) -> String {
        let request = serde_json::json!({ "topic": topic }).to_string();
        self.start(&request).await.run_id
    }

    /// Starts a run on `topic` in place of whatever run is active (a stop
    /// first, whether or not one runs).
    pub async fn switch_to(&self, topic: &str) -> StartReply {
        let _ = self.request(subjects::CONTROL_STOP, "").await;
        let request = serde_json::json!({ "topic": topic }).to_string();
        self.start(&request).await
    }

    /// Stops the active run; the run must stop.
    pub async fn stop(&self) -> StopReply {
        let reply = self.request(subjects::CONTROL_STOP, "").await;
        decode_reply(&reply).unwrap_or_else(|e| panic!("the run does not stop: {e}"))
    }
}
