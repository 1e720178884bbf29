//! `scripts/run.sh TOPIC --local` as a user runs it: the whole fleet on a
//! real model served on this machine (llama-cpp-python's server, which
//! `scripts/test.sh` installs), through the real script and binaries, on
//! free ports. The model is the small SmolLM2-135M test model
//! (`IGENTAI_LOCAL_MODEL`), never the default Qwen download.
//!
//! - With a target the run ends by itself with exit 0: `output.txt` holds
//!   the target, every item's provenance names the local provider and its
//!   model (no sim), the judge's verdicts name it too, and no role is left
//!   running, the model server included.
//! - The model server is supervised like every role: killed, it is
//!   restarted and answers again; Ctrl-C stops it with the rest.
//! - What `--local` needs and lacks fails at once with the reason and
//!   leaves nothing running: no python3, a model file that is missing or is
//!   no model, a port already taken.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::script::Script;
use serde_json::Value;
use testkit::free_port;

const TOPIC: &str = "Fruits";
const SLUG: &str = "fruits";
/// SmolLM2 names about ten fruits an answer, many repeated: a few answers.
const TARGET: usize = 15;
/// Loading the model, then answers of seconds each on 2 shared cores.
const RUN_WITHIN: Duration = Duration::from_secs(600);
/// A refusal comes before anything starts (or right after the server
/// failed to load).
const REFUSED_WITHIN: Duration = Duration::from_secs(180);

/// Every role `--local` starts (two workers: the tests' `WORKERS`).
const ROLES: [&str; 6] = [
    "model-server",
    "nats",
    "coordinator",
    "worker-1",
    "worker-2",
    "dashboard",
];

/// `scripts/run.sh ARGS` with the local model server on `model`, every
/// port free.
fn start(args: &[&str], model: &Path, env: &[(&str, String)]) -> Script {
    let mut vars = vec![
        ("NATS_PORT", free_port().to_string()),
        ("NATS_MONITOR_PORT", free_port().to_string()),
        (
            "IGENTAI_DASHBOARD_ADDR",
            format!("127.0.0.1:{}", free_port()),
        ),
        ("IGENTAI_LOCAL_PORT", free_port().to_string()),
        ("IGENTAI_LOCAL_MODEL", model.display().to_string()),
    ];
    vars.extend(env.iter().cloned());
    Script::start(SLUG, args, &vars)
}

/// The name the server answers with: the file's name without `.gguf`.
fn alias(model: &Path) -> String {
    model
        .file_stem()
        .expect("a model file name")
        .to_string_lossy()
        .into_owned()
}

/// The lines of `items.jsonl`, as JSON.
fn records(folder: &Path) -> Vec<Value> {
    common::lines(&folder.join("items.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_run_reaches_its_target_on_the_local_model_and_stops_everything() {
    let model = testkit::llama::model_path();
    let target = TARGET.to_string();
    let mut run = start(&[TOPIC, "--local", "--target", &target], &model, &[]);
    let pids = run.wait_pids(&ROLES, RUN_WITHIN).await;

    let status = run.wait_exit(RUN_WITHIN).await;
    assert_eq!(status.code(), Some(0), "exit status\n{}", run.logs());
    let said = run.stdout();
    assert!(
        said.contains(&format!(
            "with 2 workers on the local model {}",
            alias(&model)
        )) && said.contains(&model.display().to_string()),
        "the banner names the local model\n{said}"
    );
    assert!(!said.contains("sim workers"), "{said}");
    assert!(
        run.said().contains("stopped: target reached"),
        "{}",
        run.said()
    );

    // Nothing left running, the model server included.
    run.assert_stopped(&pids);
    assert_eq!(run.pid_files(), Vec::<String>::new(), "pid files left");

    // The workers called the local server, as the providers file says.
    let providers = std::fs::read_to_string(run.run_dir().join("providers-local.toml"))
        .expect("the providers file run.sh wrote");
    assert!(providers.contains("kind = \"openai\""), "{providers}");
    assert!(
        run.log("model-server").contains("/v1/chat/completions"),
        "the model server logged no chat completion\n{}",
        run.log("model-server")
    );

    // At least the target, every item from the local provider and model.
    let out = common::lines(&run.output());
    assert!(out.len() >= TARGET, "{} items: {out:?}", out.len());
    run.verify(TARGET as u64);
    let folder = run.output().parent().unwrap().to_path_buf();
    let records = records(&folder);
    let items: Vec<&Value> = records.iter().filter(|r| r.get("seq").is_some()).collect();
    assert_eq!(items.len(), out.len(), "one item record per line");
    let alias = alias(&model);
    for r in &items {
        assert_eq!(
            (r["provider"].as_str(), r["model"].as_str()),
            (Some("local"), Some(alias.as_str())),
            "provenance of {r}"
        );
    }
    // The judge (every new item by default) asked the same server.
    for v in records.iter().filter(|r| r.get("verdict_of").is_some()) {
        assert_eq!(
            (v["judge"].as_str(), v["judge_model"].as_str()),
            (Some("local"), Some(alias.as_str())),
            "judge of {v}"
        );
    }
    println!(
        "{} items on {alias} through scripts/run.sh --local:\n{}",
        out.len(),
        out.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_model_server_is_restarted_and_ctrl_c_stops_it_with_the_rest() {
    let model = testkit::llama::model_path();
    let mut run = start(&[TOPIC, "--local"], &model, &[]);
    let mut pids = run.wait_pids(&ROLES, RUN_WITHIN).await;
    run.wait_items(1, RUN_WITHIN).await;

    let old = run.pid("model-server").expect("the model server's pid");
    assert!(
        Command::new("kill")
            .args(["-KILL", &old.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let new = run
        .wait_restarted("model-server", old, Duration::from_secs(60))
        .await;
    pids.push(("model-server (restarted)".into(), new));
    // The new server loads the model and answers the workers again.
    testkit::wait_for(
        "a chat completion answered by the restarted model server",
        RUN_WITHIN,
        || {
            let log = run.log("model-server");
            let restarted = log.matches("Uvicorn running on").count() >= 2;
            let answered = log
                .rsplit_once("Uvicorn running on")
                .is_some_and(|(_, after)| after.contains("/v1/chat/completions HTTP/1.1\" 200"));
            async move { (restarted && answered).then_some(()) }
        },
    )
    .await;

    run.signal_group("INT");
    let status = run.wait_exit(Duration::from_secs(120)).await;
    assert_eq!(status.code(), Some(130), "exit status\n{}", run.logs());
    assert!(
        run.said().contains("model-server exited"),
        "the death is reported\n{}",
        run.said()
    );
    run.assert_stopped(&pids);
    assert_eq!(run.pid_files(), Vec::<String>::new(), "pid files left");
}

/// Runs the script to its refusal: exit 1, the reason on stderr, nothing
/// left running.
async fn refused(mut run: Script, reason: &str) {
    let status = run.wait_exit(REFUSED_WITHIN).await;
    assert_eq!(status.code(), Some(1), "exit status\n{}", run.logs());
    let stderr = run.stderr();
    assert!(stderr.contains(reason), "{reason:?} not in:\n{stderr}");
    assert_eq!(run.pid_files(), Vec::<String>::new(), "pid files left");
}

#[tokio::test]
async fn a_missing_model_file_is_refused_before_anything_starts() {
    let dir = testkit::test_dir();
    let missing = dir.path().join("no-such-model.gguf");
    let run = start(&[TOPIC, "--local", "--target", "5"], &missing, &[]);
    refused(
        run,
        &format!("IGENTAI_LOCAL_MODEL={} is not a file", missing.display()),
    )
    .await;
}

#[tokio::test]
async fn a_file_that_is_no_model_stops_the_run_with_the_servers_reason() {
    let dir = testkit::test_dir();
    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"this is not a GGUF file\n").unwrap();
    let run = start(&[TOPIC, "--local", "--target", "5"], &garbage, &[]);
    let stderr_has_log = "the model server exited before it answered";
    refused(run, stderr_has_log).await;
}

#[tokio::test]
async fn a_taken_model_port_is_refused() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let model = testkit::llama::model_path();
    let run = start(
        &[TOPIC, "--local", "--target", "5"],
        &model,
        &[("IGENTAI_LOCAL_PORT", port.to_string())],
    );
    refused(
        run,
        &format!("port {port}, the local model server's, is in use"),
    )
    .await;
}

/// A folder of links to the few tools the script needs before it looks for
/// python3, so that PATH lacks python3 however the machine is set up.
fn path_without_python(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["env", "bash", "dirname", "realpath"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} is in neither /usr/bin nor /bin"));
        std::os::unix::fs::symlink(&found, bin.join(tool)).unwrap();
    }
    bin
}

#[tokio::test]
async fn without_python_the_local_run_says_what_it_needs() {
    let dir = testkit::test_dir();
    let bin = path_without_python(dir.path());
    let model = testkit::llama::model_path();
    let run = start(
        &[TOPIC, "--local", "--target", "5"],
        &model,
        &[("PATH", bin.display().to_string())],
    );
    refused(run, "--local needs python3").await;
}
