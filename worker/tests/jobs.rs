//! Partition and judge jobs and weight updates, in-process on a real
//! nats-server: a worker of the queue group names sub-categories and
//! judges items through its providers, and a run's provider choice
//! follows the weights the coordinator publishes, newest version first.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::consumer;
use futures::StreamExt;
use igentai_protocol::{
    Answer, Assignment, CandidateBatch, JudgeReply, JudgeRequest, PartitionReply, PartitionRequest,
    WeightsUpdate, WorkerAck, WorkerCommand, subjects,
};
use testkit::{NatsServer, wait_for};
use tokio_util::sync::CancellationToken;
use worker::micro::SERVICE_NAME;

fn weights(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(n, w)| (n.to_string(), *w)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_jobs_and_weight_updates() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let stream = common::create_stream(&client).await;
    let file = dir.path().join("providers.toml");
    std::fs::write(
        &file,
        "[[providers]]\nname='a'\nkind='sim'\n[providers.sim]\nlatency_ms=5\n\
         judge_false_accept=0.0\njudge_unsure=0.0\n\
         [[providers]]\nname='b'\nkind='sim'\n[providers.sim]\nlatency_ms=5\n\
         [[providers]]\nname='c'\nkind='sim'\n[providers.sim]\nlatency_ms=5\n\
         judge_false_accept=1.0\njudge_unsure=0.0\njudge_second_false_accept=0.0\n\
         [[providers]]\nname='d'\nkind='sim'\n[providers.sim]\nlatency_ms=5\n\
         judge_false_accept=1.0\njudge_unsure=0.0\njudge_second_false_accept=1.0\n",
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let running = common::spawn_worker_on(&nats, "j1", &file, &[], &shutdown).await;
    let info = common::service_info(&client).await;
    let endpoints = info["endpoints"].as_array().unwrap().clone();
    let jobs = endpoints
        .iter()
        .find(|e| e["name"] == "partitions")
        .cloned()
        .expect("a partitions endpoint");
    assert_eq!(
        (jobs["subject"].as_str(), jobs["queue_group"].as_str()),
        (
            Some(subjects::PARTITION_JOBS),
            Some(subjects::WORKERS_QUEUE)
        )
    );

    // A partition job, answered through the provider its weights choose.
    let job = |parent: Option<&str>, count| PartitionRequest {
        v: 1,
        run_id: "r1".into(),
        topic: "Paris attractions".into(),
        parent: parent.map(Into::into),
        count,
        weights: weights(&[("b", 1.0)]),
    };
    let ask = |job: PartitionRequest| {
        let client = client.clone();
        async move {
            let msg = client
                .request(
                    subjects::PARTITION_JOBS,
                    serde_json::to_vec(&job).unwrap().into(),
                )
                .await
                .unwrap();
            serde_json::from_slice::<PartitionReply>(&msg.payload).unwrap()
        }
    };
    let reply = ask(job(None, 6)).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(
        (
            reply.worker_id.as_str(),
            reply.provider.as_str(),
            reply.partitions.len()
        ),
        ("j1", "b", 6)
    );
    assert!(
        reply.tokens_in > 0 && reply.tokens_out > 0 && reply.cost_usd > 0.0,
        "{reply:?}"
    );
    // The sim names the sub-categories of its own names: "Historic museums"
    // within "Museums".
    let parent = reply.partitions[0].clone();
    let reply = ask(job(Some(&parent), 4)).await;
    assert!(
        reply.ok
            && reply.partitions.len() == 4
            && reply
                .partitions
                .iter()
                .all(|p| p.ends_with(&parent.to_lowercase())),
        "{parent}: {reply:?}"
    );
    let reply = ask(job(None, 0)).await;
    assert!(!reply.ok && reply.error.is_some(), "{reply:?}");
    let garbage = client
        .request(subjects::PARTITION_JOBS, "{not json".into())
        .await
        .unwrap();
    let garbage: PartitionReply = serde_json::from_slice(&garbage.payload).unwrap();
    assert!(!garbage.ok && garbage.error.unwrap().contains("unreadable"));

    // A judge job, on its own endpoint of the queue group: one answer per
    // item, through the provider its weights name, with what it cost.
    let judge = endpoints
        .iter()
        .find(|e| e["name"] == "judge")
        .expect("a judge endpoint");
    assert_eq!(
        (judge["subject"].as_str(), judge["queue_group"].as_str()),
        (Some(subjects::JUDGE_JOBS), Some(subjects::WORKERS_QUEUE))
    );
    let judge_job_on = |provider: &str, items: Vec<String>, confirm: bool| JudgeRequest {
        v: 1,
        run_id: "r1".into(),
        topic: "Paris attractions".into(),
        items,
        weights: weights(&[(provider, 1.0)]),
        confirm,
        closed: false,
    };
    let judge_job = |items: Vec<String>| judge_job_on("a", items, false);
    let ask_judge = |job: JudgeRequest| {
        let client = client.clone();
        async move {
            let payload = serde_json::to_vec(&job).unwrap();
            let msg = client
                .request(subjects::JUDGE_JOBS, payload.into())
                .await
                .unwrap();
            serde_json::from_slice::<JudgeReply>(&msg.payload).unwrap()
        }
    };
    let items: Vec<String> = (0..7).map(|i| format!("Item {i}")).collect();
    let reply = ask_judge(judge_job(items)).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!((reply.provider.as_str(), reply.answers.len()), ("a", 7));
    assert!(reply.tokens_in > 0 && reply.cost_usd > 0.0, "{reply:?}");
    // Names the sim's world does not hold, to a judge that accepts no
    // non-member: none is valid.
    assert!(reply.answers.iter().all(|a| *a == Answer::No), "{reply:?}");
    let reply = ask_judge(judge_job(vec![])).await;
    assert!(!reply.ok && reply.error.is_some(), "{reply:?}");

    // Judges whose labels call every one of them a member: unconfirmed,
    // all stand; a job that confirms asks the second question about each,
    // which decides, and its calls are paid for too.
    let items: Vec<String> = (0..7).map(|i| format!("Item {i}")).collect();
    let labels_only = ask_judge(judge_job_on("c", items.clone(), false)).await;
    let strict = ask_judge(judge_job_on("c", items.clone(), true)).await;
    let fooled = ask_judge(judge_job_on("d", items.clone(), true)).await;
    assert!(
        labels_only.answers.iter().all(|a| *a == Answer::Yes)
            && strict.answers.iter().all(|a| *a == Answer::No)
            && fooled.answers.iter().all(|a| *a == Answer::Yes)
            && fooled.answers.len() == 7,
        "{labels_only:?}\n{strict:?}\n{fooled:?}"
    );
    // Of a closed topic the same judge's lists of members by the items'
    // first letters hold none of them: none stands.
    let closed = JudgeRequest {
        closed: true,
        ..judge_job_on("d", items.clone(), true)
    };
    let listed = ask_judge(closed).await;
    assert!(
        listed.answers.iter().all(|a| *a == Answer::No) && listed.answers.len() == 7,
        "{listed:?}"
    );
    for reply in [&strict, &fooled, &listed] {
        assert!(
            reply.tokens_in > labels_only.tokens_in && reply.cost_usd > labels_only.cost_usd,
            "seven second calls are charged: {reply:?} against {labels_only:?}"
        );
    }

    // A run on `a` only, then the coordinator moves it to `b`; an older
    // update arriving late changes nothing.
    let assign = WorkerCommand::Assign(Assignment {
        v: 1,
        run_id: "r1".into(),
        topic: "Paris attractions".into(),
        partition: None,
        avoid: vec![],
        items_per_request: 5,
        prompt_template: None,
        weights: weights(&[("a", 1.0)]),
    });
    let answer = client
        .request(
            subjects::worker_command("j1"),
            serde_json::to_vec(&assign).unwrap().into(),
        )
        .await
        .unwrap();
    assert!(
        serde_json::from_slice::<WorkerAck>(&answer.payload)
            .unwrap()
            .ok
    );
    let consumer = stream
        .create_consumer(consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut next_provider = async || {
        let msg = tokio::time::timeout(Duration::from_secs(20), messages.next())
            .await
            .expect("batches keep coming")
            .unwrap()
            .unwrap();
        msg.ack().await.unwrap();
        serde_json::from_slice::<CandidateBatch>(&msg.payload)
            .unwrap()
            .provider
    };
    for _ in 0..10 {
        assert_eq!(next_provider().await, "a");
    }
    let update = |version, pairs: &[(&str, f64)]| WeightsUpdate {
        v: 1,
        run_id: "r1".into(),
        version,
        weights: weights(pairs),
        manual: false,
    };
    for u in [update(2, &[("b", 1.0)]), update(1, &[("a", 1.0)])] {
        client
            .publish(subjects::WEIGHTS, serde_json::to_vec(&u).unwrap().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    // Batches from `a` already in the stream, then the first from `b`;
    // after it at most the calls that were in flight (3 other slots) may
    // still land from `a`, then only `b`: the older update was ignored.
    tokio::time::timeout(Duration::from_secs(30), async {
        while next_provider().await != "b" {}
    })
    .await
    .expect("the worker switches to b");
    let after: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..60 {
            v.push(next_provider().await);
        }
        v
    };
    let late_a = after.iter().filter(|p| *p == "a").count();
    assert!(late_a <= 3, "{after:?}");
    assert!(after[10..].iter().all(|p| p == "b"), "{after:?}");

    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("exits")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

/// Two jobs for a provider that takes one call at a time and over 10 s a
/// call (a local model on a CPU): the second waits for the first's slot
/// and is answered, not refused for want of a provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_waits_for_a_busy_slow_provider() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    common::create_stream(&client).await;
    let file = dir.path().join("providers.toml");
    // 20 s for 20 items, so about 12.6 s for 8 sub-categories.
    std::fs::write(
        &file,
        "[[providers]]\nname='slow'\nkind='sim'\nmax_concurrency=1\n\
         [providers.sim]\nlatency_ms=20000\nlatency_sigma=0.0\n",
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let running = common::spawn_worker_on(&nats, "s1", &file, &[], &shutdown).await;
    wait_for(
        "the partitions endpoint",
        Duration::from_secs(20),
        || async {
            let msg = client
                .request(format!("$SRV.INFO.{SERVICE_NAME}"), "".into())
                .await
                .ok()?;
            let info: serde_json::Value = serde_json::from_slice(&msg.payload).ok()?;
            (info["endpoints"].as_array()?.len() == 3).then_some(())
        },
    )
    .await;
    let ask = |n: u32| {
        let client = client.clone();
        async move {
            let job = PartitionRequest {
                v: 1,
                run_id: "r1".into(),
                topic: format!("Slow topic {n}"),
                parent: None,
                count: 8,
                weights: weights(&[("slow", 1.0)]),
            };
            let request = async_nats::Request::new()
                .payload(serde_json::to_vec(&job).unwrap().into())
                .timeout(Some(Duration::from_secs(120)));
            let msg = client
                .send_request(subjects::PARTITION_JOBS, request)
                .await
                .unwrap();
            serde_json::from_slice::<PartitionReply>(&msg.payload).unwrap()
        }
    };
    let (first, second) = tokio::join!(ask(1), ask(2));
    for reply in [&first, &second] {
        assert!(reply.ok && reply.partitions.len() == 8, "{reply:?}");
    }
    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("exits")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}
