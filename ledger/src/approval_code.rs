//! DE 38 approval codes: "an 6", unique per store.

/// 36^6: how many distinct 6-character uppercase alphanumeric codes exist.
pub const CODE_SPACE: u64 = 2_176_782_336;
// A multiplier coprime to 36^6 = 2^12 * 3^12 (neither even nor a multiple of 3) makes
// n -> (n * A + B) mod 36^6 a bijection: consecutive counters give unrelated-looking codes
// that cannot collide until the counter wraps after 2.1 billion approvals.
const MULTIPLIER: u64 = 1_000_000_007;
const OFFSET: u64 = 1_234_567_891;
const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The approval code for the `n`th approval of a store (the stores keep `n` durable: a
/// SQLite counter row, a PostgreSQL sequence shared by all gateway instances).
pub fn approval_code(n: u64) -> String {
    let mut v = ((u128::from(n) * u128::from(MULTIPLIER) + u128::from(OFFSET))
        % u128::from(CODE_SPACE)) as u64;
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v % 36) as usize];
        v /= 36;
    }
    out.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_six_uppercase_alphanumerics_and_distinct() {
        let mut seen = HashSet::new();
        for n in 0..100_000 {
            let c = approval_code(n);
            assert_eq!(c.len(), 6);
            assert!(c
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
            assert!(seen.insert(c), "duplicate at {n}");
        }
    }
}
