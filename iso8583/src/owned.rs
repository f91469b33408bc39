//! `OwnedMessage`: a message as logical values, for building requests and responses and for
//! keeping a decoded message beyond its input buffer.

use crate::error::EncodeError;
use crate::mti::Mti;
use crate::spec::{Sensitivity, Spec};
use std::collections::BTreeMap;
use std::fmt;

/// A message as logical values: text fields as their ASCII characters (digits for BCD fields,
/// ASCII for EBCDIC ones), binary fields as raw bytes. Bitmaps are derived when encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    mti: Mti,
    header: Option<Vec<u8>>,
    fields: BTreeMap<u16, Vec<u8>>,
}

impl OwnedMessage {
    /// An empty message of type `mti`.
    pub fn new(mti: Mti) -> Self {
        OwnedMessage {
            mti,
            header: None,
            fields: BTreeMap::new(),
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
        self.fields.insert(n, value.into());
        self
    }

    /// Builder form of [`OwnedMessage::set`].
    pub fn with(mut self, n: u16, value: impl Into<Vec<u8>>) -> Self {
        self.set(n, value);
        self
    }

    /// Field `n`'s logical value.
    pub fn get(&self, n: u16) -> Option<&[u8]> {
        self.fields.get(&n).map(Vec::as_slice)
    }

    /// Field `n` as text; `None` when absent or not UTF-8.
    pub fn get_str(&self, n: u16) -> Option<&str> {
        std::str::from_utf8(self.get(n)?).ok()
    }

    /// Whether field `n` is set.
    pub fn has(&self, n: u16) -> bool {
        self.fields.contains_key(&n)
    }

    /// Removes field `n`, returning its value.
    pub fn remove(&mut self, n: u16) -> Option<Vec<u8>> {
        self.fields.remove(&n)
    }

    /// Field numbers set, ascending.
    pub fn fields(&self) -> impl Iterator<Item = u16> + '_ {
        self.fields.keys().copied()
    }

    /// Field numbers and values, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &[u8])> + '_ {
        self.fields.iter().map(|(&n, v)| (n, v.as_slice()))
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
        32 + self.fields.values().map(|v| v.len() * 2 + 3).sum::<usize>()
    }
}

/// Debug never shows card data: PAN fields are masked and fields that may carry track, PIN,
/// security, ICC or private data are shown as their length only (the message has no spec here,
/// so the ISO 8583 field numbers decide).
impl fmt::Debug for OwnedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_map();
        d.entry(&"mti", &self.mti.as_str());
        for (&n, v) in &self.fields {
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
