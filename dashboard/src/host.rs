//! The names this dashboard answers to: every request's `Host` must be one
//! of them, whatever the route.
//!
//! Why: a page on `evil.example` can make its own name resolve to 127.0.0.1
//! (DNS rebinding). The browser then treats the dashboard as that page's
//! own origin, so the `Origin` check passes and the page could read the run
//! and start paid ones. What the browser cannot hide is the name it thinks
//! it talks to: the `Host` header says `evil.example`. So only names that
//! are this machine are served: `localhost`, loopback addresses
//! (127.0.0.0/8, `::1`), the address the dashboard listens on when it is
//! not a wildcard, and names the operator allows (`--allowed-host`). The
//! port is not part of the check.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A host name or address, normalized: lower case, no trailing dot, no
/// port, addresses in their canonical form (`[::1]` → `::1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostName {
    Ip(IpAddr),
    Dns(String),
}

impl HostName {
    /// The name in a `Host` header (or an authority): `name`, `name:port`,
    /// `1.2.3.4:port`, `[v6]:port`. `None` when it is none of these.
    pub fn from_authority(authority: &str) -> Option<HostName> {
        let authority = authority.trim();
        if let Some(rest) = authority.strip_prefix('[') {
            let (v6, after) = rest.split_once(']')?;
            if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
                return None;
            }
            let ip: Ipv6Addr = v6.parse().ok()?;
            return Some(HostName::Ip(IpAddr::V6(ip).to_canonical()));
        }
        let name = match authority.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return None,
            None => authority,
        };
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return None;
        }
        Some(match name.parse::<Ipv4Addr>() {
            Ok(ip) => HostName::Ip(IpAddr::V4(ip)),
            Err(_) => HostName::Dns(name),
        })
    }
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// What `--allowed-host` accepts: a name or address, with or without a
/// port (ignored), an IPv6 address with or without brackets.
impl FromStr for HostName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.trim().parse::<Ipv6Addr>() {
            return Ok(HostName::Ip(IpAddr::V6(ip).to_canonical()));
        }
        HostName::from_authority(s).ok_or_else(|| {
            format!(
                "{s:?} is not a host name or address (letters, digits, `-`, `.` and `_`, \
                 or an IP address)"
            )
        })
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostName::Ip(ip) => write!(f, "{ip}"),
            HostName::Dns(name) => f.write_str(name),
        }
    }
}

/// The names requests may carry in `Host`.
#[derive(Clone, Debug)]
pub struct AllowedHosts {
    extra: Vec<HostName>,
}

impl AllowedHosts {
    /// This machine's own names, the listening address `listen` unless it
    /// is a wildcard (`0.0.0.0`, `::`: the name a client used is unknown),
    /// and `allowed`.
    pub fn new(listen: IpAddr, allowed: &[HostName]) -> Self {
        let mut extra = allowed.to_vec();
        let listen = listen.to_canonical();
        if !listen.is_unspecified() {
            extra.push(HostName::Ip(listen));
        }
        AllowedHosts { extra }
    }

    pub fn allows(&self, name: &HostName) -> bool {
        let own = match name {
            HostName::Ip(ip) => ip.is_loopback(),
            HostName::Dns(name) => name == "localhost",
        };
        own || self.extra.contains(name)
    }

    /// For the log: the names allowed besides localhost and loopback.
    pub fn extra(&self) -> String {
        let names: Vec<String> = self.extra.iter().map(HostName::to_string).collect();
        names.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a dashboard listening on `listen`, with `dash.example` and
    /// `10.1.2.3` allowed, serves a request whose `Host` is `host`.
    fn check(listen: &str, host: &str, served: bool) {
        let allowed = [
            "Dash.Example.".parse().unwrap(),
            "10.1.2.3".parse().unwrap(),
        ];
        let hosts = AllowedHosts::new(listen.parse().unwrap(), &allowed);
        let got = HostName::from_authority(host).is_some_and(|name| hosts.allows(&name));
        assert_eq!(got, served, "listen {listen}, Host {host:?}");
    }

    #[test]
    fn only_this_machines_names_are_served() {
        for listen in ["127.0.0.1", "0.0.0.0", "::", "192.168.1.5"] {
            check(listen, "localhost", true);
            check(listen, "LOCALHOST:8080", true);
            check(listen, "localhost.:8080", true);
            check(listen, "127.0.0.1:8080", true);
            check(listen, "127.9.8.7", true);
            check(listen, "[::1]:8080", true);
            check(listen, "[::1]", true);
            check(listen, "[::ffff:127.0.0.1]:80", true);
            check(listen, "dash.example:8080", true);
            check(listen, "DASH.example", true);
            check(listen, "10.1.2.3:1", true);

            check(listen, "evil.example", false);
            check(listen, "evil.example:8080", false);
            check(listen, "localhost.evil.example", false);
            check(listen, "sub.dash.example", false);
            check(listen, "evil.localhost", false);
            check(listen, "192.168.1.6:8080", false);
            check(listen, "2130706433", false);
            check(listen, "", false);
            check(listen, ":8080", false);
            check(listen, "localhost:http", false);
            check(listen, "localhost:8080:1", false);
            check(listen, "[::1", false);
            check(listen, "[::1]x", false);
            check(listen, "::1", false);
            check(listen, "<script>", false);
            check(listen, "user@localhost", false);
            check(listen, "local host", false);
        }
        // The address it listens on, unless that is a wildcard.
        check("192.168.1.5", "192.168.1.5:8080", true);
        check("0.0.0.0", "0.0.0.0:8080", false);
        check("::", "[::]:8080", false);
        check("fe80::1", "[fe80::1]:8080", true);
        check("127.0.0.1", "192.168.1.5", false);
    }

    #[test]
    fn allowed_names_are_normalized_or_refused() {
        let parse = |s: &str| s.parse::<HostName>().map(|n| n.to_string());
        assert_eq!(parse("Dash.Example."), Ok("dash.example".into()));
        assert_eq!(parse("dash.example:8080"), Ok("dash.example".into()));
        assert_eq!(parse("fe80::1"), Ok("fe80::1".into()));
        assert_eq!(parse("[FE80::1]:80"), Ok("fe80::1".into()));
        assert_eq!(parse("10.0.0.1"), Ok("10.0.0.1".into()));
        for bad in [
            "",
            "http://dash.example",
            "dash example",
            "dash.example/x",
            "a:b",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("not a host name"), "{bad:?}: {err}");
        }
    }
}
