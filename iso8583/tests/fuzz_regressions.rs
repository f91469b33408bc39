//! Replays saved fuzz inputs through the very checks the fuzz targets run
//! (`iso8583::fuzzing`): `fuzz/regressions/<target>/` (inputs that once found a bug, checked
//! in), the seed corpus `fuzz/seeds/<target>/`, and `fuzz/artifacts/<target>/` when a local
//! fuzz run left crash inputs there. The frame decoder's target is replayed by
//! `framing/tests/fuzz_regressions.rs`.

use std::path::{Path, PathBuf};

use iso8583::fuzzing::{self, replay};
use iso8583::{decode, Spec};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn decode_inputs_replay_cleanly() {
    let n = replay(&fuzz_dir(), "decode", fuzzing::decode_builtin);
    assert!(n.seeds >= 5, "the decode seed corpus is missing: {n:?}");
    // The seeds are what they claim: real messages, each decoding in some built-in spec, or
    // the scenarios' requests malformed on purpose, each read in some built-in spec past its
    // faults to a STAN (what the switch answers 30 to).
    let dir = fuzz_dir().join("seeds/decode");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let reads = Spec::builtin_names().iter().any(|s| {
            let spec = Spec::builtin(s).unwrap();
            decode(spec, &data).is_ok()
                || iso8583::decode_partial(spec, &data)
                    .message()
                    .is_some_and(|m| m.has(11) && m.fields().count() > 10)
        });
        assert!(reads, "{} reads in no built-in spec", path.display());
    }
}

#[test]
fn round_trip_inputs_replay_cleanly() {
    let n = replay(&fuzz_dir(), "round_trip", fuzzing::round_trip_builtin);
    assert!(n.seeds >= 1, "the round_trip seed corpus is missing: {n:?}");
}

#[test]
fn tlv_inputs_replay_cleanly() {
    let n = replay(&fuzz_dir(), "tlv", fuzzing::tlv);
    assert!(n.seeds >= 1, "the tlv seed corpus is missing: {n:?}");
}

#[test]
fn spec_file_inputs_replay_cleanly() {
    let n = replay(&fuzz_dir(), "spec_file", fuzzing::spec_file);
    assert!(n.seeds >= 1, "the spec_file seed corpus is missing: {n:?}");
}

/// The checks can fail: a message that decodes to something else than it was drawn as is
/// caught (guards against a round-trip check that silently compares a value with itself).
#[test]
#[should_panic(expected = "decode(encode(m)) != m")]
fn round_trip_check_catches_a_changed_value() {
    let spec = Spec::builtin("iso87-binary").unwrap();
    let m = iso8583::OwnedMessage::new("0800".parse().unwrap()).with(70, "301");
    let g = fuzzing::Generated {
        expected: m.clone().with(70, "302"),
        message: m,
        valid: true,
    };
    fuzzing::round_trip(spec, &g);
}

#[test]
fn json_inputs_replay_cleanly() {
    let n = replay(&fuzz_dir(), "json", fuzzing::json);
    assert!(n.seeds >= 5, "the json seed corpus is missing: {n:?}");
}
