//! Arbitrary bytes as an snmprec recording: no panic, and every record read
//! comes back unchanged after writing and reading it again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    printwatch_snmp::fuzzing::check_snmprec(data);
});
