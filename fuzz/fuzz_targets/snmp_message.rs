//! Arbitrary bytes as an SNMP message (async-snmp's decoder): every varbind
//! value converts to printwatch's `Value` without panicking, and back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    printwatch_snmp::fuzzing::check_snmp_message(data);
});
