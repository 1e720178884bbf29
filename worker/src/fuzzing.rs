//! Entry point for the `parse_answer` fuzz target in `fuzz/` and for
//! replaying its corpus in ordinary tests: arbitrary bytes as a model's
//! answer, through the parser, checking what every item must be. A violated
//! property panics, which the fuzzer reports as a crash.

use igentai_protocol::Assignment;

use crate::parse::{MAX_ITEM_CHARS, parse_answer as parse};
use crate::prompt;

pub fn parse_answer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let prompt = prompt::build(&Assignment {
        v: 1,
        run_id: "fuzz".into(),
        topic: "rare cheeses".into(),
        partition: None,
        avoid: vec!["Brie".into()],
        items_per_request: 20,
        prompt_template: None,
        weights: Default::default(),
    });
    for truncated in [false, true] {
        for item in parse(&text, truncated, &prompt) {
            assert!(!item.is_empty(), "empty item");
            assert_eq!(item.trim(), item, "item not trimmed: {item:?}");
            assert!(
                !item.chars().any(char::is_control),
                "control character in {item:?}"
            );
            assert!(item.chars().count() <= MAX_ITEM_CHARS, "item too long");
        }
    }
}
