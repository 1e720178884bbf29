//! The control token: an optional shared secret that `POST /api/start`,
//! `/api/stop` and `/api/weights` must carry as `Authorization: Bearer
//! <token>`, so a dashboard reachable by others cannot be used to start
//! paid runs by anyone who finds it.
//!
//! The token is a secret: its `Debug` is `***`, it is never logged, and it
//! is compared in constant time so response timing says nothing about how
//! much of a guess was right.

use std::fmt;
use std::str::FromStr;

use axum::http::{HeaderMap, header};

/// The secret the control endpoints require.
#[derive(Clone)]
pub struct ControlToken(String);

impl FromStr for ControlToken {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the control token must not be empty".into());
        }
        // It travels in an HTTP header: visible ASCII only.
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the control token may only hold visible ASCII characters".into());
        }
        Ok(ControlToken(s.to_string()))
    }
}

impl fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl ControlToken {
    /// Whether `headers` carry `Authorization: Bearer <this token>`.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        match presented {
            Some(presented) => constant_time_eq(presented.as_bytes(), self.0.as_bytes()),
            None => false,
        }
    }
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

    fn check(authorization: Option<&str>, admitted: bool) {
        let token: ControlToken = "s3cret".parse().unwrap();
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        }
        assert_eq!(token.admits(&headers), admitted, "{authorization:?}");
    }

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        check(Some("Bearer s3cret"), true);
        check(Some("bearer s3cret"), true);
        check(Some("  Bearer   s3cret "), true);
        check(None, false);
        check(Some("Bearer"), false);
        check(Some("Bearer "), false);
        check(Some("Bearer s3cre"), false);
        check(Some("Bearer s3cret2"), false);
        check(Some("Bearer S3CRET"), false);
        check(Some("Basic s3cret"), false);
        check(Some("s3cret"), false);
    }

    #[test]
    fn tokens_are_checked_and_never_shown() {
        assert!("".parse::<ControlToken>().is_err());
        assert!("   ".parse::<ControlToken>().is_err());
        assert!("two words".parse::<ControlToken>().is_err());
        assert!("tökén".parse::<ControlToken>().is_err());
        let token: ControlToken = " hunter2 ".parse().unwrap();
        assert_eq!(format!("{token:?}"), "***");
        assert_eq!(format!("{:?}", Some(token)), "Some(***)");
    }
}
