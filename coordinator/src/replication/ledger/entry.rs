//! What the items ledger holds: an entry is one line a topic folder
//! gained ([`Kind`]), addressed to its topic's subject
//! (`igentai.ledger.<topic id>.<kind>`, [`topic_subject`]), and gathered per
//! topic for a commit ([`Outbox`]).

use bytes::Bytes;
use igentai_protocol::subjects;
use xxhash_rust::xxh3::xxh3_64;

/// What a ledger entry is: one line of which file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A line of `batches.jsonl`.
    Batch,
    /// An item record of `items.jsonl` (and a line of `output.txt`).
    Item,
    /// An alias record of `items.jsonl`.
    Alias,
    /// A verdict record of `items.jsonl` (and, for a "yes", a line of
    /// `valid.txt`).
    Verdict,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Batch, Kind::Item, Kind::Alias, Kind::Verdict];

    pub(super) fn token(self) -> &'static str {
        match self {
            Kind::Batch => "batch",
            Kind::Item => "item",
            Kind::Alias => "alias",
            Kind::Verdict => "verdict",
        }
    }

    /// The kind a ledger subject ends with.
    pub fn of_subject(subject: &str) -> Option<Kind> {
        let last = subject.rsplit('.').next()?;
        Kind::ALL.into_iter().find(|k| k.token() == last)
    }
}

/// One line on its way to the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: Kind,
    /// What makes it unique within its topic: the batch id, or the key's
    /// hash.
    pub id: String,
    pub line: Bytes,
}

impl Entry {
    pub fn batch(batch_id: &str, line: &[u8]) -> Entry {
        Entry {
            kind: Kind::Batch,
            id: batch_id.to_string(),
            line: Bytes::copy_from_slice(line),
        }
    }

    pub fn item(key_hash: u128, line: &[u8]) -> Entry {
        Entry {
            kind: Kind::Item,
            id: format!("{key_hash:032x}"),
            line: Bytes::copy_from_slice(line),
        }
    }

    /// A verdict on the item whose key hashes to `key_hash`: one per item.
    pub fn verdict(key_hash: u128, line: &[u8]) -> Entry {
        Entry {
            kind: Kind::Verdict,
            id: format!("{key_hash:032x}"),
            line: Bytes::copy_from_slice(line),
        }
    }

    pub fn alias(key_hash: u128, line: &[u8]) -> Entry {
        Entry {
            kind: Kind::Alias,
            id: format!("{key_hash:032x}"),
            line: Bytes::copy_from_slice(line),
        }
    }
}

/// A topic's id in ledger subjects: stable across hosts and data dirs.
pub fn topic_id(topic: &str) -> String {
    format!(
        "{:016x}",
        xxh3_64(crate::topic::folders::topic_key(topic).as_bytes())
    )
}

/// The subject prefix of `topic`'s entries.
pub fn topic_subject(topic: &str) -> String {
    subjects::ledger(&topic_id(topic))
}

/// One topic's entries of a commit.
pub struct Outbox {
    /// The topic, as `Ingest` keys it.
    pub topic: String,
    /// [`topic_subject`].
    pub subject: String,
    pub entries: Vec<Entry>,
}

/// The highest stream sequence a commit reached per topic.
pub type Marks = Vec<(String, u64)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_subjects() {
        let subject = topic_subject("Rare cheeses");
        for kind in Kind::ALL {
            assert_eq!(
                Kind::of_subject(&format!("{subject}.{}", kind.token())),
                Some(kind)
            );
        }
        assert_eq!(Kind::of_subject(&format!("{subject}.other")), None);
    }

    #[test]
    fn one_topic_one_subject_on_every_host() {
        // Spellings that are one topic share a subject; others do not.
        assert_eq!(
            topic_subject("The Beatles songs"),
            topic_subject("beatles-songs")
        );
        assert_eq!(topic_subject("Rare-cheeses"), topic_subject("rare cheeses"));
        assert_ne!(topic_subject("Rare cheeses"), topic_subject("Rare wines"));
        let subject = topic_subject("nats");
        assert!(subject.starts_with("igentai.ledger."), "{subject}");
        assert!(
            subject
                .rsplit('.')
                .next()
                .is_some_and(igentai_protocol::subjects::valid_token)
        );
    }
}
