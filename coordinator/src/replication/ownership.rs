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
//! refused can say who owns what, and since when. The record names the
//! data dir by its id (random, given once and kept in the lock file from
//! then on), so a lease
//! left by this folder's killed writer is taken over at once, and one of
//! another machine's folder never is, whatever host name and path both
//! report. The decisions are in `owner.rs`.
//!
//! The lease says who may write; the items ledger enforces it: the owner
//! fences the ledger right after taking the lease (`ledger/mod.rs`), and NATS
//! refuses the entries of any owner fenced out since, without waiting for
//! that owner's next renewal to tell it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::replication::owner::{
    Claim, LEASE_BUCKET, LEASE_KEY, LOCK_FILE, Owner, Renewal, Verdict, claim, describe, new_id,
    renew_period, valid_id, verdict,
};

/// The data dir's lock, held until dropped (or the process dies).
pub struct FolderLock {
    _file: File,
    /// The data dir's id, as the lock file kept it or newly given.
    id: String,
}

impl FolderLock {
    /// Takes the lock of `dir` (created if missing) and writes `me` into it
    /// with the data dir's id (the one the file held, or a new one), or
    /// returns the current owner's description. A lock file lost or torn
    /// gives the folder a new id: a lease its killed writer left then
    /// expires instead of being taken over, the safe way to be wrong.
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
        let id = std::fs::read(&path)
            .ok()
            .and_then(|b| Owner::decode(&b))
            .map(|o| o.id)
            .filter(|id| valid_id(id))
            .unwrap_or_else(new_id);
        let me = Owner {
            id: id.clone(),
            ..me.clone()
        };
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(&me.encode()))
            .and_then(|()| file.sync_data())
            .with_context(|| format!("write {}", path.display()))?;
        Ok(Ok(FolderLock { _file: file, id }))
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
    /// The lease bucket, created with entries expiring after `ttl` and
    /// `replicas` copies when missing (a lease kept on one node dies with
    /// it). An existing bucket keeps the TTL it was created with.
    pub async fn bucket(
        js: &jetstream::Context,
        ttl: Duration,
        replicas: usize,
    ) -> anyhow::Result<kv::Store> {
        if let Ok(store) = js.get_key_value(LEASE_BUCKET).await {
            return Ok(store);
        }
        js.create_key_value(kv::Config {
            bucket: LEASE_BUCKET.to_string(),
            description: "which coordinator consumes the candidate stream".to_string(),
            history: 1,
            max_age: ttl,
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .context("create the lease bucket")
    }

    /// Takes the lease for `me` (whose folder lock is held), or returns the
    /// current owner's description. Errors are worth another try (NATS not
    /// answering). `ttl` is renewal's pace only if the bucket has none.
    pub async fn try_take(
        store: &kv::Store,
        me: &Owner,
        ttl: Duration,
    ) -> anyhow::Result<Result<Lease, String>> {
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
                    // Released or expired between the two calls: try again.
                    Claim::Create => return Err(anyhow!("the lease changed while it was read")),
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
        let ttl = match store.stream.cached_info().config.max_age {
            // Made by hand without a TTL: a killed owner's lease never
            // expires, only one on the same data dir is taken over.
            age if age.is_zero() => {
                tracing::warn!(
                    "the lease bucket {LEASE_BUCKET} has no TTL: delete it (nats kv rm {LEASE_BUCKET}) to let standbys on other hosts take over"
                );
                ttl
            }
            age => age,
        };
        Ok(Ok(Lease {
            store: store.clone(),
            record,
            revision,
            ttl,
            renewed_at: sent,
        }))
    }

    /// One compare-and-set renewal, given at most one period: a renewal
    /// answered later is as good as lost, the verdict must come in time.
    async fn renew(&mut self) -> Verdict {
        let sent = Instant::now();
        let update = self
            .store
            .update(LEASE_KEY, self.record.clone(), self.revision);
        let renewal = match tokio::time::timeout(renew_period(self.ttl), update).await {
            Ok(Ok(revision)) => {
                self.revision = revision;
                self.renewed_at = sent;
                Renewal::Renewed
            }
            Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Renewal::Conflict,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not renew the lease");
                Renewal::Unanswered
            }
            Err(_) => {
                tracing::warn!("could not renew the lease: no answer");
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
    replicas: usize,
    standby: bool,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Ownership>> {
    // Created first so that the records name it canonically.
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("create data dir {}", data_dir.display()))?;
    let mut lock = None;
    let mut store = None;
    let mut logged = false;
    // The pace of every start-up step that waits for NATS.
    use igentai_client::retry::{FIRST_DELAY, MAX_DELAY};
    let mut delay = FIRST_DELAY;
    loop {
        let me = Owner::me(data_dir, "");
        let mut blocked = None;
        if lock.is_none() {
            match FolderLock::try_take(data_dir, &me)? {
                Ok(l) => lock = Some(l),
                Err(owner) => blocked = Some(folder_refusal(data_dir, &owner)),
            }
        }
        if let Some(held) = lock.take() {
            let me = Owner {
                id: held.id.clone(),
                ..me
            };
            let attempt = match &store {
                Some(s) => Lease::try_take(s, &me, ttl).await,
                None => match Lease::bucket(js, ttl, replicas).await {
                    Ok(s) => Lease::try_take(store.insert(s), &me, ttl).await,
                    Err(e) => Err(e),
                },
            };
            match attempt {
                Ok(Ok(lease)) => {
                    tracing::info!(ttl = ?lease.ttl, "owns the data dir and the candidate stream");
                    return Ok(Some(Ownership { _lock: held, lease }));
                }
                Ok(Err(owner)) => {
                    // A standby keeps the lock of its own folder meanwhile.
                    lock = Some(held);
                    blocked = Some(lease_refusal(&owner));
                }
                Err(e) => {
                    lock = Some(held);
                    tracing::warn!(error = format!("{e:#}"), retry_in = ?delay, "cannot reach the lease");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(None),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(MAX_DELAY);
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
    /// The owner record the lease holds.
    pub fn record(&self) -> Bytes {
        self.lease.record.clone()
    }

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
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
    use crate::replication::owner::owner;

    #[test]
    fn a_data_dir_keeps_the_id_it_was_given_once() {
        let dir = tempfile::tempdir().unwrap();
        let take = |pid| FolderLock::try_take(dir.path(), &owner("h", pid, "/d")).unwrap();
        let first = take(1).ok().unwrap().id;
        assert!(valid_id(&first), "{first}");
        assert_ne!(first, owner("h", 1, "/d").id, "not the caller's");
        assert_eq!(take(2).ok().unwrap().id, first);
        let recorded = Owner::decode(&std::fs::read(lock_path(dir.path())).unwrap()).unwrap();
        assert_eq!((recorded.id, recorded.pid), (first.clone(), 2));
        let other = tempfile::tempdir().unwrap();
        let elsewhere = FolderLock::try_take(other.path(), &owner("h", 3, "/d")).unwrap();
        assert_ne!(elsewhere.ok().unwrap().id, first);
        std::fs::write(lock_path(dir.path()), "torn").unwrap();
        let renewed = take(4).ok().unwrap().id;
        assert!(valid_id(&renewed) && renewed != first);
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
        let recorded = Owner::decode(&std::fs::read(lock_path(dir.path())).unwrap()).unwrap();
        assert_eq!(
            recorded,
            Owner {
                id: recorded.id.clone(),
                ..owner("h", 789, "/d")
            }
        );
    }
}
