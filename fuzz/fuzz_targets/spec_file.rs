//! A spec file (TOML or JSON), NUL, a payload: a spec that loads must be one the codec can
//! trust with any payload (`iso8583::fuzzing::spec_file`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iso8583::fuzzing::spec_file(data));
