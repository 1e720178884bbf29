//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz
//! targets' entry points: the inputs that fuzzing found interesting, and any
//! crash it once found, stay checked by every test run.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        run(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "{} holds no inputs", dir.display());
}

#[test]
fn normalize_corpus() {
    replay("normalize", coordinator::fuzzing::normalize);
}

#[test]
fn control_decode_corpus() {
    replay("control_decode", coordinator::fuzzing::control_decode);
}

#[test]
fn batch_decode_corpus() {
    replay("batch_decode", coordinator::fuzzing::batch_decode);
}
