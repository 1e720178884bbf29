//! A topic's folder on disk: `output.txt`, `items.jsonl`, `valid.txt`,
//! `state.json` and `metrics.json` under `<data_dir>/<slug>/`.
//!
//! `output.txt` is the source of truth. Opening a folder repairs what a crash
//! can leave behind: a torn last line of `output.txt` is cut off, and
//! `items.jsonl` is trimmed or completed so that it describes exactly the
//! lines of `output.txt`, and `valid.txt` holds exactly the items of its
//! "yes" verdict records, in their order. Appends go to memory; [`TopicStore::commit`] (or
//! [`TopicStore::take_for_sync`], to do it off the event loop) writes and
//! syncs both files, and only then may the batches behind them be
//! acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::keys::normalize::normalize;
pub use crate::topic::durable::{PendingSync, write_atomic};
use crate::topic::record::{ALIAS_PREFIX, VERDICT_PREFIX};
pub use crate::topic::record::{ItemRecord, RecordRef, VerdictRecord};

pub const OUTPUT: &str = "output.txt";
pub const ITEMS: &str = "items.jsonl";
/// The items judged valid, in the order of their verdicts, once each.
pub const VALID: &str = "valid.txt";
pub const STATE: &str = "state.json";
pub const METRICS: &str = "metrics.json";
/// The cache of the items' sighting counts (`sightings.rs`).
pub const SIGHTINGS: &str = "sightings.bin";

/// What opening a topic's folder found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recovery {
    /// Complete lines already in `output.txt`.
    pub items: u64,
    /// Bytes of a torn last line cut from `output.txt`.
    pub torn_bytes: u64,
    /// `items.jsonl` lines dropped because `output.txt` did not have them
    /// (with the alias records written after them).
    pub records_trimmed: u64,
    /// `items.jsonl` lines rebuilt from `output.txt` (provenance unknown).
    pub records_rebuilt: u64,
    /// Alias records loaded: near-duplicate spellings of known items.
    pub aliases: u64,
    /// Lines whose keys were read from `keys.bin` rather than computed.
    pub keys_loaded: u64,
    /// Verdict records loaded.
    pub verdicts: u64,
    /// Lines of `valid.txt` written again (missing after a crash) or cut
    /// (more than the verdicts say).
    pub valid_repaired: u64,
}

/// What a topic's folder knows, as [`TopicStore::open`] hands it over: every
/// line of `output.txt` in order, then every alias record, then every
/// verdict record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Known<'a> {
    Item(&'a str),
    /// A near-duplicate spelling of the item on line `of`.
    Alias {
        item: &'a str,
        of: u64,
    },
    /// A judge's verdict on the item on line `of`.
    Verdict {
        of: u64,
        verdict: igentai_protocol::Answer,
    },
}

/// An open topic folder, appending items.
pub struct TopicStore {
    pub dir: PathBuf,
    pub topic: String,
    pub slug: String,
    output: File,
    records: File,
    valid: File,
    /// Appended and not yet written: `output.txt` lines, `items.jsonl`
    /// lines, `valid.txt` lines.
    output_buf: Vec<u8>,
    records_buf: Vec<u8>,
    valid_buf: Vec<u8>,
    /// Where the last appended record starts in `records_buf`.
    last_record: usize,
    next_seq: u64,
    dirty: bool,
}

impl TopicStore {
    /// Opens (creating or resuming) the folder for `topic` under `data_dir`,
    /// repairs it, and calls `known` with every item already in it, then
    /// with every alias record.
    ///
    /// Alias records sit in `items.jsonl` between item records. When a
    /// crash left more item records than `output.txt` has lines, the file
    /// is cut before the first surplus item record: alias records after
    /// that point belong to batches that were never acknowledged and come
    /// again; those before it are kept.
    pub fn open(
        data_dir: &Path,
        slug: String,
        topic: &str,
        mut known: impl FnMut(Known<'_>),
    ) -> io::Result<(TopicStore, Recovery)> {
        let dir = data_dir.join(&slug);
        std::fs::create_dir_all(&dir)?;

        let mut recovery = Recovery::default();
        let mut records = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join(ITEMS))?;
        // Item records counted; alias records kept with where they start.
        let mut record_count = 0u64;
        let mut offset = 0u64;
        let mut aliases: Vec<(u64, String, u64)> = Vec::new();
        let mut verdicts: Vec<(u64, VerdictRecord)> = Vec::new();
        read_complete_lines(&mut records, |line| {
            if line.starts_with(VERDICT_PREFIX) {
                // An unreadable verdict record is skipped: the item is
                // judged again.
                if let Ok(record) = serde_json::from_slice::<VerdictRecord>(line) {
                    verdicts.push((offset, record));
                }
            } else if line.starts_with(ALIAS_PREFIX) {
                // An unreadable alias record is skipped, not fatal: it only
                // names a variant spelling.
                if let Ok(record) = serde_json::from_slice::<ItemRecord>(line)
                    && let Some(of) = record.alias_of
                {
                    aliases.push((offset, record.item, of));
                }
            } else {
                record_count += 1;
            }
            offset += line.len() as u64 + 1;
        })?;

        let mut output = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join(OUTPUT))?;
        // Only the lines items.jsonl lacks are kept, to rebuild their records.
        let mut missing = Vec::new();
        let mut items = 0u64;
        recovery.torn_bytes = read_complete_lines(&mut output, |line| {
            let text = String::from_utf8_lossy(line);
            known(Known::Item(&text));
            if items >= record_count {
                missing.push(text.into_owned());
            }
            items += 1;
        })?;
        recovery.items = items;

        if record_count > recovery.items {
            // Cut before the first surplus item record.
            let mut seen = 0u64;
            let mut bytes = 0u64;
            let mut lines = 0u64;
            let mut surplus_at = None;
            read_complete_lines(&mut records, |line| {
                if !line.starts_with(ALIAS_PREFIX) && !line.starts_with(VERDICT_PREFIX) {
                    seen += 1;
                    if seen == recovery.items + 1 {
                        surplus_at.get_or_insert(bytes);
                    }
                }
                if surplus_at.is_some() {
                    lines += 1;
                }
                bytes += line.len() as u64 + 1;
            })?;
            let keep_bytes = surplus_at.unwrap_or(bytes);
            records.set_len(keep_bytes)?;
            aliases.retain(|&(start, _, _)| start < keep_bytes);
            verdicts.retain(|(start, _)| *start < keep_bytes);
            recovery.records_trimmed = lines;
            record_count = recovery.items;
        }
        for (_, item, of) in &aliases {
            if (1..=recovery.items).contains(of) {
                known(Known::Alias { item, of: *of });
                recovery.aliases += 1;
            }
        }
        // One verdict per item: a second one (which a crash between the
        // ledger and the disk cannot write, but an edit could) is ignored.
        let mut judged = std::collections::HashSet::new();
        verdicts.retain(|(_, v)| {
            (1..=recovery.items).contains(&v.verdict_of) && judged.insert(v.verdict_of)
        });
        for (_, v) in &verdicts {
            known(Known::Verdict {
                of: v.verdict_of,
                verdict: v.verdict,
            });
        }
        recovery.verdicts = verdicts.len() as u64;
        let valid_items = verdicts
            .iter()
            .filter(|(_, v)| v.verdict == igentai_protocol::Answer::Yes)
            .map(|(_, v)| v.item.as_str());
        let (valid, repaired) = repair_valid(&dir.join(VALID), valid_items)?;
        recovery.valid_repaired = repaired;
        let mut records = BufWriter::new(records);
        if record_count < recovery.items {
            let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
            for (i, item) in missing.iter().enumerate() {
                let record = ItemRecord {
                    alias_of: None,
                    seq: record_count + i as u64 + 1,
                    item: item.clone(),
                    key: normalize(item),
                    provider: "unknown".into(),
                    model: "unknown".into(),
                    worker: "unknown".into(),
                    partition: None,
                    run: "recovered".into(),
                    batch: "recovered".into(),
                    ts: ts.clone(),
                };
                serde_json::to_writer(&mut records, &record)?;
                records.write_all(b"\n")?;
                recovery.records_rebuilt += 1;
            }
        }
        records.flush()?;
        records.get_ref().sync_data()?;
        output.sync_data()?;

        let store = TopicStore {
            dir,
            topic: topic.to_string(),
            slug,
            output,
            records: records.into_inner()?,
            valid,
            output_buf: Vec::new(),
            records_buf: Vec::new(),
            valid_buf: Vec::new(),
            last_record: 0,
            next_seq: recovery.items + 1,
            dirty: false,
        };
        Ok((store, recovery))
    }

    /// Unique items in the folder, written or buffered.
    pub fn len(&self) -> u64 {
        self.next_seq - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Buffers one new item; returns its sequence number (line in `output.txt`).
    pub fn append(&mut self, mut record: RecordRef<'_>) -> u64 {
        record.alias_of = None;
        record.seq = self.next_seq;
        // items.jsonl first: if a crash cuts between the two writes, the
        // surplus record is trimmed on open; a missing one would lose provenance.
        self.last_record = self.records_buf.len();
        record.write_json(&mut self.records_buf);
        self.records_buf.push(b'\n');
        self.output_buf.extend_from_slice(record.item.as_bytes());
        self.output_buf.push(b'\n');
        self.next_seq += 1;
        self.dirty = true;
        record.seq
    }

    /// Buffers an alias record: `record.item` is a near-duplicate spelling
    /// of the item on line `of` (already appended). It goes to
    /// `items.jsonl` only.
    pub fn append_alias(&mut self, mut record: RecordRef<'_>, of: u64) {
        debug_assert!((1..self.next_seq).contains(&of), "an alias of a known item");
        record.alias_of = Some(of);
        record.seq = 0;
        self.last_record = self.records_buf.len();
        record.write_json(&mut self.records_buf);
        self.records_buf.push(b'\n');
        self.dirty = true;
    }

    /// Buffers a verdict record (of an item already appended); a "yes"
    /// also appends the item to `valid.txt`.
    pub fn append_verdict(&mut self, record: &VerdictRecord) {
        debug_assert!((1..self.next_seq).contains(&record.verdict_of));
        self.last_record = self.records_buf.len();
        serde_json::to_writer(&mut self.records_buf, record).expect("writing to a Vec cannot fail");
        self.records_buf.push(b'\n');
        if record.verdict == igentai_protocol::Answer::Yes {
            self.valid_buf.extend_from_slice(record.item.as_bytes());
            self.valid_buf.push(b'\n');
        }
        self.dirty = true;
    }

    /// The record (item, alias or verdict) appended last, without its newline.
    pub fn last_record(&self) -> &[u8] {
        let line = &self.records_buf[self.last_record..];
        line.strip_suffix(b"\n").unwrap_or(line)
    }

    #[cfg(test)]
    /// Writes and syncs what was appended: after this, appended items
    /// survive a crash of the process or the machine.
    pub fn commit(&mut self) -> io::Result<()> {
        match self.take_for_sync()? {
            Some(pending) => pending.write_and_sync(),
            None => Ok(()),
        }
    }

    /// Takes what was appended since the last sync, with handles to write
    /// and sync it off the event loop ([`PendingSync::write_and_sync`]);
    /// `None` when nothing was appended. Syncs must run one at a time, in
    /// the order they were taken.
    pub fn take_for_sync(&mut self) -> io::Result<Option<PendingSync>> {
        if !self.dirty {
            return Ok(None);
        }
        let files = [
            self.records.try_clone()?,
            self.output.try_clone()?,
            self.valid.try_clone()?,
        ];
        // The next buffers start as large as these grew.
        let (records_len, output_len) = (self.records_buf.len(), self.output_buf.len());
        let records = std::mem::replace(&mut self.records_buf, Vec::with_capacity(records_len));
        self.last_record = 0;
        let output = std::mem::replace(&mut self.output_buf, Vec::with_capacity(output_len));
        let valid = std::mem::take(&mut self.valid_buf);
        self.dirty = false;
        let [records_file, output_file, valid_file] = files;
        // valid.txt last: it is derived from items.jsonl, and repaired
        // from it on open when a crash left it behind.
        Ok(Some(PendingSync::new(vec![
            (records_file, records),
            (output_file, output),
            (valid_file, valid),
        ])))
    }

    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> io::Result<()> {
        write_atomic(&self.dir.join(name), &serde_json::to_vec_pretty(value)?)
    }
}

/// The item records of the folder `dir`'s `items.jsonl` that `keep`
/// accepts, in order (alias and verdict records are not item records).
pub fn item_records(
    dir: &Path,
    mut keep: impl FnMut(&ItemRecord) -> bool,
) -> io::Result<Vec<ItemRecord>> {
    let file = match File::open(dir.join(ITEMS)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::with_capacity(1 << 20, file).split(b'\n') {
        let line = line?;
        if line.starts_with(ALIAS_PREFIX) || line.starts_with(VERDICT_PREFIX) {
            continue;
        }
        if let Ok(record) = serde_json::from_slice::<ItemRecord>(&line)
            && keep(&record)
        {
            out.push(record);
        }
    }
    Ok(out)
}

/// Calls `each` with the verdict records of the folder `dir`'s
/// `items.jsonl`, in order, the first one of each line only (as opening
/// the folder keeps them).
pub fn verdict_records(dir: &Path, mut each: impl FnMut(VerdictRecord)) -> io::Result<()> {
    let file = match File::open(dir.join(ITEMS)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut judged = std::collections::HashSet::new();
    for line in BufReader::with_capacity(1 << 20, file).split(b'\n') {
        let line = line?;
        if line.starts_with(VERDICT_PREFIX)
            && let Ok(record) = serde_json::from_slice::<VerdictRecord>(&line)
            && judged.insert(record.verdict_of)
        {
            each(record);
        }
    }
    Ok(())
}

/// Makes `valid.txt` at `path` hold exactly `items`, one per line: a torn
/// line is cut, missing lines (a crash after `items.jsonl` was synced and
/// before `valid.txt` was) are appended, surplus lines cut. Returns the
/// file, open for appending, and how many lines were written or cut.
fn repair_valid<'a>(path: &Path, items: impl Iterator<Item = &'a str>) -> io::Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut ends = Vec::new();
    let mut at = 0u64;
    read_complete_lines(&mut file, |line| {
        at += line.len() as u64 + 1;
        ends.push(at);
    })?;
    let items: Vec<&str> = items.collect();
    let repaired = match ends.len().cmp(&items.len()) {
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => {
            let keep = match items.len() {
                0 => 0,
                n => ends[n - 1],
            };
            file.set_len(keep)?;
            (ends.len() - items.len()) as u64
        }
        std::cmp::Ordering::Less => {
            let mut out = Vec::new();
            for item in &items[ends.len()..] {
                out.extend_from_slice(item.as_bytes());
                out.push(b'\n');
            }
            file.write_all(&out)?;
            (items.len() - ends.len()) as u64
        }
    };
    if repaired > 0 {
        file.sync_data()?;
    }
    Ok((file, repaired))
}

/// Reads `file` from the start, calling `line` for each complete line
/// (without its `\n`), and cuts off an incomplete last line. Returns the
/// number of bytes cut.
fn read_complete_lines(file: &mut File, mut line: impl FnMut(&[u8])) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::with_capacity(1 << 20, &mut *file);
    let mut buf = Vec::with_capacity(256);
    let mut complete = 0u64;
    let mut total = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if buf.last() == Some(&b'\n') {
            complete = total;
            line(&buf[..n - 1]);
        }
    }
    drop(reader);
    let torn = total - complete;
    if torn > 0 {
        file.set_len(complete)?;
    }
    Ok(torn)
}

/// Complete lines in the folder `dir`'s `output.txt` (0 when the
/// folder does not exist yet): what opening it will load, to size the
/// seen-set once instead of growing it.
pub fn count_items(dir: &Path) -> io::Result<u64> {
    let path = dir.join(OUTPUT);
    match File::open(&path) {
        Ok(mut file) => Ok(scan_lines(&mut file)?.0),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Reads `file` from the start in large blocks, without copying lines out;
/// returns (complete lines, bytes up to the last newline, bytes).
fn scan_lines(file: &mut File) -> io::Result<(u64, u64, u64)> {
    use std::io::Read;
    file.seek(SeekFrom::Start(0))?;
    let mut block = vec![0u8; 1 << 20];
    let (mut lines, mut complete, mut total) = (0u64, 0u64, 0u64);
    loop {
        let n = match file.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &block[..n];
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        if let Some(last) = chunk.iter().rposition(|&b| b == b'\n') {
            complete = total + last as u64 + 1;
        }
        total += n as u64;
    }
    Ok((lines, complete, total))
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
