//! `Message<'a>`: a decoded message as a zero-copy view. Field values stay in the input buffer;
//! the message keeps only where each one is, so decoding allocates nothing. Values whose wire
//! form differs from their logical form (BCD, EBCDIC, raw binary shown as hex) are converted
//! when asked for.

use crate::bitmap::Bitmaps;
use crate::codec::{bcd, ebcdic, hex};
use crate::limits::MAX_FIELD;
use crate::mask;
use crate::mti::Mti;
use crate::owned::OwnedMessage;
use crate::spec::{DataEncoding, FieldSpec, Spec};
use std::borrow::Cow;
use std::fmt;

/// Where one field's wire bytes lie in the input. `u16` is enough because the decoder refuses
/// input longer than [`MAX_MESSAGE_LEN`](crate::limits::MAX_MESSAGE_LEN).
#[derive(Clone, Copy, Default)]
struct Slot {
    start: u16,
    end: u16,
}

/// A decoded message borrowing its field bytes from the input (see [`crate::decode`]).
#[derive(Clone)]
pub struct Message<'a> {
    spec: &'a Spec,
    input: &'a [u8],
    header: Slot,
    mti: Option<Mti>,
    /// Data fields present (never the bitmap positions 1, or 65 when tertiary).
    present: Bitmaps,
    /// BCD values with an odd digit count (one filler nibble on the wire).
    odd: Bitmaps,
    slots: [Slot; MAX_FIELD as usize + 1],
}

impl<'a> Message<'a> {
    pub(crate) fn empty(spec: &'a Spec, input: &'a [u8]) -> Self {
        Message {
            spec,
            input,
            header: Slot::default(),
            mti: None,
            present: Bitmaps::default(),
            odd: Bitmaps::default(),
            slots: [Slot::default(); MAX_FIELD as usize + 1],
        }
    }

    pub(crate) fn set_header(&mut self, start: usize, end: usize) {
        self.header = slot(start, end);
    }

    pub(crate) fn set_mti(&mut self, mti: Mti) {
        self.mti = Some(mti);
    }

    pub(crate) fn mti_read(&self) -> bool {
        self.mti.is_some()
    }

    /// Forgets every data field read (the MTI and header stay): for a partial reading that
    /// turned out to be out of step with the sender.
    pub(crate) fn clear_fields(&mut self) {
        self.present = Bitmaps::default();
        self.odd = Bitmaps::default();
    }

    pub(crate) fn record(&mut self, n: u16, start: usize, end: usize, odd: bool) {
        self.present.set(n);
        if odd {
            self.odd.set(n);
        }
        self.slots[usize::from(n)] = slot(start, end);
    }

    /// The spec the message was decoded with.
    pub fn spec(&self) -> &'a Spec {
        self.spec
    }

    /// The message type indicator.
    pub fn mti(&self) -> Mti {
        // Decode only returns a Message once the MTI was read; "0000" is unreachable.
        self.mti.unwrap_or(Mti::ZERO)
    }

    /// The header bytes, when the spec declares a header.
    pub fn header(&self) -> Option<&'a [u8]> {
        self.spec.header()?;
        self.input
            .get(usize::from(self.header.start)..usize::from(self.header.end))
    }

    /// Whether data element `n` is present.
    pub fn has(&self, n: u16) -> bool {
        self.present.has(n)
    }

    /// Present data element numbers, ascending (bitmaps excluded).
    pub fn fields(&self) -> impl Iterator<Item = u16> + '_ {
        self.present.iter()
    }

    /// The field's bytes exactly as on the wire, without the length prefix.
    pub fn raw(&self, n: u16) -> Option<&'a [u8]> {
        if !self.present.has(n) {
            return None;
        }
        let s = self.slots.get(usize::from(n))?;
        self.input.get(usize::from(s.start)..usize::from(s.end))
    }

    fn parts(&self, n: u16) -> Option<(&'a FieldSpec, &'a [u8])> {
        Some((self.spec.field(n)?, self.raw(n)?))
    }

    fn digits(&self, n: u16, f: &FieldSpec, wire: &[u8]) -> usize {
        wire.len() * 2 - usize::from(self.odd.has(n) && f.data == DataEncoding::Bcd)
    }

    /// The logical value as text: ASCII fields borrow from the input; BCD and EBCDIC fields are
    /// converted; binary fields are shown as uppercase hex.
    pub fn text(&self, n: u16) -> Option<Cow<'a, str>> {
        let (f, wire) = self.parts(n)?;
        Some(match f.data {
            // Validated at decode: printable ASCII or narrower, hence UTF-8.
            DataEncoding::Ascii => Cow::Borrowed(std::str::from_utf8(wire).ok()?),
            DataEncoding::HexAscii if hex::is_upper(wire) => {
                Cow::Borrowed(std::str::from_utf8(wire).ok()?)
            }
            DataEncoding::HexAscii => Cow::Owned(std::str::from_utf8(wire).ok()?.to_uppercase()),
            DataEncoding::Binary => Cow::Owned(hex::upper(wire)),
            DataEncoding::Ebcdic | DataEncoding::Bcd => {
                Cow::Owned(String::from_utf8(self.bytes(n)?.into_owned()).ok()?)
            }
        })
    }

    /// The logical value as bytes: ASCII text, or raw bytes for binary fields.
    pub fn bytes(&self, n: u16) -> Option<Cow<'a, [u8]>> {
        let (f, wire) = self.parts(n)?;
        Some(match f.data {
            DataEncoding::Ascii | DataEncoding::Binary => Cow::Borrowed(wire),
            DataEncoding::Ebcdic => Cow::Owned(wire.iter().map(|&b| ebcdic::to_ascii(b)).collect()),
            DataEncoding::Bcd => {
                Cow::Owned(bcd::to_ascii(f.class, wire, self.digits(n, f, wire), f.pad))
            }
            DataEncoding::HexAscii => Cow::Owned(hex::decode(wire)?),
        })
    }

    /// Copies the logical values out.
    pub fn to_owned_message(&self) -> OwnedMessage {
        let mut m =
            OwnedMessage::with_capacity(self.mti(), self.fields().count(), self.input.len());
        if let Some(h) = self.header() {
            m.set_header(h.to_vec());
        }
        for n in self.fields() {
            if let Some(v) = self.bytes(n) {
                m.set(n, v);
            }
        }
        m
    }
}

fn slot(start: usize, end: usize) -> Slot {
    // Offsets fit: the decoder refuses input longer than u16::MAX.
    Slot {
        start: u16::try_from(start).unwrap_or(u16::MAX),
        end: u16::try_from(end).unwrap_or(u16::MAX),
    }
}

/// Field values are rendered through [`mask::render`], so Debug output never shows a full PAN,
/// track data, PIN block or ICC data.
impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_map();
        d.entry(&"mti", &self.mti().as_str());
        for n in self.fields() {
            if let Some(v) = self.bytes(n) {
                d.entry(&n, &mask::render(self.spec, n, &v));
            }
        }
        d.finish()
    }
}
