//! The page and everything it loads, embedded in the binary: the dashboard
//! ships as one file and works offline (no CDN, no fonts from elsewhere).
//! The chart library, uPlot, is vendored under `static/vendor/uplot/`.
//!
//! Every asset is served with a Content-Security-Policy that allows
//! scripts, styles and connections from this server only: defence in
//! depth should an item ever reach the DOM as markup.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// Scripts, styles and connections only from this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// One embedded file and the path it is served at.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    /// Written by us (and so held to our rules: text only, never markup),
    /// as opposed to vendored.
    pub ours: bool,
}

macro_rules! asset {
    ($path:literal, $file:literal, $type:expr, $ours:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("../static/", $file)),
            ours: $ours,
        }
    };
}

pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML, true),
    asset!("/app.js", "app.js", JS, true),
    asset!("/format.js", "format.js", JS, true),
    asset!("/charts.js", "charts.js", JS, true),
    asset!("/tables.js", "tables.js", JS, true),
    asset!("/items.js", "items.js", JS, true),
    asset!("/controls.js", "controls.js", JS, true),
    asset!("/style.css", "style.css", CSS, true),
    asset!(
        "/vendor/uplot/uPlot.iife.min.js",
        "vendor/uplot/uPlot.iife.min.js",
        JS,
        false
    ),
    asset!(
        "/vendor/uplot/uPlot.min.css",
        "vendor/uplot/uPlot.min.css",
        CSS,
        false
    ),
];

impl Asset {
    pub fn response(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            ],
            self.body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_scripts_never_parse_markup() {
        // Items are arbitrary text from LLMs: the page must only ever set textContent.
        for asset in ASSETS.iter().filter(|a| a.ours && a.content_type == JS) {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "setAttribute('on",
                "srcdoc",
            ] {
                assert!(!asset.body.contains(sink), "{} uses {sink}", asset.path);
            }
        }
    }

    #[test]
    fn nothing_is_loaded_from_elsewhere() {
        for asset in ASSETS.iter().filter(|a| a.ours) {
            for remote in ["http://", "https://", "//cdn", "@import"] {
                assert!(
                    !asset.body.contains(remote),
                    "{} mentions {remote}",
                    asset.path
                );
            }
        }
        // The page loads each of our scripts and the vendored files.
        let index = ASSETS[0].body;
        for asset in &ASSETS[1..] {
            let name = asset.path.trim_start_matches('/');
            let loaded = index.contains(&format!("\"{name}\""))
                || ASSETS
                    .iter()
                    .any(|a| a.content_type == JS && a.body.contains(&format!("'./{name}'")));
            assert!(loaded, "{} is never loaded", asset.path);
        }
        // The vendored library is the one the README names.
        assert!(
            ASSETS[8]
                .body
                .starts_with("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
        );
    }
}
