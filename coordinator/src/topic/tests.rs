//! Unit tests of `Topic`: dedup of a batch, its records and its ledger
//! entries, and reopening a folder.

use std::collections::BTreeSet;

use super::*;
use crate::replication::ledger::Kind;
use crate::topic::store::ItemRecord;

fn cows<'a>(items: &[&'a str]) -> Vec<Cow<'a, str>> {
    items.iter().map(|s| Cow::Borrowed(*s)).collect()
}

fn batch() -> CandidateBatch {
    CandidateBatch {
        partition: Some("Soft".into()),
        ..test_batch("b1")
    }
}

#[test]
fn dedups_a_batch_and_encodes_its_new_items() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut topic, _) = Topic::open(tmp.path(), "Cheeses").unwrap();
    let mut scratch = Scratch::default();
    let (outcome, event) = topic.dedup(
        &batch(),
        &cows(&["Brie", "  The  Brie.", "bad\u{7}", "Comté", "brie"]),
        "2026-01-01T00:00:00.000Z",
        true,
        &mut scratch,
    );
    assert_eq!(
        (outcome.candidates, outcome.new, outcome.invalid),
        (4, 2, 1)
    );
    let brie = key_hash("brie");
    assert_eq!(scratch.duplicates(), [(brie, "The Brie."), (brie, "brie")]);
    let event: ItemsEvent = serde_json::from_slice(&event.unwrap()).unwrap();
    let item = |seq: u64, text: &str| NewItem {
        seq,
        text: text.into(),
        provider: "sim".into(),
        worker_id: "w1".into(),
        partition: Some("Soft".into()),
    };
    assert_eq!(
        event,
        ItemsEvent {
            v: VERSION,
            run_id: "r1".into(),
            items: vec![item(1, "Brie"), item(2, "Comté")],
        }
    );
    // A batch of known items only: nothing to announce.
    let (outcome, event) = topic.dedup(&batch(), &cows(&["COMTÉ"]), "t", true, &mut scratch);
    assert_eq!((outcome.candidates, outcome.new), (1, 0));
    assert!(event.is_none());

    topic.store.commit().unwrap();
    drop(topic);
    let (mut topic, recovery) = Topic::open(tmp.path(), "Cheeses").unwrap();
    assert_eq!(recovery.items, 2);
    assert!(!topic.seen.insert(key_hash("brie")));
    assert!(topic.seen.insert(key_hash("gouda")));
}

fn outcome_of(topic: &mut Topic, items: &[&str], scratch: &mut Scratch) -> (u64, u64, u64) {
    let (o, _) = topic.dedup(&batch(), &cows(items), "t", true, scratch);
    (o.candidates, o.new, o.near_duplicates)
}

#[test]
fn near_duplicates_become_aliases_and_stay_after_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut topic, _) = Topic::open(tmp.path(), "Cheeses").unwrap();
    let mut scratch = Scratch::default();
    let batch = [
        "Salmaella",
        "Salmaella (Bergamo, Italy)",
        "Mercury (planet)",
        "Mercury (element)",
        "Salmaella (Bergamo, Italy)",
        "2. Bundesliga",
        "Bundesliga",
    ];
    assert_eq!(outcome_of(&mut topic, &batch, &mut scratch), (7, 5, 1));
    // The variant, the first spelling and the repeated variant were
    // known: all three count for item 1.
    assert_eq!(scratch.duplicates().len(), 2);
    // They count once the batch is committed.
    assert_eq!(topic.seen.counts()[0], 1);
    topic.write_all().unwrap();
    assert_eq!(topic.seen.counts()[0], 3);
    topic.save_sightings().unwrap();
    drop(topic);

    let (mut topic, recovery) = Topic::open(tmp.path(), "Cheeses").unwrap();
    assert_eq!((recovery.items, recovery.aliases), (5, 1));
    assert_eq!(topic.seen.counts()[0], 3);
    // The alias is a plain duplicate now; other variants still merge.
    assert_eq!(
        outcome_of(
            &mut topic,
            &[
                "salmaella (bergamo, italy)",
                "Salmaella (Tuscany)",
                "Mercury [planet]",
                "Mercury (Roman god)"
            ],
            &mut scratch
        ),
        (4, 1, 2)
    );
    topic.store.commit().unwrap();
    let dir = topic.store.dir.clone();
    let output = std::fs::read_to_string(dir.join(store::OUTPUT)).unwrap();
    assert_eq!(
        output.lines().collect::<Vec<_>>(),
        [
            "Salmaella",
            "Mercury (planet)",
            "Mercury (element)",
            "2. Bundesliga",
            "Bundesliga",
            "Mercury (Roman god)"
        ]
    );
    let aliases: Vec<(u64, String)> = std::fs::read_to_string(dir.join(store::ITEMS))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<store::ItemRecord>(l).unwrap())
        .filter_map(|r| r.alias_of.map(|of| (of, r.item)))
        .collect();
    assert_eq!(
        aliases,
        [
            (1, "Salmaella (Bergamo, Italy)".to_string()),
            (1, "Salmaella (Tuscany)".to_string()),
            (2, "Mercury [planet]".to_string()),
        ]
    );
}

/// The topic's files: output.txt lines and items.jsonl records.
fn files(dir: &Path) -> (String, Vec<ItemRecord>) {
    let folder = dir.join(crate::topic::folders::folder_for(dir, "Cheeses").unwrap());
    let output = std::fs::read_to_string(folder.join(store::OUTPUT)).unwrap();
    let records = std::fs::read_to_string(folder.join(store::ITEMS))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (output, records)
}

#[test]
fn ledger_entries_rebuild_the_folder_in_any_order_and_only_once() {
    // A folder written by ingest, its entries captured as the ledger
    // gets them (the batch lines are left to ingest).
    let written = tempfile::tempdir().unwrap();
    let (mut topic, _) = Topic::open(written.path(), "Cheeses").unwrap();
    topic.ledger = Some(Vec::new());
    let mut scratch = Scratch::default();
    for items in [
        &["Brie", "Comté", "Brie de Meaux"][..],
        &["Brie (French cheese)", "Gouda", "comte"][..],
        &["Gouda - a Dutch cheese", "Stilton"][..],
    ] {
        topic.dedup(&batch(), &cows(items), "t", true, &mut scratch);
    }
    let entries = topic.ledger.take().unwrap();
    let kinds: Vec<Kind> = entries.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&Kind::Alias), "{kinds:?}");
    topic.store.commit().unwrap();
    let expected = files(written.path());

    let restore = |order: &[Entry]| {
        let fresh = tempfile::tempdir().unwrap();
        let (mut topic, _) = Topic::open(fresh.path(), "Cheeses").unwrap();
        let mut apply = Apply::default();
        // Twice: the second pass finds everything known.
        for entry in order.iter().chain(order) {
            topic.apply(entry.kind, &entry.line, &mut apply);
        }
        topic.finish_apply(&mut apply);
        topic.store.commit().unwrap();
        (files(fresh.path()), apply.applied)
    };
    let (got, applied) = restore(&entries);
    assert_eq!(got, expected);
    let n = entries.len() as u64;
    assert_eq!(
        (
            applied.items + applied.aliases,
            applied.known,
            applied.skipped
        ),
        (n, n, 0)
    );
    // Aliases before their items wait for them: the same items, and
    // every alias of an item kept.
    let mut reversed = entries.clone();
    reversed.reverse();
    let ((output, records), applied) = restore(&reversed);
    let lines = |s: &str| s.lines().map(str::to_string).collect::<BTreeSet<_>>();
    assert_eq!(lines(&output), lines(&expected.0));
    assert_eq!(records.len(), expected.1.len());
    assert_eq!(applied.skipped, 0);
    // Unreadable entries are skipped and counted, nothing else.
    let fresh = tempfile::tempdir().unwrap();
    let (mut topic, _) = Topic::open(fresh.path(), "Cheeses").unwrap();
    let mut apply = Apply::default();
    topic.apply(Kind::Item, b"{not json", &mut apply);
    topic.apply(Kind::Batch, b"[]", &mut apply);
    assert_eq!(apply.applied.skipped, 2);
    assert!(topic.store.is_empty());
}

/// A verdict on `item`, the line `seq`.
fn verdict(seq: u64, item: &str, answer: Answer) -> VerdictRecord {
    VerdictRecord {
        verdict_of: seq,
        item: item.into(),
        verdict: answer,
        provider: "sim".into(),
        model: "m".into(),
        partition: None,
        judge: "judge".into(),
        judge_model: "jm".into(),
        worker: "w2".into(),
        run: "r1".into(),
        ts: "2026-01-01T00:00:00.000Z".into(),
        job: None,
    }
}

/// A topic "Cheeses" holding `items`, committed.
fn cheeses(dir: &Path, items: &[&str]) -> Topic {
    let (mut topic, _) = Topic::open(dir, "Cheeses").unwrap();
    let mut scratch = Scratch::default();
    topic.take(&batch(), &cows(items), "t", 1, &mut scratch);
    topic.write_all().unwrap();
    topic
}

#[test]
fn a_verdict_is_written_once_and_valid_items_go_to_valid_txt() {
    let tmp = tempfile::tempdir().unwrap();
    let mut topic = cheeses(tmp.path(), &["Brie", "Moon cheese", "Comté"]);
    topic.publish_to_ledger();
    assert!(topic.add_verdict(&verdict(1, "Brie", Answer::Yes)));
    assert!(topic.add_verdict(&verdict(2, "Moon cheese", Answer::No)));
    // Again, or with another answer: nothing changes.
    assert!(!topic.add_verdict(&verdict(1, "Brie", Answer::No)));
    // Not the item on that line, or no line at all: refused.
    assert!(!topic.add_verdict(&verdict(3, "Brie", Answer::Yes)));
    assert!(!topic.add_verdict(&verdict(9, "Gouda", Answer::Yes)));
    assert!(topic.add_verdict(&verdict(3, "Comté", Answer::Yes)));
    let kinds: Vec<Kind> = topic
        .take_outbox("cheeses")
        .unwrap()
        .entries
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [Kind::Verdict; 3]);
    topic.write_all().unwrap();
    let dir = topic.dir().to_path_buf();
    assert_eq!(
        std::fs::read_to_string(dir.join(store::VALID)).unwrap(),
        "Brie\nComté\n"
    );
    drop(topic);
    let (topic, recovery) = Topic::open(tmp.path(), "Cheeses").unwrap();
    assert_eq!((recovery.verdicts, recovery.valid_repaired), (3, 0));
    assert_eq!(topic.verdict(1), Some(Answer::Yes));
    assert_eq!(topic.verdict(2), Some(Answer::No));
    assert_eq!(topic.verdict(3), Some(Answer::Yes));
    // The invalid item stays findable with its verdict.
    let items = std::fs::read_to_string(dir.join(store::ITEMS)).unwrap();
    assert!(
        items.lines().any(|l| l.starts_with("{\"verdict_of\":2,")
            && l.contains("\"Moon cheese\"")
            && l.contains("\"no\"")),
        "{items}"
    );
}

#[test]
fn valid_txt_is_repaired_from_the_verdicts_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut topic = cheeses(tmp.path(), &["Brie", "Comté", "Gouda"]);
    for (seq, item) in [(1, "Brie"), (2, "Comté"), (3, "Gouda")] {
        assert!(topic.add_verdict(&verdict(seq, item, Answer::Yes)));
    }
    topic.write_all().unwrap();
    let valid = topic.dir().join(store::VALID);
    drop(topic);
    // A crash after items.jsonl was synced, before valid.txt was: one line
    // and a torn one.
    std::fs::write(&valid, "Brie\nCom").unwrap();
    let (_, recovery) = Topic::open(tmp.path(), "Cheeses").unwrap();
    assert_eq!(recovery.valid_repaired, 2);
    assert_eq!(
        std::fs::read_to_string(&valid).unwrap(),
        "Brie\nComté\nGouda\n"
    );
    // More lines than verdicts (an edit): cut back.
    std::fs::write(&valid, "Brie\nComté\nGouda\nFeta\n").unwrap();
    let (_, recovery) = Topic::open(tmp.path(), "Cheeses").unwrap();
    assert_eq!(recovery.valid_repaired, 1);
    assert_eq!(
        std::fs::read_to_string(&valid).unwrap(),
        "Brie\nComté\nGouda\n"
    );
}

#[test]
fn verdicts_from_the_ledger_apply_once_on_the_local_line() {
    let tmp = tempfile::tempdir().unwrap();
    // Another host's folder: the same items, in another order.
    let mut topic = cheeses(tmp.path(), &["Comté", "Brie"]);
    let mut apply = Apply::default();
    let mut line = Vec::new();
    serde_json::to_writer(&mut line, &verdict(1, "Brie", Answer::Yes)).unwrap();
    topic.apply(Kind::Verdict, &line, &mut apply);
    topic.apply(Kind::Verdict, &line, &mut apply);
    // A verdict whose item has not come yet waits for it.
    let mut early = Vec::new();
    serde_json::to_writer(&mut early, &verdict(1, "Gouda", Answer::No)).unwrap();
    topic.apply(Kind::Verdict, &early, &mut apply);
    let mut gouda = Vec::new();
    ItemRecord {
        seq: 9,
        ..serde_json::from_str::<ItemRecord>(
            r#"{"item":"Gouda","key":"gouda","provider":"p","model":"m","worker":"w","partition":null,"run":"r1","batch":"b9","ts":"t"}"#,
        )
        .unwrap()
    }
    .borrowed()
    .write_json(&mut gouda);
    topic.apply(Kind::Item, &gouda, &mut apply);
    topic.finish_apply(&mut apply);
    assert_eq!((apply.applied.verdicts, apply.applied.known), (2, 1));
    assert_eq!(topic.verdict(1), None);
    assert_eq!(topic.verdict(2), Some(Answer::Yes));
    assert_eq!(topic.verdict(3), Some(Answer::No));
}

#[test]
fn once_items_are_judged_the_estimate_counts_valid_items() {
    let tmp = tempfile::tempdir().unwrap();
    // Brie and Comté seen twice, Gouda and Moon cheese once.
    let mut topic = cheeses(tmp.path(), &["Brie", "Comté", "Gouda", "Moon cheese"]);
    let mut scratch = Scratch::default();
    let again = CandidateBatch {
        batch_id: "b2".into(),
        ..batch()
    };
    topic.take(&again, &cows(&["Brie", "Comté"]), "t", 2, &mut scratch);
    topic.write_all().unwrap();
    let all = topic.estimate().unwrap();
    assert_eq!((all.f1, all.f2, all.valid), (2, 2, false));
    // Moon cheese invented; the others real.
    for (seq, item, answer) in [
        (1, "Brie", Answer::Yes),
        (2, "Comté", Answer::Yes),
        (3, "Gouda", Answer::Yes),
        (4, "Moon cheese", Answer::No),
    ] {
        assert!(topic.add_verdict(&verdict(seq, item, answer)));
    }
    let valid = topic.estimate().unwrap();
    assert_eq!((valid.f1, valid.f2, valid.valid), (1, 2, true));
    // Chao1 over the 3 valid items: 3 + 1² / (2·2).
    assert!((valid.total - 3.25).abs() < 1e-9, "{valid:?}");
    assert_eq!(topic.valid_count(), 3);
}

#[test]
fn knows_the_items_it_holds_by_key_and_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let topic = cheeses(tmp.path(), &["Brie de Meaux", "Comté"]);
    let mut scratch = Scratch::default();
    for (name, known) in [
        ("brie de meaux", true),
        ("  COMTÉ ", true),
        ("Comte", true),
        ("Brie de Meaux (France)", true),
        ("Soft cheeses", false),
        ("Brie", false),
        ("", false),
    ] {
        assert_eq!(topic.knows(name, &mut scratch), known, "{name:?}");
    }
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        topic.sub_categories(names(&["Comte", "Soft cheeses"]), &mut scratch),
        Ok(names(&["Soft cheeses"]))
    );
    assert!(
        topic
            .sub_categories(names(&["comté", "Brie de Meaux"]), &mut scratch)
            .is_err()
    );
}
