//! Replays the parser's fuzz corpus (`fuzz/corpus/parse_answer/`) through
//! the fuzz target's entry point, so what fuzzing found stays checked.

use std::path::Path;

#[test]
fn parse_answer_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/parse_answer");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        worker::fuzzing::parse_answer(&std::fs::read(entry.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0, "{} holds no inputs", dir.display());
}
