//! One writer, the decisions: who owns a coordinator's data dir and the
//! candidate stream (the [`Owner`] record held by the folder lock and the
//! lease), how a refused coordinator names it, whether a lease found in
//! NATS may be taken, and whether a lease whose renewal failed is lost.
//!
//! Pure; `ownership.rs` does the I/O. Records are read back from a file
//! and from NATS, so anything there is treated as outside input.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use igentai_protocol::now_ms;
use serde::{Deserialize, Serialize};

/// The key-value bucket holding the lease (the coordinator's NATS user may
/// publish to `$KV.igentai_lease.>`, see `nats.conf`).
pub const LEASE_BUCKET: &str = "igentai_lease";
/// The one key of [`LEASE_BUCKET`]: whoever holds it consumes the stream.
pub const LEASE_KEY: &str = "coordinator";
/// The lock file, inside the data dir.
pub const LOCK_FILE: &str = "coordinator.lock";
/// Longest owner field shown in an error: a record is read from disk or
/// NATS and may be anything.
const MAX_FIELD: usize = 200;

/// Who owns a data dir and the stream: written into the lock file and the
/// lease, read back to name the owner when a second coordinator is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The data dir's id: random, given once and kept in the lock file, so
    /// two machines reporting the same host name and path (containers with
    /// a fixed hostname) are told apart. Empty in records written before
    /// data dirs had one, which then never match.
    #[serde(default)]
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub since_ms: u64,
    /// The owner's data dir, canonical.
    pub data_dir: String,
}

impl Owner {
    /// This process, owning `data_dir` (whose id is `id`) from now.
    pub fn me(data_dir: &Path, id: &str) -> Owner {
        let data_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        Owner {
            id: id.to_string(),
            host: hostname(),
            pid: std::process::id(),
            since_ms: now_ms(),
            data_dir: data_dir.display().to_string(),
        }
    }

    pub fn encode(&self) -> Bytes {
        serde_json::to_vec(self)
            .expect("an owner record serializes")
            .into()
    }

    /// A record as read back; `None` when it is not one (a torn write,
    /// an empty file, anything else).
    pub fn decode(bytes: &[u8]) -> Option<Owner> {
        serde_json::from_slice(bytes).ok()
    }
}

/// "host h, pid 123, data dir /d, since 2026-11-27T20:00:00Z" for a record
/// read from the lock file or the lease, with control characters dropped
/// and fields cut short: the record comes from outside this process.
pub fn describe(record: &[u8]) -> String {
    let Some(owner) = Owner::decode(record) else {
        return "owner unknown: its record is unreadable".to_string();
    };
    let since =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(owner.since_ms));
    format!(
        "host {}, pid {}, data dir {}, since {since}",
        printable(&owner.host),
        owner.pid,
        printable(&owner.data_dir)
    )
}

fn printable(field: &str) -> String {
    field
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD)
        .collect()
}

/// What to do about the lease as found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nobody holds it: create it.
    Create,
    /// It names this data dir (by its id), whose lock we hold: its writer
    /// is gone (killed before its lease expired). Take it over, if it is
    /// still at this revision.
    Steal(u64),
    /// Someone else holds it (described).
    Held(String),
}

/// Decides about the lease `current` (record and revision) for `me`, who
/// already holds the lock of `me.data_dir`.
pub fn claim(current: Option<(&[u8], u64)>, me: &Owner) -> Claim {
    let Some((record, revision)) = current else {
        return Claim::Create;
    };
    match Owner::decode(record) {
        Some(o) if same_data_dir(&o, me) => Claim::Steal(revision),
        _ => Claim::Held(describe(record)),
    }
}

/// Whether `a` and `b` own the same data dir: the same id, never an empty
/// one. Host name and path are no proof: two containers with a fixed
/// hostname and the same volume path report both alike.
pub fn same_data_dir(a: &Owner, b: &Owner) -> bool {
    !a.id.is_empty() && a.id == b.id
}

/// A new data dir id: 128 random bits from the kernel, in hex (or, where
/// there is no `/dev/urandom`, the std hasher's random keys mixed with the
/// time and the pid).
pub fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let urandom = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if urandom.is_err() {
        for half in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(now_ms());
            h.write_u32(std::process::id());
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    format!("{:032x}", u128::from_le_bytes(bytes))
}

/// Whether `text` (read back from a lock file) is a data dir id.
pub fn valid_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How one renewal went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Renewed,
    /// The lease is at another revision or gone: someone else may own it.
    Conflict,
    /// NATS did not answer.
    Unanswered,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Held,
    /// Try again next period.
    Retry,
    Lost,
}

/// Whether the lease is still ours after `renewal`, `since_renewed` after
/// the last renewal that succeeded was sent. Unanswered renewals are lost
/// one period before the TTL: the server counts the TTL from when it wrote
/// that renewal, which is no earlier than when it was sent, so a standby
/// can never take the lease while this coordinator still believes in it.
pub fn verdict(renewal: Renewal, since_renewed: Duration, ttl: Duration) -> Verdict {
    match renewal {
        Renewal::Renewed => Verdict::Held,
        Renewal::Conflict => Verdict::Lost,
        Renewal::Unanswered if since_renewed + renew_period(ttl) >= ttl => Verdict::Lost,
        Renewal::Unanswered => Verdict::Retry,
    }
}

/// How often a lease is renewed, and a standby tries again.
pub fn renew_period(ttl: Duration) -> Duration {
    ttl / 3
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// An owner record for tests, started at a fixed time.
#[cfg(test)]
/// Its data dir's id follows from host and path, as if each named one
/// machine's folder.
pub(crate) fn owner(host: &str, pid: u32, data_dir: &str) -> Owner {
    let id = xxhash_rust::xxh3::xxh3_128(format!("{host}:{data_dir}").as_bytes());
    with_id(host, pid, data_dir, &format!("{id:032x}"))
}

/// An owner record for tests, of the data dir with id `id`.
#[cfg(test)]
pub(crate) fn with_id(host: &str, pid: u32, data_dir: &str, id: &str) -> Owner {
    Owner {
        id: id.to_string(),
        host: host.to_string(),
        pid,
        since_ms: 1_795_000_000_000,
        data_dir: data_dir.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(record: &[u8], expected: &str) {
        assert_eq!(describe(record), expected, "record {record:?}");
    }

    #[test]
    fn describes_records_read_from_outside() {
        let evil = owner("<script>alert(1)</script>\n\x1b[31m", 7, "/d");
        for (record, expected) in [
            (
                owner("h", 123, "/srv/data").encode().to_vec(),
                "host h, pid 123, data dir /srv/data, since 2026-11-18T11:06:40Z",
            ),
            (
                evil.encode().to_vec(),
                "host <script>alert(1)</script>[31m, pid 7, data dir /d, since 2026-11-18T11:06:40Z",
            ),
            (b"".to_vec(), "owner unknown: its record is unreadable"),
            (
                b"{\"host\":\"h\",\"pi".to_vec(),
                "owner unknown: its record is unreadable",
            ),
            (
                vec![0xff, 0xfe, 0x00],
                "owner unknown: its record is unreadable",
            ),
        ] {
            check(&record, expected);
        }
        let long = owner(&"x".repeat(10_000), 1, "/d").encode();
        assert!(describe(&long).len() < 300);
    }

    fn check_claim(current: Option<(&Owner, u64)>, me: &Owner, expected: Claim) {
        let record = current.map(|(o, rev)| (o.encode(), rev));
        let current = record.as_ref().map(|(r, rev)| (r.as_ref(), *rev));
        assert_eq!(claim(current, me), expected, "{current:?}");
    }

    #[test]
    fn claims_a_lease_only_when_free_or_left_by_a_dead_writer_of_our_folder() {
        let me = owner("h", 2, "/d");
        let gone = owner("h", 1, "/d");
        let other_dir = owner("h", 1, "/e");
        let other_host = owner("g", 1, "/d");
        check_claim(None, &me, Claim::Create);
        check_claim(Some((&gone, 9)), &me, Claim::Steal(9));
        check_claim(
            Some((&other_dir, 9)),
            &me,
            Claim::Held(describe(&other_dir.encode())),
        );
        check_claim(
            Some((&other_host, 9)),
            &me,
            Claim::Held(describe(&other_host.encode())),
        );
        assert_eq!(
            claim(Some((b"garbage", 3)), &me),
            Claim::Held("owner unknown: its record is unreadable".to_string())
        );
    }

    #[test]
    fn the_data_dir_id_decides_whose_lease_is_ours_not_host_and_path() {
        let id = "0123456789abcdef0123456789abcdef";
        let other = "fedcba9876543210fedcba9876543210";
        let me = with_id("box", 2, "/data", id);
        // Two containers with a fixed hostname and one volume path.
        let twin = with_id("box", 1, "/data", other);
        check_claim(Some((&twin, 4)), &me, Claim::Held(describe(&twin.encode())));
        // Our folder, seen from a host renamed since, or mounted elsewhere.
        check_claim(
            Some((&with_id("old", 1, "/mnt/d", id), 4)),
            &me,
            Claim::Steal(4),
        );
        // No id (written before data dirs had one) is never ours.
        let unknown = with_id("box", 1, "/data", "");
        let me_without = with_id("box", 2, "/data", "");
        check_claim(
            Some((&unknown, 4)),
            &me_without,
            Claim::Held(describe(&unknown.encode())),
        );
        let legacy = br#"{"host":"box","pid":1,"since_ms":0,"data_dir":"/data"}"#;
        assert_eq!(claim(Some((legacy, 4)), &me), Claim::Held(describe(legacy)));
    }

    #[test]
    fn new_ids_are_valid_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert!(valid_id(&a) && valid_id(&b), "{a} {b}");
        assert_ne!(a, b);
        for bad in [
            "",
            "xyz",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdefg",
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_lease_is_lost_on_conflict_or_before_it_can_expire() {
        let ttl = Duration::from_millis(900);
        let ms = Duration::from_millis;
        for (renewal, since, expected) in [
            (Renewal::Renewed, ms(0), Verdict::Held),
            (Renewal::Renewed, ms(5_000), Verdict::Held),
            (Renewal::Conflict, ms(0), Verdict::Lost),
            (Renewal::Unanswered, ms(300), Verdict::Retry),
            (Renewal::Unanswered, ms(599), Verdict::Retry),
            (Renewal::Unanswered, ms(600), Verdict::Lost),
            (Renewal::Unanswered, ms(5_000), Verdict::Lost),
        ] {
            assert_eq!(
                verdict(renewal, since, ttl),
                expected,
                "{renewal:?} after {since:?}"
            );
        }
        assert_eq!(renew_period(ttl), ms(300));
    }
}
