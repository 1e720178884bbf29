//! Applying the items ledger's entries to a topic folder: idempotent, so
//! entries may come again and in any order (aliases and verdicts before
//! their item wait for it).

use crate::keys::names::Namer;
use crate::keys::normalize::{Normalizer, key_hash};
use crate::replication::ledger::Kind;
use crate::topic::Topic;
use crate::topic::batchlog::BatchLine;
use crate::topic::keylog::LineKeys;
use crate::topic::store::{ItemRecord, VerdictRecord};

/// What applying ledger entries to a topic did ([`Topic::apply`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Applied {
    pub batches: u64,
    pub items: u64,
    pub aliases: u64,
    pub verdicts: u64,
    /// Entries the folder had already.
    pub known: u64,
    /// Entries that could not be read, or aliases whose item never came.
    pub skipped: u64,
}

/// Tools and leftovers of applying ledger entries: aliases that came
/// before their item wait for the end ([`Topic::finish_apply`]).
#[derive(Default)]
pub struct Apply {
    normalizer: Normalizer,
    namer: Namer,
    later: Vec<ItemRecord>,
    verdicts_later: Vec<VerdictRecord>,
    pub applied: Applied,
}

impl Topic {
    /// Applies one entry of the items ledger (a line another process, or
    /// this one before a crash, wrote): a batch not counted yet is counted,
    /// an item whose key is new is appended, an alias whose key is new is
    /// recorded against the item its name key finds. What the folder has
    /// already changes nothing, so entries may come again. Buffered like
    /// ingest's appends; the caller commits, and a batch's sightings count
    /// then.
    pub fn apply(&mut self, kind: Kind, line: &[u8], apply: &mut Apply) {
        match kind {
            Kind::Batch => match serde_json::from_slice::<BatchLine>(line) {
                Ok(line) if self.batches.is_counted(&line.batch.batch_id) => {
                    apply.applied.known += 1
                }
                Ok(line) => {
                    self.batches.append(&line);
                    for &low in &line.sighted.0 {
                        self.sightings.sight_key(&self.seen, low);
                    }
                    apply.applied.batches += 1;
                }
                Err(_) => apply.applied.skipped += 1,
            },
            Kind::Item | Kind::Alias => match serde_json::from_slice::<ItemRecord>(line) {
                Ok(record) => match kind {
                    Kind::Item => self.apply_item(&record, apply),
                    _ if !self.apply_alias(&record, apply) => apply.later.push(record),
                    _ => {}
                },
                Err(_) => apply.applied.skipped += 1,
            },
            Kind::Verdict => match serde_json::from_slice::<VerdictRecord>(line) {
                Ok(record) if !self.apply_verdict(record.clone(), apply) => {
                    apply.verdicts_later.push(record)
                }
                Ok(_) => {}
                Err(_) => apply.applied.skipped += 1,
            },
        }
    }

    /// Applies the aliases that waited for their item, and finds the
    /// items of the sightings that came before them (a batch's line comes
    /// before its items and aliases).
    pub fn finish_apply(&mut self, apply: &mut Apply) {
        for record in std::mem::take(&mut apply.later) {
            if !self.apply_alias(&record, apply) {
                apply.applied.skipped += 1;
            }
        }
        for record in std::mem::take(&mut apply.verdicts_later) {
            if !self.apply_verdict(record, apply) {
                apply.applied.skipped += 1;
            }
        }
        self.sightings.look_up_waiting(&mut self.seen);
    }

    /// Records a verdict on the item it names, on this folder's line of
    /// that item. False when the item is not known (yet).
    fn apply_verdict(&mut self, mut record: VerdictRecord, apply: &mut Apply) -> bool {
        let hash = key_hash(apply.normalizer.key(&record.item));
        let Some(index) = self.seen.find(hash) else {
            return false;
        };
        record.verdict_of = index as u64 + 1;
        match self.add_verdict(&record) {
            true => apply.applied.verdicts += 1,
            false => apply.applied.known += 1,
        }
        true
    }

    fn apply_item(&mut self, record: &ItemRecord, apply: &mut Apply) {
        let hash = key_hash(apply.normalizer.key(&record.item));
        if self.seen.find(hash).is_some() {
            apply.applied.known += 1;
            return;
        }
        let index = self.seen.add(hash);
        let name = apply.namer.key(&record.item, self.rules);
        if let Some(name) = &name {
            self.names.insert(name, index);
        }
        self.keys
            .push(&record.item, LineKeys::new(hash, name.as_ref()));
        self.store.append(record.borrowed());
        apply.applied.items += 1;
    }

    /// False when the alias's item is not known (yet).
    fn apply_alias(&mut self, record: &ItemRecord, apply: &mut Apply) -> bool {
        let hash = key_hash(apply.normalizer.key(&record.item));
        if self.seen.find(hash).is_some() {
            apply.applied.known += 1;
            return true;
        }
        let name = apply.namer.key(&record.item, self.rules);
        let Some(index) = name.as_ref().and_then(|name| self.names.find(name)) else {
            return false;
        };
        self.seen.add_alias(hash, index);
        self.store.append_alias(record.borrowed(), index as u64 + 1);
        apply.applied.aliases += 1;
        true
    }
}
