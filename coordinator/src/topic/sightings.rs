//! Sighting counts: how often each item of a topic was seen, for the
//! coverage estimate (Chao1, `keys/seen.rs`), from committed batches only
//! and each batch once.
//!
//! A batch's line in `batches.jsonl` records what it sighted again
//! ([`Sighted`]: for each candidate that was a known item, or an alias of
//! one, the low 64 bits of its key hash), and an item's count is one for
//! its discovery plus one per recorded sighting. Batch lines are entries of
//! the items ledger, applied once per batch id, so a folder restored or
//! caught up from it (`replication/restore.rs`) gets the counts of the
//! folder that wrote them: key hashes are the same on every host, line
//! numbers need not be.
//!
//! Live, a batch's sightings wait with its line ([`Sightings`]) and count
//! once the commit that syncs the line has finished: the sightings of a
//! batch abandoned after a failed commit count when it comes again, and a
//! batch counted before adds no line and so no sighting.
//!
//! `sightings.bin` caches the counts so that opening a large topic does not
//! look every sighting up again: a header naming how many bytes of
//! `batches.jsonl` the counts cover and the sightings still waiting for
//! their item, then one byte per line of `output.txt`. Opening counts the
//! lines past that point on top; without the cache (or with one that does
//! not end on a line of the log) it counts every line. A file of an
//! earlier version (one byte per line, no header) is the base the lines
//! are counted on: batch lines from before it record no sightings, and
//! their items keep what it says (or one, on a host without it).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::keys::seen::SeenSet;
use crate::topic::batchlog::BATCHES;
use crate::topic::durable::write_atomic_parts;
use crate::topic::store::SIGHTINGS;

/// What a cache starts with; a file of an earlier version starts with a
/// count, never zero.
const MAGIC: &[u8; 8] = b"\0sights1";

/// Sightings waiting for their item, at most; more are dropped (a change
/// of the keys' rules can leave many that no item will ever match).
const MAX_WAITING: usize = 1 << 16;

/// The low 64 bits of the key hashes a batch sighted again, one per
/// sighting, each written as 16 hex digits (the last 16 of the item's or
/// alias's ledger id). Two keys of a topic agreeing on 64 bits are as
/// likely as n²/2⁶⁵, a few in a million for ten million items, and would
/// only credit a sighting to the other item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sighted(pub Vec<u64>);

impl Sighted {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Sighted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        let mut digits = [0u8; 16];
        for &low in &self.0 {
            seq.serialize_element(hex(low, &mut digits))?;
        }
        seq.end()
    }
}

/// `low` as 16 lower-case hex digits, in `buf`.
fn hex(low: u64, buf: &mut [u8; 16]) -> &str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = DIGITS[(low >> (60 - 4 * i) & 0xf) as usize];
    }
    std::str::from_utf8(buf).unwrap_or_default()
}

impl<'de> Deserialize<'de> for Sighted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(SightedVisitor)
    }
}

struct SightedVisitor;

impl<'de> Visitor<'de> for SightedVisitor {
    type Value = Sighted;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of 16-digit hex key hashes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sighted, A::Error> {
        let mut lows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Hex(low)) = seq.next_element()? {
            lows.push(low);
        }
        Ok(Sighted(lows))
    }
}

/// One hex key hash of a [`Sighted`].
struct Hex(u64);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(HexVisitor)
    }
}

struct HexVisitor;

impl Visitor<'_> for HexVisitor {
    type Value = Hex;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("16 hex digits")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Hex, E> {
        match (s.len(), u64::from_str_radix(s, 16)) {
            (16, Ok(low)) => Ok(Hex(low)),
            _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
        }
    }
}

/// Sightings of batch lines not committed yet: of items known by index,
/// and by key hash where the item was not known when the line came (a
/// line applied from the ledger before its items).
#[derive(Default)]
struct Uncommitted {
    indexes: Vec<u32>,
    lows: Vec<u64>,
}

impl Uncommitted {
    fn append(&mut self, other: Uncommitted) {
        self.indexes.extend(other.indexes);
        self.lows.extend(other.lows);
    }
}

/// A topic's sightings on their way into the counts (which the seen-set
/// holds), and how far into `batches.jsonl` the counts are.
#[derive(Default)]
pub struct Sightings {
    /// Of the batch lines appended since the last hand-off to a sync.
    appended: Uncommitted,
    /// Of the lines handed to the sync in flight, and the length of the
    /// batch log once it is done.
    syncing: Option<(Uncommitted, u64)>,
    /// Bytes of `batches.jsonl` whose sightings the counts hold.
    covered: u64,
    /// Sightings of committed lines whose item is not in the folder yet
    /// (a batch line synced before its items, which come with the batch
    /// again): counted when it comes.
    waiting: Vec<u64>,
    /// Keys the seen-set had when `waiting` was last looked up.
    waiting_looked_up: usize,
}

impl Sightings {
    /// Loads `dir`'s cache into `seen` (its items all added, each seen
    /// once): the counts it holds, and the offset into `batches.jsonl`
    /// from which lines are still to be counted ([`Self::count_line`]).
    /// A missing cache, or one that does not end on a line of the log,
    /// counts every line.
    pub fn load(dir: &Path, seen: &mut SeenSet) -> io::Result<Sightings> {
        let bytes = match std::fs::read(dir.join(SIGHTINGS)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Sightings::default()),
            Err(e) => return Err(e),
        };
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            // An earlier version's counts: the base, every line on top.
            seen.restore_counts(&bytes);
            return Ok(Sightings::default());
        };
        match Cache::parse(rest) {
            Some(cache) if ends_a_line(dir, cache.covered)? => {
                seen.restore_counts(cache.counts);
                Ok(Sightings {
                    covered: cache.covered,
                    waiting: cache.waiting,
                    ..Sightings::default()
                })
            }
            _ => {
                tracing::warn!(folder = %dir.display(), "sightings.bin does not match batches.jsonl; counting every batch line again");
                Ok(Sightings::default())
            }
        }
    }

    /// Where in `batches.jsonl` the lines still to be counted on open
    /// start.
    pub fn covered(&self) -> u64 {
        self.covered
    }

    /// Counts the sightings of a committed line read on open.
    pub fn count_line(&mut self, seen: &mut SeenSet, sighted: &[u64]) {
        for &low in sighted {
            match seen.find_low(low) {
                Some(index) => seen.sight(index),
                None => self.wait(low),
            }
        }
    }

    /// The counts now cover the batch log up to `end` (its length, once
    /// opened).
    pub fn cover(&mut self, end: u64) {
        self.covered = end;
    }

    /// A batch being taken in sighted the item at `index` again.
    pub fn sight(&mut self, index: usize) {
        self.appended.indexes.push(index as u32);
    }

    /// A batch line applied from the ledger sighted the key whose hash's
    /// low 64 bits are `low`.
    pub fn sight_key(&mut self, seen: &SeenSet, low: u64) {
        match seen.find_low(low) {
            Some(index) => self.appended.indexes.push(index as u32),
            None => self.appended.lows.push(low),
        }
    }

    /// The lines appended so far are handed to a sync, after which the
    /// batch log is `end` bytes long.
    pub fn handed(&mut self, end: u64) {
        let appended = std::mem::take(&mut self.appended);
        match &mut self.syncing {
            Some((syncing, at)) => {
                syncing.append(appended);
                *at = end;
            }
            None => self.syncing = Some((appended, end)),
        }
    }

    /// The sync of the lines handed to it finished: their sightings count.
    pub fn committed(&mut self, seen: &mut SeenSet) {
        let Some((synced, end)) = self.syncing.take() else {
            return;
        };
        for index in synced.indexes {
            seen.sight(index as usize);
        }
        self.count_line(seen, &synced.lows);
        self.covered = end;
        self.look_up_waiting(seen);
    }

    /// Looks up again the sightings whose item was not known (applying
    /// ledger entries is done, or the folder gained keys since).
    pub fn look_up_waiting(&mut self, seen: &mut SeenSet) {
        let lows = std::mem::take(&mut self.appended.lows);
        for low in lows {
            self.sight_key(seen, low);
        }
        if self.waiting.is_empty() || seen.keys() == self.waiting_looked_up {
            return;
        }
        self.waiting_looked_up = seen.keys();
        self.waiting.retain(|&low| match seen.find_low(low) {
            Some(index) => {
                seen.sight(index);
                false
            }
            None => true,
        });
    }

    fn wait(&mut self, low: u64) {
        if self.waiting.len() < MAX_WAITING {
            self.waiting.push(low);
        }
    }

    /// Writes the cache of the committed counts to `dir` (atomically).
    pub fn save(&self, dir: &Path, seen: &SeenSet) -> io::Result<()> {
        let mut header = Vec::with_capacity(24 + 8 * self.waiting.len());
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&self.covered.to_le_bytes());
        header.extend_from_slice(&(self.waiting.len() as u64).to_le_bytes());
        for low in &self.waiting {
            header.extend_from_slice(&low.to_le_bytes());
        }
        write_atomic_parts(&dir.join(SIGHTINGS), &[&header, seen.counts()])
    }
}

/// A cache read back: what [`Sightings::save`] wrote after the magic.
struct Cache<'a> {
    covered: u64,
    waiting: Vec<u64>,
    counts: &'a [u8],
}

impl Cache<'_> {
    fn parse(bytes: &[u8]) -> Option<Cache<'_>> {
        let (covered, rest) = u64_le(bytes)?;
        let (n, mut rest) = u64_le(rest)?;
        let n = usize::try_from(n).ok().filter(|&n| n <= MAX_WAITING)?;
        let mut waiting = Vec::with_capacity(n);
        for _ in 0..n {
            let (low, after) = u64_le(rest)?;
            waiting.push(low);
            rest = after;
        }
        Some(Cache {
            covered,
            waiting,
            counts: rest,
        })
    }
}

fn u64_le(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), rest))
}

/// Whether `offset` is where a line of `dir`'s batch log ends (or its
/// start).
fn ends_a_line(dir: &Path, offset: u64) -> io::Result<bool> {
    if offset == 0 {
        return Ok(true);
    }
    let mut file = match File::open(dir.join(BATCHES)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() < offset {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(offset - 1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use igentai_protocol::CandidateBatch;

    use super::*;
    use crate::topic::{Apply, Scratch, Topic};

    fn batch(id: &str) -> CandidateBatch {
        crate::topic::test_batch(id)
    }

    fn take(topic: &mut Topic, id: &str, items: &[&str]) -> bool {
        let items: Vec<Cow<'_, str>> = items.iter().map(|s| Cow::Borrowed(*s)).collect();
        let mut scratch = Scratch::default();
        topic.take(&batch(id), &items, "t", 1, &mut scratch).first
    }

    fn open(dir: &std::path::Path) -> Topic {
        Topic::open(dir, "Cheeses").unwrap().0
    }

    /// The counts of Brie, Comté and Gouda, and whether every other item
    /// was seen once.
    fn counts(topic: &Topic) -> ([u8; 3], bool) {
        let counts = topic.seen.counts();
        let gouda = counts.len() - 1;
        let others = counts[2..gouda].iter().all(|&c| c == 1);
        ([counts[0], counts[1], counts[gouda]], others)
    }

    #[test]
    fn a_batch_abandoned_and_delivered_again_is_sighted_once() {
        let tmp = tempfile::tempdir().unwrap();
        let mut topic = open(tmp.path());
        // Brie and Comté, then enough other cheeses that reopening reads
        // them in more than one group of lines.
        let fillers: Vec<String> = (0..100).map(|i| format!("Cheese {i}")).collect();
        let mut first = vec!["Brie", "Comté"];
        first.extend(fillers.iter().map(String::as_str));
        take(&mut topic, "b1", &first);
        topic.write_all().unwrap();
        // b2 sees Brie twice and Comté once; the counts are saved (as
        // every few seconds) before its commit fails and the topic is
        // dropped, to be reopened from disk.
        let second = ["Brie", "brie", "Comté", "Gouda"];
        take(&mut topic, "b2", &second);
        topic.save_sightings().unwrap();
        drop(topic.take_for_sync().unwrap());
        drop(topic);

        // b2 comes again: its sightings count once.
        let mut topic = open(tmp.path());
        assert!(take(&mut topic, "b2", &second));
        topic.write_all().unwrap();
        assert_eq!(counts(&topic), ([3, 2, 1], true));
        topic.save_sightings().unwrap();
        drop(topic);
        assert_eq!(counts(&open(tmp.path())), ([3, 2, 1], true));
    }

    #[test]
    fn a_batch_line_synced_before_its_items_counts_once_they_come() {
        let tmp = tempfile::tempdir().unwrap();
        let mut topic = open(tmp.path());
        let fillers: Vec<String> = (0..100).map(|i| format!("Cheese {i}")).collect();
        let mut first = vec!["Brie", "Comté"];
        first.extend(fillers.iter().map(String::as_str));
        take(&mut topic, "b1", &first);
        topic.write_all().unwrap();
        // b2's line is synced, then writing its items fails.
        let second = ["Brie", "brie", "Comté", "Gouda", "Gouda"];
        take(&mut topic, "b2", &second);
        let mut pending = topic.take_for_sync().unwrap();
        pending.remove(0).write_and_sync().unwrap();
        drop(pending);
        drop(topic);

        // Counted from its line; the second Gouda waits for Gouda, which
        // comes with the batch again (not counted again).
        let mut topic = open(tmp.path());
        assert_eq!(&topic.seen.counts()[..2], [3, 2]);
        assert!(!take(&mut topic, "b2", &second));
        topic.write_all().unwrap();
        assert_eq!(counts(&topic), ([3, 2, 2], true));
    }

    #[test]
    fn counts_travel_with_the_batch_lines_and_the_cache_only_saves_time() {
        let written = tempfile::tempdir().unwrap();
        let mut topic = open(written.path());
        topic.publish_to_ledger();
        let fillers: Vec<String> = (0..100).map(|i| format!("Cheese {i}")).collect();
        let mut first = vec!["Brie", "Comté", "Comté"];
        first.extend(fillers.iter().map(String::as_str));
        take(&mut topic, "b1", &first);
        take(
            &mut topic,
            "b2",
            &["Brie (Bergamo, Italy)", "Brie (Bergamo, Italy)"],
        );
        take(&mut topic, "b3", &["brie", "Gouda", "Gouda"]);
        take(&mut topic, "b3", &["brie", "Gouda", "Gouda"]);
        topic.write_all().unwrap();
        let entries = topic.take_outbox("cheeses").unwrap().entries;
        let expected = ([4, 2, 2], true);
        assert_eq!(counts(&topic), expected);
        topic.save_sightings().unwrap();
        drop(topic);

        // Another host applies the ledger's entries (twice: the second
        // pass knows them all).
        let fresh = tempfile::tempdir().unwrap();
        let mut topic = open(fresh.path());
        let mut apply = Apply::default();
        for entry in entries.iter().chain(&entries) {
            topic.apply(entry.kind, &entry.line, &mut apply);
        }
        topic.finish_apply(&mut apply);
        topic.write_all().unwrap();
        assert_eq!(counts(&topic), expected);
        drop(topic);
        assert_eq!(counts(&open(fresh.path())), expected);

        // The cache, summed again when missing or not matching the log.
        let dir = open(written.path()).dir().to_path_buf();
        let cache = dir.join(SIGHTINGS);
        assert_eq!(counts(&open(written.path())), expected);
        std::fs::remove_file(&cache).unwrap();
        assert_eq!(counts(&open(written.path())), expected);
        let mut stale = MAGIC.to_vec();
        stale.extend_from_slice(&7u64.to_le_bytes());
        stale.extend_from_slice(&0u64.to_le_bytes());
        stale.extend_from_slice(&[9; 3]);
        std::fs::write(&cache, stale).unwrap();
        assert_eq!(counts(&open(written.path())), expected);
        // An earlier version's counts are the base the lines add to.
        std::fs::write(&cache, [5, 1]).unwrap();
        assert_eq!(counts(&open(written.path())), ([5 + 3, 2, 2], true));
    }

    #[test]
    fn sighted_lists_are_fixed_width_hex() {
        let sighted = Sighted(vec![1, u64::MAX, 0xabc]);
        let json = serde_json::to_string(&sighted).unwrap();
        assert_eq!(
            json,
            r#"["0000000000000001","ffffffffffffffff","0000000000000abc"]"#
        );
        assert_eq!(serde_json::from_str::<Sighted>(&json).unwrap(), sighted);
        for bad in [r#"["1"]"#, r#"["000000000000000g"]"#, r#"[1]"#, r#""x""#] {
            assert!(serde_json::from_str::<Sighted>(bad).is_err(), "{bad}");
        }
    }
}
