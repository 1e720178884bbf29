//! The page in a real headless Chromium, fed by the real fleet: nats-server,
//! the coordinator, two sim workers and the dashboard binary. An operator's
//! run from start to stop: the page loads, a topic is started with the
//! form, the numbers move, charts draw, a hostile item shows as literal text
//! without running, its batch's cached input tokens show in the headline and
//! the providers table, the feed is searched, the weights are overridden and
//! handed back, a vendor batch in flight shows in the workers table,
//! `coordinator ctl watch` follows the run until the page's Stop ends it,
//! the stop's answer says what it cancelled and what was already paid for,
//! and the page says when the dashboard is gone and recovers when it is
//! back.
//!
//! With `IGENTAI_SCREENSHOT=<path>` it also saves a PNG of the page during
//! the run (the README's screenshot is made this way).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream;
use common::browser::{Browser, PAGE};
use common::*;
use igentai_protocol::{CandidateBatch, VERSION, subjects};
use serde_json::{Value, json};
use testkit::{BatchVendor, CoordinatorSpec, NatsServer, Proc, Role, WorkerSpec, creds};

const HOSTILE: &str = r#"<img src=x onerror="window.__pwned=1">"#;
/// Input tokens of the hostile batch read from a prompt cache.
const CACHED_IN: u64 = 7;
const WIDTH: u32 = 1440;

/// Two workers: the default `sim` (as the scripts run it), and one with a
/// providers file of two sims of different price and quality, so weights
/// have something to choose between.
const PROVIDERS: &str = r#"
[[providers]]
name = "sim-small"
kind = "sim"
model = "sim-small"
price_in_per_m = 0.05
price_out_per_m = 0.20
[providers.sim]
universe = 4000
zipf_s = 1.2
latency_ms = 60

[[providers]]
name = "sim-large"
kind = "sim"
model = "sim-large"
price_in_per_m = 2.5
price_out_per_m = 10.0
[providers.sim]
universe = 20000
zipf_s = 0.8
latency_ms = 150
"#;

/// A third worker with one provider, `bulk`, in batch mode on OpenAI's
/// Batch API replayed, which holds its one batch in progress: without a
/// live provider the worker submits a full batch as soon as the weights
/// give `bulk` any.
fn batch_providers(vendor: &BatchVendor) -> String {
    format!(
        "[[providers]]\nname='bulk'\nkind='openai'\nbase_url='{}'\nmodel='gpt-4o-mini'\n\
         price_in_per_m=0.15\nprice_out_per_m=0.6\nmode='batch'\nbatch_size=3\n\
         batch_poll_s=0.2\nbatch_poll_max_s=1\nmax_concurrency=1\n",
        vendor.base_url()
    )
}

struct Fleet {
    dashboard: Proc,
    addr: String,
    data: PathBuf,
    _workers: Vec<Proc>,
    _coordinator: Proc,
    _vendor: BatchVendor,
    nats: NatsServer,
}

async fn fleet(dir: &Path) -> Fleet {
    let nats = NatsServer::start(dir).await;
    let data = dir.join("data");
    let data_s = data.to_str().expect("UTF-8 path").to_string();
    // The coordinator's default patience with a silent worker: the browser
    // shares the machine's cores with the fleet.
    let coordinator = CoordinatorSpec::new()
        .env(&[
            ("IGENTAI_HEARTBEAT_TIMEOUT_MS", "10000"),
            ("IGENTAI_JUDGE_RATE", "1"),
        ])
        .spawn(dir, &nats.url, &data);
    let providers = dir.join("providers.toml");
    std::fs::write(&providers, PROVIDERS).expect("providers file");
    let vendor = BatchVendor::start(1).await;
    let batch = dir.join("batch.toml");
    std::fs::write(&batch, batch_providers(&vendor)).expect("providers file");
    let workers = vec![
        WorkerSpec::sim("w1").spawn(dir, &nats).await,
        WorkerSpec::on("w2", &providers).spawn(dir, &nats).await,
        WorkerSpec::on("w3", &batch).spawn(dir, &nats).await,
    ];
    let (dashboard, addr) = start_dashboard(&nats.url, &["--data-dir", &data_s], dir).await;
    wait_nats_connected(&addr, &[]).await;
    Fleet {
        dashboard,
        addr,
        data,
        _workers: workers,
        _coordinator: coordinator,
        _vendor: vendor,
        nats,
    }
}

/// `/api/status`, as JSON.
async fn status(addr: &str) -> Value {
    let response = http(addr, "GET", "/api/status", &[], b"").await;
    serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("{e}: {response:?}"))
}

/// The unique-items count the page shows.
async fn unique_on_page(browser: &Browser) -> Option<u64> {
    let text = browser.text("#unique").await?;
    text.replace(',', "").parse().ok()
}

#[tokio::test]
async fn an_operator_runs_a_topic_from_the_page() {
    let dir = testkit::test_dir();
    let mut fleet = fleet(dir.path()).await;
    let url = format!("http://{}/", fleet.addr);
    let browser = Browser::start(dir.path(), WIDTH, 1000).await;
    browser.goto(&url).await;

    // The page connects and shows the coordinator's state.
    browser
        .wait_until(
            "the page to show the coordinator's state",
            "const s = document.getElementById('state').textContent; \
             return s === 'idle' || s === 'stopped';",
            vec![],
        )
        .await;

    // Start a run with the form.
    browser
        .type_into("#start-form [name=topic]", "Paris attractions")
        .await;
    browser
        .type_into("#start-form [name=target]", "20000")
        .await;
    browser
        .type_into("#start-form [name=budget_usd]", "2")
        .await;
    browser
        .type_into("#start-form [name=max_duration_s]", "900")
        .await;
    browser.click("#start").await;
    let result = browser
        .wait_until(
            "the coordinator's answer to start",
            "const r = document.getElementById('control-result'); \
             return r.dataset.kind === 'ok' || r.dataset.kind === 'error' ? r.textContent : null;",
            vec![],
        )
        .await;
    assert!(
        result
            .as_str()
            .is_some_and(|r| r.starts_with("Started run")),
        "{result}"
    );

    // The numbers move.
    let first = testkit::wait_for("a first unique count on the page", PAGE, || async {
        unique_on_page(&browser).await.filter(|&n| n > 0)
    })
    .await;
    let later = testkit::wait_for("the unique count on the page to grow", PAGE, || async {
        unique_on_page(&browser).await.filter(|&n| n > first)
    })
    .await;
    assert!(later > first);
    assert_eq!(browser.text("#state").await.as_deref(), Some("running"));
    // The judge's verdicts: the valid share.
    let valid = testkit::wait_for("the valid share on the page", PAGE, || async {
        browser.text("#valid").await.filter(|v| v.ends_with('%'))
    })
    .await;
    assert!(
        valid.trim_end_matches('%').parse::<f64>().is_ok(),
        "{valid}"
    );

    // Charts and tables fill in.
    browser
        .wait_until(
            "every chart to draw",
            "return [...document.querySelectorAll('.plot')].every((p) => p.querySelector('canvas')) \
                 && [...document.querySelectorAll('.empty-chart')].every((n) => n.hidden);",
            vec![],
        )
        .await;
    browser
        .wait_until(
            "the workers and all three live providers in the tables",
            "const rows = (id) => [...document.querySelectorAll(`#${id} tr td:first-child`)]\
                 .map((td) => td.textContent); \
             const w = rows('workers'), p = rows('providers'); \
             return ['w1', 'w2', 'w3'].every((x) => w.includes(x)) \
                 && ['sim', 'sim-large', 'sim-small'].every((x) => p.includes(x));",
            vec![],
        )
        .await;

    // w3's vendor batch, held in progress by the vendor: how many, requests
    // done of all, and its age.
    let vendor_batches = browser
        .wait_until(
            "w3's vendor batch in the workers table",
            "const th = [...document.getElementById('workers').closest('table').querySelectorAll('thead th')]\
                 .findIndex((h) => h.textContent === 'Vendor batches'); \
             const row = [...document.querySelectorAll('#workers tr')]\
                 .find((tr) => tr.cells[0] && tr.cells[0].textContent === 'w3'); \
             const cell = th >= 0 && row ? row.cells[th].textContent : ''; \
             return cell.startsWith('1 · ') ? cell : null;",
            vec![],
        )
        .await;
    let cell = vendor_batches.as_str().unwrap_or_default();
    assert!(cell.starts_with("1 · 0/3 done · "), "{cell}");

    if let Some(path) = std::env::var_os("IGENTAI_SCREENSHOT") {
        let addr = fleet.addr.as_str();
        testkit::wait_for(
            "the run to go on long enough to chart",
            PAGE,
            || async move {
                let s = status(addr).await;
                (s["totals"]["elapsed_s"].as_f64()? >= 15.0).then_some(())
            },
        )
        .await;
        browser.screenshot_page(Path::new(&path), WIDTH).await;
        browser
            .client
            .set_window_size(WIDTH, 1000)
            .await
            .expect("resize window");
    }

    // The feed is searchable; while searching, matches stay in the list
    // however fast new items push older ones out.
    browser.type_into("#items-search", "ONERROR").await;
    browser
        .wait_until(
            "the search to hide every sim item",
            "return [...document.querySelectorAll('#items li')].every((li) => li.hidden);",
            vec![],
        )
        .await;

    // An item that is markup shows as text and runs nothing.
    let run = status(&fleet.addr).await["run"].clone();
    let batch = CandidateBatch {
        v: VERSION,
        batch_id: "test-publisher-00000000000000000000000000000001".into(),
        run_id: run["run_id"].as_str().expect("run id").into(),
        topic: run["topic"].as_str().expect("topic").into(),
        worker_id: "test-publisher".into(),
        provider: "sim".into(),
        model: "sim".into(),
        partition: None,
        items: vec![HOSTILE.into()],
        tokens_in: 10,
        tokens_cached_in: CACHED_IN,
        tokens_out: 10,
        latency_ms: 5,
        cost_usd: 0.0,
        finish_reason: None,
        request_id: None,
        created_at_ms: igentai_protocol::now_ms(),
    };
    publish_batch(&fleet.nats.worker_client("test-publisher").await, &batch).await;
    browser
        .wait_until(
            "the hostile item in the feed, as text",
            "return [...document.querySelectorAll('#items .text')]\
                 .some((n) => n.textContent === arguments[0]);",
            vec![json!(HOSTILE)],
        )
        .await;
    let verdict = browser
        .eval(
            "return { pwned: typeof window.__pwned, \
                      imgs: document.querySelectorAll('#items img, main img, aside img').length };",
            vec![],
        )
        .await;
    assert_eq!(verdict, json!({ "pwned": "undefined", "imgs": 0 }));

    // Its cached input tokens are the run's only ones (the sims read no
    // prompt cache): in the headline's token split, and in the `sim` row
    // under "Cached in", with their share of the row's input.
    let cached = browser
        .wait_until(
            "the cached input tokens in the headline and the providers table",
            "const sub = document.querySelector('[data-h=\"tokens-sub\"]').textContent; \
             const heads = [...document.getElementById('providers').closest('table') \
                 .querySelectorAll('thead th')].map((th) => th.textContent); \
             const row = (name) => [...document.querySelectorAll('#providers tr')] \
                 .find((tr) => tr.cells[0].textContent === name); \
             const cell = (name, head) => row(name).cells[heads.indexOf(head)].textContent; \
             return sub.includes(' cached)') && row('sim') && row('sim-small') \
                 ? { sub, sim: cell('sim', 'Cached in'), small: cell('sim-small', 'Cached in'), \
                     tokens: cell('sim', 'Tokens in / out') } \
                 : null;",
            vec![],
        )
        .await;
    let sub = cached["sub"].as_str().unwrap();
    assert!(
        sub.contains(&format!(" in ({CACHED_IN} cached) / ")),
        "headline token split: {sub:?}"
    );
    let sim = cached["sim"].as_str().unwrap();
    assert!(
        sim.starts_with(&format!("{CACHED_IN} (")) && sim.ends_with("%)"),
        "the sim row's cached input: {sim:?}"
    );
    assert_eq!(
        cached["small"],
        json!("0"),
        "a provider with no cached input"
    );
    let tokens = cached["tokens"].as_str().unwrap();
    assert!(
        tokens.split(" / ").count() == 2 && !tokens.contains('–'),
        "the sim row's tokens in / out: {tokens:?}"
    );

    let visible = browser
        .wait_until(
            "the search to show just the hostile item",
            "const shown = [...document.querySelectorAll('#items li')].filter((li) => !li.hidden); \
             return shown.length === 1 ? shown[0].querySelector('.text').textContent : null;",
            vec![],
        )
        .await;
    assert_eq!(visible, json!(HOSTILE));
    assert!(
        browser
            .text("#items-count")
            .await
            .is_some_and(|t| t.starts_with("1 of the latest")),
        "{:?}",
        browser.text("#items-count").await
    );

    // The download link serves output.txt, the hostile item on its own line.
    let href = browser
        .eval(
            "return document.getElementById('download').getAttribute('href');",
            vec![],
        )
        .await;
    assert_eq!(href, json!("api/output.txt"));
    let download = http(&fleet.addr, "GET", "/api/output.txt", &[], b"").await;
    assert_eq!(download.status, 200, "{}", download.status);
    assert!(download.body.lines().any(|line| line == HOSTILE));
    let on_disk = std::fs::read_to_string(fleet.data.join("paris-attractions/output.txt"))
        .expect("output.txt");
    assert!(on_disk.starts_with(&download.body));

    // Weights: overridden by hand, then handed back to the coordinator.
    browser
        .wait_until(
            "a weight field per provider",
            "return document.querySelectorAll('#weights-fields input').length === 4;",
            vec![],
        )
        .await;
    for (provider, weight) in [
        ("sim", "0.2"),
        ("sim-small", "0.5"),
        ("sim-large", "0.3"),
        ("bulk", "0"),
    ] {
        browser
            .replace_text(
                &format!("#weights-fields [data-provider='{provider}']"),
                weight,
            )
            .await;
    }
    browser.click("#weights-apply").await;
    let answer = wait_result(&browser, "Weights set by hand").await;
    assert!(answer.contains("sim-small 0.50"), "{answer}");
    browser
        .wait_until(
            "the page to show the override",
            "return document.getElementById('weights-mode').textContent.startsWith('set by hand');",
            vec![],
        )
        .await;
    browser.click("#weights-clear").await;
    wait_result(&browser, "Weights learned from yield again").await;

    // `coordinator ctl watch` follows the run until the page stops it.
    let [user, password] = creds(Role::Operator);
    let mut watch = Proc::spawn(
        "watch",
        &testkit::bin_path("coordinator"),
        &["ctl", "watch"],
        &[("NATS_URL", &fleet.nats.url), user, password],
        dir.path(),
    );
    let watch_log = dir.path().join("watch.log");
    testkit::wait_for("ctl watch to show the run", WAIT, || async {
        let log = std::fs::read_to_string(&watch_log).ok()?;
        log.lines()
            .any(|l| {
                l.starts_with("running  \"Paris attractions\"  [") && l.contains(" / 20,000 (")
            })
            .then_some(())
    })
    .await;
    browser.click("#stop").await;
    let stopped = wait_result(&browser, "Stopped run").await;
    assert!(stopped.contains("stop command"), "{stopped}");
    // The vendor answered two of the cancelled batch's three requests.
    assert!(
        stopped.contains("Cancelled 1 vendor batch: 2 answers already paid for ($"),
        "{stopped}"
    );
    // `ctl watch` exits by itself once the run stopped (its log tail shows
    // when it did not).
    watch.wait_exit(WAIT).await;
    let log = std::fs::read_to_string(&watch_log).expect("watch log");
    assert!(log.ends_with("stopped: stop command\n"), "{log}");
    browser
        .wait_until(
            "the page to show the stop",
            "return document.getElementById('state').textContent === 'stopped' \
                 && document.getElementById('stop-reason').textContent === 'stopped: stop command';",
            vec![],
        )
        .await;

    // The dashboard goes away: the page says so, and recovers when it is back.
    let status = fleet.dashboard.terminate(WAIT).await;
    assert!(status.success(), "dashboard exited with {status}");
    browser
        .wait_until(
            "the page to say it is disconnected",
            "const b = document.getElementById('banner'); \
             return !b.hidden && b.textContent.startsWith('Disconnected');",
            vec![],
        )
        .await;
    let data_s = fleet.data.to_str().expect("UTF-8 path").to_string();
    fleet.dashboard = Proc::spawn(
        "dashboard-again",
        Path::new(env!("CARGO_BIN_EXE_dashboard")),
        &[
            "--nats-url",
            &fleet.nats.url,
            "--listen",
            &fleet.addr,
            "--data-dir",
            &data_s,
        ],
        &creds(Role::Dashboard),
        dir.path(),
    );
    browser
        .wait_until(
            "the page to reconnect and show the current snapshot",
            "return document.getElementById('banner').hidden \
                 && document.getElementById('state').textContent === 'stopped' \
                 && document.getElementById('freshness').dataset.kind === 'live';",
            vec![],
        )
        .await;

    browser.close().await;
}

/// Waits for the controls' next "ok" answer starting with `prefix`; fails
/// at once on an error answer.
async fn wait_result(browser: &Browser, prefix: &str) -> String {
    let value = browser
        .wait_until(
            &format!("the answer {prefix:?}"),
            "const r = document.getElementById('control-result'); \
             if (r.dataset.kind === 'error') return 'ERROR: ' + r.textContent; \
             return r.dataset.kind === 'ok' && r.textContent.startsWith(arguments[0]) \
                 ? r.textContent : null;",
            vec![json!(prefix)],
        )
        .await;
    let text = value.as_str().unwrap_or_default().to_string();
    assert!(!text.starts_with("ERROR: "), "{text}");
    text
}

/// Publishes a batch as a worker would, retried until JetStream acknowledges it.
async fn publish_batch(client: &async_nats::Client, batch: &CandidateBatch) {
    let js = jetstream::new(client.clone());
    let payload: bytes::Bytes = serde_json::to_vec(batch).expect("batch serializes").into();
    let subject = subjects::candidates("test-publisher");
    testkit::wait_for("JetStream to acknowledge the batch", WAIT, || {
        let (js, payload, subject) = (&js, payload.clone(), subject.clone());
        async move {
            let message = jetstream::message::PublishMessage::build()
                .payload(payload)
                .message_id(&batch.batch_id);
            let ack = js.send_publish(subject, message).await.ok()?;
            tokio::time::timeout(Duration::from_secs(2), ack)
                .await
                .ok()?
                .ok()
                .map(|_| ())
        }
    })
    .await;
}
