//! Any bytes as the JSON form of a message, read with every built-in spec: never a panic, the
//! JSON form round trips and whatever encodes decodes to the same values
//! (`iso8583::fuzzing::json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iso8583::fuzzing::json(data));
