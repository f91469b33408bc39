//! The frame decoder fed any stream cut into any reads (`framing::fuzzing::frames`): the same
//! codec the gateway and the harness use, and the same check as
//! `framing/tests/fuzz_regressions.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| framing::fuzzing::frames(data));
