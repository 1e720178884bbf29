//! A real headless Chromium for the page tests, driven over WebDriver
//! (`fantoccini`) through Debian's `chromedriver`, which the test starts on
//! a free port with a fresh profile and kills on drop.
//!
//! A missing browser fails the test with the install hint; it is never a
//! reason to skip.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;
use testkit::Proc;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

const INSTALL_HINT: &str = "install them with `apt-get install -y chromium chromium-driver` \
     (scripts/test.sh does this when they are missing)";

/// How long the page may take to show what a test waits for.
pub const PAGE: Duration = Duration::from_secs(30);

pub struct Browser {
    pub client: Client,
    /// The profile folder; it names this browser's processes on drop.
    profile: TempDir,
    _driver: Proc,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session of `width` × `height`.
    pub async fn start(log_dir: &Path, width: u32, height: u32) -> Browser {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: the page tests need a real Chromium; {INSTALL_HINT}"
            );
        }
        let port = testkit::free_port();
        let driver = Proc::spawn(
            "chromedriver",
            Path::new(CHROMEDRIVER),
            &[&format!("--port={port}")],
            &[],
            log_dir,
        );
        let url = format!("http://127.0.0.1:{port}");
        let addr = format!("127.0.0.1:{port}");
        testkit::wait_for("chromedriver to listen", super::WAIT, || async {
            tokio::net::TcpStream::connect(&addr).await.ok().map(|_| ())
        })
        .await;

        let profile = tempfile::Builder::new()
            .prefix("igentai-chromium-")
            .tempdir()
            .expect("profile dir");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--hide-scrollbars".to_string(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal");
        };
        let client = tokio::time::timeout(
            PAGE,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&url),
        )
        .await
        .expect("chromium did not start within the timeout")
        .unwrap_or_else(|e| panic!("cannot start a chromium session: {e}"));
        Browser {
            client,
            profile,
            _driver: driver,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something other than `null`/`false`.
    pub async fn wait_until(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let (script, args) = (&script, &args);
        testkit::wait_for(what, PAGE, move || async move {
            let value = self.eval(script, args.clone()).await;
            (!matches!(value, Value::Null | Value::Bool(false))).then_some(value)
        })
        .await
    }

    /// The text of the element `css`, or `None` when there is none.
    pub async fn text(&self, css: &str) -> Option<String> {
        let value = self
            .eval(
                "const n = document.querySelector(arguments[0]); return n ? n.textContent : null;",
                vec![json!(css)],
            )
            .await;
        value.as_str().map(str::to_string)
    }

    pub async fn click(&self, css: &str) {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Replaces the value of the input `css` by typing `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.clear().await.expect("clear input");
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Clears the controls' answer line, so the next answer can be told apart.
    pub async fn reset_result(&self) {
        self.eval(
            "const r = document.getElementById('control-result'); \
             r.dataset.kind = ''; r.textContent = '';",
            vec![],
        )
        .await;
    }

    /// Focuses the input `css`, selects what it holds and types `text` over
    /// it, as a person would (a focused field is not refreshed by the page).
    pub async fn replace_text(&self, css: &str, text: &str) {
        const CONTROL: char = '\u{E009}';
        const RELEASE: char = '\u{E000}';
        self.click(css).await;
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        element
            .send_keys(&format!("{CONTROL}a{RELEASE}{text}"))
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// A PNG of the whole page: the window is made as tall as the page first.
    pub async fn screenshot_page(&self, path: &Path, width: u32) {
        for _ in 0..5 {
            let sizes = self
                .eval(
                    "return [document.documentElement.scrollHeight, window.innerHeight, \
                             window.outerHeight];",
                    vec![],
                )
                .await;
            let size = |i: usize| sizes[i].as_u64().expect("a size in pixels") as u32;
            let (page, inner, outer) = (size(0), size(1), size(2));
            if page <= inner {
                break;
            }
            self.client
                .set_window_size(width, outer + page - inner + 8)
                .await
                .expect("resize window");
        }
        // Wait for the charts to have laid out at the new size.
        self.wait_until(
            "the charts to fit the resized window",
            "return [...document.querySelectorAll('.plot')].every(\
                 (p) => { const c = p.querySelector('canvas'); \
                          return c && Math.abs(c.getBoundingClientRect().width - p.clientWidth) < 30; });",
            vec![],
        )
        .await;
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("screenshot folder");
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("screenshot saved to {}", path.display());
    }

    /// Ends the session: chromedriver stops its browser (and whatever is
    /// left of it is killed on drop).
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed before `close`: don't leave its browser behind.
        kill_browser_processes(self.profile.path());
    }
}

/// Kills (by pid) the processes whose command line names `profile`: the
/// browser chromedriver started for this test, and nothing else.
fn kill_browser_processes(profile: &Path) {
    let marker = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline: PathBuf = entry.path().join("cmdline");
        let Ok(raw) = std::fs::read(&cmdline) else {
            continue;
        };
        if raw.split(|&b| b == 0).any(|arg| arg == marker.as_bytes()) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}
