//! Ingest: candidates per second from JetStream through the real release
//! coordinator to synced disk, against the limit measured in the same run:
//! a bare async-nats pull consumer that consumes and acknowledges the same
//! messages with no dedup and no writing.
//!
//! Both drain a pre-filled stream created with the coordinator's own stream
//! and consumer configuration on one real nats-server; a phase ends when the
//! work-queue stream is empty, i.e. every batch was acknowledged (for the
//! coordinator: after its items were written and `fdatasync`ed). The
//! coordinator's time counts from its process start, so its start-up is
//! included. Afterwards `output.txt` must hold exactly the new items.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use igentai_protocol::StartRequest;
use testkit::{NatsServer, Proc, Role, creds};

use super::jetstream::{create_stream, publish, server_pid, stored, wait_empty};
use super::procs::{self, bin};
use super::report::Row;
use super::workload::{self, BATCH_ITEMS, NEW_PER_BATCH, TOPIC};

/// The longest a phase may take before the benchmark gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(600);

/// One drain of the pre-filled stream.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    pub wall: Duration,
    pub candidates: u64,
    /// CPU time of the consumer (the bare program or the coordinator) and of
    /// nats-server during the drain.
    pub consumer_cpu: Duration,
    pub server_cpu: Duration,
}

impl Drain {
    pub fn per_second(&self) -> f64 {
        self.candidates as f64 / self.wall.as_secs_f64()
    }
}

pub struct Results {
    pub batches: u64,
    pub publish: Duration,
    pub bare: Drain,
    pub coordinator: Drain,
}

pub async fn measure(dir: &Path, batches: u64) -> anyhow::Result<Results> {
    let nats = NatsServer::start(dir).await;
    let server = server_pid(nats.port).context("find the nats-server process")?;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let stream = create_stream(&js).await?;

    // The run the batches belong to, saved as the coordinator saves it, so
    // the coordinator restores it at start and counts every batch in it.
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let request = StartRequest {
        topic: TOPIC.into(),
        ..StartRequest::default()
    };
    let slug = coordinator::folder_for(&data, TOPIC)?;
    let now = igentai_protocol::now_ms();
    let run = coordinator::Run::new(&request, &slug, &data.join(&slug), 0, now);
    run.save(&data)?;
    let payloads = workload::payloads(batches, &run.info.run_id);
    let candidates = batches * BATCH_ITEMS as u64;

    // The limit: a bare consumer, same stream, same consumer settings.
    let publish_time = publish(&js, &payloads, "bare-").await?;
    anyhow::ensure!(stored(&stream).await? == batches, "stream not filled");
    let bare = bare_drain(&stream, server, candidates).await?;
    stream.delete_consumer("bare").await?;

    // The coordinator, on the same messages.
    publish(&js, &payloads, "coordinator-").await?;
    anyhow::ensure!(stored(&stream).await? == batches, "stream not filled");
    let server_before = procs::cpu_time(server)?;
    let started = Instant::now();
    let [user, password] = creds(Role::Coordinator);
    let mut coordinator = Proc::spawn(
        "coordinator",
        &bin("coordinator")?,
        &[],
        &[
            ("NATS_URL", nats.url.as_str()),
            user,
            password,
            ("IGENTAI_DATA_DIR", data.to_str().context("utf-8 path")?),
        ],
        dir,
    );
    let ended = wait_empty(&stream, PHASE_LIMIT).await?;
    let coordinator_cpu = procs::cpu_time(coordinator.pid())?;
    let server_cpu = procs::cpu_time(server)? - server_before;
    coordinator.terminate(Duration::from_secs(30)).await;

    let written = count_lines(&data.join(&slug).join(coordinator::OUTPUT))?;
    let expected = batches * NEW_PER_BATCH as u64;
    anyhow::ensure!(
        written == expected,
        "output.txt holds {written} items, expected {expected}"
    );
    Ok(Results {
        batches,
        publish: publish_time,
        bare,
        coordinator: Drain {
            wall: ended - started,
            candidates,
            consumer_cpu: coordinator_cpu,
            server_cpu,
        },
    })
}

/// Consumes and acknowledges every message, as the coordinator's consumer
/// would, doing nothing else; returns once the stream is empty.
async fn bare_drain(
    stream: &jetstream::stream::Stream,
    server: u32,
    candidates: u64,
) -> anyhow::Result<Drain> {
    let batches = stored(stream).await?;
    let own_before = procs::own_cpu_time()?;
    let server_before = procs::cpu_time(server)?;
    let started = Instant::now();
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("bare".into()),
            ..coordinator::consumer_config()
        })
        .await?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(coordinator::MAX_PENDING)
        .messages()
        .await?;
    let mut received = 0;
    let drained = tokio::time::timeout(PHASE_LIMIT, async {
        while received < batches {
            let msg = messages
                .next()
                .await
                .context("consumer ended")?
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            msg.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            received += 1;
        }
        wait_empty(stream, PHASE_LIMIT).await
    })
    .await
    .context("bare drain took too long")??;
    Ok(Drain {
        wall: drained - started,
        candidates,
        consumer_cpu: procs::own_cpu_time()? - own_before,
        server_cpu: procs::cpu_time(server)? - server_before,
    })
}

fn count_lines(path: &Path) -> anyhow::Result<u64> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    Ok(bytes.iter().filter(|&&b| b == b'\n').count() as u64)
}

/// The rows this benchmark reports.
pub fn rows(r: &Results) -> Vec<Row> {
    const B: &str = "Ingest";
    let (bare, coord) = (r.bare.per_second(), r.coordinator.per_second());
    let ratio = coord / bare;
    let cpu = |d: &Drain| {
        format!(
            "{:.0}% + {:.0}%",
            100.0 * d.consumer_cpu.as_secs_f64() / d.wall.as_secs_f64(),
            100.0 * d.server_cpu.as_secs_f64() / d.wall.as_secs_f64()
        )
    };
    vec![
        Row::info(
            B,
            format!(
                "workload: {} batches of {BATCH_ITEMS} items, {NEW_PER_BATCH} new; pre-filled at",
                r.batches
            ),
            format!(
                "{:.0} batches/s",
                r.batches as f64 / r.publish.as_secs_f64()
            ),
        ),
        Row::info(
            B,
            "bare limit: consume + ack, candidates/s",
            format!("{bare:.0}"),
        ),
        Row::info(
            B,
            "coordinator to synced disk, candidates/s",
            format!("{coord:.0}"),
        ),
        Row::info(
            B,
            "coordinator / bare limit",
            format!("{:.0}%", 100.0 * ratio),
        ),
        Row::info(B, "CPU of consumer + nats-server, bare", cpu(&r.bare)),
        Row::info(
            B,
            "CPU of consumer + nats-server, coordinator",
            cpu(&r.coordinator),
        ),
    ]
}

/// What bounds the result, from the numbers measured.
pub fn notes(r: &Results) -> Vec<String> {
    let per_candidate = |d: &Drain| {
        (
            1e9 * d.consumer_cpu.as_secs_f64() / d.candidates as f64,
            1e9 * d.server_cpu.as_secs_f64() / d.candidates as f64,
        )
    };
    let (bare, bare_server) = per_candidate(&r.bare);
    let (coord, coord_server) = per_candidate(&r.coordinator);
    vec![format!(
        "Ingest: CPU time per candidate, consumer + nats-server: bare {bare:.0} + {bare_server:.0} ns, \
         coordinator {coord:.0} + {coord_server:.0} ns. The coordinator's work per candidate (decode, \
         vet and normalize, 128-bit hash, seen-set insert, and for each new item its items.jsonl record, \
         output.txt line and igentai.items entry) runs on its one event-loop thread, with writing and \
         fdatasync on a second one; that CPU time, not NATS, bounds its rate: at {:.0} ns per \
         candidate one core gives at most {:.0} candidates/s.",
        coord,
        1e9 / coord.max(1.0)
    )]
}
