//! One browser's WebSocket session: the run's chart history, the latest
//! snapshot and recent items on connect, then every update from the
//! [`Feed`] as it happens.
//!
//! A client that falls behind the broadcast channel is not disconnected: it
//! is sent the latest snapshot and carries on from there (the items it
//! missed are gone; the totals are not). A [`Cursor`] makes sure a client
//! never sees a snapshot older than one it already has, which the catch-up
//! would otherwise allow. A peer that accepts nothing at all for
//! [`SEND_TIMEOUT`] is dead, not slow, and is dropped.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::feed::{Feed, Joined};
use crate::frame::{Frame, Update};

/// How long one frame may take to be accepted by the peer's connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The newest snapshot a client was sent.
#[derive(Debug, Default)]
pub struct Cursor {
    last_seq: Option<u64>,
}

impl Cursor {
    /// Whether `update` should go to this client, recording it if so.
    pub fn admit(&mut self, update: &Update) -> bool {
        match update {
            Update::Items { .. } => true,
            Update::Metrics { seq, .. } => {
                if self.last_seq.is_some_and(|last| *seq <= last) {
                    return false;
                }
                self.last_seq = Some(*seq);
                true
            }
        }
    }
}

enum Event {
    Update(Update),
    Lagged(u64),
    /// The peer sent something; only a close (or an error) matters.
    FromPeer(Option<Result<Message, axum::Error>>),
    Shutdown,
}

/// The peer went away or stopped reading.
struct Gone;

pub async fn serve(mut socket: WebSocket, feed: Feed, shutdown: CancellationToken) {
    let Joined {
        history_run_id,
        history,
        latest,
        recent,
        mut rx,
    } = feed.join();
    let mut cursor = Cursor::default();
    let hello = Frame::Hello {
        version: env!("CARGO_PKG_VERSION"),
    };
    if send(&mut socket, hello.encode()).await.is_err() {
        return;
    }
    if !history.is_empty() {
        let frame = Frame::History {
            run_id: history_run_id.as_deref(),
            points: &history,
        };
        if send(&mut socket, frame.encode()).await.is_err() {
            return;
        }
    }
    for update in latest.into_iter().chain(recent) {
        if cursor.admit(&update) && send(&mut socket, update.text().clone()).await.is_err() {
            return;
        }
    }

    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => Event::Shutdown,
            update = rx.recv() => match update {
                Ok(update) => Event::Update(update),
                Err(RecvError::Lagged(missed)) => Event::Lagged(missed),
                // The feed lives as long as the server.
                Err(RecvError::Closed) => Event::Shutdown,
            },
            incoming = socket.recv() => Event::FromPeer(incoming),
        };
        let sent = match event {
            Event::Update(update) => {
                if cursor.admit(&update) {
                    send(&mut socket, update.text().clone()).await
                } else {
                    Ok(())
                }
            }
            Event::Lagged(missed) => {
                debug!(
                    missed,
                    "websocket client lagged; sending the latest snapshot"
                );
                match feed.latest() {
                    Some(latest) if cursor.admit(&latest) => {
                        send(&mut socket, latest.text().clone()).await
                    }
                    _ => Ok(()),
                }
            }
            Event::FromPeer(Some(Ok(Message::Close(_)) | Err(_)) | None) => Err(Gone),
            Event::FromPeer(Some(Ok(_))) => Ok(()),
            Event::Shutdown => {
                let close = Message::Close(Some(CloseFrame {
                    code: close_code::AWAY,
                    reason: "dashboard shutting down".into(),
                }));
                let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(close)).await;
                Err(Gone)
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

async fn send(socket: &mut WebSocket, text: axum::extract::ws::Utf8Bytes) -> Result<(), Gone> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            debug!(error = %e, "websocket client went away");
            Err(Gone)
        }
        Err(_) => {
            debug!("websocket client accepted nothing for {SEND_TIMEOUT:?}; dropping it");
            Err(Gone)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(seq: u64) -> Update {
        Update::Metrics {
            seq,
            text: String::new().into(),
        }
    }

    #[test]
    fn cursor_never_goes_back() {
        let mut cursor = Cursor::default();
        let items = Update::Items {
            count: 1,
            text: String::new().into(),
        };
        // (update, admitted) in order: a catch-up with the latest snapshot
        // followed by the older snapshots still in the channel.
        let table = [
            (metrics(10), true),
            (items.clone(), true),
            (metrics(12), true),
            (metrics(11), false),
            (metrics(12), false),
            (items, true),
            (metrics(13), true),
        ];
        for (i, (update, admitted)) in table.into_iter().enumerate() {
            assert_eq!(cursor.admit(&update), admitted, "step {i}: {update:?}");
        }
    }
}
