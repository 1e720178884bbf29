//! Memory: the real release coordinator restoring a topic of ten million
//! unique items. A data folder is generated as a long run would leave it
//! (`output.txt`, matching `items.jsonl`, `sightings.bin` and the current
//! run in `current-run.json`), but without `keys.bin`, as a version before
//! it left it; the coordinator is started on it twice: the first start
//! computes every line's keys (and writes `keys.bin`), the restart reads
//! them. Each start is timed until the coordinator answers
//! `igentai.control.status`, then its resident memory is read from
//! `/proc/<pid>/status` (VmRSS now, VmHWM its peak).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use igentai_protocol::{StartRequest, subjects};
use testkit::{NatsServer, Proc, Role, creds};

use super::procs::{self, Memory, bin, mib};
use super::report::Row;
use super::workload::{TOPIC, item};

/// One start of the coordinator on the folder.
pub struct Start {
    pub recovery: Duration,
    pub memory: Memory,
    pub cpu: Duration,
}

pub struct Results {
    pub items: u64,
    pub output_bytes: u64,
    pub records_bytes: u64,
    /// `keys.bin` as the first start left it.
    pub keys_bytes: u64,
    /// Without `keys.bin`: every line keyed.
    pub first: Start,
    /// With the `keys.bin` the first start wrote.
    pub restart: Start,
}

/// Writes the folder of a topic holding `items` unique items, with its
/// current run; returns the sizes of `output.txt` and `items.jsonl`.
pub fn generate(data: &Path, items: u64) -> anyhow::Result<(u64, u64)> {
    let slug = coordinator::folder_for(data, TOPIC)?;
    let folder = data.join(&slug);
    std::fs::create_dir_all(&folder)?;
    let request = StartRequest {
        topic: TOPIC.into(),
        ..StartRequest::default()
    };
    let run = coordinator::Run::new(&request, &slug, &folder, 0, igentai_protocol::now_ms());
    run.save(data)?;

    let mut output =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(folder.join("output.txt"))?);
    let mut records =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(folder.join("items.jsonl"))?);
    let mut sightings = Vec::with_capacity(items as usize);
    for n in 0..items {
        let text = item(n);
        // Generated items hold no quote, backslash or control character, and
        // their key is their lower case: the line is valid JSON as written.
        writeln!(output, "{text}")?;
        writeln!(
            records,
            r#"{{"seq":{},"item":"{text}","key":"{}","provider":"sim-small","model":"sim-1","worker":"bench-w{}","partition":null,"run":"{}","batch":"bench-w{}-{}","ts":"2026-01-01T00:00:00.000Z"}}"#,
            n + 1,
            text.to_lowercase(),
            n % 8,
            run.info.run_id,
            n % 8,
            n / 25,
        )?;
        sightings.push(1 + n.is_multiple_of(3) as u8);
    }
    output.flush()?;
    records.flush()?;
    std::fs::write(folder.join(coordinator::SIGHTINGS), &sightings)?;
    let size = |name: &str| std::fs::metadata(folder.join(name)).map(|m| m.len());
    Ok((size("output.txt")?, size("items.jsonl")?))
}

pub async fn measure(dir: &Path, items: u64) -> anyhow::Result<Results> {
    let data = dir.join("data");
    let (output_bytes, records_bytes) = generate(&data, items)?;
    let nats = NatsServer::start(dir).await;
    let first = start(&nats, &data, dir).await?;
    let keys = data
        .join(coordinator::folder_for(&data, TOPIC)?)
        .join(coordinator::KEYS);
    let keys_bytes = std::fs::metadata(&keys).map_or(0, |m| m.len());
    let restart = start(&nats, &data, dir).await?;
    Ok(Results {
        items,
        output_bytes,
        records_bytes,
        keys_bytes,
        first,
        restart,
    })
}

/// Starts the coordinator on `data`, times it until it answers status,
/// reads its memory once settled, and stops it.
async fn start(nats: &NatsServer, data: &Path, dir: &Path) -> anyhow::Result<Start> {
    let client = nats.client().await;
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
    let recovery = loop {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the coordinator did not answer status within 300 s"
        );
        anyhow::ensure!(
            coordinator.is_running(),
            "the coordinator exited\n{}",
            coordinator.log_tail()
        );
        let asked = client.request(subjects::CONTROL_STATUS, "".into());
        match tokio::time::timeout(Duration::from_secs(1), asked).await {
            Ok(Ok(reply))
                if serde_json::from_slice::<serde_json::Value>(&reply.payload)
                    .is_ok_and(|v| v["ok"] == true) =>
            {
                break started.elapsed();
            }
            Ok(Ok(_)) | Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(_) => {}
        }
    };
    // Let it settle into its loop (a metrics tick, a sightings save).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let memory = procs::memory(coordinator.pid())?;
    let cpu = procs::cpu_time(coordinator.pid())?;
    coordinator.terminate(Duration::from_secs(60)).await;
    Ok(Start {
        recovery,
        memory,
        cpu,
    })
}

pub fn rows(r: &Results) -> Vec<Row> {
    const B: &str = "Memory";
    const GIB: u64 = 1 << 30;
    let (first, restart) = (&r.first, &r.restart);
    vec![
        Row::info(
            B,
            format!(
                "workload: {} unique items, output.txt {:.0} MiB, items.jsonl {:.0} MiB, keys.bin {:.0} MiB (page cache warm)",
                r.items,
                mib(r.output_bytes),
                mib(r.records_bytes),
                mib(r.keys_bytes)
            ),
            "",
        ),
        Row::target(
            B,
            "coordinator resident memory (VmRSS) with them loaded",
            format!("{:.0} MiB", mib(restart.memory.rss)),
            "≤ 1024 MiB",
            restart.memory.rss <= GIB,
        ),
        Row::info(
            B,
            "coordinator peak resident memory (VmHWM)",
            format!("{:.0} MiB", mib(restart.memory.peak)),
        ),
        Row::target(
            B,
            "start until status answered (keys from keys.bin)",
            format!("{:.2} s", restart.recovery.as_secs_f64()),
            "≤ 10 s",
            restart.recovery <= Duration::from_secs(10),
        ),
        Row::info(
            B,
            "coordinator CPU time to start and settle",
            format!("{:.2} s", restart.cpu.as_secs_f64()),
        ),
        Row::info(
            B,
            "first start without keys.bin (every line keyed, keys.bin written)",
            format!(
                "{:.2} s, {:.2} s CPU, peak {:.0} MiB",
                first.recovery.as_secs_f64(),
                first.cpu.as_secs_f64(),
                mib(first.memory.peak)
            ),
        ),
    ]
}
