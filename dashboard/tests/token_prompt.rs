//! The page of a dashboard with a token, in a real headless Chromium: the
//! WebSocket is refused, so the page asks for the token at once; a control
//! action meanwhile is refused with 401 too. A wrong token is said to be
//! refused; the right one is traded on `/api/login` for a cookie scripts
//! cannot read, after which the page goes live, the refused action is sent
//! again, and the next one goes through without asking. The coordinator is
//! played by a responder on the real nats-server.

mod common;

use common::browser::Browser;
use common::browser::PAGE;
use common::*;
use igentai_protocol::subjects::CONTROL_STOP;
use serde_json::json;

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
async fn the_page_asks_for_the_token_once() {
    let s = setup_with_token(&["--token", TOKEN], TOKEN).await;
    let mut stops = responder(&s, CONTROL_STOP, |_| {
        Some(br#"{"ok":false,"error":"no run is active <b>(as is)</b>"}"#.to_vec())
    })
    .await;
    let browser = Browser::start(s.dir.path(), WIDTH, 900).await;
    browser.goto(&format!("http://{}/", s.addr)).await;

    // The feed is refused without the token: the page asks for it.
    browser
        .wait_until(
            "the page to ask for the token",
            "return !document.getElementById('token-form').hidden \
                 && !document.getElementById('banner').hidden;",
            vec![],
        )
        .await;
    let banner = browser.text("#banner").await.unwrap_or_default();
    assert!(banner.contains("needs its token"), "{banner}");

    // A control action meanwhile: refused too.
    browser.click("#stop").await;
    let (kind, text) = result(&browser).await;
    assert_eq!(
        (kind.as_str(), text.as_str()),
        ("error", "This dashboard needs its token.")
    );
    assert!(token_form_shown(&browser).await);
    let message = browser.text("#token-message").await.unwrap_or_default();
    assert!(message.contains("requires its token"), "{message}");

    // A wrong token is refused, and asked for again.
    browser.reset_result().await;
    browser.type_into("#token-form [name=token]", "guess").await;
    browser.click("#token-form button").await;
    let (kind, text) = result(&browser).await;
    assert_eq!(
        (kind.as_str(), text.as_str()),
        ("error", "The token was refused.")
    );
    assert!(token_form_shown(&browser).await);

    // The right one: the refused request is sent again and reaches the
    // coordinator, whose answer is shown as it wrote it.
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

    // The feed is live now: snapshots reach the page.
    let (client, browser_ref) = (&s.client, &browser);
    let mut seq = 0;
    let seq = &mut seq;
    testkit::wait_for("the page to show live metrics", PAGE, move || {
        *seq += 1;
        let seq = *seq;
        async move {
            publish_snapshot(client, &snapshot(seq, 10)).await;
            let live = browser_ref
                .eval(
                    "return document.body.dataset.connected === 'yes' \
                         && document.getElementById('freshness').dataset.kind === 'live';",
                    vec![],
                )
                .await;
            (live == json!(true)).then_some(())
        }
    })
    .await;

    // The page keeps no token scripts can read: the cookie is HttpOnly.
    let readable = browser
        .eval(
            "return [document.cookie, JSON.stringify(sessionStorage), \
                     JSON.stringify(localStorage)].join(' ');",
            vec![],
        )
        .await;
    let readable = readable.as_str().unwrap_or_default().to_string();
    assert!(
        !readable.contains(TOKEN) && !readable.contains("igentai_dashboard"),
        "{readable}"
    );

    // The next action does not ask again.
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
