//! `OwnedMessage`: a message as logical values, for building requests and responses and for
//! keeping a decoded message beyond its input buffer.

use crate::error::EncodeError;
use crate::mti::Mti;
use crate::spec::{Sensitivity, Spec};
use std::fmt;

/// A message as logical values: text fields as their ASCII characters (digits for BCD fields,
/// ASCII for EBCDIC ones), binary fields as raw bytes. Bitmaps are derived when encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    mti: Mti,
    header: Option<Vec<u8>>,
    /// Sorted by field number, each number once. A sorted vector rather than a map: a message
    /// has a few dozen fields at most, decoded ones arrive in order (each one an append), and
    /// it saves the tree's node allocations on every decode into an owned message.
    fields: Vec<(u16, Vec<u8>)>,
}

impl OwnedMessage {
    /// An empty message of type `mti`.
    pub fn new(mti: Mti) -> Self {
        OwnedMessage {
            mti,
            header: None,
            fields: Vec::new(),
        }
    }

    /// An empty message of type `mti` with room for `fields` fields.
    pub(crate) fn with_capacity(mti: Mti, fields: usize) -> Self {
        OwnedMessage {
            mti,
            header: None,
            fields: Vec::with_capacity(fields),
        }
    }

    fn position(&self, n: u16) -> Result<usize, usize> {
        // Appending in order (the decoder's case) is checked first: no search.
        match self.fields.last() {
            Some(&(last, _)) if last < n => Err(self.fields.len()),
            None => Err(0),
            _ => self.fields.binary_search_by_key(&n, |&(k, _)| k),
        }
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
    pub fn set(&mut self, n: u16, value: impl Into<Vec<u8>>) -> &mut Self {
        let value = value.into();
        match self.position(n) {
            Ok(i) => self.fields[i].1 = value,
            Err(i) => self.fields.insert(i, (n, value)),
        }
        self
    }

    /// Builder form of [`OwnedMessage::set`].
    pub fn with(mut self, n: u16, value: impl Into<Vec<u8>>) -> Self {
        self.set(n, value);
        self
    }

    /// Field `n`'s logical value.
    pub fn get(&self, n: u16) -> Option<&[u8]> {
        self.position(n).ok().map(|i| self.fields[i].1.as_slice())
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
        self.position(n).ok().map(|i| self.fields.remove(i).1)
    }

    /// Field numbers set, ascending.
    pub fn fields(&self) -> impl Iterator<Item = u16> + '_ {
        self.fields.iter().map(|&(n, _)| n)
    }

    /// Field numbers and values, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &[u8])> + '_ {
        self.fields.iter().map(|(n, v)| (*n, v.as_slice()))
    }

    /// Encodes the message in `spec`.
    pub fn encode(&self, spec: &Spec) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        self.encode_into(spec, &mut out)?;
        Ok(out)
    }

    /// Appends the encoded message to `out` (on error `out` is left as it was).
    pub fn encode_into(&self, spec: &Spec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let result = crate::encode::encode_into(self, spec, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encoded_len_hint(&self) -> usize {
        // MTI, bitmaps and a few prefix bytes a field; a hint, not a limit.
        32 + self
            .fields
            .iter()
            .map(|(_, v)| v.len() * 2 + 3)
            .sum::<usize>()
    }
}

/// Debug never shows card data: PAN fields are masked and fields that may carry track, PIN,
/// security, ICC or private data are shown as their length only (the message has no spec here,
/// so the ISO 8583 field numbers decide).
impl fmt::Debug for OwnedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_map();
        d.entry(&"mti", &self.mti.as_str());
        for &(n, ref v) in &self.fields {
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
