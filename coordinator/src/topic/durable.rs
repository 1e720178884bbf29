//! Writing a topic's files durably: appended lines written and
//! `fdatasync`ed in a given order ([`PendingSync`]), and whole files
//! replaced atomically ([`write_atomic`]).

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Appended lines on their way to disk ([`TopicStore::take_for_sync`],
/// `BatchLog::take_for_sync`): files with the bytes to append to each, in
/// the order they are made durable.
pub struct PendingSync {
    pub(crate) parts: Vec<(File, Vec<u8>)>,
    /// Bytes appended after the parts are synced, neither synced nor
    /// fatal when they fail: a file that is only an optimization
    /// (`keys.bin`).
    best_effort: Vec<(File, Vec<u8>)>,
}

impl PendingSync {
    pub fn new(parts: Vec<(File, Vec<u8>)>) -> Self {
        Self {
            parts,
            best_effort: Vec::new(),
        }
    }

    /// Bytes to append to `file` after everything else is synced, without
    /// syncing them; a failure is logged, not returned.
    pub fn best_effort(file: File, bytes: Vec<u8>) -> Self {
        Self {
            parts: Vec::new(),
            best_effort: vec![(file, bytes)],
        }
    }

    /// This, then `next`: nothing of `next` is written before all of this
    /// is synced.
    pub fn then(mut self, next: PendingSync) -> PendingSync {
        self.parts.extend(next.parts);
        self.best_effort.extend(next.best_effort);
        self
    }

    /// Appends each part and `fdatasync`s its file before the next one is
    /// written: blocking, so run off the event loop. A topic's
    /// `items.jsonl` goes before its `output.txt`: a crash between the two
    /// leaves surplus records, trimmed on open, rather than items without
    /// provenance. The best-effort bytes are written last, unsynced.
    pub fn write_and_sync(self) -> io::Result<()> {
        for (mut file, buf) in self.parts {
            file.write_all(&buf)?;
            file.sync_data()?;
        }
        for (mut file, buf) in self.best_effort {
            if let Err(error) = file.write_all(&buf) {
                tracing::warn!(%error, "an optional file was not written");
            }
        }
        Ok(())
    }
}

/// Writes `path` so that readers see the old or the new content, never a
/// mix: a temporary file in the same folder, synced, then renamed over.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_parts(path, &[bytes])
}

/// [`write_atomic`] of `parts` one after another, without joining them
/// first.
pub fn write_atomic_parts(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = File::create(&tmp)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_data()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("metrics.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!tmp.path().join("metrics.tmp").exists());
    }
}
