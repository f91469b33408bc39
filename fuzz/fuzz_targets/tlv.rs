//! Any bytes as DE 55 BER-TLV (and DE 48-style sub-fields): reads stay in bounds, agree with
//! each other and re-write canonically (`iso8583::fuzzing::tlv`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iso8583::fuzzing::tlv(data));
