//! Control requests with bad input: each gets `{"ok":false,"error":...}`,
//! nothing changes, and the coordinator keeps answering.

mod common;

use igentai_protocol::{RunState, subjects};

use common::Fleet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_control_requests_are_refused_and_change_nothing() {
    let fleet = Fleet::start(0).await;
    fleet.wait_workers(0).await;

    let oversize = vec![b'x'; 100 * 1024];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            subjects::CONTROL_START,
            b"{\"topic\": ".to_vec(),
            "invalid JSON",
        ),
        (subjects::CONTROL_START, b"".to_vec(), "empty request"),
        (
            subjects::CONTROL_START,
            br#"{"topic":""}"#.to_vec(),
            "topic is empty",
        ),
        (
            subjects::CONTROL_START,
            br#"{"topic":"   "}"#.to_vec(),
            "topic is empty",
        ),
        (
            subjects::CONTROL_START,
            br#"{"topic":7}"#.to_vec(),
            "invalid type",
        ),
        (
            subjects::CONTROL_START,
            br#"{"topic":"x","target":"lots"}"#.to_vec(),
            "invalid type",
        ),
        (
            subjects::CONTROL_START,
            br#"{"topic":"x","budget_usd":-1}"#.to_vec(),
            "budget_usd",
        ),
        (
            subjects::CONTROL_START,
            br#"{"topic":"x","budjet_usd":1}"#.to_vec(),
            "unknown field",
        ),
        (subjects::CONTROL_START, oversize.clone(), "limit is 65536"),
        (
            subjects::CONTROL_START,
            b"\xc3\x28 bad utf8".to_vec(),
            "not valid UTF-8",
        ),
        (subjects::CONTROL_STOP, b"".to_vec(), "no run is active"),
        (
            subjects::CONTROL_STOP,
            b"please".to_vec(),
            "takes no arguments",
        ),
        (subjects::CONTROL_STATUS, oversize, "limit is 65536"),
        (
            "igentai.control.explode",
            b"".to_vec(),
            "unknown control verb",
        ),
    ];
    for (subject, payload, expected) in cases {
        let reply = fleet.request(subject, payload.clone()).await;
        assert_eq!(
            reply["ok"],
            false,
            "{subject} {:?}: {reply}",
            String::from_utf8_lossy(&payload[..payload.len().min(40)])
        );
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(expected),
            "{subject}: expected {expected:?} in {error:?}"
        );
    }

    // Nothing changed: no run, no topic folder.
    let status = fleet.status().await;
    assert_eq!(status.state, RunState::Idle);
    assert!(status.run.is_none());
    let folders = std::fs::read_dir(&fleet.data)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .count()
        })
        .unwrap_or(0);
    assert_eq!(folders, 0);

    // A good start works; a second one while running is refused.
    let reply = fleet
        .request(
            subjects::CONTROL_START,
            br#"{"topic":"Rare cheeses","max_duration_s":600}"#.to_vec(),
        )
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    let reply = fleet
        .request(subjects::CONTROL_START, b"Rare cheeses".to_vec())
        .await;
    assert_eq!(reply["ok"], false);
    assert!(
        reply["error"].as_str().unwrap().contains("already active"),
        "{reply}"
    );
    let reply = fleet.request(subjects::CONTROL_STOP, b"{}".to_vec()).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(fleet.status().await.state, RunState::Stopped);
}
