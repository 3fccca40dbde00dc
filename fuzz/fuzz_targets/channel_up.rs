//! Arbitrary bytes as the command channel's hello (what the server reads): see
//! `printwatch_protocol::fuzzing::check_channel_up`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    printwatch_protocol::fuzzing::check_channel_up(data);
});
