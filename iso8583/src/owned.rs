//! `OwnedMessage`: a message as logical values, for building requests and responses and for
//! keeping a decoded message beyond its input buffer.

use crate::mti::Mti;
use crate::spec::Sensitivity;
use std::fmt;

/// A message as logical values: text fields as their ASCII characters (digits for BCD fields,
/// ASCII for EBCDIC ones), binary fields as raw bytes. Bitmaps are derived when encoding.
///
/// The values live in one buffer: building a message costs two allocations (the field list
/// and the buffer), not one per field. A value replaced by a longer one leaves its old bytes
/// behind until the buffer is compacted (when the dead bytes outweigh the live ones).
#[derive(Clone)]
pub struct OwnedMessage {
    mti: Mti,
    header: Option<Vec<u8>>,
    /// Sorted by field number, each number once: where the value lies in `data`. A sorted
    /// vector rather than a map: a message has a few dozen fields at most, decoded ones arrive
    /// in order (each one an append).
    fields: Vec<Field>,
    data: Vec<u8>,
    /// Bytes of `data` no field points at any more.
    dead: usize,
}

#[derive(Clone, Copy)]
struct Field {
    n: u16,
    start: u32,
    len: u32,
}

/// Below this, dead bytes are left alone (compacting would cost more than it saves).
const COMPACT_ABOVE: usize = 1024;
/// Room taken at the first value of a message built field by field (a response): enough for
/// a typical authorization, so it is one allocation rather than a series of reallocations.
const FIRST_FIELDS: usize = 16;
const FIRST_BYTES: usize = 256;

impl OwnedMessage {
    /// An empty message of type `mti`.
    pub fn new(mti: Mti) -> Self {
        Self::with_capacity(mti, 0, 0)
    }

    /// An empty message of type `mti` with room for `fields` fields of `bytes` bytes in all.
    pub(crate) fn with_capacity(mti: Mti, fields: usize, bytes: usize) -> Self {
        OwnedMessage {
            mti,
            header: None,
            fields: Vec::with_capacity(fields),
            data: Vec::with_capacity(bytes),
            dead: 0,
        }
    }

    fn position(&self, n: u16) -> Result<usize, usize> {
        // Appending in order (the decoder's case) is checked first: no search.
        match self.fields.last() {
            Some(last) if last.n < n => Err(self.fields.len()),
            None => Err(0),
            _ => self.fields.binary_search_by_key(&n, |f| f.n),
        }
    }

    fn value(&self, f: &Field) -> &[u8] {
        let start = f.start as usize;
        &self.data[start..start + f.len as usize]
    }

    /// The message type indicator.
    pub fn mti(&self) -> Mti {
        self.mti
    }

    /// Changes the message type indicator.
    pub fn set_mti(&mut self, mti: Mti) {
        self.mti = mti;
    }

    /// The header, for specs that declare one.
    pub fn header(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }

    /// Sets the header (its length must match the spec's when encoding).
    pub fn set_header(&mut self, header: impl Into<Vec<u8>>) -> &mut Self {
        self.header = Some(header.into());
        self
    }

    /// Sets field `n` to a logical value: text (`"000000"`) or raw bytes for binary fields.
    /// Checked against the spec when encoding.
    ///
    /// # Panics
    ///
    /// When the message's values would pass 4 GiB in all (no spec allows a message near it).
    pub fn set(&mut self, n: u16, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        let len = u32::try_from(value.len()).expect("an ISO 8583 value is far below 4 GiB");
        match self.position(n) {
            Ok(i) => {
                let old = self.fields[i];
                if len <= old.len {
                    // Fits where the old value was: overwrite in place.
                    let at = old.start as usize;
                    self.data[at..at + value.len()].copy_from_slice(value);
                    self.dead += (old.len - len) as usize;
                    self.fields[i].len = len;
                } else {
                    self.dead += old.len as usize;
                    self.fields[i] = Field {
                        n,
                        start: self.append(value),
                        len,
                    };
                    self.compact_if_mostly_dead();
                }
            }
            Err(i) => {
                if self.fields.capacity() == 0 {
                    self.fields.reserve(FIRST_FIELDS);
                }
                let start = self.append(value);
                self.fields.insert(i, Field { n, start, len });
            }
        }
        self
    }

    fn append(&mut self, value: &[u8]) -> u32 {
        let start = u32::try_from(self.data.len()).expect("an ISO 8583 message is far below 4 GiB");
        if self.data.capacity() == 0 {
            self.data.reserve(FIRST_BYTES.max(value.len()));
        }
        self.data.extend_from_slice(value);
        start
    }

    fn compact_if_mostly_dead(&mut self) {
        if self.dead <= COMPACT_ABOVE || self.dead <= self.data.len() - self.dead {
            return;
        }
        let mut data = Vec::with_capacity(self.data.len() - self.dead);
        for f in &mut self.fields {
            let start = f.start as usize;
            f.start = data.len() as u32;
            data.extend_from_slice(&self.data[start..start + f.len as usize]);
        }
        self.data = data;
        self.dead = 0;
    }

    /// Builder form of [`OwnedMessage::set`].
    pub fn with(mut self, n: u16, value: impl AsRef<[u8]>) -> Self {
        self.set(n, value);
        self
    }

    /// Field `n`'s logical value.
    pub fn get(&self, n: u16) -> Option<&[u8]> {
        self.position(n).ok().map(|i| self.value(&self.fields[i]))
    }

    /// Field `n` as text; `None` when absent or not UTF-8.
    pub fn get_str(&self, n: u16) -> Option<&str> {
        std::str::from_utf8(self.get(n)?).ok()
    }

    /// Whether field `n` is set.
    pub fn has(&self, n: u16) -> bool {
        self.position(n).is_ok()
    }

    /// Removes field `n`, returning its value.
    pub fn remove(&mut self, n: u16) -> Option<Vec<u8>> {
        let i = self.position(n).ok()?;
        let value = self.value(&self.fields[i]).to_vec();
        self.dead += value.len();
        self.fields.remove(i);
        self.compact_if_mostly_dead();
        Some(value)
    }

    /// Field numbers set, ascending.
    pub fn fields(&self) -> impl Iterator<Item = u16> + '_ {
        self.fields.iter().map(|f| f.n)
    }

    /// Field numbers and values, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &[u8])> + '_ {
        self.fields.iter().map(|f| (f.n, self.value(f)))
    }

    /// What [`OwnedMessage::encode`] reserves (the encoder is in `encode.rs`).
    pub(crate) fn encoded_len_hint(&self) -> usize {
        // MTI, bitmaps and a few prefix bytes a field; a hint, not a limit.
        32 + self
            .fields
            .iter()
            .map(|f| f.len as usize * 2 + 3)
            .sum::<usize>()
    }
}

/// Equal when the type, header and fields are: where the values lie in the buffer (and what
/// dead bytes it holds) does not matter.
impl PartialEq for OwnedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.mti == other.mti && self.header == other.header && self.iter().eq(other.iter())
    }
}

impl Eq for OwnedMessage {}

/// Debug never shows card data: PAN fields are masked and fields that may carry track, PIN,
/// security, ICC or private data are shown as their length only (the message has no spec here,
/// so the ISO 8583 field numbers decide).
impl fmt::Debug for OwnedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_map();
        d.entry(&"mti", &self.mti.as_str());
        for (n, v) in self.iter() {
            // Private-use fields may carry card security codes in network-specific sub-fields.
            let private = matches!(n, 48 | 60..=63 | 120..=127);
            match crate::mask::default_sensitivity(n) {
                _ if private => {
                    d.entry(&n, &format_args!("<{} bytes>", v.len()));
                }
                Sensitivity::Pan => {
                    d.entry(&n, &crate::mask::mask_pan(&String::from_utf8_lossy(v)));
                }
                Sensitivity::Secret => {
                    d.entry(&n, &format_args!("<{} bytes>", v.len()));
                }
                Sensitivity::None => {
                    d.entry(&n, &String::from_utf8_lossy(v));
                }
            }
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mti() -> Mti {
        "0100".parse().unwrap()
    }

    #[test]
    fn fields_stay_sorted_and_unique_whatever_the_order_of_setting() {
        let mut m = OwnedMessage::new(mti());
        for n in [41u16, 2, 128, 3, 70, 2, 1, 64, 41] {
            m.set(n, format!("v{n}"));
        }
        assert_eq!(m.fields().collect::<Vec<_>>(), [1, 2, 3, 41, 64, 70, 128]);
        m.set(41, "again");
        assert_eq!(m.get_str(41), Some("again"));
        assert_eq!(m.remove(3), Some(b"v3".to_vec()));
        assert_eq!(m.remove(3), None);
        assert!(!m.has(3) && m.has(128) && m.has(1));
        assert_eq!(m.get(4), None);
        let pairs: Vec<(u16, &[u8])> = m.iter().collect();
        assert_eq!(pairs[0], (1, &b"v1"[..]));
        assert_eq!(pairs.len(), 6);
    }

    #[test]
    fn replaced_values_read_back_whole_and_dead_bytes_are_reclaimed() {
        let mut m = OwnedMessage::new(mti())
            .with(2, "4761739001010010")
            .with(3, "000000");
        m.set(2, "12"); // shorter: in place
        m.set(3, "0000000000"); // longer: appended
        assert_eq!(m.get_str(2), Some("12"));
        assert_eq!(m.get_str(3), Some("0000000000"));
        // Growing one field over and over leaves a bounded buffer behind, and every other
        // field intact.
        for i in 1..=2_000usize {
            m.set(48, "x".repeat(i % 700 + 1));
            assert_eq!(m.get(48).map(<[u8]>::len), Some(i % 700 + 1));
        }
        assert!(
            m.data.len() <= 2 * (m.data.len() - m.dead) + 2 * COMPACT_ABOVE,
            "buffer {} bytes for {} live",
            m.data.len(),
            m.data.len() - m.dead
        );
        assert_eq!(m.get_str(2), Some("12"));
        assert_eq!(m.get_str(3), Some("0000000000"));
        assert_eq!(m.remove(48).map(|v| v.len()), Some(2_000 % 700 + 1));
        // Setting and removing over and over does not grow it either.
        for _ in 0..2_000 {
            m.set(55, [7u8; 300]);
            assert_eq!(m.remove(55), Some(vec![7u8; 300]));
        }
        assert!(m.data.len() <= 2 * (m.data.len() - m.dead) + 2 * COMPACT_ABOVE);
        let fresh = OwnedMessage::new(mti()).with(2, "12").with(3, "0000000000");
        assert_eq!(m, fresh, "dead bytes do not count in equality");
    }

    #[test]
    fn equality_ignores_the_order_fields_were_set_in() {
        let a = OwnedMessage::new(mti())
            .with(2, "x")
            .with(11, "y")
            .with(70, "z");
        let b = OwnedMessage::new(mti())
            .with(70, "z")
            .with(2, "x")
            .with(11, "y");
        assert_eq!(a, b);
        assert_ne!(a, b.clone().with(3, "w"));
    }
}
