//! Which folder of the data dir holds which topic, for good:
//! `topics.json`, written when a topic gets its folder.
//!
//! Topics that differ only in case, accents, punctuation or a leading
//! article ("The Beatles songs" / "Beatles songs", "Rare-cheeses" / "rare
//! cheeses") are one topic and share a folder: their [`topic_key`] is the
//! name key's fold of the whole topic, plurals kept. A new topic gets its
//! slug as folder name, or the slug with `-2`, `-3`, ... when that name is
//! taken: by another topic in the mapping, by a folder on disk that is not
//! this topic's (another topic's whose `state.json` says so, or one without
//! it), or by a name the data dir keeps for itself (`nats`: the JetStream
//! store of the scripts). A folder written before the mapping existed is
//! adopted by the topic its `state.json` names.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::keys::names::{NameRules, Namer};
use crate::topic::state::TopicState;
use crate::topic::store::{slug, write_atomic};

pub const TOPICS: &str = "topics.json";

/// Folder names never given to a topic.
const RESERVED: [&str; 4] = ["nats", "jetstream", "run", "tmp"];

/// `topics.json`: topic key → its folder and the first spelling seen.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Mapping {
    topics: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    topic: String,
    folder: String,
}

/// What makes two spellings of a topic the same topic.
pub fn topic_key(topic: &str) -> String {
    let rules = NameRules {
        fold_plurals: false,
    };
    match Namer::default().key(topic, rules) {
        Some(key) => match key.qualifier {
            Some(q) => format!("{} ({q})", key.head),
            None => key.head,
        },
        // Nothing but punctuation: the spelling itself keeps it apart.
        None => topic.trim().to_string(),
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
    let key = topic_key(topic);
    if let Some(entry) = mapping.topics.get(&key) {
        return Ok(entry.folder.clone());
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
    std::fs::create_dir_all(data_dir)?;
    write_atomic(&path, &serde_json::to_vec_pretty(&mapping)?)?;
    Ok(folder)
}

/// Whether the topic with `key` may have the folder `name`.
fn claim(data_dir: &Path, mapping: &Mapping, name: &str, key: &str) -> io::Result<bool> {
    if RESERVED.contains(&name) || mapping.topics.values().any(|e| e.folder == name) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::store::STATE;

    #[test]
    fn spellings_of_one_topic_share_a_key() {
        for (a, b, same) in [
            ("The Beatles songs", "Beatles songs", true),
            ("Rare-cheeses", "rare cheeses", true),
            ("Rare cheeses.", "RARE CHEESES", true),
            ("Crème brûlée recipes", "Creme brulee recipes", true),
            ("Rare cheese", "Rare cheeses", false),
            ("Films (1990s)", "Films", false),
            ("C++ libraries", "C libraries", false),
        ] {
            assert_eq!(topic_key(a) == topic_key(b), same, "{a:?} / {b:?}");
        }
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
