//! Arbitrary bytes as the JSON of an agent message: no panic, it serialises
//! back, and its snapshots and deltas (applied to a fixed base) keep their
//! digests.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    printwatch_protocol::fuzzing::check_agent_message(data);
});
