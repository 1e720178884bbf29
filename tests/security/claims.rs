//! What a worker may still say on its own subjects, as the coordinator
//! judges it: a batch that speaks for another worker, for a run never
//! started or for more than one call can produce is rejected and counted,
//! and a stop confirmation counts only from the worker stopped.

use async_nats::jetstream;
use igentai_protocol::{
    CandidateBatch, RunState, StopReply, VERSION, WorkerAck, decode_reply, subjects,
};
use testkit::{NatsServer, wait_for};

use crate::common::claims::{Running, beat, heartbeat, publish_as};
use crate::common::{self, batch, lines, spawn_coordinator, start_run};
use crate::probe::{self, Login, watched};
use crate::{WAIT, status};

/// A batch from worker `worker_id` of run `run_id` on `topic`.
fn from(worker_id: &str, id: &str, run_id: &str, topic: &str, items: &[&str]) -> CandidateBatch {
    CandidateBatch {
        worker_id: worker_id.to_string(),
        batch_id: common::batch_id(worker_id, id),
        ..batch(id, run_id, topic, "sim", items)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_claiming_another_worker_is_rejected_counted_and_changes_nothing() {
    let run = Running::start("Rare cheeses").await;
    // w1 may publish only on its own subject; there it claims to be w2.
    let forged = from("w2", "forged", &run.run_id, "Rare cheeses", &["Forged"]);
    publish_as(&run.nats, "w1", &forged.batch_id, &forged).await;
    let honest = from(
        "w1",
        "honest",
        &run.run_id,
        "Rare cheeses",
        &["Brie", "Comté"],
    );
    publish_as(&run.nats, "w1", &honest.batch_id, &honest).await;

    let s = run.counted(1, 1).await;
    assert_eq!(
        s.totals.rejected_by_kind.get("wrong_worker"),
        Some(&1),
        "{:?}",
        s.totals
    );
    assert_eq!(
        (s.totals.candidates, s.totals.unique),
        (2, 2),
        "{:?}",
        s.totals
    );
    assert_eq!(s.totals.cost_usd, honest.cost_usd);
    assert!(
        !s.workers.iter().any(|w| w.worker_id == "w2"),
        "{:?}",
        s.workers
    );
    // Counted when read, written when committed: the stream drains then.
    common::wait_drained(&jetstream::new(run.operator.clone()), WAIT).await;
    assert_eq!(
        lines(&run.folder("rare-cheeses").join("output.txt")),
        ["Brie", "Comté"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_a_run_never_started_or_of_another_topic_is_rejected() {
    let run = Running::start("Rare cheeses").await;
    let unknown = from(
        "w1",
        "unknown",
        "rare-cheeses-1",
        "Rare cheeses",
        &["Unknown"],
    );
    let elsewhere = from(
        "w1",
        "elsewhere",
        &run.run_id,
        "Forged topic",
        &["Elsewhere"],
    );
    publish_as(&run.nats, "w1", &unknown.batch_id, &unknown).await;
    publish_as(&run.nats, "w1", &elsewhere.batch_id, &elsewhere).await;

    // A batch of an earlier run still lands in that run's folder.
    let stopped = run
        .operator
        .request(subjects::CONTROL_STOP, "".into())
        .await
        .expect("stop answered");
    decode_reply::<StopReply>(&stopped.payload).expect("the run stops");
    let paris = start_run(&run.operator, "Paris attractions").await;
    let late = from("w1", "late", &run.run_id, "Rare cheeses", &["Brie"]);
    let current = from("w1", "current", &paris, "Paris attractions", &["Louvre"]);
    publish_as(&run.nats, "w1", &late.batch_id, &late).await;
    publish_as(&run.nats, "w1", &current.batch_id, &current).await;

    // The new run's counters start at zero: the rejections before it were
    // counted by the first run, so wait for the files instead.
    wait_for("both good batches written", WAIT, || async {
        let cheeses =
            std::fs::read_to_string(run.folder("rare-cheeses").join("output.txt")).ok()?;
        let paris =
            std::fs::read_to_string(run.folder("paris-attractions").join("output.txt")).ok()?;
        (cheeses == "Brie\n" && paris == "Louvre\n").then_some(())
    })
    .await;
    common::wait_drained(&jetstream::new(run.operator.clone()), WAIT).await;
    assert!(
        !run.folder("forged-topic").exists(),
        "a folder for the forged topic"
    );
    assert_eq!(
        lines(&run.folder("rare-cheeses").join("output.txt")),
        ["Brie"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_unknown_runs_and_other_topics_are_counted_by_kind() {
    let run = Running::start("Rare cheeses").await;
    let unknown = from(
        "w1",
        "unknown",
        "rare-cheeses-1",
        "Rare cheeses",
        &["Unknown"],
    );
    let elsewhere = from(
        "w1",
        "elsewhere",
        &run.run_id,
        "Forged topic",
        &["Elsewhere"],
    );
    publish_as(&run.nats, "w1", &unknown.batch_id, &unknown).await;
    publish_as(&run.nats, "w1", &elsewhere.batch_id, &elsewhere).await;
    let s = run.counted(0, 2).await;
    assert_eq!(
        s.totals.rejected_by_kind.get("unknown_run"),
        Some(&1),
        "{:?}",
        s.totals
    );
    assert_eq!(
        s.totals.rejected_by_kind.get("wrong_topic"),
        Some(&1),
        "{:?}",
        s.totals
    );
    assert_eq!(s.totals.candidates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_beyond_one_call_are_rejected_and_the_run_does_not_stop_on_budget() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let _coordinator = spawn_coordinator(dir.path(), &nats.url, &dir.path().join("data"));
    let operator = nats.client().await;
    common::wait_stream(&jetstream::new(operator.clone())).await;
    let reply = operator
        .request(
            subjects::CONTROL_START,
            r#"{"topic":"Rare cheeses","budget_usd":1.0}"#.into(),
        )
        .await
        .expect("start answered");
    let started: igentai_protocol::StartReply = decode_reply(&reply.payload).expect("started");
    let run_id = started.run_id;

    let good = from("w1", "good", &run_id, "Rare cheeses", &["Brie"]);
    let mut huge_cost = from("w1", "huge-cost", &run_id, "Rare cheeses", &["A"]);
    huge_cost.cost_usd = 1e300;
    // 150 tokens at the default ceiling of $100 per million: at most $0.015.
    let mut over_price = from("w1", "over-price", &run_id, "Rare cheeses", &["B"]);
    over_price.cost_usd = 0.9;
    let mut tokens = from("w1", "tokens", &run_id, "Rare cheeses", &["C"]);
    (tokens.tokens_out, tokens.cost_usd) = (1_000_000_000, 0.9);
    let many: Vec<String> = (0..2001).map(|i| format!("i{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let items = from("w1", "items", &run_id, "Rare cheeses", &many);
    let mut negative = from("w1", "negative", &run_id, "Rare cheeses", &["D"]);
    negative.cost_usd = -5.0;
    for b in [&huge_cost, &over_price, &tokens, &items, &negative, &good] {
        publish_as(&nats, "w1", &b.batch_id, b).await;
    }

    let s = wait_for("6 batches counted", WAIT, || async {
        let s = status(&operator).await?;
        (s.totals.batches == 1 && s.totals.rejected_batches == 5).then_some(s)
    })
    .await;
    assert_eq!(
        s.totals.rejected_by_kind.get("over_limit"),
        Some(&5),
        "{:?}",
        s.totals
    );
    assert_eq!(s.totals.cost_usd, good.cost_usd);
    assert_eq!(
        (s.totals.candidates, s.totals.tokens_out),
        (1, good.tokens_out)
    );
    assert_eq!(s.state, RunState::Running, "{:?}", s.run);
    // The next snapshots too: nothing is left to stop the run later.
    let seq = s.seq;
    let later = wait_for("a later snapshot", WAIT, || async {
        status(&operator).await.filter(|l| l.seq > seq)
    })
    .await;
    assert_eq!(later.state, RunState::Running, "{:?}", later.run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_confirmation_counts_only_from_the_worker_stopped() {
    let run = Running::start("Rare cheeses").await;
    let w1 = run.nats.add_worker("w1").await;
    let w2 = watched(&run.nats, &Login::Worker(run.nats.add_worker("w2").await)).await;

    // w1 is alive (it heartbeats) and answers its commands, but names
    // another worker in its answers.
    let w1_client = w1
        .options()
        .connect(&run.nats.url)
        .await
        .expect("w1 logs in");
    let mut commands =
        testkit::subscribe_confirmed(&run.nats, &w1_client, &subjects::worker_command("w1")).await;
    let answering = w1_client.clone();
    let answers = tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(msg) = commands.next().await {
            let ack = WorkerAck {
                v: VERSION,
                worker_id: "w9".into(),
                ok: true,
                error: None,
                batches_stopped: vec![],
            };
            if let Some(reply) = msg.reply {
                let _ = answering
                    .publish(reply, serde_json::to_vec(&ack).unwrap().into())
                    .await;
            }
        }
    });
    let heartbeats = beat(w1_client.clone(), heartbeat("w1", Vec::new()));
    wait_for("w1 alive", WAIT, || async {
        let s = status(&run.operator).await?;
        s.workers
            .iter()
            .any(|w| w.worker_id == "w1" && w.alive)
            .then_some(())
    })
    .await;

    // w2 tries to take w1's commands, to confirm a stop for it.
    let mut stolen = w2
        .client
        .subscribe(subjects::worker_command("w1"))
        .await
        .expect("the client sends");
    w2.client.flush().await.unwrap();
    w2.wait_violations(&[probe::subscribe_violation(&subjects::worker_command("w1"))])
        .await;
    let w2_client = w2.client.clone();
    let forging = tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(msg) = stolen.next().await {
            let ack = WorkerAck {
                v: VERSION,
                worker_id: "w1".into(),
                ok: true,
                error: None,
                batches_stopped: vec![],
            };
            if let Some(reply) = msg.reply {
                let _ = w2_client
                    .publish(reply, serde_json::to_vec(&ack).unwrap().into())
                    .await;
            }
        }
    });

    let stopped = run
        .operator
        .request(subjects::CONTROL_STOP, "".into())
        .await
        .expect("stop answered");
    let reply: StopReply = decode_reply(&stopped.payload).expect("the run stops");
    assert!(reply.workers_stopped.is_empty(), "{reply:?}");
    assert_eq!(reply.workers_unresponsive, ["w1"], "{reply:?}");
    for task in [answers, heartbeats, forging] {
        task.abort();
    }
}
