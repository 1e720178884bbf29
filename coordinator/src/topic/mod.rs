//! A topic open for ingest: its folder ([`TopicStore`]), its seen-set and
//! its name index, rebuilt from `output.txt` (and the alias records of
//! `items.jsonl`) when opened, each line's keys read from `keys.bin` when
//! it has them (`keylog.rs`), and the dedup of one batch into it.
//!
//! A batch is deduplicated over reused buffers ([`Scratch`]): vet every item
//! (its spelling, key and hash), then look each up in order. A known key is
//! a duplicate. A new key whose name key finds an earlier item
//! (`names.rs`) is a near-duplicate: an alias record in `items.jsonl`, its
//! key an alias of that item in the seen-set, nothing in `output.txt`.
//! Anything else is a new item. Records and the `igentai.items` payload are
//! written from borrowed strings. A known item's sighting waits for the
//! commit of its batch's line (`sightings.rs`).

mod apply;
pub mod batchlog;
pub mod durable;
pub mod folders;
pub mod keylog;
pub mod record;
mod scratch;
pub mod sightings;
pub mod state;
pub mod store;

use std::borrow::Cow;
use std::io;
use std::path::Path;

use bytes::Bytes;
use igentai_protocol::{Answer, CandidateBatch, ItemsEvent, NewItem, VERSION};

use crate::keys::name_index::NameIndex;
use crate::keys::names::NameRules;
use crate::keys::normalize::{Normalizer, key_hash};
use crate::keys::seen::SeenSet;
use crate::replication::ledger::{self, Entry, Outbox};
use crate::run::stats::BatchOutcome;
use crate::topic::batchlog::{BatchLine, BatchLog};
use crate::topic::keylog::{KeyLoader, KeyLog, LineKeys};
use crate::topic::sightings::{Sighted, Sightings};
use crate::topic::store::{
    ItemRecord, Known, PendingSync, RecordRef, Recovery, TopicStore, VerdictRecord,
};
pub use apply::Apply;
pub use scratch::Scratch;
use scratch::push;

/// Duplicates kept per batch for the avoid hints.
const DUPLICATE_SAMPLE: usize = 64;

/// Lines added to the tables at a time on open ([`add_lines`]).
const OPEN_BATCH: usize = 64;

pub struct Topic {
    store: TopicStore,
    seen: SeenSet,
    names: NameIndex,
    /// What the topic's name key folds (plurals, unless items are titles).
    rules: NameRules,
    /// The batches counted into this folder.
    batches: BatchLog,
    /// Sightings on their way into the seen-set's counts.
    sightings: Sightings,
    /// `keys.bin`: the keys of the lines of `output.txt`.
    keys: KeyLog,
    /// What this folder gained since the last commit, for the items ledger
    /// (`replication/ledger/`); `None` when there is no ledger to publish to.
    ledger: Option<Vec<Entry>>,
    /// Each item's verdict, by line - 1 (`verdict_code`); shorter than
    /// the item count when the last items have none.
    verdicts: Vec<u8>,
    /// Items judged valid ("yes" in `verdicts`).
    valid: u64,
    /// Items on disk as of the last finished commit: only those are judged.
    committed: u64,
}

/// What taking one batch into a topic did ([`Topic::take`]).
pub struct Taken {
    /// False for a batch counted before, delivered again.
    pub first: bool,
    pub outcome: BatchOutcome,
    /// The `igentai.items` payload of its new items, if any.
    pub event: Option<Bytes>,
}

impl Topic {
    /// Opens (and repairs) the topic's folder and loads what it holds.
    /// Each line's keys come from `keys.bin` when it has them under the
    /// current rules, else are computed again from the stored spelling, so
    /// a change of the keys' rules applies to what is on disk too.
    pub fn open(data_dir: &Path, topic: &str) -> io::Result<(Topic, Recovery)> {
        // The folder is resolved once, here.
        let slug = folders::folder_for(data_dir, topic)?;
        let dir = data_dir.join(&slug);
        // Sized once: growing a ten-million-item set would briefly hold the
        // old table and the new one.
        let expected = store::count_items(&dir)? as usize;
        let mut seen = SeenSet::with_capacity(expected);
        let mut names = NameIndex::with_capacity(expected);
        let mut normalizer = Normalizer::default();
        let rules = NameRules::for_topic(topic);
        let mut keys = KeyLoader::open(&dir, rules);
        let mut verdicts = Vec::new();
        let (mut lines, mut hashes) = (Vec::with_capacity(OPEN_BATCH), Vec::new());
        let (store, mut recovery) = TopicStore::open(data_dir, slug, topic, |known| match known {
            Known::Item(line) => {
                lines.push(keys.next(line));
                if lines.len() == OPEN_BATCH {
                    add_lines(&mut seen, &mut names, &mut lines, &mut hashes);
                }
            }
            Known::Alias { item, of } => {
                add_lines(&mut seen, &mut names, &mut lines, &mut hashes);
                let key = normalizer.key(item);
                if !key.is_empty() {
                    seen.add_alias(key_hash(key), of as usize - 1);
                }
            }
            Known::Verdict { of, verdict } => set_verdict(&mut verdicts, of, verdict),
        })?;
        // The last lines first: the counts cover every line.
        add_lines(&mut seen, &mut names, &mut lines, &mut hashes);
        recovery.keys_loaded = keys.loaded;
        // The cached counts, then the batch lines they do not cover yet.
        let mut sightings = Sightings::load(&store.dir, &mut seen)?;
        let batches = BatchLog::open(&store.dir, sightings.covered(), |sighted| {
            sightings.count_line(&mut seen, sighted)
        })?;
        sightings.cover(batches.end());
        Ok((
            Topic {
                store,
                seen,
                names,
                rules,
                batches,
                sightings,
                keys: keys.finish(),
                ledger: None,
                valid: verdicts.iter().filter(|&&v| v == 1).count() as u64,
                verdicts,
                committed: recovery.items,
            },
            recovery,
        ))
    }

    /// Unique items in the folder, written or buffered.
    /// Batches counted into this folder (its batch log).
    pub fn batches_counted(&self) -> usize {
        self.batches.len()
    }

    pub fn len(&self) -> u64 {
        self.store.len()
    }

    /// Whether the folder holds neither items nor counted batches.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty() && self.batches.is_empty()
    }

    /// The topic as first spelled.
    pub fn name(&self) -> &str {
        &self.store.topic
    }

    /// The folder's name under the data dir.
    pub fn slug(&self) -> &str {
        &self.store.slug
    }

    pub fn dir(&self) -> &Path {
        &self.store.dir
    }

    /// The coverage estimate (Chao1) over the sighting counts: of the
    /// valid items once any item is judged (Chao1 over the items judged
    /// valid, scaled up by the share of the folder's items judged, as for
    /// a sample), else of every item.
    pub fn estimate(&self) -> Option<igentai_protocol::Estimate> {
        let judged = self.verdicts.iter().filter(|&&v| v != 0).count() as u64;
        if judged == 0 {
            return self.seen.estimate();
        }
        let counts = self.seen.counts();
        let (mut valid, mut f1, mut f2) = (0u64, 0u64, 0u64);
        for (i, _) in self.verdicts.iter().enumerate().filter(|(_, v)| **v == 1) {
            valid += 1;
            match counts.get(i) {
                Some(1) => f1 += 1,
                Some(2) => f2 += 1,
                _ => {}
            }
        }
        let sampled = judged as f64 / self.len().max(1) as f64;
        let mut estimate = crate::keys::seen::chao1(valid, f1, f2)?;
        estimate.total /= sampled;
        estimate.valid = true;
        Some(estimate)
    }

    /// Items judged valid.
    pub fn valid_count(&self) -> u64 {
        self.valid
    }

    /// Writes `value` as the folder's JSON file `name`, atomically.
    pub fn write_json<T: serde::Serialize>(&self, name: &str, value: &T) -> io::Result<()> {
        self.store.write_json(name, value)
    }

    /// From now on, what the folder gains is also kept for the items
    /// ledger ([`Self::take_outbox`]).
    pub fn publish_to_ledger(&mut self) {
        self.ledger = Some(Vec::new());
    }

    /// Whether `text` names an item the topic holds, by its exact key or
    /// its name key: a sub-category a model names like a found item ("Ohio"
    /// for "US states") is a member, not a sub-category.
    pub fn knows(&self, text: &str, scratch: &mut Scratch) -> bool {
        let Some(item) = scratch.vetter.vet(text) else {
            return false;
        };
        if self.seen.find(item.hash).is_some() {
            return true;
        }
        let spelling = item.text.to_string();
        scratch
            .namer
            .key(&spelling, self.rules)
            .is_some_and(|name| self.names.find(&name).is_some())
    }

    /// The sub-categories among `names` a worker proposed: those not named
    /// like an item the topic holds ([`Self::knows`]); an error when none
    /// is left, so the split counts as failed.
    pub fn sub_categories(
        &self,
        names: Vec<String>,
        scratch: &mut Scratch,
    ) -> Result<Vec<String>, String> {
        let asked = names.len();
        let kept: Vec<String> = names
            .into_iter()
            .filter(|name| !self.knows(name, scratch))
            .collect();
        match (asked, kept.is_empty()) {
            (0, _) => Err("no sub-category named".to_string()),
            (_, true) => Err(format!("all {asked} names are items of the topic")),
            (_, false) => Ok(kept),
        }
    }

    /// Takes a batch in: deduplicates its items ([`Self::dedup`]) and, the
    /// first time the batch is seen, appends its line to the batch log. Its
    /// ledger entry goes before the entries of its items, as on disk.
    pub fn take(
        &mut self,
        batch: &CandidateBatch,
        items: &[Cow<'_, str>],
        now: &str,
        now_ms: u64,
        scratch: &mut Scratch,
    ) -> Taken {
        let first = !self.batches.is_counted(&batch.batch_id);
        let at = self.ledger.as_ref().map_or(0, Vec::len);
        let (outcome, event) = self.dedup(batch, items, now, first, scratch);
        if first {
            let sighted = Sighted(scratch.sighted.clone());
            let line = self
                .batches
                .append(&BatchLine::new(batch, outcome, sighted, now_ms));
            if let Some(ledger) = &mut self.ledger {
                ledger.insert(at, Entry::batch(&batch.batch_id, line));
            }
        }
        Taken {
            first,
            outcome,
            event,
        }
    }

    /// The lines appended since the last call, to be written and synced:
    /// the batch log's first, then the items (`batchlog.rs`), then (not
    /// synced) their keys. Their batches' sightings count once the sync
    /// is done ([`Self::committed`]).
    pub fn take_for_sync(&mut self) -> io::Result<Vec<PendingSync>> {
        let batches = self.batches.take_for_sync()?;
        let items = self.store.take_for_sync()?;
        let keys = self.keys.take_for_sync()?;
        self.sightings.handed(self.batches.end());
        Ok(batches.into_iter().chain(items).chain(keys).collect())
    }

    /// The sync of what [`Self::take_for_sync`] handed out is done: the
    /// sightings of its batch lines count, and its items may be judged.
    pub fn committed(&mut self) {
        self.sightings.committed(&mut self.seen);
        self.committed = self.store.len();
    }

    /// Items on disk as of the last finished commit.
    pub fn committed_len(&self) -> u64 {
        self.committed
    }

    /// The verdict on the item on line `seq`, if it has one.
    pub fn verdict(&self, seq: u64) -> Option<Answer> {
        let code = *self
            .verdicts
            .get(usize::try_from(seq).ok()?.checked_sub(1)?)?;
        answer_of(code)
    }

    /// Records a verdict on the item on line `record.verdict_of` (which
    /// must be `record.item`): buffered in `items.jsonl` (and, for a
    /// "yes", `valid.txt`) and kept for the items ledger. False, and
    /// nothing written, when the line has no item or already has a
    /// verdict: a verdict is written once.
    pub fn add_verdict(&mut self, record: &VerdictRecord) -> bool {
        let seq = record.verdict_of;
        let hash = key_hash(&crate::keys::normalize::normalize(&record.item));
        let on_line = self.seen.find(hash).map(|index| index as u64 + 1);
        if on_line != Some(seq) || self.verdict(seq).is_some() {
            return false;
        }
        set_verdict(&mut self.verdicts, seq, record.verdict);
        self.valid += u64::from(record.verdict == Answer::Yes);
        self.store.append_verdict(record);
        if let Some(ledger) = &mut self.ledger {
            ledger.push(Entry::verdict(hash, self.store.last_record()));
        }
        true
    }

    /// The item records of `run` that are on disk and have no verdict, in
    /// order: what a judge has still to see (read from `items.jsonl`).
    pub fn unjudged(&self, run: &str) -> io::Result<Vec<ItemRecord>> {
        store::item_records(&self.store.dir, |r| {
            r.run == run && r.seq <= self.committed && self.verdict(r.seq).is_none()
        })
    }

    /// Writes and syncs everything appended (after applying ledger
    /// entries), batch lines first, then the items' keys, and counts
    /// their sightings.
    pub fn write_all(&mut self) -> io::Result<()> {
        for pending in self.take_for_sync()? {
            pending.write_and_sync()?;
        }
        self.committed();
        Ok(())
    }

    /// The ledger entries gained since the last call, addressed to this
    /// topic's subject; `None` when there are none (or no ledger).
    pub fn take_outbox(&mut self, key: &str) -> Option<Outbox> {
        let entries = std::mem::take(self.ledger.as_mut()?);
        (!entries.is_empty()).then(|| Outbox {
            topic: key.to_string(),
            subject: ledger::topic_subject(&self.store.topic),
            entries,
        })
    }

    /// Records how far into the items ledger (the stream `created`,
    /// `ledger::incarnation`) the folder is.
    pub fn set_mark(&self, sequence: u64, created: u64) -> io::Result<()> {
        let subject = ledger::topic_subject(&self.store.topic);
        ledger::set_mark(&self.store.dir, &subject, sequence, created)
    }

    /// Saves the committed sighting counts' cache (`sightings.rs`), so
    /// that opening the folder sums only the batch lines after it.
    pub fn save_sightings(&self) -> io::Result<()> {
        self.sightings.save(&self.store.dir, &self.seen)
    }

    /// Deduplicates a batch's `items` (the batch itself gives their
    /// provenance) into the topic, appending the new ones and the
    /// near-duplicates' alias records (buffered, not yet synced). Returns
    /// what happened and the `igentai.items` payload of the new items (if
    /// any); a sample of the candidates that were already known (as they
    /// are or as a variant) stays in `scratch` ([`Scratch::duplicates`]).
    ///
    /// `first` is false for a batch counted before (delivered again): its
    /// items are still deduplicated, since after a crash some may not be on
    /// disk yet, but the items it knows are not sighted again. A first
    /// batch's sightings wait for its line's commit, recorded in
    /// `scratch` for the line.
    fn dedup(
        &mut self,
        batch: &CandidateBatch,
        items: &[Cow<'_, str>],
        now: &str,
        first: bool,
        scratch: &mut Scratch,
    ) -> (BatchOutcome, Option<Bytes>) {
        let mut outcome = BatchOutcome::default();
        scratch.clear();
        for raw in items {
            match scratch.vetter.vet(raw) {
                Some(item) => {
                    let text = push(&mut scratch.arena, item.text);
                    let key = push(&mut scratch.arena, item.key);
                    scratch.items.push((text, key));
                    scratch.hashes.push(item.hash);
                }
                None => outcome.invalid += 1,
            }
        }
        self.seen.prefetch(&scratch.hashes);

        let arena = scratch.arena.as_str();
        let mut new_items = Vec::new();
        for (i, ((text, key), &hash)) in scratch.items.iter().zip(&scratch.hashes).enumerate() {
            outcome.candidates += 1;
            let text = &arena[text.clone()];
            let record = RecordRef {
                alias_of: None,
                seq: 0,
                item: text,
                key: &arena[key.clone()],
                provider: &batch.provider,
                model: &batch.model,
                worker: &batch.worker_id,
                partition: batch.partition.as_deref(),
                run: &batch.run_id,
                batch: &batch.batch_id,
                ts: now,
            };
            let known = match self.seen.find(hash) {
                Some(index) => Some(index),
                None => {
                    let name = scratch.namer.key(text, self.rules);
                    match name.as_ref().and_then(|name| self.names.find(name)) {
                        Some(index) => {
                            outcome.near_duplicates += 1;
                            self.seen.add_alias(hash, index);
                            self.store.append_alias(record, index as u64 + 1);
                            if let Some(ledger) = &mut self.ledger {
                                ledger.push(Entry::alias(hash, self.store.last_record()));
                            }
                            Some(index)
                        }
                        None => {
                            let index = self.seen.add(hash);
                            if let Some(name) = &name {
                                self.names.insert(name, index);
                            }
                            self.keys.push(text, LineKeys::new(hash, name.as_ref()));
                            None
                        }
                    }
                }
            };
            if let Some(index) = known {
                if first {
                    self.sightings.sight(index);
                    scratch.sighted.push(hash as u64);
                }
                if scratch.duplicates.len() < DUPLICATE_SAMPLE {
                    scratch.duplicates.push(i);
                }
                continue;
            }
            outcome.new += 1;
            let seq = self.store.append(record);
            debug_assert_eq!(seq, self.seen.len() as u64, "items are lines");
            if let Some(ledger) = &mut self.ledger {
                ledger.push(Entry::item(hash, self.store.last_record()));
            }
            new_items.push(NewItem {
                seq,
                text: text.to_string(),
                provider: batch.provider.clone(),
                worker_id: batch.worker_id.clone(),
                partition: batch.partition.clone(),
            });
        }
        let event = (!new_items.is_empty()).then(|| {
            let event = ItemsEvent {
                v: VERSION,
                run_id: batch.run_id.clone(),
                items: new_items,
            };
            Bytes::from(serde_json::to_vec(&event).expect("an items event serializes"))
        });
        (outcome, event)
    }
}

/// How a verdict is kept in memory: one byte per item, 0 for none.
fn verdict_code(answer: Answer) -> u8 {
    match answer {
        Answer::Yes => 1,
        Answer::No => 2,
        Answer::Unsure => 3,
    }
}

fn answer_of(code: u8) -> Option<Answer> {
    match code {
        1 => Some(Answer::Yes),
        2 => Some(Answer::No),
        3 => Some(Answer::Unsure),
        _ => None,
    }
}

/// Sets the verdict of line `seq` (from 1), growing `verdicts` as needed.
fn set_verdict(verdicts: &mut Vec<u8>, seq: u64, answer: Answer) {
    let Some(index) = usize::try_from(seq).ok().and_then(|s| s.checked_sub(1)) else {
        return;
    };
    if verdicts.len() <= index {
        verdicts.resize(index + 1, 0);
    }
    verdicts[index] = verdict_code(answer);
}

/// Adds the next `lines` of `output.txt` (their keys) to the tables, in
/// order: every line takes the next index, so indexes stay lines. The
/// slots of a batch are read first, together, so that their cache misses
/// overlap rather than come one insert after another (with ten million
/// items the tables are far larger than the caches). `hashes` is scratch.
fn add_lines(
    seen: &mut SeenSet,
    names: &mut NameIndex,
    lines: &mut Vec<LineKeys>,
    hashes: &mut Vec<u128>,
) {
    hashes.clear();
    hashes.extend(lines.iter().map(|keys| keys.exact));
    seen.prefetch(hashes);
    hashes.clear();
    hashes.extend(lines.iter().filter_map(|keys| Some(keys.name?.head)));
    names.prefetch(hashes);
    for keys in lines.drain(..) {
        let index = seen.add(keys.exact);
        if let Some(name) = keys.name {
            names.insert_hashes(name, index);
        }
    }
}

/// A batch of topic "Cheeses" without items, for the tests of this folder.
#[cfg(test)]
pub(crate) fn test_batch(id: &str) -> CandidateBatch {
    CandidateBatch {
        v: VERSION,
        batch_id: id.into(),
        run_id: "r1".into(),
        topic: "Cheeses".into(),
        worker_id: "w1".into(),
        provider: "sim".into(),
        model: "m".into(),
        partition: None,
        items: Vec::new(),
        tokens_in: 1,
        tokens_cached_in: 0,
        tokens_out: 1,
        latency_ms: 1,
        cost_usd: 0.0,
        finish_reason: None,
        request_id: None,
        created_at_ms: 0,
    }
}

#[cfg(test)]
mod tests;
