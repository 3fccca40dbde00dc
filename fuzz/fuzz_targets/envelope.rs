//! Arbitrary bytes as a sealed envelope (and as the compressed content and the
//! JSON of an authentic one): opening never panics, and what opens seals and
//! opens again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    printwatch_protocol::fuzzing::check_envelope(data);
});
