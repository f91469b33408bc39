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

/// `MULTIPLIER`'s inverse modulo [`CODE_SPACE`] (`MULTIPLIER * INVERSE = 1 mod 36^6`).
const INVERSE: u64 = inverse(MULTIPLIER, CODE_SPACE);

/// The inverse of `a` modulo `m` (`a` and `m` coprime), by the extended Euclidean algorithm.
const fn inverse(a: u64, m: u64) -> u64 {
    let (mut r0, mut r1) = (m as i128, a as i128);
    let (mut t0, mut t1) = (0i128, 1i128);
    while r1 != 0 {
        let q = r0 / r1;
        (r0, r1) = (r1, r0 - q * r1);
        (t0, t1) = (t1, t0 - q * t1);
    }
    (((t0 % m as i128) + m as i128) % m as i128) as u64
}

/// The counter, modulo [`CODE_SPACE`], that [`approval_code`] made `code` from; `None` for
/// text that no counter gives. Consecutive approvals have consecutive numbers, so an index on
/// (number, card) grows at its one end like one on time, where one on the code itself takes
/// each insert to a random page (on SQLite that halved the switch's throughput: every commit
/// dirtied a page per approval and every checkpoint copied them, docs/PERFORMANCE.md).
pub(crate) fn approval_number(code: &str) -> Option<i64> {
    if code.len() != 6 {
        return None;
    }
    let mut v: u64 = 0;
    for b in code.bytes() {
        let d = ALPHABET.iter().position(|&a| a == b)? as u64;
        v = v * 36 + d;
    }
    let n = (u128::from(v + CODE_SPACE - OFFSET % CODE_SPACE) * u128::from(INVERSE))
        % u128::from(CODE_SPACE);
    i64::try_from(n).ok()
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
            assert_eq!(approval_number(&c), Some(n as i64));
            assert!(seen.insert(c), "duplicate at {n}");
        }
    }
}
