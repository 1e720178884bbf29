//! Fuzz target: any candidate text, through the dedup key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    coordinator::fuzzing::normalize(data);
});
