//! A folder's place in the items stream: `ledger.json`, the last stream
//! sequence of its topic the folder holds, and which incarnation of the
//! stream that sequence is of ([`super::incarnation`]); and what a folder
//! behind the stream may have lost ([`gap`]).

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::topic::store::write_atomic;

/// The folder's mark: the last stream sequence of its topic it holds.
pub const MARK: &str = "ledger.json";

/// The stream's first sequence when it is beyond `after + 1` while the
/// folder is behind (`pending` entries of its topic to read): entries
/// after the folder's mark were removed (a purge, or a limit), so what the
/// folder reads may miss some of its topic's. Nothing in igentai removes
/// entries, so any such hole is an operator's or a limit's doing.
pub fn gap(after: u64, first_sequence: u64, pending: u64) -> Option<u64> {
    (pending > 0 && first_sequence > after + 1).then_some(first_sequence)
}

/// `ledger.json`: the folder holds its topic's entries up to `sequence`
/// of the items stream created at `stream_created_ns` ([`incarnation`]).
/// Marks written before they named their stream lack it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Mark {
    subject: String,
    sequence: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream_created_ns: Option<u64>,
}

/// Where a folder's mark puts it in the items stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// No mark of this topic: the folder holds nothing of the stream.
    Start,
    /// A mark of this stream: the folder holds it up to this sequence.
    After(u64),
    /// A mark of an earlier stream, deleted since: no mark of this one.
    Earlier(u64),
    /// A mark written before marks named their stream: this one, or an
    /// earlier.
    Unknown(u64),
}

/// Where the folder `dir` is in the items stream `created`
/// ([`incarnation`]) for `subject`.
pub fn place(dir: &Path, subject: &str, created: u64) -> Place {
    let Some(mark) = std::fs::read(dir.join(MARK))
        .ok()
        .and_then(|b| serde_json::from_slice::<Mark>(&b).ok())
        .filter(|m| m.subject == subject)
    else {
        return Place::Start;
    };
    match mark.stream_created_ns {
        None => Place::Unknown(mark.sequence),
        Some(c) if c == created => Place::After(mark.sequence),
        Some(_) => Place::Earlier(mark.sequence),
    }
}

/// Records that the folder `dir` holds `subject` up to `sequence` of the
/// items stream `created`.
pub fn set_mark(dir: &Path, subject: &str, sequence: u64, created: u64) -> io::Result<()> {
    let mark = Mark {
        subject: subject.to_string(),
        sequence,
        stream_created_ns: Some(created),
    };
    write_atomic(&dir.join(MARK), &serde_json::to_vec(&mark)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_name_their_subject_and_their_stream() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = ("igentai.ledger.a", "igentai.ledger.b");
        assert_eq!(place(dir.path(), a, 7), Place::Start);
        set_mark(dir.path(), a, 42, 7).unwrap();
        assert_eq!(place(dir.path(), a, 7), Place::After(42));
        assert_eq!(place(dir.path(), a, 8), Place::Earlier(42));
        assert_eq!(place(dir.path(), b, 7), Place::Start);
    }

    #[test]
    fn a_mark_from_before_marks_named_their_stream_is_of_an_unknown_one() {
        let dir = tempfile::tempdir().unwrap();
        let old = br#"{"subject":"igentai.ledger.a","sequence":42}"#;
        std::fs::write(dir.path().join(MARK), old).unwrap();
        assert_eq!(place(dir.path(), "igentai.ledger.a", 7), Place::Unknown(42));
        assert_eq!(place(dir.path(), "igentai.ledger.b", 7), Place::Start);
        std::fs::write(dir.path().join(MARK), b"{torn").unwrap();
        assert_eq!(place(dir.path(), "igentai.ledger.a", 7), Place::Start);
    }

    #[test]
    fn entries_gone_after_the_mark_of_a_folder_behind_are_a_gap() {
        // (mark, the stream's first sequence, entries of the topic to read)
        let check = |after, first, pending, expected| {
            assert_eq!(
                gap(after, first, pending),
                expected,
                "{after} {first} {pending}"
            );
        };
        check(0, 1, 10, None);
        check(0, 0, 0, None);
        check(41, 42, 10, None);
        check(41, 30, 10, None);
        check(0, 500, 10, Some(500));
        check(41, 43, 1, Some(43));
        // Nothing of the topic after the mark: the folder is not behind.
        check(41, 500, 0, None);
    }
}
