//! Topic identity with the real coordinator on a real nats-server: topics
//! that share a word before a dash ("Python - web frameworks", "Python -
//! testing tools", "Python") are three topics with three folders, none
//! resuming another's items; a batch whose spelling of the topic differs
//! from the run's ("Films (1990s)!") is written to the folder of the run it
//! is counted in; and a data dir mapped by an earlier rule keeps its
//! folders.

mod common;

use std::time::Duration;

use async_nats::jetstream;
use testkit::wait_for;

use common::{Fleet, batch, lines, publish_batch, wait_drained, wait_stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_that_share_a_word_before_a_dash_are_different_topics() {
    let fleet = Fleet::start(0).await;
    fleet.wait_workers(0).await;
    let js = jetstream::new(fleet.client.clone());

    let web = fleet.control.switch_to("Python - web frameworks").await;
    wait_stream(&js).await;
    let b = batch(
        "web-1",
        &web.run_id,
        "Python - web frameworks",
        "p",
        &["Django", "Flask"],
    );
    publish_batch(&js, &b).await;
    wait_drained(&js, Duration::from_secs(30)).await;

    let testing = fleet.control.switch_to("Python - testing tools").await;
    assert_ne!(testing.slug, web.slug);
    assert!(!testing.resumed, "{testing:?}");
    assert_eq!(testing.known_items, 0);
    let b = batch(
        "testing-1",
        &testing.run_id,
        "Python - testing tools",
        "p",
        &["pytest", "Django"],
    );
    publish_batch(&js, &b).await;
    wait_drained(&js, Duration::from_secs(30)).await;

    let python = fleet.control.switch_to("Python").await;
    assert!(!python.resumed, "{python:?}");
    assert_ne!(python.slug, web.slug);
    assert_ne!(python.slug, testing.slug);

    // The same spelling again resumes its own folder, and only its own.
    let again = fleet.control.switch_to("python - web frameworks").await;
    assert_eq!(again.slug, web.slug);
    assert!(again.resumed);
    assert_eq!(again.known_items, 2);

    let output = |slug: &str| lines(&fleet.data.join(slug).join("output.txt"));
    assert_eq!(output(&web.slug), ["Django", "Flask"]);
    assert_eq!(output(&testing.slug), ["pytest", "Django"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_lands_in_the_folder_of_the_run_it_is_counted_in() {
    let fleet = Fleet::start(0).await;
    fleet.wait_workers(0).await;
    let js = jetstream::new(fleet.client.clone());

    let films = fleet.control.switch_to("Films (1990s)").await;
    wait_stream(&js).await;
    // A worker spelling the topic its own way: admitted into the run.
    let b = batch(
        "films-1",
        &films.run_id,
        "Films (1990s)!",
        "p",
        &["Fargo", "Heat", "Se7en"],
    );
    publish_batch(&js, &b).await;
    wait_drained(&js, Duration::from_secs(30)).await;

    let s = wait_for("the batch counted", Duration::from_secs(30), || async {
        let s = fleet.try_status().await?;
        (s.totals.batches == 1).then_some(s)
    })
    .await;
    assert_eq!(s.totals.unique, 3);
    let folder = std::path::Path::new(&films.output_dir);
    assert_eq!(folder, fleet.data.join(&films.slug));
    assert_eq!(
        lines(&folder.join("output.txt")),
        ["Fargo", "Heat", "Se7en"]
    );
    // No other folder was made for the other spelling.
    let folders: Vec<String> = std::fs::read_dir(&fleet.data)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type()
                .unwrap()
                .is_dir()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    assert_eq!(folders, [films.slug.as_str()]);
}

/// A data dir whose `topics.json` an earlier version wrote, with keys that
/// cut a dash's tail: the recorded spelling keeps its folder, the shorter
/// topic gets a folder of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_mapping_keeps_its_folders() {
    let (fleet, ()) = Fleet::start_with(0, |data| {
        let folder = data.join("python");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("output.txt"), "Django\nFlask\n").unwrap();
        let mapping = serde_json::json!({ "topics": {
            "python": { "topic": "Python - web frameworks", "folder": "python" },
        }});
        std::fs::write(data.join("topics.json"), mapping.to_string()).unwrap();
    })
    .await;
    fleet.wait_workers(0).await;

    let web = fleet.control.switch_to("Python - web frameworks").await;
    assert_eq!(web.slug, "python");
    assert!(web.resumed);
    assert_eq!(web.known_items, 2);
    let python = fleet.control.switch_to("Python").await;
    assert_ne!(python.slug, "python");
    assert!(!python.resumed, "{python:?}");
}
