//! Arbitrary bytes as the command channel's server message (what the agent reads): see
//! `printwatch_protocol::fuzzing::check_channel_down`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    printwatch_protocol::fuzzing::check_channel_down(data);
});
