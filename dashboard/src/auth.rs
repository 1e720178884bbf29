//! The dashboard token: an optional shared secret that every route carrying
//! data or control needs (the page itself and `/healthz` excepted), so a
//! dashboard reachable by others neither shows a run nor starts paid ones
//! for anyone who finds it. A dashboard listening beyond loopback refuses to
//! start without one.
//!
//! Tools present it as `Authorization: Bearer <token>` (Prometheus'
//! `authorization` setting does). Browsers cannot put a header on a
//! WebSocket or a download link, so the page trades the token once, on
//! `POST /api/login`, for an `HttpOnly`, `SameSite=Strict` cookie that the
//! browser then sends on its own and scripts cannot read.
//!
//! The token is a secret: its `Debug` is `***`, it is never logged, and it
//! is compared in constant time so response timing says nothing about how
//! much of a guess was right.

use std::fmt;
use std::str::FromStr;

use axum::http::{HeaderMap, HeaderValue, header};

/// The secret the guarded routes require.
#[derive(Clone)]
pub struct Token(String);

impl FromStr for Token {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the dashboard token must not be empty".into());
        }
        // It travels in an HTTP header: visible ASCII only.
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the dashboard token may only hold visible ASCII characters".into());
        }
        Ok(Token(s.to_string()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Who may use the guarded routes: anyone when there is no token, else
/// whoever presents it (header or the login cookie).
#[derive(Clone, Debug)]
pub struct Access {
    token: Option<Token>,
    /// Cookies are shared by every port of a host, so the name carries the
    /// port: two dashboards on one machine keep their own.
    cookie_name: String,
}

impl Access {
    pub fn new(token: Option<Token>, port: u16) -> Self {
        Access {
            token,
            cookie_name: format!("igentai_dashboard_{port}"),
        }
    }

    /// Whether `headers` may use a guarded route: no token is configured,
    /// or they carry `Authorization: Bearer <token>` or the login cookie.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        self.bearer_admitted(token, headers) || self.cookie_admitted(token, headers)
    }

    /// Whether `headers` carry the token as `Authorization: Bearer` (the
    /// only way `/api/login` accepts it); true when no token is configured.
    pub fn admits_bearer(&self, headers: &HeaderMap) -> bool {
        match &self.token {
            Some(token) => self.bearer_admitted(token, headers),
            None => true,
        }
    }

    /// The `Set-Cookie` value that `/api/login` answers with, when a token
    /// is configured. No `Max-Age`: it ends with the browser session.
    pub fn login_cookie(&self) -> Option<HeaderValue> {
        let token = self.token.as_ref()?;
        let value = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie_name,
            hex(&token.0)
        );
        HeaderValue::from_str(&value).ok()
    }

    fn bearer_admitted(&self, token: &Token, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(bearer)
            .any(|presented| constant_time_eq(presented.as_bytes(), token.0.as_bytes()))
    }

    /// The cookie holds the token hex-encoded: a token may contain `;`, `,`
    /// or quotes, which a cookie value may not.
    fn cookie_admitted(&self, token: &Token, headers: &HeaderMap) -> bool {
        let expected = hex(&token.0);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == self.cookie_name)
            .any(|(_, value)| constant_time_eq(value.as_bytes(), expected.as_bytes()))
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The credentials of a `Bearer` authorization value (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// Compares every byte whatever the first difference; only the lengths
/// being unequal is decided up front, which reveals nothing about content.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `headers` as (name, value); whether a dashboard on port 8080 with
    /// token `s3cret;"x` admits them.
    fn check(headers: &[(&str, &str)], admitted: bool) {
        let access = Access::new(Some(r#"s3cret;"x"#.parse().unwrap()), 8080);
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        assert_eq!(access.admits(&map), admitted, "{headers:?}");
    }

    const COOKIE: &str = "igentai_dashboard_8080=7333637265743b2278";

    #[test]
    fn only_the_exact_token_is_admitted() {
        let auth = "authorization";
        check(&[(auth, r#"Bearer s3cret;"x"#)], true);
        check(&[(auth, r#"bearer s3cret;"x"#)], true);
        check(&[(auth, r#"  Bearer   s3cret;"x "#)], true);
        check(&[], false);
        check(&[(auth, "Bearer")], false);
        check(&[(auth, "Bearer ")], false);
        check(&[(auth, r#"Bearer s3cret;""#)], false);
        check(&[(auth, r#"Bearer s3cret;"x2"#)], false);
        check(&[(auth, r#"Bearer S3CRET;"X"#)], false);
        check(&[(auth, r#"Basic s3cret;"x"#)], false);
        check(&[(auth, r#"s3cret;"x"#)], false);

        check(&[("cookie", COOKIE)], true);
        check(&[("cookie", format!("a=b; {COOKIE}; c=d").as_str())], true);
        check(&[("cookie", "a=b"), ("cookie", COOKIE)], true);
        // Another port's cookie, the raw token, a prefix, a wrong value.
        check(
            &[("cookie", "igentai_dashboard_8081=7333637265743b2278")],
            false,
        );
        check(&[("cookie", r#"igentai_dashboard_8080=s3cret;"x"#)], false);
        check(
            &[("cookie", "igentai_dashboard_8080=7333637265743b22")],
            false,
        );
        check(&[("cookie", "igentai_dashboard_8080=")], false);
        check(&[(auth, "Bearer guess"), ("cookie", COOKIE)], true);
    }

    #[test]
    fn without_a_token_everyone_is_admitted_and_no_cookie_is_set() {
        let access = Access::new(None, 8080);
        assert!(access.admits(&HeaderMap::new()));
        assert!(access.admits_bearer(&HeaderMap::new()));
        assert!(access.login_cookie().is_none());
    }

    #[test]
    fn login_takes_the_header_and_sets_a_cookie_scripts_cannot_read() {
        let access = Access::new(Some(r#"s3cret;"x"#.parse().unwrap()), 8080);
        let mut cookie_only = HeaderMap::new();
        cookie_only.insert(header::COOKIE, COOKIE.parse().unwrap());
        assert!(!access.admits_bearer(&cookie_only));
        assert_eq!(
            access.login_cookie().unwrap().to_str().unwrap(),
            format!("{COOKIE}; Path=/; HttpOnly; SameSite=Strict")
        );
    }

    #[test]
    fn tokens_are_checked_and_never_shown() {
        assert!("".parse::<Token>().is_err());
        assert!("   ".parse::<Token>().is_err());
        assert!("two words".parse::<Token>().is_err());
        assert!("tökén".parse::<Token>().is_err());
        let token: Token = " hunter2 ".parse().unwrap();
        assert_eq!(format!("{token:?}"), "***");
        assert_eq!(format!("{:?}", Some(token.clone())), "Some(***)");
        assert!(!format!("{:?}", Access::new(Some(token), 1)).contains("hunter2"));
    }
}
