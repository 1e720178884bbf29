//! Which folder of the data dir holds which topic, for good:
//! `topics.json`, written when a topic gets its folder.
//!
//! One rule says when two spellings are one topic, [`topic_key`], and
//! everything that tells topics apart uses it: the folder chosen here,
//! ingest's open topics, admission (whether a batch is of its run's
//! topic) and the items ledger's subjects. So a batch counted in a run is
//! written to that run's folder. The key folds spelling only: case,
//! accents, width, punctuation and spacing, a leading article ("The
//! Beatles songs" / "beatles-songs", "Rare-cheeses" / "rare cheeses",
//! "Crème brûlée recipes" / "Creme brulee recipes", "Films (1990s)!" /
//! "Films (1990s)"). It never reads a topic as an item's name: a dash's
//! tail is not a description to cut ("Python - web frameworks", "Python -
//! testing tools" and "Python" are three topics), brackets are kept
//! ("Films (1990s)" is not "Films", nor "Films 1990s"), and plurals,
//! saints and foreign articles are left as written.
//!
//! A new topic gets its slug as folder name, or the slug with `-2`, `-3`,
//! ... when that name is taken: by another topic in the mapping, by a
//! folder on disk that is not this topic's (another topic's whose
//! `state.json` says so, or one without it), or by a name the data dir
//! keeps for itself (`nats`: the JetStream store of earlier scripts; the
//! scripts now keep theirs in `.nats/`, a name no slug can take). A folder
//! written before the mapping existed is adopted by the topic its
//! `state.json` names.
//!
//! Earlier versions keyed topics by an item's name key, which cut a
//! dash's tail and split a trailing parenthesis off. A `topics.json`
//! written then is re-keyed as it is read: each entry moves to the key of
//! its recorded spelling, so a mapped topic keeps its folder, and an old
//! key (`python` for "Python - web frameworks") no longer lets another
//! topic ("Python") into that folder. When two entries now key alike, the
//! one already under its key (else the first) keeps serving the topic; the
//! other's folder is left as it is, listed under `retired` and never given
//! to a topic again.
//!
//! Long only with its unit tests: the code is the first 280 lines.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry as Slot;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use unicode_normalization::char::is_combining_mark;

use crate::keys::names::spelled_out;
use crate::keys::normalize::key_hash;
use crate::keys::normalize::normalize;
use crate::topic::state::TopicState;
use crate::topic::store::write_atomic;

pub const TOPICS: &str = "topics.json";

/// Folder names never given to a topic.
const RESERVED: [&str; 4] = ["nats", "jetstream", "run", "tmp"];

/// `topics.json`: topic key → its folder and the first spelling seen.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Mapping {
    topics: BTreeMap<String, Entry>,
    /// Folders of spellings that an earlier rule told apart from a topic
    /// and [`topic_key`] does not: out of use, kept from other topics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retired: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    topic: String,
    folder: String,
}

impl Mapping {
    /// Moves every entry recorded under another key than its spelling's
    /// (an earlier rule's) to its spelling's key; whether any moved.
    fn rekey(&mut self) -> bool {
        let stale: Vec<String> = self
            .topics
            .iter()
            .filter(|(key, entry)| topic_key(&entry.topic) != **key)
            .map(|(key, _)| key.clone())
            .collect();
        // All out first: an old key may be another stale entry's new one.
        let moved: Vec<Entry> = stale
            .iter()
            .filter_map(|key| self.topics.remove(key))
            .collect();
        for entry in moved {
            match self.topics.entry(topic_key(&entry.topic)) {
                Slot::Vacant(slot) => {
                    slot.insert(entry);
                }
                Slot::Occupied(kept) => {
                    tracing::warn!(
                        topic = %entry.topic,
                        folder = %entry.folder,
                        kept = %kept.get().folder,
                        "two folders hold one topic: the first keeps it, the other is left as it is"
                    );
                    self.retired.push(entry);
                }
            }
        }
        !stale.is_empty()
    }

    fn holds(&self, folder: &str) -> bool {
        self.topics
            .values()
            .chain(&self.retired)
            .any(|e| e.folder == folder)
    }
}

/// What makes two spellings of a topic the same topic (see the module
/// doc): the exact key (`normalize`: NFKC, full case folding, invisible
/// characters, wrapping quotes and emphasis, trailing punctuation, a
/// leading English article, spacing), then diacritics of Latin, Greek and
/// Cyrillic letters dropped, dots and apostrophes joined (`U.S.` = `US`;
/// not a decimal point), `&` read as `and`, brackets kept as `(` `)`,
/// symbols such as `+` and `#` kept, and any other punctuation a space.
pub fn topic_key(topic: &str) -> String {
    let exact = normalize(topic);
    let chars: Vec<char> = exact.nfkd().collect();
    let mut text = String::with_capacity(exact.len() + 8);
    fold_topic_chars(&chars, &mut text);
    let text: String = text.nfc().collect();
    let mut key = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !(key.is_empty() || key.ends_with('(') || word == ")") {
            key.push(' ');
        }
        key.push_str(word);
    }
    if key.is_empty() {
        // Nothing but punctuation: the spelling itself keeps it apart.
        return topic.trim().to_string();
    }
    key
}

/// Folds decomposed `chars` into words separated by spaces, appended to
/// `text`: the marks of Latin, Greek and Cyrillic letters dropped (elsewhere
/// vowel signs are letters), letters without a decomposition spelled out
/// ([`spelled_out`]), dots and apostrophes joined (not a decimal point; a
/// comma between digits dropped), `&` read as `and`, symbols such as `+` and
/// `#` kept, brackets kept as `(` `)`, and any other punctuation a space.
///
/// The name key (`keys/names.rs`) folds further and changes under its
/// version (`NAME_KEY_VERSION`, diacritics kept apart, `♯`); the topic
/// key must not change at all: the folder mapping (`topics.json`) and the
/// items ledger's topic ids (`replication/ledger/entry.rs`) are made of it.
fn fold_topic_chars(chars: &[char], text: &mut String) {
    // Whether the last letter is Latin, Greek or Cyrillic.
    let mut droppable_marks = false;
    for (i, &c) in chars.iter().enumerate() {
        // ASCII holds no combining mark: the table lookup is skipped.
        if !c.is_ascii() && is_combining_mark(c) {
            if !droppable_marks {
                text.push(c);
            }
            continue;
        }
        droppable_marks = c < '\u{530}' || ('\u{1E00}'..='\u{1FFF}').contains(&c);
        let between_digits = i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        match c {
            c if c.is_alphanumeric() => match spelled_out(c) {
                Some(s) => text.push_str(s),
                None => text.push(c),
            },
            // "1.5" is not "15", but "1,000" is "1000".
            '.' if between_digits => text.push('.'),
            ',' if between_digits => {}
            '.' | '\'' => {}
            '&' => text.push_str(" and "),
            '+' | '#' | '@' | '$' | '%' | '=' => text.push(c),
            '(' | '[' | '{' => text.push_str(" ( "),
            ')' | ']' | '}' => text.push_str(" ) "),
            _ => text.push(' '),
        }
    }
}

/// The folder (a name under `data_dir`) of `topic`, assigning and
/// recording one when the topic is new.
pub fn folder_for(data_dir: &Path, topic: &str) -> io::Result<String> {
    let path = data_dir.join(TOPICS);
    let mut mapping: Mapping = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is unreadable ({e}); fix or remove it", path.display()),
            )
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Mapping::default(),
        Err(e) => return Err(e),
    };
    let rekeyed = mapping.rekey();
    let key = topic_key(topic);
    if let Some(entry) = mapping.topics.get(&key) {
        let folder = entry.folder.clone();
        if rekeyed {
            save(data_dir, &mapping)?;
        }
        return Ok(folder);
    }
    let base = slug(topic);
    let folder = (1..)
        .map(|n| match n {
            1 => base.clone(),
            n => format!("{base}-{n}"),
        })
        .find_map(|name| match claim(data_dir, &mapping, &name, &key) {
            Ok(true) => Some(Ok(name)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        })
        .expect("an unbounded range finds a free name")?;
    mapping.topics.insert(
        key,
        Entry {
            topic: topic.to_string(),
            folder: folder.clone(),
        },
    );
    save(data_dir, &mapping)?;
    Ok(folder)
}

fn save(data_dir: &Path, mapping: &Mapping) -> io::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    write_atomic(&data_dir.join(TOPICS), &serde_json::to_vec_pretty(mapping)?)
}

/// Whether the topic with `key` may have the folder `name`.
fn claim(data_dir: &Path, mapping: &Mapping, name: &str, key: &str) -> io::Result<bool> {
    if RESERVED.contains(&name) || mapping.holds(name) {
        return Ok(false);
    }
    let dir = data_dir.join(name);
    match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    // A folder from before the mapping: this topic's only if its state
    // says so.
    Ok(TopicState::read(&dir)?.is_some_and(|state| topic_key(&state.topic) == key))
}

/// The folder name for a topic: ASCII letters and digits joined by `-`,
/// accents dropped, at most 60 characters; a hash when nothing is left.
pub fn slug(topic: &str) -> String {
    let mut out = String::new();
    for c in topic.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 60 {
            break;
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        format!("topic-{:08x}", key_hash(topic) as u32)
    } else {
        out.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::store::STATE;

    fn check(topic: &str, key: &str) {
        assert_eq!(topic_key(topic), key, "topic_key({topic:?})");
    }

    #[test]
    fn slugs() {
        for (topic, expected) in [
            ("Paris attractions", "paris-attractions"),
            ("  Rare cheeses!! ", "rare-cheeses"),
            ("Crème brûlée variants", "creme-brulee-variants"),
            (
                "Failure modes of a jet engine",
                "failure-modes-of-a-jet-engine",
            ),
            ("../../etc/passwd", "etc-passwd"),
        ] {
            assert_eq!(slug(topic), expected, "{topic}");
        }
        assert!(slug("東京の寺").starts_with("topic-"));
        assert!(slug(&"x".repeat(500)).len() <= 60);
    }

    #[test]
    fn topic_keys() {
        for (topic, key) in [
            ("Rare cheeses", "rare cheeses"),
            ("  RARE   CHEESES. ", "rare cheeses"),
            ("Rare-cheeses", "rare cheeses"),
            ("rare_cheeses", "rare cheeses"),
            ("The Beatles songs", "beatles songs"),
            ("the beatles-songs", "beatles songs"),
            ("\"The Beatles songs\"", "beatles songs"),
            ("Crème brûlée recipes", "creme brulee recipes"),
            ("Smørrebrød toppings", "smorrebrod toppings"),
            ("Straße names", "strasse names"),
            ("Ｒａｒｅ cheeses", "rare cheeses"),
            // A dash is punctuation, never the start of a description.
            ("Python - web frameworks", "python web frameworks"),
            ("Python – testing tools", "python testing tools"),
            ("Python", "python"),
            // Brackets are kept: "Films (1990s)" is not "Films 1990s".
            ("Films (1990s)", "films (1990s)"),
            ("Films (1990s)!", "films (1990s)"),
            ("films ( 1990s )", "films (1990s)"),
            ("Films [1990s]", "films (1990s)"),
            ("Paris (Texas)", "paris (texas)"),
            ("Paris, Texas", "paris texas"),
            // Symbols that make another name stay.
            ("C++ libraries", "c++ libraries"),
            ("C# libraries", "c# libraries"),
            ("Salt & pepper dishes", "salt and pepper dishes"),
            // Dots and apostrophes join; a decimal point stays.
            ("U.S. states", "us states"),
            ("Rick's recipes", "ricks recipes"),
            ("Version 1.5 features", "version 1.5 features"),
            // Nothing an item's name key does: no saints, no plurals.
            ("St. Louis restaurants", "st louis restaurants"),
            ("Rare cheese", "rare cheese"),
            ("La Sagrada Familia details", "la sagrada familia details"),
            // Nothing but punctuation: the spelling itself.
            ("???", "???"),
        ] {
            check(topic, key);
        }
    }

    #[test]
    fn spellings_of_one_topic_share_a_key() {
        for (a, b, same) in [
            ("The Beatles songs", "Beatles songs", true),
            ("Rare-cheeses", "rare cheeses", true),
            ("Rare cheeses.", "RARE CHEESES", true),
            ("Crème brûlée recipes", "Creme brulee recipes", true),
            ("Films (1990s)!", "Films (1990s)", true),
            ("nats", "NATS!", true),
            ("Rare cheese", "Rare cheeses", false),
            ("Films (1990s)", "Films", false),
            ("C++ libraries", "C libraries", false),
            ("Python - web frameworks", "Python - testing tools", false),
            ("Python - web frameworks", "Python", false),
            ("Python - testing tools", "Python", false),
            ("Paris (Texas)", "Paris, Texas", false),
            ("Mercury (planet)", "Mercury (element)", false),
            ("Mercury (planet)", "Mercury", false),
        ] {
            assert_eq!(topic_key(a) == topic_key(b), same, "{a:?} / {b:?}");
        }
    }

    #[test]
    fn topics_with_a_dash_get_folders_of_their_own() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = |topic: &str| folder_for(tmp.path(), topic).unwrap();
        assert_eq!(folder("Python - web frameworks"), "python-web-frameworks");
        assert_eq!(folder("Python - testing tools"), "python-testing-tools");
        assert_eq!(folder("Python"), "python");
        assert_eq!(folder("python -- web frameworks"), "python-web-frameworks");
    }

    /// `topics.json` as an earlier version wrote it: (key, spelling, folder).
    fn write_mapping(data: &Path, entries: &[(&str, &str, &str)]) {
        let topics: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(key, topic, folder)| {
                let entry = serde_json::json!({ "topic": topic, "folder": folder });
                (key.to_string(), entry)
            })
            .collect();
        let mapping = serde_json::json!({ "topics": topics });
        std::fs::write(data.join(TOPICS), mapping.to_string()).unwrap();
    }

    #[test]
    fn mapped_topics_keep_their_folders_under_the_new_key() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path();
        // Keys of the rule that cut descriptions, split qualifiers and
        // spelled out saints: "Python - web frameworks" was `python`, and
        // "Python - testing tools" shared its folder.
        write_mapping(
            data,
            &[
                ("python", "Python - web frameworks", "python"),
                (
                    "saint louis restaurants",
                    "St. Louis restaurants",
                    "st-louis",
                ),
                ("rare cheeses", "Rare cheeses", "rare-cheeses"),
                ("films 1990s", "Films (1990s)!", "films-1990s"),
            ],
        );
        let folder = |topic: &str| folder_for(data, topic).unwrap();
        // A mapped spelling keeps its folder, whatever the old key was.
        assert_eq!(folder("Python - web frameworks"), "python");
        assert_eq!(folder("St. Louis restaurants"), "st-louis");
        assert_eq!(folder("Rare cheeses"), "rare-cheeses");
        assert_eq!(folder("Films (1990s)"), "films-1990s");
        // An old key is no longer a way in: "Python" is not the topic
        // recorded under `python`, nor is "Saint Louis restaurants".
        assert_eq!(folder("Python"), "python-2");
        assert_eq!(folder("Python - testing tools"), "python-testing-tools");
        assert_eq!(folder("Saint Louis restaurants"), "saint-louis-restaurants");
        // Written back under the new keys.
        let mapping: Mapping =
            serde_json::from_slice(&std::fs::read(data.join(TOPICS)).unwrap()).unwrap();
        for (key, entry) in &mapping.topics {
            assert_eq!(&topic_key(&entry.topic), key, "{entry:?}");
        }
        assert_eq!(mapping.topics["python web frameworks"].folder, "python");
        assert_eq!(mapping.topics["python"].folder, "python-2");
    }

    #[test]
    fn old_keys_that_now_name_one_topic_keep_the_first_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path();
        // Two folders of one topic under the new rule: the entry already
        // under its key wins; the other folder is kept out of use.
        write_mapping(
            data,
            &[
                ("films 1990s", "Films (1990s)!", "films-1990s-2"),
                ("films (1990s)", "Films (1990s)", "films-1990s"),
            ],
        );
        assert_eq!(folder_for(data, "Films (1990s)!").unwrap(), "films-1990s");
        assert_eq!(folder_for(data, "Films 1990s").unwrap(), "films-1990s-3");
        let mapping: Mapping =
            serde_json::from_slice(&std::fs::read(data.join(TOPICS)).unwrap()).unwrap();
        assert_eq!(mapping.retired.len(), 1);
        assert_eq!(mapping.retired[0].folder, "films-1990s-2");
    }

    fn write_state(dir: &Path, topic: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let state = serde_json::json!({ "topic": topic });
        std::fs::write(dir.join(STATE), state.to_string()).unwrap();
    }

    #[test]
    fn each_topic_keeps_one_folder_of_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path();
        // Taken on disk: the JetStream store, another topic's folder from
        // before the mapping, a folder that lost its state.json.
        std::fs::create_dir_all(data.join("nats/jetstream")).unwrap();
        write_state(&data.join("paris"), "Paris!");
        write_state(&data.join("old-topic"), "Old topic");
        std::fs::create_dir_all(data.join("lost-state")).unwrap();

        let folder = |topic: &str| folder_for(data, topic).unwrap();
        assert_eq!(folder("Rare cheeses"), "rare-cheeses");
        assert_eq!(folder("Rare-Cheeses"), "rare-cheeses");
        assert_eq!(folder("The rare cheeses"), "rare-cheeses");
        assert_eq!(folder("nats"), "nats-2");
        assert_eq!(folder("NATS!"), "nats-2");
        assert_eq!(folder("Lost state"), "lost-state-2");
        // Slugs collide, topics differ.
        assert_eq!(folder("Paris?"), "paris");
        assert_eq!(folder("Paris (Texas)"), "paris-texas");
        assert_eq!(folder("Paris, Texas"), "paris-texas-2");
        assert_eq!(folder("Old topic"), "old-topic");

        // Recorded: the same answers after the folders lost their state
        // (and from a fresh read of topics.json).
        std::fs::remove_file(data.join("paris").join(STATE)).unwrap();
        assert_eq!(folder("paris"), "paris");
        assert_eq!(folder("Paris, Texas"), "paris-texas-2");
        assert_eq!(folder("Paris (Texas)"), "paris-texas");
        let mapping: Mapping =
            serde_json::from_slice(&std::fs::read(data.join(TOPICS)).unwrap()).unwrap();
        assert_eq!(mapping.topics.len(), 7);
        assert_eq!(
            mapping.topics[&topic_key("rare cheeses")].topic,
            "Rare cheeses"
        );
    }

    #[test]
    fn an_unreadable_mapping_is_an_error_not_a_fresh_start() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(TOPICS), b"{not json").unwrap();
        let e = folder_for(tmp.path(), "Rare cheeses").unwrap_err();
        assert!(e.to_string().contains("topics.json"), "{e}");
    }
}
