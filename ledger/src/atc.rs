//! The application transaction counter (EMV tag 9F36) as a replay check (issue 23).
//!
//! A chip card counts every transaction it makes and signs the count into its ARQC: a
//! genuine cryptogram captured from one message and sent again in a new one (new STAN, new
//! DE 7: not a repeat under the same network key) verifies all over again, and only its ATC
//! shows it was used before. The ledger keeps, per card, the highest ATC seen with a verified
//! cryptogram and a bitmap of the [`ATC_WINDOW`] counts just below it, the anti-replay
//! window of IPsec (RFC 4303 section 3.4.3) and DTLS (RFC 6347 section 4.1.2.6): a count
//! above the highest moves the window up, one inside it is taken once, one already seen or
//! older than the window is refused. The window, not just "greater than the highest", lets
//! two messages of one card that the acquirer's network delivers out of order both through.
//!
//! The counter is two bytes and belongs to one card application: a card re-issued under the
//! same PAN with the next PAN sequence number (DE 23, tag 5F34) starts counting again, under
//! an ICC key of its own (EMV option A derives it from PAN and PSN). The window therefore runs
//! over the sequence `PSN x 65536 + ATC` ([`sequence`]): the new card's first count is above
//! everything the old one sent, and the old card's cryptograms fall below the window once the
//! new one is used (a replaced card stops working, as it should). A counter that wraps within
//! one PSN is not fresh: EMV cards stop at their limit before that.

/// How many counts below the highest are still accepted once each, the highest included
/// (the bitmap's width). IPsec's and DTLS's minimum is 32 and their default 64; one card's
/// messages are never that many at once, but `harness load --card-security` runs one card
/// 4 x 32 in flight, and its counters reached the writer up to about a hundred apart
/// (measured: a 64-wide window refused 7-10% of them as too old): 256 covers it.
pub const ATC_WINDOW: u16 = 256;

/// The bitmap's 64-bit words.
const WORDS: usize = ATC_WINDOW as usize / 64;

/// Where the counter `atc` of the card application with PAN sequence number `psn` stands in
/// the card's window: `psn x 65536 + atc`.
pub(crate) fn sequence(psn: u8, atc: u16) -> u32 {
    (u32::from(psn) << 16) | u32::from(atc)
}

/// A card's window: the highest counter seen with a verified cryptogram and which of the
/// [`ATC_WINDOW`] counts ending at it were seen. [`AtcWindow::default`]: none seen yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AtcWindow {
    /// The highest [`sequence`] seen; `None`: the card has had no verified cryptogram.
    pub(crate) highest: Option<u32>,
    /// Bit `i` (bit `i % 64` of word `i / 64`) set: counter `highest - i` was seen (bit 0 is
    /// the highest itself).
    pub(crate) seen: [u64; WORDS],
}

/// `bits` moved up by `by` (toward older counts); what passes the top is forgotten.
fn shifted(bits: [u64; WORDS], by: u32) -> [u64; WORDS] {
    let mut out = [0u64; WORDS];
    let (words, rest) = ((by / 64) as usize, by % 64);
    for i in (words..WORDS).rev() {
        let from = i - words;
        out[i] = bits[from] << rest;
        if rest > 0 && from > 0 {
            out[i] |= bits[from - 1] >> (64 - rest);
        }
    }
    out
}

impl AtcWindow {
    /// The window with `atc` taken, or `None` when `atc` is refused: already seen, or older
    /// than the window.
    pub(crate) fn accept(self, atc: u32) -> Option<AtcWindow> {
        let mut first = [0u64; WORDS];
        first[0] = 1;
        let Some(high) = self.highest else {
            return Some(AtcWindow {
                highest: Some(atc),
                seen: first,
            });
        };
        if atc > high {
            let up = atc - high;
            let mut seen = if up >= u32::from(ATC_WINDOW) {
                [0u64; WORDS]
            } else {
                shifted(self.seen, up)
            };
            seen[0] |= 1;
            return Some(AtcWindow {
                highest: Some(atc),
                seen,
            });
        }
        let back = high - atc;
        if back >= u32::from(ATC_WINDOW) {
            return None;
        }
        let (word, bit) = ((back / 64) as usize, 1u64 << (back % 64));
        if self.seen[word] & bit != 0 {
            return None;
        }
        let mut seen = self.seen;
        seen[word] |= bit;
        Some(AtcWindow {
            highest: self.highest,
            seen,
        })
    }

    /// As stored: the highest (NULL: none) and the bitmap as hex, most significant word
    /// first (portable text: SQL has no unsigned 64-bit type, and the two engines no common
    /// binary one).
    pub(crate) fn to_columns(self) -> (Option<i64>, String) {
        let hex = self
            .seen
            .iter()
            .rev()
            .map(|w| format!("{w:016x}"))
            .collect();
        (self.highest.map(i64::from), hex)
    }

    /// From the stored columns (NULLs: a row from before the window, or none seen).
    pub(crate) fn from_columns(
        highest: Option<i64>,
        seen: Option<String>,
    ) -> crate::Result<AtcWindow> {
        let bad = || crate::LedgerError::corrupt("card_security", "ATC window unreadable");
        let highest = highest.map(u32::try_from).transpose().map_err(|_| bad())?;
        let mut bits = [0u64; WORDS];
        if highest.is_some() {
            let hex = seen.ok_or_else(bad)?;
            if hex.len() != WORDS * 16 || !hex.is_ascii() {
                return Err(bad());
            }
            for (i, w) in bits.iter_mut().rev().enumerate() {
                *w = u64::from_str_radix(&hex[i * 16..(i + 1) * 16], 16).map_err(|_| bad())?;
            }
        }
        Ok(AtcWindow {
            highest,
            seen: bits,
        })
    }
}

/// A card's window's new value, written with the batch (the row is created when the card
/// has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AtcChange {
    pub(crate) card_id: String,
    pub(crate) window: AtcWindow,
    pub(crate) at_us: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = ATC_WINDOW as u32;

    fn taken(w: AtcWindow, atcs: &[u32]) -> AtcWindow {
        atcs.iter().fold(w, |w, &a| w.accept(a).unwrap())
    }

    #[test]
    fn first_count_is_taken_and_then_refused() {
        let w = AtcWindow::default().accept(7).unwrap();
        assert_eq!(w.highest, Some(7));
        assert_eq!(w.accept(7), None);
    }

    #[test]
    fn higher_counts_move_the_window_and_lower_ones_inside_it_are_taken_once() {
        let w = taken(AtcWindow::default(), &[10, 12]);
        let w = w.accept(11).unwrap();
        assert_eq!(w.highest, Some(12));
        assert_eq!(w.accept(11), None);
        assert_eq!(w.accept(10), None);
        assert_eq!(w.accept(12), None);
        assert!(w.accept(9).is_some());
    }

    #[test]
    fn counts_older_than_the_window_are_refused() {
        let w = taken(AtcWindow::default(), &[1000]);
        assert!(w.accept(1000 - (W - 1)).is_some());
        assert_eq!(w.accept(1000 - W), None);
        assert_eq!(w.accept(0), None);
    }

    #[test]
    fn seen_counts_are_remembered_across_words_as_the_window_moves() {
        let w = taken(AtcWindow::default(), &[1, 2, 70, 200]);
        // 200 - 1 = 199 back: word 3; 200 - 70 = 130: word 2.
        for a in [1, 2, 70, 200] {
            assert_eq!(w.accept(a), None, "{a}");
        }
        let w = w.accept(257).unwrap();
        assert_eq!(w.accept(2), None, "now older than the window");
        assert_eq!(w.accept(70), None);
        assert!(w.accept(3).is_some());
        assert!(w.accept(69).is_some());
    }

    #[test]
    fn a_jump_past_the_window_forgets_what_was_below() {
        let w = taken(AtcWindow::default(), &[1, 2, 3]);
        let w = w.accept(3 + W).unwrap();
        assert_eq!(w.seen, [1, 0, 0, 0]);
        assert_eq!(w.accept(3), None, "now older than the window");
        assert!(w.accept(4).is_some());
        let w = taken(AtcWindow::default(), &[0]).accept(u32::MAX).unwrap();
        assert_eq!(w.highest, Some(u32::MAX));
        assert_eq!(w.accept(u32::MAX), None);
    }

    #[test]
    fn the_bitmap_survives_the_columns() {
        let w = taken(AtcWindow::default(), &[1, 64, 65, 256]);
        let (h, s) = w.to_columns();
        assert_eq!(s.len(), 64);
        assert_eq!(AtcWindow::from_columns(h, Some(s)).unwrap(), w);
        assert_eq!(
            AtcWindow::from_columns(None, None).unwrap(),
            AtcWindow::default()
        );
        assert!(AtcWindow::from_columns(Some(-1), Some("0".repeat(64))).is_err());
        assert!(AtcWindow::from_columns(Some(1), Some("zz".into())).is_err());
        assert!(AtcWindow::from_columns(Some(1), None).is_err());
    }

    #[test]
    fn the_next_card_application_starts_above_the_last_and_ends_it() {
        let w = taken(AtcWindow::default(), &[sequence(1, 65_000)]);
        let w = w.accept(sequence(2, 1)).unwrap();
        assert_eq!(w.accept(sequence(1, 65_001)), None, "the replaced card");
        assert!(w.accept(sequence(2, 2)).is_some());
    }
}
