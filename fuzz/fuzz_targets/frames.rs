//! The gateway's frame decoder fed any stream cut into any reads
//! (`gateway::framing::fuzzing::frames`).
//!
//! `gateway/src/framing/` depends on nothing else in the gateway, so it is compiled here from
//! the gateway's own sources: the same codec and the same check as
//! `gateway/tests/fuzz_regressions.rs`, without building the switch.
#![no_main]

#[path = "../../gateway/src/framing/mod.rs"]
#[allow(dead_code, unused_imports)]
mod framing;

libfuzzer_sys::fuzz_target!(|data: &[u8]| framing::fuzzing::frames(data));
