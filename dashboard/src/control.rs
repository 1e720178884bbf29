//! Forwards the page's start/stop/status/weights actions to the coordinator as NATS
//! requests on the control subjects, and hands its JSON reply back as-is.
//!
//! The dashboard does not validate a start request: the coordinator owns
//! that and its error messages are the ones the user should read. What the
//! dashboard adds is only what the coordinator cannot say itself: that
//! nobody answered, that the answer took too long, that the dashboard has no
//! NATS connection, or that the body was too large to forward.

use std::time::Duration;

use async_nats::client::RequestErrorKind;
use async_nats::connection::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use igentai_protocol::{ControlVerb, Reply, ReplyError, decode_reply};
use serde::de::IgnoredAny;
use tracing::{debug, warn};

/// Sends control requests to the coordinator.
#[derive(Clone)]
pub struct Control {
    client: async_nats::Client,
    /// How long a request waits for its answer (a stop at least
    /// `STOP_ANSWER`).
    timeout: Duration,
}

/// A JSON answer to the browser: the coordinator's reply or our own error.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    pub fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Answer {
            status,
            body: Reply::err(message).to_json().into(),
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            self.body,
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"igentai dashboard\""),
            );
        }
        response
    }
}

impl Control {
    pub fn new(client: async_nats::Client, timeout: Duration) -> Self {
        Control { client, timeout }
    }

    /// The NATS connection as a word for people: `connected`, `connecting`
    /// (not connected yet since start) or `disconnected`.
    pub fn nats_state(&self) -> &'static str {
        match self.client.connection_state() {
            State::Connected => "connected",
            State::Pending => "connecting",
            State::Disconnected => "disconnected",
        }
    }

    /// Sends `body` verbatim on the verb's control subject and relays the
    /// reply. A stop waits as long as a stop may take (`STOP_ANSWER`), or
    /// the configured timeout when that is longer: its answer comes once
    /// the workers confirmed, and a Stop that times out on the page while
    /// the run stops anyway tells the user the wrong thing.
    pub async fn forward(&self, verb: ControlVerb, body: Bytes) -> Answer {
        let subject = verb.subject();
        let timeout = match verb {
            ControlVerb::Stop => self.timeout.max(igentai_client::STOP_ANSWER),
            _ => self.timeout,
        };
        if self.client.connection_state() != State::Connected {
            return Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the dashboard is not connected to NATS right now; it keeps retrying",
            );
        }
        let request = igentai_client::request_within(body.to_vec(), timeout);
        let reply = match self.client.send_request(subject, request).await {
            Ok(reply) => reply,
            Err(e) => return request_failed(subject, e, timeout),
        };
        let status = match decode_reply::<IgnoredAny>(&reply.payload) {
            Ok(_) => StatusCode::OK,
            Err(ReplyError::Refused(error)) => {
                debug!(subject, error, "coordinator refused a control request");
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Err(ReplyError::Malformed(e)) => {
                warn!(subject, error = e, "coordinator sent an unreadable reply");
                return Answer::error(
                    StatusCode::BAD_GATEWAY,
                    format!("the coordinator sent an unreadable reply on {subject}: {e}"),
                );
            }
        };
        Answer {
            status,
            body: reply.payload,
        }
    }
}

fn request_failed(subject: &str, e: async_nats::RequestError, timeout: Duration) -> Answer {
    let (status, message) = match e.kind() {
        RequestErrorKind::NoResponders => (
            StatusCode::BAD_GATEWAY,
            format!("no coordinator is answering on {subject}: is it running?"),
        ),
        RequestErrorKind::TimedOut => (
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the coordinator did not answer on {subject} within {} ms",
                timeout.as_millis()
            ),
        ),
        RequestErrorKind::MaxPayloadExceeded => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request is larger than the NATS server accepts".to_string(),
        ),
        RequestErrorKind::InvalidSubject | RequestErrorKind::Other => (
            StatusCode::BAD_GATEWAY,
            format!("request on {subject} failed: {e}"),
        ),
    };
    warn!(subject, error = %e, "control request failed");
    Answer::error(status, message)
}
