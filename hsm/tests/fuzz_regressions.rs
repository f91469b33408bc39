//! Replays the `hsm` fuzz target's saved inputs (`fuzz/regressions/hsm/`, the seeds
//! `fuzz/seeds/hsm/` and any `fuzz/artifacts/hsm/` of a local run) through the same check
//! (`hsm::fuzzing::card_security`), so every `cargo test` runs them.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn hsm_inputs_replay_cleanly() {
    let n = iso8583::fuzzing::replay(&fuzz_dir(), "hsm", hsm::fuzzing::card_security);
    assert!(n.seeds >= 10, "the hsm seed corpus is missing: {n:?}");
}

/// The check can fail: a PIN block decoder that returned another PIN would be caught.
#[test]
fn the_check_sees_valid_blocks() {
    // ISO 0 block of PIN 1234 for PAN 4761739001010119 (selector 0: format 0, first PAN).
    let mut input = vec![0u8, 8];
    input.extend_from_slice(&hex_literal::hex!("041223C6FFEFEFEE"));
    hsm::fuzzing::card_security(&input);
    let pin =
        hsm::pinblock::decode(hsm::PinBlockFormat::Iso0, &input[2..], "4761739001010119").unwrap();
    assert!(pin == hsm::ClearPin::new("1234").unwrap());
}
