//! One writer: a coordinator owns its data dir and the candidate stream
//! before it touches either, so two coordinators never consume the same
//! batches or append to the same `output.txt`.
//!
//! Ownership has two halves. The folder lock (`coordinator.lock` in the
//! data dir, an OS file lock the kernel drops when the process dies) keeps
//! a second coordinator on this host off the same files. The lease (one
//! key in a JetStream key-value bucket whose entries expire after the TTL)
//! keeps a coordinator on any host off the same NATS: it is created only
//! when absent, renewed by compare-and-set every TTL/3, and deleted at a
//! clean exit so a standby takes over at once; a killed owner's lease
//! simply expires. Both hold the same [`Owner`] record, so whoever is
//! refused can say who owns what, and since when.
//!
//! The decisions are pure ([`Owner::decode`], [`describe`], [`claim`],
//! [`verdict`]); [`FolderLock`], [`Lease`] and [`acquire`] are the I/O.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use igentai_protocol::now_ms;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
    pub host: String,
    pub pid: u32,
    pub since_ms: u64,
    /// The owner's data dir, canonical.
    pub data_dir: String,
}

impl Owner {
    /// This process, owning `data_dir` from now.
    pub fn me(data_dir: &Path) -> Owner {
        let data_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        Owner {
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
    /// It names this host and this data dir, whose lock we hold: its writer
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
        Some(o) if o.host == me.host && o.data_dir == me.data_dir => Claim::Steal(revision),
        _ => Claim::Held(describe(record)),
    }
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

/// The data dir's lock, held until dropped (or the process dies).
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Takes the lock of `dir` (created if missing) and writes `me` into it,
    /// or returns the current owner's description.
    pub fn try_take(dir: &Path, me: &Owner) -> anyhow::Result<Result<FolderLock, String>> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create data dir {}", dir.display()))?;
        let path = lock_path(dir);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Ok(Err(describe(&std::fs::read(&path).unwrap_or_default())));
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("lock {}", path.display()));
            }
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(&me.encode()))
            .and_then(|()| file.sync_data())
            .with_context(|| format!("write {}", path.display()))?;
        Ok(Ok(FolderLock { _file: file }))
    }
}

/// The lease in NATS, at the revision this coordinator last wrote.
pub struct Lease {
    store: kv::Store,
    record: Bytes,
    revision: u64,
    ttl: Duration,
    /// When the last successful renewal was sent.
    renewed_at: Instant,
}

impl Lease {
    /// The lease bucket, created with entries expiring after `ttl` when
    /// missing. An existing bucket keeps the TTL it was created with.
    pub async fn bucket(js: &jetstream::Context, ttl: Duration) -> anyhow::Result<kv::Store> {
        if let Ok(store) = js.get_key_value(LEASE_BUCKET).await {
            return Ok(store);
        }
        js.create_key_value(kv::Config {
            bucket: LEASE_BUCKET.to_string(),
            description: "which coordinator consumes the candidate stream".to_string(),
            history: 1,
            max_age: ttl,
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .context("create the lease bucket")
    }

    /// Takes the lease for `me` (whose folder lock is held), or returns the
    /// current owner's description. Errors are NATS not answering.
    pub async fn try_take(store: &kv::Store, me: &Owner) -> anyhow::Result<Result<Lease, String>> {
        let record = me.encode();
        let sent = Instant::now();
        let revision = match store.create(LEASE_KEY, record.clone()).await {
            Ok(revision) => revision,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let entry = store.entry(LEASE_KEY).await.context("read the lease")?;
                let current = entry
                    .as_ref()
                    .filter(|e| e.operation == kv::Operation::Put)
                    .map(|e| (e.value.as_ref(), e.revision));
                match claim(current, me) {
                    // Released or expired between the two calls.
                    Claim::Create => return Ok(Err("a coordinator releasing it".to_string())),
                    Claim::Held(owner) => return Ok(Err(owner)),
                    Claim::Steal(revision) => {
                        match store.update(LEASE_KEY, record.clone(), revision).await {
                            Ok(revision) => {
                                tracing::warn!(
                                    "took over the lease of a coordinator that used this data dir and is gone"
                                );
                                revision
                            }
                            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                                return Ok(Err("a coordinator that just took it".to_string()));
                            }
                            Err(e) => return Err(e).context("take over the lease"),
                        }
                    }
                }
            }
            Err(e) => return Err(e).context("create the lease"),
        };
        let ttl = store.stream.cached_info().config.max_age;
        Ok(Ok(Lease {
            store: store.clone(),
            record,
            revision,
            ttl,
            renewed_at: sent,
        }))
    }

    /// One compare-and-set renewal.
    async fn renew(&mut self) -> Verdict {
        let sent = Instant::now();
        let renewal = match self
            .store
            .update(LEASE_KEY, self.record.clone(), self.revision)
            .await
        {
            Ok(revision) => {
                self.revision = revision;
                self.renewed_at = sent;
                Renewal::Renewed
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Renewal::Conflict,
            Err(e) => {
                tracing::warn!(error = %e, "could not renew the lease");
                Renewal::Unanswered
            }
        };
        verdict(renewal, self.renewed_at.elapsed(), self.ttl)
    }

    /// Deletes the lease if it is still ours, so a standby need not wait
    /// for it to expire.
    async fn release(self) {
        match self
            .store
            .delete_expect_revision(LEASE_KEY, Some(self.revision))
            .await
        {
            Ok(()) => tracing::info!("released the lease"),
            Err(e) => {
                tracing::warn!(error = %e, "could not release the lease; it expires by itself")
            }
        }
    }
}

/// Both halves, held.
pub struct Ownership {
    _lock: FolderLock,
    lease: Lease,
}

/// Takes the data dir's lock and the lease. Without `standby`, a coordinator
/// owning either is an error naming it; with it, this waits (trying again
/// every TTL/3) until both are free. NATS not answering is retried either
/// way. `None` when `shutdown` came first.
pub async fn acquire(
    js: &jetstream::Context,
    data_dir: &Path,
    ttl: Duration,
    standby: bool,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Ownership>> {
    // Created first so that the records name it canonically.
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("create data dir {}", data_dir.display()))?;
    let mut lock = None;
    let mut store = None;
    let mut logged = false;
    let mut delay = Duration::from_millis(200);
    loop {
        let me = Owner::me(data_dir);
        let mut blocked = None;
        if lock.is_none() {
            match FolderLock::try_take(data_dir, &me)? {
                Ok(l) => lock = Some(l),
                Err(owner) => blocked = Some(folder_refusal(data_dir, &owner)),
            }
        }
        if lock.is_some() {
            let attempt = match &store {
                Some(s) => Lease::try_take(s, &me).await,
                None => match Lease::bucket(js, ttl).await {
                    Ok(s) => Lease::try_take(store.insert(s), &me).await,
                    Err(e) => Err(e),
                },
            };
            match attempt {
                Ok(Ok(lease)) => {
                    let _lock = lock.expect("checked above");
                    tracing::info!(ttl = ?lease.ttl, "owns the data dir and the candidate stream");
                    return Ok(Some(Ownership { _lock, lease }));
                }
                Ok(Err(owner)) => blocked = Some(lease_refusal(&owner)),
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), retry_in = ?delay, "cannot reach the lease");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(None),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        let blocked = blocked.expect("either half was refused");
        if !standby {
            return Err(anyhow!(
                "{blocked}: stop it, or start this one with --standby"
            ));
        }
        if !logged {
            tracing::info!("standing by: {blocked}");
            logged = true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(renew_period(ttl)) => {}
        }
    }
}

fn folder_refusal(data_dir: &Path, owner: &str) -> String {
    format!(
        "another coordinator owns data dir {} ({owner})",
        data_dir.display()
    )
}

fn lease_refusal(owner: &str) -> String {
    format!("another coordinator consumes the candidate stream on this NATS ({owner})")
}

/// Renews the lease in the background while the coordinator runs.
pub struct Keeper {
    lost: CancellationToken,
    stop: CancellationToken,
    task: JoinHandle<Ownership>,
}

impl Ownership {
    pub fn keep(self) -> Keeper {
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let task = tokio::spawn(renew_until(self, lost.clone(), stop.clone()));
        Keeper { lost, stop, task }
    }
}

async fn renew_until(
    mut owned: Ownership,
    lost: CancellationToken,
    stop: CancellationToken,
) -> Ownership {
    let mut tick = tokio::time::interval(renew_period(owned.lease.ttl));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return owned,
            _ = tick.tick() => {}
        }
        match owned.lease.renew().await {
            Verdict::Held | Verdict::Retry => {}
            Verdict::Lost => {
                tracing::error!("lost the lease: another coordinator may own the candidate stream");
                lost.cancel();
                return owned;
            }
        }
    }
}

impl Keeper {
    /// Completes when the lease was lost: stop consuming and writing at once.
    pub async fn lost(&self) {
        self.lost.cancelled().await
    }

    /// Stops renewing and releases the lease, then the folder lock.
    pub async fn release(self) {
        self.stop.cancel();
        match self.task.await {
            Ok(owned) if !self.lost.is_cancelled() => owned.lease.release().await,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the lease keeper failed"),
        }
    }
}

/// Where the lock file of `data_dir` is.
pub fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LOCK_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(host: &str, pid: u32, data_dir: &str) -> Owner {
        Owner {
            host: host.to_string(),
            pid,
            since_ms: 1_795_000_000_000,
            data_dir: data_dir.to_string(),
        }
    }

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
            check(&record, &expected);
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

    #[test]
    fn a_second_lock_on_a_folder_names_the_first_owner() {
        let dir = tempfile::tempdir().unwrap();
        let first = owner("h", 123, "/d");
        let held = FolderLock::try_take(dir.path(), &first).unwrap().ok();
        assert!(held.is_some());
        let second = FolderLock::try_take(dir.path(), &owner("h", 456, "/d")).unwrap();
        assert_eq!(second.err(), Some(describe(&first.encode())));
        drop(held);
        let third = FolderLock::try_take(dir.path(), &owner("h", 789, "/d")).unwrap();
        assert!(third.is_ok(), "a released lock can be taken");
        assert_eq!(
            Owner::decode(&std::fs::read(lock_path(dir.path())).unwrap()),
            Some(owner("h", 789, "/d"))
        );
    }
}
