//! What LLM APIs say about their limits in response headers: when to retry
//! (`Retry-After`, `retry-after-ms`) and how much of the quota is left
//! (OpenAI's `x-ratelimit-*`, Anthropic's `anthropic-ratelimit-*`).
//!
//! Pure: headers and the current wall-clock time in, durations out.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// Longest wait a header may impose; a broken proxy saying "retry in a
/// week" should not park a provider overnight.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Quota left, as the provider reported it with its last answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateLimits {
    pub requests_remaining: Option<u64>,
    pub requests_reset: Option<Duration>,
    pub tokens_remaining: Option<u64>,
    pub tokens_reset: Option<Duration>,
}

impl RateLimits {
    /// How long until the exhausted quota (if any) refills.
    pub fn exhausted_for(&self) -> Option<Duration> {
        let requests = (self.requests_remaining == Some(0))
            .then_some(self.requests_reset)
            .flatten();
        let tokens = (self.tokens_remaining == Some(0))
            .then_some(self.tokens_reset)
            .flatten();
        requests.max(tokens).map(|d| d.min(MAX_RETRY_AFTER))
    }
}

fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The wait asked for by `retry-after-ms` or `Retry-After` (seconds or an
/// HTTP date), capped at [`MAX_RETRY_AFTER`].
pub fn retry_after(headers: &HeaderMap, now_unix_s: f64) -> Option<Duration> {
    if let Some(ms) = get(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return seconds(ms / 1000.0);
    }
    let value = get(headers, "retry-after")?;
    if let Ok(s) = value.parse::<f64>() {
        return seconds(s);
    }
    http_date(value).and_then(|t| seconds(t - now_unix_s))
}

/// OpenAI (and Groq, OpenRouter, vLLM behind a gateway) style headers.
pub fn openai_limits(headers: &HeaderMap) -> RateLimits {
    RateLimits {
        requests_remaining: get(headers, "x-ratelimit-remaining-requests")
            .and_then(|v| v.parse().ok()),
        requests_reset: get(headers, "x-ratelimit-reset-requests").and_then(go_duration),
        tokens_remaining: get(headers, "x-ratelimit-remaining-tokens").and_then(|v| v.parse().ok()),
        tokens_reset: get(headers, "x-ratelimit-reset-tokens").and_then(go_duration),
    }
}

/// Anthropic's headers: remaining counts and RFC 3339 reset times.
pub fn anthropic_limits(headers: &HeaderMap, now_unix_s: f64) -> RateLimits {
    let reset = |name| {
        get(headers, name)
            .and_then(rfc3339)
            .and_then(|t| seconds(t - now_unix_s))
    };
    // Input and output tokens are limited separately; the tighter one binds.
    let tokens_remaining = [
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-output-tokens-remaining",
    ]
    .iter()
    .filter_map(|n| get(headers, n).and_then(|v| v.parse::<u64>().ok()))
    .min();
    let tokens_reset = [
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-reset",
    ]
    .iter()
    .filter_map(|n| reset(n))
    .max();
    RateLimits {
        requests_remaining: get(headers, "anthropic-ratelimit-requests-remaining")
            .and_then(|v| v.parse().ok()),
        requests_reset: reset("anthropic-ratelimit-requests-reset"),
        tokens_remaining,
        tokens_reset,
    }
}

fn seconds(s: f64) -> Option<Duration> {
    (s.is_finite()).then(|| Duration::from_secs_f64(s.max(0.0)).min(MAX_RETRY_AFTER))
}

/// Go-style durations as OpenAI writes them: `1s`, `6m0s`, `20ms`, `1h2m3.5s`.
pub fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" | "" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    seconds(total)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2025-01-01T12:00:30Z` or with an offset and fractional seconds, as
/// Unix seconds.
pub fn rfc3339(text: &str) -> Option<f64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset_s) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let mut t = clock.splitn(3, ':');
    let (h, mi, s) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    let days = days_from_civil(y, mo, day);
    Some((days * 86_400 + h * 3600 + mi * 60 - offset_s) as f64 + s)
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as Unix seconds.
pub fn http_date(text: &str) -> Option<f64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = parts[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    rfc3339(&format!("{year}-{month:02}-{day}T{clock}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_forms() {
        let now = 784_111_777.0; // Sun, 06 Nov 1994 08:49:37 GMT
        for (pairs, expected) in [
            (vec![("retry-after", "7")], Some(7.0)),
            (vec![("retry-after", "1.5")], Some(1.5)),
            (
                vec![("retry-after-ms", "250"), ("retry-after", "1")],
                Some(0.25),
            ),
            (
                vec![("retry-after", "Sun, 06 Nov 1994 08:49:47 GMT")],
                Some(10.0),
            ),
            (
                vec![("retry-after", "Sun, 06 Nov 1994 08:49:27 GMT")],
                Some(0.0),
            ),
            (vec![("retry-after", "86400")], Some(600.0)),
            (vec![("retry-after", "soon")], None),
            (vec![], None),
        ] {
            let got = retry_after(&headers(&pairs), now).map(|d| d.as_secs_f64());
            assert_eq!(got, expected, "{pairs:?}");
        }
    }

    #[test]
    fn go_durations() {
        for (text, secs) in [
            ("1s", 1.0),
            ("6m0s", 360.0),
            ("20ms", 0.02),
            ("2m3.5s", 123.5),
            ("1h2m", 600.0),
            ("0.5s", 0.5),
            ("7", 7.0),
        ] {
            assert_eq!(
                go_duration(text),
                Some(Duration::from_secs_f64(secs)),
                "{text}"
            );
        }
        assert_eq!(go_duration("abc"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(rfc3339("2024-02-29T12:00:00.5Z"), Some(1_709_208_000.5));
        assert_eq!(rfc3339("2024-02-29T14:00:00+02:00"), Some(1_709_208_000.0));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777.0)
        );
        assert_eq!(rfc3339("yesterday"), None);
    }

    #[test]
    fn openai_and_anthropic_limits() {
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1m30s"),
            ("x-ratelimit-remaining-tokens", "1500"),
            ("x-ratelimit-reset-tokens", "200ms"),
        ]);
        let l = openai_limits(&h);
        assert_eq!(l.requests_remaining, Some(0));
        assert_eq!(l.exhausted_for(), Some(Duration::from_secs(90)));

        let now = rfc3339("2025-01-01T00:00:00Z").unwrap();
        let h = headers(&[
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2025-01-01T00:00:20Z"),
            ("anthropic-ratelimit-input-tokens-remaining", "0"),
            ("anthropic-ratelimit-output-tokens-remaining", "900"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2025-01-01T00:00:05Z",
            ),
        ]);
        let l = anthropic_limits(&h, now);
        assert_eq!(
            (l.requests_remaining, l.tokens_remaining),
            (Some(49), Some(0))
        );
        assert_eq!(l.exhausted_for(), Some(Duration::from_secs(5)));
    }
}
