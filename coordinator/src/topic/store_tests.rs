//! Unit tests of `store.rs`.
use super::*;

fn record(item: &str) -> ItemRecord {
    ItemRecord {
        alias_of: None,
        seq: 0,
        item: item.into(),
        key: normalize(item),
        provider: "sim".into(),
        model: "sim-1".into(),
        worker: "w1".into(),
        partition: None,
        run: "r1".into(),
        batch: "b1".into(),
        ts: "2026-01-01T00:00:00.000Z".into(),
    }
}

fn open(dir: &Path, topic: &str) -> (TopicStore, Recovery, Vec<String>) {
    let mut known = Vec::new();
    let slug = crate::topic::folders::folder_for(dir, topic).unwrap();
    let (store, rec) = TopicStore::open(dir, slug, topic, |k| {
        known.push(match k {
            Known::Item(s) => s.to_string(),
            Known::Alias { item, of } => format!("{item} -> {of}"),
            Known::Verdict { of, verdict } => format!("{of}: {}", verdict.as_str()),
        })
    })
    .unwrap();
    (store, rec, known)
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn a_borrowed_record_writes_the_record_it_borrows() {
    // Every field set, so a field the borrowed form lacks or spells
    // differently fails here.
    let mut alias = record("Salmaella (Bergamo) \"hi\" \\ \t 東京");
    alias.alias_of = Some(3);
    alias.partition = Some("Soft\u{7}".into());
    let mut item = record("Musée d'Orsay");
    item.seq = 12345;
    for r in [alias, item] {
        let mut line = Vec::new();
        r.borrowed().write_json(&mut line);
        let back: ItemRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, r);
        assert_eq!(line.starts_with(ALIAS_PREFIX), r.alias_of.is_some());
    }
}

#[test]
fn appends_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, rec, known) = open(tmp.path(), "Paris attractions");
    assert_eq!((rec.items, known.len()), (0, 0));
    assert_eq!(store.append(record("Louvre").borrowed()), 1);
    assert_eq!(store.append(record("Musée d'Orsay").borrowed()), 2);
    store.commit().unwrap();
    drop(store);

    let (store, rec, known) = open(tmp.path(), "Paris attractions");
    assert_eq!(known, ["Louvre", "Musée d'Orsay"]);
    assert_eq!(
        rec,
        Recovery {
            items: 2,
            ..Default::default()
        }
    );
    assert_eq!(store.len(), 2);
    let dir = tmp.path().join("paris-attractions");
    let lines: Vec<ItemRecord> = read(&dir, ITEMS)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(lines[1].key, "musée d'orsay");
}

#[test]
fn repairs_torn_output_and_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cheeses");
    std::fs::create_dir_all(&dir).unwrap();
    // The folder is the topic's (as state.json says), not a stranger's.
    std::fs::write(dir.join(STATE), r#"{"topic":"cheeses"}"#).unwrap();
    std::fs::write(dir.join(OUTPUT), "Brie\nComté\nRoquef").unwrap();
    // Three records: one more than output.txt's complete lines, plus a torn one.
    let full: String = ["Brie", "Comté", "Roquefort"]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut r = record(s);
            r.seq = i as u64 + 1;
            serde_json::to_string(&r).unwrap() + "\n"
        })
        .collect();
    std::fs::write(dir.join(ITEMS), full + "{\"seq\":4,").unwrap();

    let (_, rec, known) = open(tmp.path(), "cheeses");
    assert_eq!(known, ["Brie", "Comté"]);
    assert_eq!(
        rec,
        Recovery {
            items: 2,
            torn_bytes: 6,
            records_trimmed: 1,
            ..Default::default()
        }
    );
    assert_eq!(read(&dir, OUTPUT), "Brie\nComté\n");
    assert_eq!(read(&dir, ITEMS).lines().count(), 2);
}

#[test]
fn alias_records_survive_reopening_and_repairs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cheeses");
    let (mut store, _, _) = open(tmp.path(), "cheeses");
    store.append(record("Brie").borrowed());
    store.append_alias(record("Brie (Meaux)").borrowed(), 1);
    store.append(record("Comté").borrowed());
    store.append_alias(record("Comte").borrowed(), 2);
    store.commit().unwrap();
    drop(store);
    let aliases: Vec<ItemRecord> = read(&dir, ITEMS)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &ItemRecord| r.alias_of.is_some())
        .collect();
    assert_eq!(aliases.len(), 2);
    assert_eq!((aliases[1].seq, aliases[1].alias_of), (0, Some(2)));
    assert!(
        read(&dir, ITEMS)
            .lines()
            .nth(1)
            .unwrap()
            .starts_with(r#"{"alias_of":1,"item":"Brie (Meaux)""#)
    );

    // Aliases after the last item are kept when nothing is surplus.
    let (mut store, rec, known) = open(tmp.path(), "cheeses");
    assert_eq!(known, ["Brie", "Comté", "Brie (Meaux) -> 1", "Comte -> 2"]);
    assert_eq!((rec.items, rec.aliases, rec.records_trimmed), (2, 2, 0));

    // A crash after items.jsonl was written and before output.txt was:
    // a surplus item, with aliases before and after it.
    store.append_alias(record("BRIE (Meaux)").borrowed(), 1);
    store.append(record("Gouda").borrowed());
    store.append_alias(record("Gouda (Holland)").borrowed(), 3);
    store.append_alias(record("Comte (Jura)").borrowed(), 2);
    let pending = store.take_for_sync().unwrap().unwrap();
    let (records, records_buf) = pending.parts.into_iter().next().unwrap();
    (&records).write_all(&records_buf).unwrap();
    drop(store);
    let (_, rec, known) = open(tmp.path(), "cheeses");
    assert_eq!(
        known,
        [
            "Brie",
            "Comté",
            "Brie (Meaux) -> 1",
            "Comte -> 2",
            "BRIE (Meaux) -> 1"
        ]
    );
    assert_eq!(
        rec,
        Recovery {
            items: 2,
            records_trimmed: 3,
            aliases: 3,
            ..Default::default()
        }
    );
    assert_eq!(read(&dir, ITEMS).lines().count(), 5);
    // A record that cannot be read is skipped.
    std::fs::write(
        dir.join(ITEMS),
        read(&dir, ITEMS) + "{\"alias_of\":1,\"item\":\n",
    )
    .unwrap();
    let (_, rec, _) = open(tmp.path(), "cheeses");
    assert_eq!((rec.items, rec.aliases, rec.records_trimmed), (2, 3, 0));
}

#[test]
fn rebuilds_missing_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cheeses");
    std::fs::create_dir_all(&dir).unwrap();
    // The folder is the topic's (as state.json says), not a stranger's.
    std::fs::write(dir.join(STATE), r#"{"topic":"cheeses"}"#).unwrap();
    std::fs::write(dir.join(OUTPUT), "Brie\nComté\n").unwrap();
    let (mut store, rec, _) = open(tmp.path(), "cheeses");
    assert_eq!(rec.records_rebuilt, 2);
    assert_eq!(store.append(record("Gouda").borrowed()), 3);
    store.commit().unwrap();
    let seqs: Vec<u64> = read(&dir, ITEMS)
        .lines()
        .map(|l| serde_json::from_str::<ItemRecord>(l).unwrap().seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[test]
fn colliding_slugs_get_their_own_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _, _) = open(tmp.path(), "Rare cheeses");
    let (same, _, _) = open(tmp.path(), "Rare-cheeses!");
    assert_eq!(same.slug, a.slug);
    let (c, _, _) = open(tmp.path(), "C libraries");
    let (cpp, _, _) = open(tmp.path(), "C++ libraries");
    assert_eq!(
        (c.slug.as_str(), cpp.slug.as_str()),
        ("c-libraries", "c-libraries-2")
    );
    let (again, _, _) = open(tmp.path(), "C++ Libraries");
    assert_eq!(again.slug, cpp.slug);
}
