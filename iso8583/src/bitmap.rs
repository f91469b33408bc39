//! Bitmaps: 64 bits a block, field 1 of a block in the most significant bit of its first byte.
//! The primary block covers fields 1..64 (bit 1 announces the secondary block), the secondary
//! 65..128 and, where the spec has one, the tertiary (announced by bit 65) 129..192.

/// Which of up to three bitmap blocks a set of fields needs, as three words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bitmaps(pub(crate) [u64; 3]);

impl Bitmaps {
    /// The bit of field `n` (1..=192) in its word.
    fn bit(n: u16) -> (usize, u64) {
        let i = usize::from(n - 1);
        (i / 64, 1u64 << (63 - i % 64))
    }

    pub(crate) fn set(&mut self, n: u16) {
        let (w, b) = Self::bit(n);
        self.0[w] |= b;
    }

    pub(crate) fn has(&self, n: u16) -> bool {
        if n == 0 || n > 192 {
            return false;
        }
        let (w, b) = Self::bit(n);
        self.0[w] & b != 0
    }

    /// Present field numbers, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let lz = bits.leading_zeros();
                bits &= !(1u64 << (63 - lz));
                Some(w as u16 * 64 + lz as u16 + 1)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_positions_follow_iso_bit_order() {
        let mut b = Bitmaps::default();
        for n in [1, 2, 64, 65, 128, 129, 192] {
            b.set(n);
        }
        assert_eq!(b.0[0], 0xC000_0000_0000_0001);
        assert_eq!(b.0[1], 0x8000_0000_0000_0001);
        assert_eq!(b.0[2], 0x8000_0000_0000_0001);
        assert_eq!(b.iter().collect::<Vec<_>>(), [1, 2, 64, 65, 128, 129, 192]);
        assert!(b.has(65) && !b.has(3) && !b.has(0) && !b.has(193));
    }
}
