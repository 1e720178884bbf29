//! `GET /api/output.txt` end to end: the real dashboard binary serves the
//! current topic's `output.txt` from its data folder, named by the latest
//! snapshot relayed over a real nats-server; it never ends in a torn line,
//! refuses a snapshot whose folder name is not a plain one, and says why
//! when there is nothing to serve.

mod common;

use common::*;

const BASE: u64 = 1_700_000_000_000;

#[tokio::test]
async fn the_current_topics_output_is_downloadable() {
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_str().expect("UTF-8 path");
    let s = setup(&["--data-dir", data_dir]).await;

    // No snapshot yet: no topic to serve.
    let response = http(&s.addr, "GET", "/api/output.txt", &[], b"").await;
    assert_eq!(response.status, 404, "{response:?}");
    assert!(response.body.contains("no run yet"), "{response:?}");

    // The topic's folder does not exist (yet, or not on this machine).
    prime(&s.client, &s.addr, BASE).await;
    let response = http(&s.addr, "GET", "/api/output.txt", &[], b"").await;
    assert_eq!(response.status, 404, "{response:?}");
    assert!(
        response.body.contains("beside the coordinator"),
        "{response:?}"
    );

    // The file as the coordinator writes it, its last line half written.
    let folder = data.path().join("paris-attractions");
    std::fs::create_dir_all(&folder).expect("topic folder");
    let items = "Louvre\nEiffel Tower\n<img src=x onerror=alert(1)>\nMusée d'Orsay\n";
    std::fs::write(folder.join("output.txt"), format!("{items}Notre-Da")).expect("output.txt");
    let response = http(&s.addr, "GET", "/api/output.txt", &[], b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, items);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"paris-attractions.txt\"")
    );

    // A snapshot naming a folder outside the data dir is not followed.
    std::fs::write(data.path().join("output.txt"), "secret\n").expect("decoy");
    let mut evil = snapshot(BASE + 1, 10);
    if let Some(run) = evil.run.as_mut() {
        run.slug = "../".to_string() + data.path().file_name().unwrap().to_str().unwrap();
    }
    publish_snapshot(&s.client, &evil).await;
    let addr = s.addr.as_str();
    let response = testkit::wait_for(
        "the dashboard to take the new snapshot",
        WAIT,
        move || async move {
            let response = http(addr, "GET", "/api/output.txt", &[], b"").await;
            (response.status != 200).then_some(response)
        },
    )
    .await;
    assert_eq!(response.status, 502, "{response:?}");
    assert!(!response.body.contains("secret"), "{response:?}");
    assert!(
        response.body.contains("not a plain folder name"),
        "{response:?}"
    );
}
