//! Arbitrary bytes as a snapshot delta applied to a fixed base snapshot: no
//! panic, and what applies serialises back with a stable digest.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    printwatch_protocol::fuzzing::check_snapshot_delta(data);
});
