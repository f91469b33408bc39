//! Any bytes as one message in every built-in spec: never a panic, and whatever decodes
//! re-encodes to bytes that decode to the same message (`iso8583::fuzzing::decode_with`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iso8583::fuzzing::decode_builtin(data));
