//! `GET /api/output.txt`: the current topic's `output.txt`, read from the
//! coordinator's data folder, so an operator can take the result home from
//! the page.
//!
//! Which file is decided by the latest snapshot's `run.slug`, never by the
//! request, and the slug must be a plain folder name of the kind the
//! coordinator makes (`[a-z0-9-]`): a snapshot published by anyone on NATS
//! cannot point the dashboard at another file. The file grows while it is
//! read, so the download stops at the last complete line that existed when
//! it was opened and never ends in half an item. This works when the
//! dashboard runs beside the coordinator (or shares its data folder), as
//! the scripts run it; elsewhere it answers 404 and says why.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::control::Answer;

/// How far back from the end a complete line is looked for; items are far
/// shorter than this (the coordinator drops longer ones).
const TAIL: u64 = 64 * 1024;

/// Whether `slug` is a folder name the coordinator could have made.
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && !slug.starts_with('-')
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The download of `<data_dir>/<slug>/output.txt`, or a JSON error.
pub async fn download(data_dir: &Path, slug: Option<&str>) -> Response {
    let Some(slug) = slug else {
        return Answer::error(
            StatusCode::NOT_FOUND,
            "no run yet: the dashboard has not received a snapshot naming a topic",
        )
        .into_response();
    };
    if !valid_slug(slug) {
        return Answer::error(
            StatusCode::BAD_GATEWAY,
            "the latest snapshot names a topic folder that is not a plain folder name; refusing it",
        )
        .into_response();
    }
    let path: PathBuf = data_dir.join(slug).join("output.txt");
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => {
            return Answer::error(
                StatusCode::NOT_FOUND,
                format!(
                    "cannot open {}: {e} (the dashboard must run beside the coordinator, \
                     with the same --data-dir / IGENTAI_DATA_DIR)",
                    path.display()
                ),
            )
            .into_response();
        }
    };
    let length = match complete_length(&mut file).await {
        Ok(length) => length,
        Err(e) => {
            return Answer::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", path.display()),
            )
            .into_response();
        }
    };
    let body = Body::from_stream(ReaderStream::new(file.take(length)));
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::CONTENT_LENGTH, length.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{slug}.txt\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        body,
    )
        .into_response()
}

/// The length of the file up to and including its last line break, with
/// the file positioned back at its start.
async fn complete_length(file: &mut tokio::fs::File) -> std::io::Result<u64> {
    let size = file.metadata().await?.len();
    let from = size.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(from)).await?;
    let mut tail = Vec::with_capacity((size - from) as usize);
    (&mut *file)
        .take(size - from)
        .read_to_end(&mut tail)
        .await?;
    file.seek(SeekFrom::Start(0)).await?;
    Ok(match tail.iter().rposition(|&b| b == b'\n') {
        Some(at) => from + at as u64 + 1,
        // No line break in the tail: either nothing complete yet, or a
        // line longer than any item; don't guess.
        None if from == 0 => 0,
        None => size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_folder_names_pass() {
        for (slug, ok) in [
            ("paris-attractions", true),
            ("topic-0a1b2c3d", true),
            ("x", true),
            ("", false),
            ("..", false),
            ("../etc", false),
            ("a/b", false),
            ("/etc", false),
            ("Paris", false),
            ("-rf", false),
            ("a b", false),
            ("a\\b", false),
            ("caf\u{e9}", false),
        ] {
            assert_eq!(valid_slug(slug), ok, "{slug:?}");
        }
        assert!(!valid_slug(&"a".repeat(101)));
    }

    #[tokio::test]
    async fn a_torn_last_line_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        for (content, expected) in [
            ("", 0),
            ("Louvre\n", 7),
            ("Louvre\nEiffel Tower\nNotre-Da", 20),
            ("no line break yet", 0),
        ] {
            let path = dir.path().join("output.txt");
            std::fs::write(&path, content).unwrap();
            let mut file = tokio::fs::File::open(&path).await.unwrap();
            assert_eq!(
                complete_length(&mut file).await.unwrap(),
                expected,
                "{content:?}"
            );
        }
    }
}
