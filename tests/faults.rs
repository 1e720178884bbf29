//! Faults on the real fleet: the data dir runs out of space mid-run, and a
//! worker is killed with SIGKILL. The coordinator stops acknowledging while
//! it cannot write, says why in its status, resumes by itself once the disk
//! has room again, and loses nothing.
//!
//! The disk-full test mounts a small tmpfs for the data dir, which needs
//! root (as the test machines and CI run); elsewhere it fails saying so.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use async_nats::jetstream;
use coordinator::normalize;
use igentai_protocol::{RunState, subjects};
use testkit::wait_for;

use common::{Fleet, batch, lines, publish_batch, wait_drained, wait_stream};

/// A tmpfs of `size` mounted at `dir`, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root: run the tests as root (CI does)"
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` to the last byte, so that the
/// next write of any file fails (the batch log's first).
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    for size in [64 * 1024, 4096, 1] {
        let chunk = vec![b'x'; size];
        while f.write_all(&chunk).is_ok() {}
    }
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_stops_acks_says_why_and_resumes_losing_nothing() {
    let (mut fleet, _tmpfs) = Fleet::start_with(2, |data| Tmpfs::mount(data, "4m")).await;
    fleet.wait_workers(2).await;
    let reply = fleet
        .request(
            subjects::CONTROL_START,
            r#"{"topic":"Disk full","strategies":{"partitions":false}}"#,
        )
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    let reply_run_id = reply["run_id"].as_str().expect("a run id").to_string();
    wait_for("some items", Duration::from_secs(60), || async {
        (fleet.status().await.totals.unique >= 200).then_some(())
    })
    .await;

    // The disk fills up: the coordinator must stop acknowledging and say why.
    let filler = fleet.data.join("filler");
    fill(&filler);
    let error = wait_for(
        "the coordinator to report the full disk",
        Duration::from_secs(60),
        || async { fleet.status().await.last_error },
    )
    .await;
    assert!(
        error.contains("No space left") || error.contains("space"),
        "{error}"
    );
    let js = jetstream::new(fleet.client.clone());
    wait_for(
        "batches to wait in the stream",
        Duration::from_secs(60),
        || async {
            let mut stream = js.get_stream(subjects::STREAM).await.ok()?;
            (stream.info().await.ok()?.state.messages > 20).then_some(())
        },
    )
    .await;
    assert!(fleet.coordinator_alive(), "the coordinator keeps running");

    // Room again: it resumes by itself and clears the error.
    std::fs::remove_file(&filler).unwrap();
    wait_for("the error to clear", Duration::from_secs(60), || async {
        fleet.status().await.last_error.is_none().then_some(())
    })
    .await;
    let reply = fleet.request(subjects::CONTROL_STOP, "").await;
    assert_eq!(reply["ok"], true, "{reply}");
    wait_drained(&js, Duration::from_secs(60)).await;

    // Nothing twice, output and provenance agree, and every published batch
    // was ingested.
    let out = fleet.data.join("disk-full");
    let output = lines(&out.join("output.txt"));
    let mut keys = HashSet::new();
    assert!(
        output.iter().all(|i| keys.insert(normalize(i))),
        "an item was written twice"
    );
    assert_eq!(
        common::item_records(&out.join("items.jsonl")).len(),
        output.len()
    );
    let status = fleet.status().await;
    assert_eq!(status.state, RunState::Stopped);
    assert_eq!(status.totals.unique, output.len() as u64);
    // The run's counters are its batch log's: the batches whose ledger
    // entries were published before the write failed came back as repeats
    // and are counted once, from the log, not lost.
    let logged = logged_totals(&out.join("batches.jsonl"), &reply_run_id);
    let t = &status.totals;
    assert_eq!(
        (t.batches, t.candidates, t.tokens_in, t.tokens_out),
        (
            logged.batches,
            logged.candidates,
            logged.tokens_in,
            logged.tokens_out
        ),
        "status totals against batches.jsonl"
    );
    assert!(
        (t.cost_usd - logged.cost_usd).abs() < 1e-9,
        "cost {} against {} in batches.jsonl",
        t.cost_usd,
        logged.cost_usd
    );
}

/// What the lines of `run_id` in a batch log add up to.
#[derive(Debug, Default)]
struct Logged {
    batches: u64,
    candidates: u64,
    tokens_in: u64,
    tokens_out: u64,
    cost_usd: f64,
}

fn logged_totals(path: &Path, run_id: &str) -> Logged {
    let mut sum = Logged::default();
    for line in lines(path) {
        let line: serde_json::Value = serde_json::from_str(&line).expect("a batch line");
        let batch = &line["batch"];
        if batch["run_id"] != run_id {
            continue;
        }
        let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
        sum.batches += 1;
        sum.candidates += n(&line["outcome"]["candidates"]);
        sum.tokens_in += n(&batch["tokens_in"]);
        sum.tokens_out += n(&batch["tokens_out"]);
        sum.cost_usd += batch["cost_usd"].as_f64().unwrap_or(0.0);
    }
    sum
}

/// Publishes batches `from..to` of the run, ten new items each.
async fn publish_range(js: &jetstream::Context, run_id: &str, from: usize, to: usize) {
    for i in from..to {
        let items: Vec<String> = (0..10).map(|j| format!("Cheese {i:03}-{j}")).collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        let b = batch(&format!("b{i}"), run_id, "Disk full", "sim", &refs);
        publish_batch(js, &b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_whose_write_failed_after_the_ledger_are_counted_once() {
    // Commits a second apart, so a burst of batches is one commit whose
    // batch-log lines (the first file written) need a new page.
    let (fleet, _tmpfs) = Fleet::builder()
        .workers(0)
        .coordinator_env(&[("IGENTAI_COMMIT_INTERVAL_MS", "1000")])
        .start_with(|data| Tmpfs::mount(data, "4m"))
        .await;
    let js = jetstream::new(fleet.client.clone());
    let run_id = fleet.control.start_topic("Disk full").await;
    wait_stream(&js).await;
    publish_range(&js, &run_id, 0, 5).await;
    wait_drained(&js, Duration::from_secs(60)).await;

    // The disk is full to the last byte: the next commit's items ledger
    // publish succeeds, its batch log write fails.
    let filler = fleet.data.join("filler");
    fill(&filler);
    publish_range(&js, &run_id, 5, 35).await;
    wait_for(
        "the failed commit reported",
        Duration::from_secs(60),
        || async {
            let error = fleet.status().await.last_error?;
            (error.contains("cannot sync items") && error.contains("space")).then_some(())
        },
    )
    .await;
    std::fs::remove_file(&filler).unwrap();
    // Clears although the batches that come back are all repeats.
    wait_for("the error to clear", Duration::from_secs(60), || async {
        fleet.status().await.last_error.is_none().then_some(())
    })
    .await;
    wait_drained(&js, Duration::from_secs(60)).await;

    // Every batch counted once: the run's counters, its batch log and
    // what was published agree.
    let status = fleet.status().await;
    let out = fleet.data.join("disk-full");
    let logged = logged_totals(&out.join("batches.jsonl"), &run_id);
    let t = &status.totals;
    assert_eq!(
        (logged.batches, logged.candidates),
        (35, 350),
        "batches.jsonl"
    );
    assert_eq!(
        (t.batches, t.candidates, t.new_this_run),
        (35, 350, 350),
        "status totals (repeated batches: {})",
        t.repeated_batches
    );
    assert_eq!(lines(&out.join("output.txt")).len(), 350);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_is_marked_gone_and_production_continues() {
    let mut fleet = Fleet::start(3).await;
    fleet.wait_workers(3).await;
    let reply = fleet
        .request(subjects::CONTROL_START, "Killed worker")
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    wait_for(
        "every worker producing",
        Duration::from_secs(60),
        || async {
            let s = fleet.status().await;
            (s.workers.iter().filter(|w| w.yields.batches > 0).count() == 3).then_some(())
        },
    )
    .await;

    fleet.workers[2].kill9();
    let killed_at = std::time::Instant::now();
    let status = wait_for("w3 marked gone", Duration::from_secs(20), || async {
        let s = fleet.status().await;
        s.workers
            .iter()
            .any(|w| w.worker_id == "w3" && !w.alive)
            .then_some(s)
    })
    .await;
    // The heartbeat timeout is 3 s; the sweep runs every metrics tick.
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "{:?}",
        killed_at.elapsed()
    );
    let before: u64 = status.totals.unique;
    let by = |s: &igentai_protocol::MetricsSnapshot, id: &str| {
        s.workers
            .iter()
            .find(|w| w.worker_id == id)
            .map(|w| w.yields.batches)
            .unwrap_or(0)
    };
    let (w1, w2) = (by(&status, "w1"), by(&status, "w2"));
    wait_for(
        "the others to keep producing",
        Duration::from_secs(60),
        || async {
            let s = fleet.status().await;
            (s.totals.unique > before + 100 && by(&s, "w1") > w1 && by(&s, "w2") > w2).then_some(())
        },
    )
    .await;
    let s = fleet.status().await;
    assert_eq!(s.state, RunState::Running);
    assert!(
        s.workers
            .iter()
            .filter(|w| w.alive)
            .all(|w| w.worker_id != "w3")
    );
}
