//! PIN blocks (clear and encrypted, ISO 9564 formats 0, 1, 3, 4) and DE 55 cryptogram input:
//! no panic, decoded PINs round-trip, a card's own ARQC verifies and nothing else does, errors
//! show no PAN (`hsm::fuzzing::card_security`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsm::fuzzing::card_security(data));
