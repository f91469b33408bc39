//! Any bytes as one message in every built-in spec: never a panic, whatever decodes re-encodes
//! to bytes that decode to the same message, and `decode_partial` agrees with `decode` and keeps
//! only sound values of what does not decode (`iso8583::fuzzing::decode_with`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iso8583::fuzzing::decode_builtin(data));
