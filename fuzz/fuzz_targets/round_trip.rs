//! An `arbitrary` message for a built-in spec: encode -> decode gives it back, and the bytes
//! are canonical (`iso8583::fuzzing::round_trip`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iso8583::fuzzing::round_trip_builtin(data));
