//! Replays saved inputs of the `frames` fuzz target through the very check it runs
//! (`framing::fuzzing::frames`): `fuzz/regressions/frames/` (inputs that once found a
//! bug, checked in), the seed corpus `fuzz/seeds/frames/`, and `fuzz/artifacts/frames/` when a
//! local fuzz run left crash inputs there.

use std::path::Path;

use framing::fuzzing::frames;
use iso8583::fuzzing::replay;

#[test]
fn frames_inputs_replay_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let n = replay(&dir, "frames", frames);
    assert!(n.seeds >= 5, "the frames seed corpus is missing: {n:?}");
}
