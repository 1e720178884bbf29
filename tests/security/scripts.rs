//! `scripts/add-worker.sh` on a nats-server started by the scripts: the
//! worker's user exists at once, holds to its own subjects, and the script
//! prints what a worker on another machine needs.

use std::time::Duration;

use async_nats::ConnectErrorKind;

use crate::WAIT;

/// nats-server started by `scripts/start-nats.sh` in a folder of its own;
/// stopped by `scripts/stop.sh` on drop.
struct ScriptedNats {
    dir: tempfile::TempDir,
    port: u16,
}

impl ScriptedNats {
    fn script(&self, script: &str, args: &[&str]) -> std::process::Output {
        let output = std::process::Command::new("bash")
            .arg(testkit::repo_root().join("scripts").join(script))
            .args(args)
            .env("IGENTAI_DATA_DIR", self.dir.path().join("data"))
            .env("IGENTAI_RUN_DIR", self.dir.path().join("run"))
            .env("NATS_PORT", self.port.to_string())
            .env("NATS_MONITOR_PORT", testkit::free_port().to_string())
            .env_remove("NATS_URL")
            .env_remove("NATS_HOST")
            .env_remove("IGENTAI_CREDENTIALS")
            .env_remove("IGENTAI_WORKERS_DIR")
            .output()
            .expect("run a script");
        assert!(
            output.status.success(),
            "{script} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Worker `id`'s identity as the scripts wrote it.
    fn identity(&self, id: &str) -> testkit::WorkerIdentity {
        let file = self
            .dir
            .path()
            .join("run/workers")
            .join(format!("{id}.env"));
        let text = std::fs::read_to_string(&file).expect("the worker's file");
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("{key} in {text}"))
                .to_string()
        };
        testkit::WorkerIdentity {
            id: id.to_string(),
            user: value("NATS_USER="),
            password: value("NATS_PASSWORD="),
        }
    }
}

impl Drop for ScriptedNats {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(testkit::repo_root().join("scripts/stop.sh"))
            .env("IGENTAI_RUN_DIR", self.dir.path().join("run"))
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_worker_sh_gives_a_worker_its_own_user_on_a_running_server() {
    let nats = ScriptedNats {
        dir: testkit::test_dir(),
        port: testkit::free_port(),
    };
    nats.script("start-nats.sh", &[]);
    let added = nats.script("add-worker.sh", &["w1"]);
    nats.script("add-worker.sh", &["w2"]);
    let w1 = nats.identity("w1");
    // The test harness renders through the scripts' own renderer, and gets
    // the same file from the identities the scripts wrote: the tests run
    // the server the scripts do.
    let scratch = testkit::test_dir();
    assert_eq!(
        std::fs::read_to_string(nats.dir.path().join("run/nats.conf")).unwrap(),
        testkit::render_nats_conf(scratch.path(), &[w1.clone(), nats.identity("w2")])
    );
    let printed = String::from_utf8_lossy(&added.stdout);
    for needed in [
        format!("NATS_URL=nats://127.0.0.1:{}", nats.port),
        format!("NATS_USER={}", w1.user),
        format!("NATS_PASSWORD={}", w1.password),
        "worker --worker-id w1".to_string(),
    ] {
        assert!(printed.contains(&needed), "{needed:?} not in {printed}");
    }
    // The server the scripts run, on the scripts' own users: a testkit
    // handle only to probe it.
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let options = async_nats::ConnectOptions::with_user_and_password(
        "operator".into(),
        std::fs::read_to_string(nats.dir.path().join("run/credentials.env"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("IGENTAI_OPERATOR_PASSWORD="))
            .expect("the operator's password")
            .into(),
    );
    let operator = options.connect(&url).await.expect("the operator logs in");
    let w1_client = w1.options().connect(&url).await.expect("w1 logs in");
    let mut own = operator.subscribe("igentai.candidates.>").await.unwrap();
    operator.flush().await.unwrap();
    // w2's subject first, then its own, until the operator hears one (its
    // subscription may take a moment to reach the server): only its own
    // ever arrives.
    let deadline = std::time::Instant::now() + WAIT;
    let first = loop {
        for subject in ["igentai.candidates.w2", "igentai.candidates.w1"] {
            w1_client.publish(subject, "batch?".into()).await.unwrap();
        }
        w1_client.flush().await.unwrap();
        let heard = tokio::time::timeout(
            Duration::from_millis(200),
            futures::StreamExt::next(&mut own),
        )
        .await;
        if let Ok(Some(msg)) = heard {
            break msg;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "w1's own batch never arrived"
        );
    };
    assert_eq!(first.subject.as_str(), "igentai.candidates.w1");
    // A second add changes nothing: the same password still logs in.
    nats.script("add-worker.sh", &["w1"]);
    assert_eq!(nats.identity("w1"), w1);
    w1.options().connect(&url).await.expect("w1 still logs in");
    let refused = async_nats::ConnectOptions::with_user_and_password(
        w1.user.clone(),
        nats.identity("w2").password,
    )
    .connect(&url)
    .await
    .map(|_| ())
    .expect_err("w1 with w2's password");
    assert_eq!(refused.kind(), ConnectErrorKind::AuthorizationViolation);

    // A worker whose file is deleted loses its user at the next render.
    let w2 = nats.identity("w2");
    w2.options().connect(&url).await.expect("w2 logs in");
    std::fs::remove_file(nats.dir.path().join("run/workers/w2.env")).unwrap();
    nats.script("add-worker.sh", &["w1"]);
    let gone = w2
        .options()
        .connect(&url)
        .await
        .map(|_| ())
        .expect_err("w2 after its file was deleted");
    assert_eq!(gone.kind(), ConnectErrorKind::AuthorizationViolation);
}
