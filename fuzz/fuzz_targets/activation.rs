//! Arbitrary bytes as an activation code, an activation request and an
//! activation answer: no panic, and each reads back from what it writes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    printwatch_protocol::fuzzing::check_activation(data);
});
