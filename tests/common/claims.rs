//! What a worker may claim, tested against a real coordinator: a
//! coordinator on a fresh data dir with a run started ([`Running`]),
//! batches published as a given worker on its own subject
//! ([`publish_as`]), and a stand-in worker's heartbeats ([`heartbeat`],
//! [`beat`]).

use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{
    CandidateBatch, Heartbeat, MetricsSnapshot, ProviderHealth, VERSION, WorkerState, now_ms,
    subjects,
};
use testkit::{NatsServer, wait_for};

const WAIT: Duration = Duration::from_secs(30);

/// How often a stand-in worker heartbeats: a real worker's pace, so the
/// coordinator sees it alive.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(200);

/// A coordinator on a fresh data dir, with a run on `topic` started by the
/// operator.
pub struct Running {
    pub dir: tempfile::TempDir,
    pub nats: NatsServer,
    _coordinator: testkit::Proc,
    pub operator: async_nats::Client,
    pub run_id: String,
}

impl Running {
    pub async fn start(topic: &str) -> Running {
        let dir = testkit::test_dir();
        let nats = NatsServer::start(dir.path()).await;
        let coordinator = super::spawn_coordinator(dir.path(), &nats.url, &dir.path().join("data"));
        let operator = nats.client().await;
        super::wait_stream(&jetstream::new(operator.clone())).await;
        let run_id = super::start_run(&operator, topic).await;
        Running {
            dir,
            nats,
            _coordinator: coordinator,
            operator,
            run_id,
        }
    }

    pub fn folder(&self, slug: &str) -> std::path::PathBuf {
        self.dir.path().join("data").join(slug)
    }

    /// Waits until the coordinator counted `batches` ingested and
    /// `rejected` rejected batches, and returns that snapshot.
    pub async fn counted(&self, batches: u64, rejected: u64) -> MetricsSnapshot {
        wait_for(
            &format!("{batches} batches ingested and {rejected} rejected"),
            WAIT,
            || async {
                let s = super::try_status(&self.operator).await?;
                (s.totals.batches == batches && s.totals.rejected_batches == rejected).then_some(s)
            },
        )
        .await
    }
}

/// Publishes `batch` as worker `as_worker` on its own subject, with the
/// `Nats-Msg-Id` `msg_id` whatever the body says, until the stream
/// acknowledges it.
pub async fn publish_as(nats: &NatsServer, as_worker: &str, msg_id: &str, batch: &CandidateBatch) {
    let js = jetstream::new(nats.worker_client(as_worker).await);
    let payload: bytes::Bytes = serde_json::to_vec(batch).unwrap().into();
    wait_for("JetStream to store the batch", WAIT, || {
        let (js, payload) = (js.clone(), payload.clone());
        async move {
            let message = jetstream::message::PublishMessage::build()
                .payload(payload)
                .message_id(msg_id);
            let ack = js
                .send_publish(subjects::candidates(as_worker), message)
                .await
                .ok()?;
            tokio::time::timeout(Duration::from_secs(2), ack)
                .await
                .ok()?
                .ok()
        }
    })
    .await;
}

/// An idle worker's heartbeat listing `providers`.
pub fn heartbeat(worker_id: &str, providers: Vec<ProviderHealth>) -> Heartbeat {
    Heartbeat {
        v: VERSION,
        worker_id: worker_id.into(),
        state: WorkerState::Idle,
        run_id: None,
        partition: None,
        concurrency: 1,
        in_flight: 0,
        batches_published: 0,
        items_published: 0,
        publish_retries: 0,
        llm_failures: 0,
        providers,
        started_at_ms: 0,
        sent_at_ms: now_ms(),
        version: "test".into(),
        vendor_batches: vec![],
    }
}

/// Publishes `hb` (its send time renewed) on its worker's heartbeat
/// subject at a worker's pace, until the task is aborted.
pub fn beat(client: async_nats::Client, hb: Heartbeat) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(HEARTBEAT_EVERY);
        loop {
            every.tick().await;
            let hb = Heartbeat {
                sent_at_ms: now_ms(),
                ..hb.clone()
            };
            let _ = client
                .publish(
                    subjects::heartbeat(&hb.worker_id),
                    serde_json::to_vec(&hb).unwrap().into(),
                )
                .await;
        }
    })
}
