//! The items ledger: what a topic folder gains also goes to NATS, so a
//! topic survives the loss of the coordinator's disk and can move hosts.
//!
//! Every line a commit adds to a folder (a counted batch's line in
//! `batches.jsonl`, an item record or an alias record in `items.jsonl`) is
//! published to the JetStream stream `IGENTAI_ITEMS`, on the topic's
//! subject `igentai.ledger.<topic id>.<kind>`, with `Nats-Msg-Id` naming
//! the batch or the item's key, and the stream acknowledges it before the
//! files are written and before the batches behind it are (`ingest.rs`).
//! So the ledger holds everything acknowledged, and perhaps more (a commit
//! whose local write failed), never less.
//!
//! Only the lease holder's commits count, and NATS checks that, not the
//! owner's clock: a coordinator that took the lease first publishes its
//! record to the fence subject (`igentai.ledger.fence`, [`Ledger::fence`]),
//! and each commit ends with a seal per topic (`igentai.ledger.seals`)
//! carrying `Nats-Expected-Last-Subject-Sequence` (with `-Subject` naming
//! the fence), published after the commit's entries are acknowledged: the
//! stream stores the seal only while the fence's last message is that
//! owner's. Once a new owner fenced, a stale one's seal is refused
//! ([`Fenced`]); it stops without acknowledging its batches, which are
//! redelivered to the new owner. A sealed commit's entries all precede the
//! new fence, so the new owner, which catches up with the ledger after
//! fencing, has them. (A refused commit may leave entries in the ledger:
//! the new owner applies them, and their batches come again as repeats.)

mod entry;
mod mark;

use std::io;
use std::str::FromStr;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures::StreamExt;
use igentai_protocol::subjects;

pub use entry::{Entry, Kind, Marks, Outbox, topic_subject};
pub use mark::{MARK, Place, gap, place, set_mark};

/// Publishes awaiting their acknowledgement at a time: the client holds
/// back a publish beyond its own limit of acks in flight until one comes
/// back, so a commit larger than that must not send everything before
/// awaiting anything.
const IN_FLIGHT: usize = 256;

/// How long a commit keeps retrying publishes the stream does not
/// acknowledge (a node failing over elects a new leader within seconds).
const PUBLISH_PATIENCE: Duration = Duration::from_secs(30);

/// The items stream, opened.
///
/// A folder remembers how far into the stream it is (`ledger.json`, the
/// last stream sequence it wrote or read). Opening a topic reads what the
/// stream has after that and applies it (`Topic::apply`): a fresh data dir
/// (another host) restores the whole topic, a folder left behind while
/// another host owned the run catches up, and one that is current reads
/// nothing. Applying is idempotent (batches by id, items and aliases by
/// key), so a stale mark only costs time.
///
/// The topic id is a hash of the topic key (`folders::topic_key`), not the
/// folder name: folder names depend on what else a data dir holds, the key
/// does not.
#[derive(Clone)]
pub struct Ledger {
    js: jetstream::Context,
    stream: stream::Stream,
    /// Which items stream this is ([`incarnation`]): a mark names it, so a
    /// mark of a stream deleted since is not taken for one of this.
    created: u64,
    /// The sequence of this owner's fence ([`Ledger::fence`]); every
    /// commit's seal expects it to be the fence subject's last.
    fence: Option<u64>,
}

/// The error of a publish the stream refused because another coordinator
/// fenced the ledger since: this one lost the lease.
#[derive(Debug, thiserror::Error)]
#[error("the items ledger was fenced by the coordinator that took over the lease")]
pub struct Fenced;

/// An existing items stream whose settings could drop entries: a topic
/// restored from it could be incomplete and nobody would know, so the
/// coordinator refuses to run on it rather than retry.
#[derive(Debug, thiserror::Error)]
#[error(
    "the items stream {stream} could drop entries, so a topic restored from it could be \
     incomplete: {problems}. Fix each setting as named, then start the coordinator again"
)]
pub struct UnsafeItems {
    pub stream: String,
    pub problems: String,
}

/// Which incarnation of the items stream `info` describes: its creation
/// time, in nanoseconds since the epoch. A stream deleted and made again
/// (even grown past an old mark since) has another.
pub fn incarnation(info: &stream::Info) -> u64 {
    u64::try_from(info.created.unix_timestamp_nanos()).unwrap_or(0)
}

/// Whether `e` (from [`Ledger::publish`]) says this coordinator was fenced.
pub fn is_fenced(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|e| e.is::<Fenced>())
}

impl Ledger {
    /// Finds or creates the items stream with `replicas` copies (growing
    /// an existing one with fewer). An existing one whose settings could
    /// drop entries is an error ([`UnsafeItems`]), and is left as it is.
    pub async fn open(js: &jetstream::Context, replicas: usize) -> anyhow::Result<Ledger> {
        use anyhow::Context;
        let mut stream = js
            .get_or_create_stream(igentai_client::stream::items(replicas))
            .await
            .context("create or find the items stream")?;
        let info = stream
            .info()
            .await
            .context("read the items stream's settings")?
            .clone();
        let problems = igentai_client::stream::unsafe_items_settings(&info.config);
        if !problems.is_empty() {
            return Err(UnsafeItems {
                stream: info.config.name.clone(),
                problems: problems.join("; "),
            }
            .into());
        }
        crate::replication::replicas::grow(js, &mut stream, replicas).await?;
        Ok(Ledger {
            js: js.clone(),
            stream,
            fence: None,
            created: incarnation(&info),
        })
    }

    /// Which incarnation of the items stream this is ([`incarnation`]).
    pub fn created(&self) -> u64 {
        self.created
    }

    /// Whether the stream holds an entry of `subject` (a topic's prefix)
    /// at or before `sequence`: then a mark of the topic up to there was
    /// made on this stream. A stream made after the mark holds none there
    /// (unless another host published the topic to it early on).
    pub async fn holds_up_to(&self, subject: &str, sequence: u64) -> io::Result<bool> {
        match self
            .stream
            .get_first_raw_message_by_subject(format!("{subject}.*"), 1)
            .await
        {
            Ok(message) => Ok(message.sequence <= sequence),
            Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => Ok(false),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    /// Fences the ledger for the owner `record` (who just took the lease):
    /// publishes it to the fence subject, expecting the fence this owner
    /// found there to be still the last (two owners racing to fence leave
    /// one), and makes every later entry expect this fence. Called before
    /// any topic is opened, so catching up on open reads every entry a
    /// stale owner got in before it.
    pub async fn fence(&mut self, record: Bytes) -> anyhow::Result<u64> {
        use anyhow::Context;
        let found = match self
            .stream
            .get_last_raw_message_by_subject(subjects::LEDGER_FENCE)
            .await
        {
            Ok(message) => message.sequence,
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => 0,
            Err(e) => return Err(e).context("read the items ledger's fence"),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            found.to_string().as_str(),
        );
        let ack = self
            .js
            .publish_with_headers(subjects::LEDGER_FENCE, headers, record)
            .await
            .context("fence the items ledger")?
            .await
            .context("fence the items ledger (another coordinator fenced it meanwhile?)")?;
        tracing::info!(sequence = ack.sequence, "fenced the items ledger");
        self.fence = Some(ack.sequence);
        Ok(ack.sequence)
    }

    /// The expectation a commit's seal carries: this owner's fence is
    /// still the last one.
    fn expect_fence(&self, headers: &mut HeaderMap) {
        if let Some(fence) = self.fence {
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence",
                fence.to_string().as_str(),
            );
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence-Subject",
                subjects::LEDGER_FENCE,
            );
        }
    }

    /// Publishes every entry and waits until the stream acknowledged each
    /// (retrying with the same message ids, so a retry is stored once);
    /// returns each topic's highest sequence. An error after
    /// [`PUBLISH_PATIENCE`], or at once when another owner fenced the
    /// ledger ([`is_fenced`]): nothing of the commit may be acknowledged.
    pub async fn publish(&self, outboxes: &[Outbox]) -> io::Result<Marks> {
        let deadline = tokio::time::Instant::now() + PUBLISH_PATIENCE;
        let mut marks = Vec::with_capacity(outboxes.len());
        for outbox in outboxes {
            let mut highest = 0;
            let mut todo: Vec<&Entry> = outbox.entries.iter().collect();
            let mut delay = Duration::from_millis(100);
            loop {
                let (mut failed, mut why) = (Vec::new(), None);
                for chunk in todo.chunks(IN_FLIGHT) {
                    self.publish_chunk(&outbox.subject, chunk, &mut highest, &mut failed, &mut why)
                        .await?;
                }
                let why = why.unwrap_or_default();
                if failed.is_empty() {
                    break;
                }
                if tokio::time::Instant::now() + delay > deadline {
                    return Err(io::Error::other(format!(
                        "the items stream did not acknowledge {} entries of topic {:?} within {:?} ({why})",
                        failed.len(),
                        outbox.topic,
                        PUBLISH_PATIENCE
                    )));
                }
                tracing::warn!(
                    pending = failed.len(),
                    error = %why,
                    retry_in = ?delay,
                    "items stream unavailable; retrying the commit's entries"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                todo = failed;
            }
            self.seal(&outbox.subject, highest, deadline).await?;
            // A commit holding only repeats the stream already had still
            // reaches the duplicates' sequences: the mark never goes back.
            marks.push((outbox.topic.clone(), highest));
        }
        Ok(marks)
    }

    /// Seals a topic's entries of one commit: a message on
    /// [`subjects::LEDGER_SEALS`], published once every entry is
    /// acknowledged, with no message id (so never taken for a duplicate)
    /// and expecting this owner's fence to be the fence subject's last.
    /// NATS stores it only while no other owner fenced: so a commit is
    /// acknowledged only when all its entries precede any later fence in
    /// the stream, where the owner that fenced reads them when it catches
    /// up. A refused seal is [`Fenced`]. One expectation per commit, not
    /// one per entry: a clustered stream takes one message expecting a
    /// given subject's sequence at a time.
    async fn seal(
        &self,
        subject: &str,
        through: u64,
        deadline: tokio::time::Instant,
    ) -> io::Result<()> {
        if self.fence.is_none() {
            return Ok(());
        }
        let payload =
            Bytes::from(serde_json::json!({ "topic": subject, "through": through }).to_string());
        let mut delay = Duration::from_millis(100);
        loop {
            let mut headers = HeaderMap::new();
            self.expect_fence(&mut headers);
            let sent = self
                .js
                .publish_with_headers(subjects::LEDGER_SEALS, headers, payload.clone())
                .await;
            let why = match sent {
                Ok(ack) => match ack.await {
                    Ok(_) => return Ok(()),
                    Err(e)
                        if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence =>
                    {
                        return Err(io::Error::other(Fenced));
                    }
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() + delay > deadline {
                return Err(io::Error::other(format!(
                    "the items stream did not acknowledge the seal of topic entries {subject} within {PUBLISH_PATIENCE:?} ({why})"
                )));
            }
            tracing::warn!(error = %why, retry_in = ?delay, "items stream unavailable; retrying the commit's seal");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Publishes `chunk` and waits for every acknowledgement: the highest
    /// sequence into `highest`, the entries not acknowledged into `failed`
    /// and the last reason into `why`.
    /// An entry whose id cannot be a header value is an `InvalidData`
    /// error: retrying cannot help (`ingest/strikes.rs`).
    async fn publish_chunk<'a>(
        &self,
        subject: &str,
        chunk: &[&'a Entry],
        highest: &mut u64,
        failed: &mut Vec<&'a Entry>,
        why: &mut Option<String>,
    ) -> io::Result<()> {
        let mut acks = Vec::with_capacity(chunk.len());
        for entry in chunk {
            let kind = entry.kind.token();
            let headers = headers(subject, entry)?;
            let sent = self
                .js
                .publish_with_headers(format!("{subject}.{kind}"), headers, entry.line.clone())
                .await;
            match sent {
                Ok(ack) => acks.push((*entry, ack)),
                Err(e) => {
                    *why = Some(e.to_string());
                    failed.push(*entry);
                }
            }
        }
        // Awaited together: each acknowledgement's timeout starts when it
        // is first awaited, so one after the other a chunk lost with a
        // connection would wait out every timeout in turn.
        let acked = futures::future::join_all(
            acks.into_iter()
                .map(|(entry, ack)| async move { (entry, ack.await) }),
        )
        .await;
        let mut fenced = false;
        for (entry, ack) in acked {
            match ack {
                Ok(ack) => *highest = (*highest).max(ack.sequence),
                Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                    fenced = true;
                }
                Err(e) => {
                    *why = Some(e.to_string());
                    failed.push(entry);
                }
            }
        }
        match fenced {
            true => Err(io::Error::other(Fenced)),
            false => Ok(()),
        }
    }

    /// Calls `each` with every entry of `subject` (a topic's prefix) after
    /// stream sequence `after`, in order; returns the last sequence read
    /// (`after` when there was nothing), whether the stream holds the
    /// topic at all, and whether entries after `after` are gone ([`gap`]).
    /// A mark beyond the stream's end (the stream was recreated) reads
    /// from its start.
    pub async fn read_after(
        &self,
        subject: &str,
        after: u64,
        mut each: impl FnMut(Kind, &[u8]) -> io::Result<()>,
    ) -> io::Result<Read> {
        let mut stream = self.stream.clone();
        let state = stream.info().await.map_err(io::Error::other)?.state.clone();
        let after = match after > state.last_sequence {
            true => 0,
            false => after,
        };
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: format!("{subject}.*"),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(io::Error::other)?;
        let pending = consumer.cached_info().num_pending;
        let held = after > 0 || pending > 0;
        let gap = gap(after, state.first_sequence, pending);
        if pending == 0 {
            return Ok(Read {
                last: after,
                held,
                gap,
            });
        }
        let mut messages = consumer.messages().await.map_err(io::Error::other)?;
        let mut last = after;
        while let Some(message) = messages.next().await {
            let message = message.map_err(io::Error::other)?;
            let info = message.info().map_err(io::Error::other)?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            match Kind::of_subject(&message.subject) {
                Some(kind) => each(kind, &message.payload)?,
                None => {
                    tracing::warn!(subject = %message.subject, "skipped an entry of unknown kind")
                }
            }
            last = sequence;
            if pending == 0 {
                break;
            }
        }
        Ok(Read { last, held, gap })
    }
}

/// An entry's headers: `Nats-Msg-Id` names its topic, kind and id, so a
/// retried publish is stored once. Built with the fallible constructor:
/// the id came from a batch, and a CR or LF in it is an error, not a
/// panic of the commit.
fn headers(subject: &str, entry: &Entry) -> io::Result<HeaderMap> {
    let id = format!("{subject}.{}.{}", entry.kind.token(), entry.id);
    let value = async_nats::HeaderValue::from_str(&id).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("ledger entry id {id:?} cannot be a header: {e}"),
        )
    })?;
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", value);
    Ok(headers)
}

/// What [`Ledger::read_after`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// The last stream sequence read, or the mark when nothing was new.
    pub last: u64,
    /// Whether the stream holds any entry of the topic.
    pub held: bool,
    /// The stream's first sequence, when entries after the mark are gone
    /// ([`gap`]).
    pub gap: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_id_that_cannot_be_a_header_is_an_error_not_a_panic() {
        let subject = topic_subject("Rare cheeses");
        let good = Entry::batch("w1-0123456789abcdef0123456789abcdef", b"{}");
        let headers = headers(&subject, &good).unwrap();
        assert_eq!(
            headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            Some(format!("{subject}.batch.{}", good.id).as_str())
        );
        for id in ["b1\r\nX-Evil: 1", "b1\n", "\r"] {
            let bad = Entry::batch(id, b"{}");
            let error = super::headers(&subject, &bad).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{id:?}");
        }
    }
}
