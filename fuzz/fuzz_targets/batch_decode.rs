//! Fuzz target: any stream message, through batch decoding and item vetting.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    coordinator::fuzzing::batch_decode(data);
});
