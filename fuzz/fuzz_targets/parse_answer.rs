//! Fuzz target: any bytes a model might answer, through the worker's parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    worker::fuzzing::parse_answer(data);
});
