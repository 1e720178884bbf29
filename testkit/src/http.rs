//! A minimal HTTP/1.1 client for the tests' own local servers (the
//! dashboard, the model server): one `Connection: close` exchange over a
//! `TcpStream`, bounded in time, with chunked bodies decoded. Enough to
//! send exactly the bytes a test means (a missing or forged `Host`, an
//! absolute request target) without pulling an HTTP client stack into the
//! workspace.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP response: status, header lines (names in lower case) and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// `name: value` lines, the name in lower case.
    pub headers: Vec<String>,
    pub body: String,
}

impl Response {
    /// The value of the first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(&prefix))
            .map(str::trim)
    }
}

/// `method path` with `headers` and `body` to the server at `addr`
/// (`host:port`), within `within`. Sends `Host: <addr>` unless `headers`
/// name a host of their own, and `Content-Length` always.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    within: Duration,
) -> std::io::Result<Response> {
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    request.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n",
        body.len()
    ));
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut raw = request.into_bytes();
    raw.extend_from_slice(body);
    raw_request(addr, &raw, within).await
}

/// `GET path`: the status and the body, or `None` when the server does not
/// answer within `within`.
pub async fn get(addr: &str, path: &str, within: Duration) -> Option<(u16, String)> {
    let response = request(addr, "GET", path, &[], b"", within).await.ok()?;
    Some((response.status, response.body))
}

/// Sends `request` as it is (no header added) and reads the response,
/// within `within`.
pub async fn raw_request(
    addr: &str,
    request: &[u8],
    within: Duration,
) -> std::io::Result<Response> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse_response(&raw)
    };
    tokio::time::timeout(within, exchange)
        .await
        .map_err(|_| std::io::Error::other("HTTP exchange timed out"))?
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |what: &str| {
        std::io::Error::other(format!(
            "bad HTTP response ({what}): {}",
            String::from_utf8_lossy(raw)
        ))
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let headers: Vec<String> = lines
        .map(|line| match line.split_once(':') {
            Some((name, value)) => format!("{}:{value}", name.to_ascii_lowercase()),
            None => line.to_string(),
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case("transfer-encoding: chunked"))
    {
        body = dechunk(&body).ok_or_else(|| bad("chunked body"))?;
    }
    let body = String::from_utf8(body).map_err(|_| bad("body not UTF-8"))?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The payload of a chunked HTTP body.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<&str>) {
        assert_eq!(
            dechunk(input.as_bytes()).map(|b| String::from_utf8(b).unwrap()),
            expected.map(str::to_string),
            "{input:?}"
        );
    }

    #[test]
    fn dechunk_reads_chunked_bodies() {
        check("0\r\n\r\n", Some(""));
        check("5\r\nhello\r\n0\r\n\r\n", Some("hello"));
        check("2\r\n{\"\r\n3;x=1\r\na\":\r\n0\r\n\r\n", Some("{\"a\":"));
        check("a\r\nshort\r\n0\r\n\r\n", None);
        check("zz\r\nhello\r\n", None);
        check("5\r\nhello", None);
    }

    #[test]
    fn responses_parse_with_lower_case_header_names() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("text/plain"));
        assert_eq!(response.body, "ok");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
