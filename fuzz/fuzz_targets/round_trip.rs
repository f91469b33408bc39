//! An `arbitrary` message for a built-in spec: encode -> decode gives it back, and the bytes
//! are canonical (`iso8583::fuzzing::round_trip`); then one field damaged with its extent still
//! known (a byte outside its class, or a length above its maximum): `decode_partial` recovers
//! every other field as it was, with that one fault (`iso8583::fuzzing::damaged_field`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iso8583::fuzzing::round_trip_builtin(data));
