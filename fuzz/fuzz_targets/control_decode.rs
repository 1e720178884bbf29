//! Fuzz target: any control request payload, through every verb's decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    coordinator::fuzzing::control_decode(data);
});
