//! The page with a control token configured, in a real headless Chromium:
//! the first control action is refused with 401, the page asks for the
//! token, retries with it, and keeps it for the tab, so the next action
//! goes through without asking. A wrong token is said to be refused. The
//! coordinator is played by a responder on the real nats-server.

mod common;

use common::browser::Browser;
use common::*;
use igentai_protocol::subjects::CONTROL_STOP;
use serde_json::{Value, json};

const TOKEN: &str = "s3cret-Token_42";
const WIDTH: u32 = 1280;

/// The control result once it is final (ok or error), as (kind, text).
async fn result(browser: &Browser) -> (String, String) {
    let value = browser
        .wait_until(
            "an answer on the page",
            "const r = document.getElementById('control-result'); \
             return r.dataset.kind === 'ok' || r.dataset.kind === 'error' \
                 ? [r.dataset.kind, r.textContent] : null;",
            vec![],
        )
        .await;
    let text = |i: usize| value[i].as_str().unwrap_or_default().to_string();
    (text(0), text(1))
}

async fn token_form_shown(browser: &Browser) -> bool {
    browser
        .eval(
            "return !document.getElementById('token-form').hidden;",
            vec![],
        )
        .await
        == json!(true)
}

#[tokio::test]
async fn the_page_asks_for_the_control_token_once() {
    let s = setup(&["--control-token", TOKEN]).await;
    let mut stops = responder(&s, CONTROL_STOP, |_| {
        Some(br#"{"ok":false,"error":"no run is active <b>(as is)</b>"}"#.to_vec())
    })
    .await;
    let browser = Browser::start(s.dir.path(), WIDTH, 900).await;
    browser.goto(&format!("http://{}/", s.addr)).await;

    // No token yet: refused, and the page asks for it.
    browser.click("#stop").await;
    let (kind, text) = result(&browser).await;
    assert_eq!(
        (kind.as_str(), text.as_str()),
        ("error", "This dashboard needs its control token.")
    );
    assert!(token_form_shown(&browser).await);
    let message = browser.text("#token-message").await.unwrap_or_default();
    assert!(message.contains("requires its control token"), "{message}");

    // A wrong token: the retried request is refused too.
    browser.reset_result().await;
    browser.type_into("#token-form [name=token]", "guess").await;
    browser.click("#token-form button").await;
    let (kind, text) = result(&browser).await;
    assert_eq!(
        (kind.as_str(), text.as_str()),
        ("error", "The control token was refused.")
    );
    assert!(token_form_shown(&browser).await);

    // The right one: the retried request reaches the coordinator, whose
    // answer is shown as it wrote it.
    browser.reset_result().await;
    browser.type_into("#token-form [name=token]", TOKEN).await;
    browser.click("#token-form button").await;
    let (kind, text) = result(&browser).await;
    assert_eq!(
        (kind.as_str(), text.as_str()),
        ("error", "no run is active <b>(as is)</b>")
    );
    assert!(!token_form_shown(&browser).await);
    assert_eq!(stops.recv().await.as_deref(), Some(&b""[..]));

    // Kept for the tab: the next action does not ask again.
    let kept = browser
        .eval(
            "return sessionStorage.getItem('igentai.controlToken');",
            vec![],
        )
        .await;
    assert_eq!(kept, Value::String(TOKEN.into()));
    browser.reset_result().await;
    browser.click("#stop").await;
    let (kind, _) = result(&browser).await;
    assert_eq!(kind, "error");
    assert!(!token_form_shown(&browser).await);
    assert_eq!(stops.recv().await.as_deref(), Some(&b""[..]));
    // Only the two authorized requests ever reached the coordinator.
    assert!(stops.try_recv().is_err());

    browser.close().await;
}
