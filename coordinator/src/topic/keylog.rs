//! `keys.bin`: the hashes of each `output.txt` line's keys (its exact key
//! and its name key), so that opening a topic of millions of items loads
//! them instead of normalizing and name-keying every line again.
//!
//! The file is an optimization only: `output.txt` stays the truth. A
//! 32-byte header names the format and the versions of the key rules
//! ([`KEY_VERSION`], [`NAME_KEY_VERSION`], the topic's [`NameRules`]); a
//! file with another header is rebuilt. Then one 73-byte record per line,
//! in line order: a 64-bit fingerprint of the line's bytes, the exact key's
//! hash, the name key's head hash, pair hash and diacritic-less head hash
//! (0 for none), and whether its qualifier disambiguates. On open a
//! record is used only when its fingerprint matches its line; from the
//! first one that does not (a line edited, a record torn or missing, a
//! line written after the last record), the lines are keyed again and
//! their records rewritten. A stale or torn file therefore costs time,
//! never an item: records are never trusted for a line they were not
//! computed from (short of a 64-bit fingerprint collision).
//!
//! Records of new items are appended after `output.txt` is synced
//! ([`KeyLog::take_for_sync`]), and not synced themselves: a crash loses
//! at most a tail, keyed again on the next open.
//!
//! Long only with its unit tests: the code is the first 280 lines.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::keys::name_index::NameHashes;
use crate::keys::names::{NAME_KEY_VERSION, NameKey, NameRules, Namer};
use crate::keys::normalize::{KEY_VERSION, Normalizer, key_hash};
use crate::topic::durable::PendingSync;

pub const KEYS: &str = "keys.bin";

/// The file format's version: bumped when the layout below changes.
const FORMAT_VERSION: u32 = 2;
const MAGIC: &[u8; 8] = b"igkeys\0\0";
const HEADER_LEN: u64 = 32;
const RECORD_LEN: usize = 73;
/// Seed of the line fingerprint, apart from the key hashes.
const LINE_SEED: u64 = 0x6c69_6e65;

/// The keys of one line of `output.txt`, as the seen-set and the name
/// index store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineKeys {
    /// The exact key's hash ([`key_hash`]).
    pub exact: u128,
    /// The name key's hashes; `None` when the line has no name key.
    pub name: Option<NameHashes>,
}

impl LineKeys {
    /// The keys of an item whose exact key hashes to `exact`.
    pub fn new(exact: u128, name: Option<&NameKey>) -> LineKeys {
        LineKeys {
            exact,
            name: name.map(NameHashes::of),
        }
    }

    /// Computes the keys of `line` (what a record saves computing).
    pub fn compute(
        line: &str,
        rules: NameRules,
        normalizer: &mut Normalizer,
        namer: &mut Namer,
    ) -> LineKeys {
        let exact = key_hash(normalizer.key(line));
        LineKeys::new(exact, namer.key(line, rules).as_ref())
    }
}

fn header(rules: NameRules) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&KEY_VERSION.to_le_bytes());
    h[16..20].copy_from_slice(&NAME_KEY_VERSION.to_le_bytes());
    h[20..24].copy_from_slice(&u32::from(rules.fold_plurals).to_le_bytes());
    h
}

fn fingerprint(line: &str) -> u64 {
    xxh3_64_with_seed(line.as_bytes(), LINE_SEED)
}

fn encode(line: &str, keys: LineKeys, out: &mut Vec<u8>) {
    let name = keys.name;
    let head = name.map_or(0, |n| n.head);
    let pair = name.and_then(|n| n.pair).unwrap_or(0);
    let fold = name.and_then(|n| n.fold).unwrap_or(0);
    let disambiguates = name.is_some_and(|n| n.disambiguates);
    out.extend_from_slice(&fingerprint(line).to_le_bytes());
    out.extend_from_slice(&keys.exact.to_le_bytes());
    out.extend_from_slice(&head.to_le_bytes());
    out.extend_from_slice(&pair.to_le_bytes());
    out.extend_from_slice(&fold.to_le_bytes());
    out.push(u8::from(disambiguates));
}

/// The keys a record holds for `line`; `None` when it is another line's.
fn decode(line: &str, record: &[u8; RECORD_LEN]) -> Option<LineKeys> {
    let u128_at = |at: usize| u128::from_le_bytes(record[at..at + 16].try_into().unwrap());
    if u64::from_le_bytes(record[..8].try_into().unwrap()) != fingerprint(line) {
        return None;
    }
    // A hash of 0 marks "none": a real hash is 0 once in 2¹²⁸.
    let some = |hash: u128| (hash != 0).then_some(hash);
    let (head, pair, fold) = (u128_at(24), u128_at(40), u128_at(56));
    Some(LineKeys {
        exact: u128_at(8),
        name: some(head).map(|head| NameHashes {
            head,
            pair: some(pair),
            fold: some(fold),
            disambiguates: record[72] != 0,
        }),
    })
}

enum State {
    /// Records still match their lines.
    Reading(BufReader<File>),
    /// Keys computed for the lines from here on are written.
    Writing(BufWriter<File>),
    /// The file could not be read or written: keys are computed, not saved.
    Off,
}

/// `keys.bin` while a topic opens: hands out each line's keys, from its
/// record or computed, and rewrites the records that did not match.
pub struct KeyLoader {
    state: State,
    rules: NameRules,
    normalizer: Normalizer,
    namer: Namer,
    /// Lines handed out so far.
    lines: u64,
    /// Lines whose keys came from their record.
    pub loaded: u64,
}

impl KeyLoader {
    /// Opens (or starts) the folder `dir`'s `keys.bin` for keys under
    /// `rules`. Never fails: a file that cannot be used is rebuilt or left
    /// alone, and the keys are computed.
    pub fn open(dir: &Path, rules: NameRules) -> KeyLoader {
        let state = match Self::start(dir, rules) {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(folder = %dir.display(), %error, "keys.bin unusable: keys computed");
                State::Off
            }
        };
        KeyLoader {
            state,
            rules,
            normalizer: Normalizer::default(),
            namer: Namer::default(),
            lines: 0,
            loaded: 0,
        }
    }

    fn start(dir: &Path, rules: NameRules) -> io::Result<State> {
        std::fs::create_dir_all(dir)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(KEYS))?;
        let expected = header(rules);
        let mut found = [0u8; HEADER_LEN as usize];
        if file.read_exact(&mut found).is_ok() && found == expected {
            return Ok(State::Reading(BufReader::with_capacity(1 << 20, file)));
        }
        // Missing, torn or of other rules: started again.
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&expected)?;
        Ok(State::Writing(BufWriter::with_capacity(1 << 20, file)))
    }

    /// The keys of the next line of `output.txt`.
    pub fn next(&mut self, line: &str) -> LineKeys {
        self.lines += 1;
        if let State::Reading(reader) = &mut self.state {
            let mut record = [0u8; RECORD_LEN];
            let keys = reader
                .read_exact(&mut record)
                .ok()
                .and_then(|()| decode(line, &record));
            if let Some(keys) = keys {
                self.loaded += 1;
                return keys;
            }
            self.write_from(self.lines - 1);
        }
        let keys = LineKeys::compute(line, self.rules, &mut self.normalizer, &mut self.namer);
        if let State::Writing(writer) = &mut self.state {
            let mut record = Vec::with_capacity(RECORD_LEN);
            encode(line, keys, &mut record);
            if let Err(error) = writer.write_all(&record) {
                tracing::warn!(%error, "keys.bin not written: keys computed");
                self.state = State::Off;
            }
        }
        keys
    }

    /// Switches from reading to writing, the records of lines from
    /// `line` (counted from 0) on cut off.
    fn write_from(&mut self, line: u64) {
        let reader = match std::mem::replace(&mut self.state, State::Off) {
            State::Reading(reader) => reader,
            other => {
                self.state = other;
                return;
            }
        };
        let mut file = reader.into_inner();
        let at = HEADER_LEN + line * RECORD_LEN as u64;
        let cut = file
            .set_len(at)
            .and_then(|()| file.seek(SeekFrom::Start(at)));
        match cut {
            Ok(_) => self.state = State::Writing(BufWriter::with_capacity(1 << 20, file)),
            Err(error) => tracing::warn!(%error, "keys.bin not rewritten: keys computed"),
        }
    }

    /// Ends loading once every line of `output.txt` had its keys: records
    /// beyond them are cut, the records written are flushed, and the log
    /// appends the keys of new items from here on.
    pub fn finish(mut self) -> KeyLog {
        self.write_from(self.lines);
        let file = match self.state {
            State::Writing(writer) => match writer.into_inner() {
                Ok(file) => Some(file),
                Err(error) => {
                    tracing::warn!(error = %error.error(), "keys.bin not written");
                    None
                }
            },
            State::Reading(_) | State::Off => None,
        };
        KeyLog {
            file,
            buf: Vec::new(),
        }
    }
}

/// `keys.bin` while a topic is open: records of new items, appended after
/// their `output.txt` lines.
pub struct KeyLog {
    /// `None` when the file could not be used at open: nothing is saved.
    file: Option<File>,
    buf: Vec<u8>,
}

impl KeyLog {
    /// Buffers the record of an item appended to `output.txt` as `line`.
    pub fn push(&mut self, line: &str, keys: LineKeys) {
        if self.file.is_some() {
            encode(line, keys, &mut self.buf);
        }
    }

    /// The records buffered since the last call, to append after the
    /// lines they key are synced (best effort, not synced).
    pub fn take_for_sync(&mut self) -> io::Result<Option<PendingSync>> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        if self.buf.is_empty() {
            return Ok(None);
        }
        let len = self.buf.len();
        let buf = std::mem::replace(&mut self.buf, Vec::with_capacity(len));
        Ok(Some(PendingSync::best_effort(file.try_clone()?, buf)))
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use igentai_protocol::CandidateBatch;

    use super::*;
    use crate::keys::name_index::NameIndex;
    use crate::keys::seen::SeenSet;
    use crate::topic::store::{OUTPUT, Recovery};
    use crate::topic::{Scratch, Topic};

    const TOPIC: &str = "Cheeses";

    fn batch() -> CandidateBatch {
        crate::topic::test_batch("b1")
    }

    /// Takes `items` into the topic as one batch; with `keys` false, only
    /// the items' files are written (as if a crash came before `keys.bin`).
    fn take(topic: &mut Topic, items: &[&str], keys: bool) {
        let items: Vec<Cow<'_, str>> = items.iter().map(|s| Cow::Borrowed(*s)).collect();
        topic.dedup(&batch(), &items, "t", true, &mut Scratch::default());
        if keys {
            topic.write_all().unwrap();
        } else {
            topic.store.commit().unwrap();
        }
    }

    /// The tables a fresh open of the folder builds, and what it found.
    fn open(dir: &Path) -> (SeenSet, NameIndex, Recovery) {
        let (topic, recovery) = Topic::open(dir, TOPIC).unwrap();
        (topic.seen, topic.names, recovery)
    }

    fn folder(dir: &Path) -> std::path::PathBuf {
        dir.join(crate::topic::folders::folder_for(dir, TOPIC).unwrap())
    }

    /// Opens the folder as it is, then again with `keys.bin` removed (every
    /// key computed from `output.txt`), and checks both give the same
    /// tables; returns how many lines the first open loaded.
    fn check_loads_as_rebuilt(dir: &Path) -> u64 {
        let (seen, names, recovery) = open(dir);
        std::fs::remove_file(folder(dir).join(KEYS)).unwrap();
        let (rebuilt_seen, rebuilt_names, rebuilt) = open(dir);
        assert!(
            seen == rebuilt_seen,
            "the seen-set differs from a rebuilt one"
        );
        assert!(
            names == rebuilt_names,
            "the name index differs from a rebuilt one"
        );
        assert_eq!(rebuilt.keys_loaded, 0);
        assert_eq!(recovery.items, rebuilt.items);
        recovery.keys_loaded
    }

    const ITEMS: &[&str] = &[
        "Brie",
        "Comté",
        "Mercury (planet)",
        "Mercury (element)",
        "Salmaella",
        "Salmaella (Bergamo, Italy)",
        // Not an item (no key), and an item without a name key.
        "!!!",
        "-",
        "Blue cheeses",
        "Blue cheese (Danish)",
        "Gouda",
        // Merges into "Comté" through its head without diacritics.
        "Comte",
        // A year keeps the film apart from the bare name, which then has
        // an entry of its own.
        "Dune (2021)",
        "Dune",
    ];

    fn topic_with_items(dir: &Path) -> u64 {
        let (mut topic, _) = Topic::open(dir, TOPIC).unwrap();
        take(&mut topic, ITEMS, true);
        topic.len()
    }

    #[test]
    fn a_loaded_index_equals_a_rebuilt_one() {
        let tmp = tempfile::tempdir().unwrap();
        let items = topic_with_items(tmp.path());
        assert_eq!(items, 10, "three near-duplicates merged");
        let records = std::fs::metadata(folder(tmp.path()).join(KEYS))
            .unwrap()
            .len();
        assert_eq!(records, HEADER_LEN + items * RECORD_LEN as u64);
        assert_eq!(check_loads_as_rebuilt(tmp.path()), items);
        // The rebuild wrote the file again: the next open loads it whole.
        assert_eq!(check_loads_as_rebuilt(tmp.path()), items);
        // And what was loaded dedups as before.
        let (mut topic, _) = Topic::open(tmp.path(), TOPIC).unwrap();
        let (outcome, _) = topic.dedup(
            &batch(),
            &[
                Cow::Borrowed("BRIE"),
                Cow::Borrowed("Mercury (Element)"),
                Cow::Borrowed("Gouda (Holland)"),
            ],
            "t",
            true,
            &mut Scratch::default(),
        );
        assert_eq!((outcome.new, outcome.near_duplicates), (0, 1));
    }

    #[test]
    fn items_appended_after_the_save_are_keyed_on_open() {
        let tmp = tempfile::tempdir().unwrap();
        let saved = topic_with_items(tmp.path());
        let (mut topic, _) = Topic::open(tmp.path(), TOPIC).unwrap();
        // Written to output.txt, their records lost.
        take(&mut topic, &["Stilton", "Mercury (Roman god)"], false);
        drop(topic);
        assert_eq!(check_loads_as_rebuilt(tmp.path()), saved);
        let (mut topic, recovery) = Topic::open(tmp.path(), TOPIC).unwrap();
        assert_eq!(
            (recovery.items, recovery.keys_loaded),
            (saved + 2, saved + 2)
        );
        take(&mut topic, &["Stilton (English)", "Roquefort"], false);
        drop(topic);
        let (mut topic, recovery) = Topic::open(tmp.path(), TOPIC).unwrap();
        assert_eq!(
            (recovery.items, recovery.keys_loaded),
            (saved + 3, saved + 2)
        );
        // The lines keyed on open merge and dedup like the others.
        let (outcome, _) = topic.dedup(
            &batch(),
            &[
                Cow::Borrowed("roquefort"),
                Cow::Borrowed("Mercury (roman god)"),
                Cow::Borrowed("Roquefort (Aveyron)"),
            ],
            "t",
            true,
            &mut Scratch::default(),
        );
        assert_eq!((outcome.new, outcome.near_duplicates), (0, 1));
    }

    #[test]
    fn a_torn_stale_or_foreign_file_is_extended_or_rebuilt() {
        let tmp = tempfile::tempdir().unwrap();
        let items = topic_with_items(tmp.path());
        let dir = folder(tmp.path());
        let keys = dir.join(KEYS);
        let bytes = std::fs::read(&keys).unwrap();
        let full = bytes.len();
        let check = |file: &[u8], loaded: u64| {
            std::fs::write(&keys, file).unwrap();
            let (_, _, recovery) = open(tmp.path());
            assert_eq!(recovery.keys_loaded, loaded);
            // The open left a complete file.
            assert_eq!(std::fs::read(&keys).unwrap(), bytes);
            assert_eq!(check_loads_as_rebuilt(tmp.path()), items);
        };
        // Torn inside the last record, or inside the header.
        check(&bytes[..full - 3], items - 1);
        check(&bytes[..20], 0);
        check(&[], 0);
        // Another version of the name key's rules, or of the format.
        let mut other = bytes.clone();
        other[16] ^= 1;
        check(&other, 0);
        let mut other = bytes.clone();
        other[8] ^= 1;
        check(&other, 0);
        // A record of another line (a fingerprint that does not match).
        let mut other = bytes.clone();
        other[HEADER_LEN as usize + 2 * RECORD_LEN] ^= 1;
        check(&other, 2);
        // Records beyond output.txt are cut.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&bytes[HEADER_LEN as usize..HEADER_LEN as usize + RECORD_LEN]);
        check(&longer, items);

        // output.txt edited: line 4 now says something else. Its record
        // and the ones after it are not trusted.
        let output = std::fs::read_to_string(dir.join(OUTPUT)).unwrap();
        let edited = output.replacen("Mercury (element)", "Mercury (metal)", 1);
        assert_ne!(edited, output);
        std::fs::write(dir.join(OUTPUT), &edited).unwrap();
        let (_, _, recovery) = open(tmp.path());
        assert_eq!(recovery.keys_loaded, 3);
        assert_eq!(check_loads_as_rebuilt(tmp.path()), items);
        // Lines cut from the end of output.txt: their records go too.
        let shorter: String = edited.lines().take(5).map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.join(OUTPUT), shorter).unwrap();
        let (_, _, recovery) = open(tmp.path());
        assert_eq!(recovery.keys_loaded, 5);
        assert_eq!(
            std::fs::metadata(&keys).unwrap().len(),
            HEADER_LEN + 5 * RECORD_LEN as u64
        );
        assert_eq!(check_loads_as_rebuilt(tmp.path()), 5);
    }

    #[test]
    fn records_round_trip() {
        let mut normalizer = Normalizer::default();
        let mut namer = Namer::default();
        for line in ["Brie", "Mercury (planet)", "!!!", "東京タワー"] {
            let keys = LineKeys::compute(line, NameRules::default(), &mut normalizer, &mut namer);
            let mut record = Vec::new();
            encode(line, keys, &mut record);
            let record: [u8; RECORD_LEN] = record.try_into().unwrap();
            assert_eq!(decode(line, &record), Some(keys), "{line}");
            assert_eq!(decode("Brie ", &record), None);
        }
    }
}
