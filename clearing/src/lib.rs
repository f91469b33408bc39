//! Clearing files (issue 24): what a card network sends the issuer a day or more after the
//! authorizations, saying what each merchant actually took.
//!
//! A file is a sequence of ISO 8583:1993 messages, each preceded by a 4-byte big-endian
//! length (the IPM "RDW" layout): a 1644 header (DE 24 = 697, the file id in DE 48), 1240
//! presentments (DE 24 = 200 first presentment, 282 partial, 205 second presentment) and a
//! 1644 trailer (DE 24 = 695, the count of presentments and the total of their DE 4 in DE
//! 48). DE 48 carries private data subelements as IPM lays them out (PDS: a 4-digit tag, a
//! 3-digit length, the value), read with the codec's subfield views. Two encodings of the
//! messages: `iso93-ebcdic` (IPM-like: EBCDIC, binary bitmaps) and `iso93-ascii`; and the
//! same messages in the JSON form, one per line (for people and tests). The layout is
//! recognised from the first bytes.
//!
//! Reading is bounded: a record's length is checked against [`MAX_RECORD_LEN`] (a JSON line
//! against [`MAX_LINE_LEN`]) before any buffer grows, the number of records against
//! [`MAX_RECORDS`], and garbage is an error, never a panic. A file is checked whole first
//! ([`check`]: header, trailer, count and total) so that a file refused is refused before
//! anything of it is posted; then its presentments are read again ([`Records`],
//! [`Presentment::from_message`]) to post them.

mod write;

use std::borrow::Cow;
use std::io::{BufRead, ErrorKind, Read};

use iso8583::tlv::subfield::{self, SubfieldFormat};
use iso8583::{OwnedMessage, Spec};
use thiserror::Error;

pub use write::{header_message, presentment_message, trailer_message, write_file, write_record};

/// IPM's private data subelements in DE 48: 4-digit tag, 3-digit length.
pub const PDS: SubfieldFormat = SubfieldFormat {
    skip: 0,
    tag_len: 4,
    len_digits: 3,
};
/// PDS of the header: the file id.
pub const PDS_FILE_ID: &[u8] = b"0105";
/// PDS of the trailer: the total of the presentments' DE 4 (minor units, whatever their
/// currency: a hash total, as IPM's).
pub const PDS_TOTAL: &[u8] = b"0301";
/// PDS of the trailer: the number of presentments (1240 messages).
pub const PDS_COUNT: &[u8] = b"0306";
/// DE 24 of the header.
pub const FUNCTION_HEADER: &str = "697";
/// DE 24 of the trailer.
pub const FUNCTION_TRAILER: &str = "695";
/// Longest record (an ISO 8583 message) read: the codec's own limit.
pub const MAX_RECORD_LEN: usize = iso8583::limits::MAX_MESSAGE_LEN;
/// Longest JSON line read.
pub const MAX_LINE_LEN: usize = 64 * 1024;
/// Most records a file may have.
pub const MAX_RECORDS: u64 = 100_000_000;
/// Longest file id accepted.
pub const MAX_FILE_ID_LEN: usize = 64;

/// How a file's messages are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// RDW + `iso93-ascii`.
    Ascii,
    /// RDW + `iso93-ebcdic` (IPM-like).
    Ebcdic,
    /// One JSON-form message per line (`iso93-ascii` field table).
    JsonLines,
}

impl Layout {
    /// The spec its messages are in.
    pub fn spec(self) -> Result<&'static Spec, FileError> {
        let name = match self {
            Layout::Ebcdic => "iso93-ebcdic",
            Layout::Ascii | Layout::JsonLines => "iso93-ascii",
        };
        Spec::builtin(name).ok_or(FileError::NoSpec(name))
    }

    /// `ascii`, `ebcdic`, `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Ascii => "ascii",
            Layout::Ebcdic => "ebcdic",
            Layout::JsonLines => "json",
        }
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ascii" => Ok(Layout::Ascii),
            "ebcdic" | "ipm" => Ok(Layout::Ebcdic),
            "json" | "jsonl" => Ok(Layout::JsonLines),
            _ => Err(format!("{s:?}: expected ascii, ebcdic or json")),
        }
    }
}

/// Why a file is refused as a whole. Never shows card data (the codec's errors do not).
#[derive(Debug, Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
    /// A built-in spec is missing (a build defect).
    #[error("built-in spec {0} missing")]
    NoSpec(&'static str),
    /// Neither RDW (with a 1644 first) nor JSON lines.
    #[error("not a clearing file: it starts with neither a 4-byte length and MTI 1644 nor a JSON object")]
    Unrecognised,
    /// A record's length is zero or over the limit (checked before reading it).
    #[error("record {index}: length {len} (at most {max})")]
    Length {
        /// Position in the file (0: the header).
        index: u64,
        /// The length claimed.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The file ends inside a record.
    #[error("record {index}: the file ends inside it")]
    Truncated {
        /// Position in the file.
        index: u64,
    },
    /// A record that is not a message of the layout's spec.
    #[error("record {index}: {reason}")]
    Decode {
        /// Position in the file.
        index: u64,
        /// What the codec said (field and offset, never a value).
        reason: String,
    },
    /// Records out of place: no header first, something after the trailer, a header or
    /// trailer without what it must carry.
    #[error("record {index}: {what}")]
    Structure {
        /// Position in the file.
        index: u64,
        /// What is wrong.
        what: String,
    },
    /// The file ends without a trailer.
    #[error("no 1644 trailer (DE 24 = 695) at the end of the file")]
    NoTrailer,
    /// The trailer's count disagrees with the file.
    #[error("the trailer counts {claimed} presentments, the file has {found}")]
    Count {
        /// PDS 0306.
        claimed: u64,
        /// 1240 messages read.
        found: u64,
    },
    /// The trailer's total disagrees with the file.
    #[error("the trailer's total is {claimed}, the presentments' DE 4 add up to {found}")]
    Total {
        /// PDS 0301.
        claimed: u128,
        /// Sum of DE 4.
        found: u128,
    },
    /// More records than [`MAX_RECORDS`].
    #[error("more than {MAX_RECORDS} records")]
    TooManyRecords,
}

/// What [`check`] found: the file is whole and consistent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The layout recognised.
    pub layout: Layout,
    /// The header's file id (PDS 0105).
    pub file_id: String,
    /// Presentments (1240 messages).
    pub presentments: u64,
    /// The sum of their DE 4 (minor units, currencies mixed: a hash total).
    pub total_minor: u128,
    /// Records of other kinds skipped (not presentments).
    pub skipped: u64,
}

/// The file's messages in order, read one at a time with bounded buffers.
pub struct Records<R> {
    src: R,
    layout: Layout,
    spec: &'static Spec,
    index: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Records<R> {
    /// Recognises the layout from the first bytes of `src` and reads from there.
    pub fn new(mut src: R) -> Result<Self, FileError> {
        let layout = detect(src.fill_buf()?)?;
        Ok(Records {
            src,
            layout,
            spec: layout.spec()?,
            index: 0,
            buf: Vec::new(),
            done: false,
        })
    }

    /// The layout recognised.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The spec the messages are read with.
    pub fn spec(&self) -> &'static Spec {
        self.spec
    }

    fn read_rdw(&mut self) -> Result<Option<OwnedMessage>, FileError> {
        let index = self.index;
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.src.read(&mut len[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(FileError::Truncated { index }),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let n = u32::from_be_bytes(len) as usize;
        if n == 0 || n > MAX_RECORD_LEN {
            return Err(FileError::Length {
                index,
                len: n,
                max: MAX_RECORD_LEN,
            });
        }
        self.buf.resize(n, 0);
        match self.src.read_exact(&mut self.buf) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                return Err(FileError::Truncated { index })
            }
            Err(e) => return Err(e.into()),
        }
        iso8583::decode(self.spec, &self.buf)
            .map(|m| Some(m.to_owned_message()))
            .map_err(|e| FileError::Decode {
                index,
                reason: e.to_string(),
            })
    }

    fn read_json(&mut self) -> Result<Option<OwnedMessage>, FileError> {
        let index = self.index;
        loop {
            self.buf.clear();
            let limit = MAX_LINE_LEN as u64 + 1;
            let n = (&mut self.src)
                .take(limit)
                .read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            if self.buf.len() > MAX_LINE_LEN {
                return Err(FileError::Length {
                    index,
                    len: self.buf.len(),
                    max: MAX_LINE_LEN,
                });
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_slice(&self.buf).map_err(|e| FileError::Decode {
                    index,
                    // serde_json's message names a position, never the text.
                    reason: format!("not JSON: line {}, column {}", e.line(), e.column()),
                })?;
            return OwnedMessage::from_json(self.spec, &v)
                .map(Some)
                .map_err(|e| FileError::Decode {
                    index,
                    reason: e.to_string(),
                });
        }
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<OwnedMessage, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index >= MAX_RECORDS {
            self.done = true;
            return Some(Err(FileError::TooManyRecords));
        }
        let r = match self.layout {
            Layout::JsonLines => self.read_json(),
            Layout::Ascii | Layout::Ebcdic => self.read_rdw(),
        };
        match r {
            Ok(Some(m)) => {
                self.index += 1;
                Some(Ok(m))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn detect(peek: &[u8]) -> Result<Layout, FileError> {
    let first = peek.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return Ok(Layout::JsonLines);
    }
    match peek.get(4..8) {
        Some(b"1644") => Ok(Layout::Ascii),
        Some([0xF1, 0xF6, 0xF4, 0xF4]) => Ok(Layout::Ebcdic),
        _ => Err(FileError::Unrecognised),
    }
}

/// What a message is in a clearing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 1644, DE 24 = 697.
    Header,
    /// 1644, DE 24 = 695.
    Trailer,
    /// 1240 (any DE 24).
    Presentment,
    /// Anything else (fee collections, other 1644s): skipped.
    Other,
}

/// What `m` is.
pub fn kind(m: &OwnedMessage) -> Kind {
    match (m.mti().as_str(), m.get_str(24)) {
        ("1644", Some(FUNCTION_HEADER)) => Kind::Header,
        ("1644", Some(FUNCTION_TRAILER)) => Kind::Trailer,
        ("1240", _) => Kind::Presentment,
        _ => Kind::Other,
    }
}

/// A PDS of DE 48, if present (`Err` when DE 48 is not a run of PDS).
pub fn pds<'m>(m: &'m OwnedMessage, tag: &[u8]) -> Result<Option<Cow<'m, str>>, String> {
    let Some(de48) = m.get(48) else {
        return Ok(None);
    };
    match subfield::find(PDS, de48, tag) {
        Ok(Some(s)) => Ok(Some(String::from_utf8_lossy(s.value))),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("DE 48 is not a run of PDS: {e}")),
    }
}

/// A whole-digit number of at most 38 digits (`None` otherwise).
fn digits_u128(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 38 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Reads the whole file once and checks it: a header first with its file id, a trailer
/// last whose count and total agree with the presentments, nothing after it. The file is
/// refused as a whole (`Err`) otherwise; nothing is kept but the sums.
pub fn check<R: BufRead>(src: R) -> Result<Summary, FileError> {
    let mut records = Records::new(src)?;
    let layout = records.layout();
    let mut file_id = None;
    let mut count = 0u64;
    let mut total = 0u128;
    let mut skipped = 0u64;
    let mut trailer: Option<(u64, u128)> = None;
    for (i, m) in records.by_ref().enumerate() {
        let index = i as u64;
        let m = m?;
        let structure = |what: &str| FileError::Structure {
            index,
            what: what.to_owned(),
        };
        if trailer.is_some() {
            return Err(structure("a record after the trailer"));
        }
        match (index, kind(&m)) {
            (0, Kind::Header) => {
                let id = pds(&m, PDS_FILE_ID)
                    .map_err(|e| structure(&e))?
                    .ok_or_else(|| structure("the header has no file id (DE 48 PDS 0105)"))?;
                let id = id.trim();
                if id.is_empty()
                    || id.len() > MAX_FILE_ID_LEN
                    || !id.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(structure("the file id is empty, too long or not printable"));
                }
                file_id = Some(id.to_owned());
            }
            (0, _) => {
                return Err(structure(
                    "the first record is not a 1644 header (DE 24 = 697)",
                ))
            }
            (_, Kind::Header) => return Err(structure("a second header")),
            (_, Kind::Presentment) => {
                let amount = m
                    .get_str(4)
                    .and_then(digits_u128)
                    .ok_or_else(|| structure("a presentment without a numeric DE 4"))?;
                count += 1;
                total = total.saturating_add(amount);
            }
            (_, Kind::Trailer) => {
                let num = |tag: &[u8], name: &str| -> Result<u128, FileError> {
                    pds(&m, tag)
                        .map_err(|e| structure(&e))?
                        .as_deref()
                        .map(str::trim)
                        .and_then(digits_u128)
                        .ok_or_else(|| structure(&format!("the trailer has no numeric {name}")))
                };
                let c = num(PDS_COUNT, "count (PDS 0306)")?;
                let t = num(PDS_TOTAL, "total (PDS 0301)")?;
                trailer = Some((u64::try_from(c).unwrap_or(u64::MAX), t));
            }
            (_, Kind::Other) => skipped += 1,
        }
    }
    let file_id = file_id.ok_or(FileError::Structure {
        index: 0,
        what: "an empty file".into(),
    })?;
    let (claimed, claimed_total) = trailer.ok_or(FileError::NoTrailer)?;
    if claimed != count {
        return Err(FileError::Count {
            claimed,
            found: count,
        });
    }
    if claimed_total != total {
        return Err(FileError::Total {
            claimed: claimed_total,
            found: total,
        });
    }
    Ok(Summary {
        layout,
        file_id,
        presentments: count,
        total_minor: total,
        skipped,
    })
}

/// One presentment as the file gives it (what the ledger needs of a 1240).
#[derive(Clone, PartialEq, Eq)]
pub struct Presentment {
    /// DE 24: `200`, `282` or `205`.
    pub function_code: String,
    /// DE 2 (never shown: [`std::fmt::Debug`] masks it).
    pub pan: String,
    /// DE 4.
    pub amount_minor: i64,
    /// DE 49 as written (numeric `840` or alpha `USD`).
    pub currency: String,
    /// DE 31.
    pub arn: String,
    /// DE 38.
    pub approval_code: Option<String>,
    /// DE 26 (1993: card acceptor business code), else DE 18.
    pub mcc: Option<String>,
    /// DE 12's date (YYMMDD, 20YY), when present and valid.
    pub local_date: Option<(i16, i8, i8)>,
}

impl std::fmt::Debug for Presentment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presentment")
            .field("function_code", &self.function_code)
            .field("pan", &iso8583::mask::mask_pan(&self.pan))
            .field("amount_minor", &self.amount_minor)
            .field("currency", &self.currency)
            .field("arn", &self.arn)
            .field("approval_code", &self.approval_code)
            .field("mcc", &self.mcc)
            .field("local_date", &self.local_date)
            .finish()
    }
}

impl Presentment {
    /// The presentment `m` (a 1240) carries, or why it cannot be posted (never card data).
    pub fn from_message(m: &OwnedMessage) -> Result<Presentment, String> {
        let text = |n: u16| m.get_str(n).map(str::trim).filter(|s| !s.is_empty());
        let function_code = text(24).ok_or("no DE 24")?;
        if !matches!(function_code, "200" | "205" | "282") {
            return Err(format!("DE 24 = {function_code} is not a presentment"));
        }
        let pan = text(2).ok_or("no DE 2")?;
        if !(12..=19).contains(&pan.len()) || !pan.bytes().all(|b| b.is_ascii_digit()) {
            return Err("DE 2 is not a PAN".into());
        }
        let amount = text(4)
            .and_then(digits_u128)
            .and_then(|a| i64::try_from(a).ok())
            .ok_or("no numeric DE 4")?;
        let currency = text(49).ok_or("no DE 49")?;
        let arn = text(31).ok_or("no DE 31 (acquirer reference)")?;
        let local_date = text(12).and_then(|d| {
            let n = |r: std::ops::Range<usize>| d.get(r)?.parse::<i8>().ok();
            let (y, mo, da) = (n(0..2)?, n(2..4)?, n(4..6)?);
            ((1..=12).contains(&mo) && (1..=31).contains(&da)).then_some((
                2000 + i16::from(y),
                mo,
                da,
            ))
        });
        Ok(Presentment {
            function_code: function_code.to_owned(),
            pan: pan.to_owned(),
            amount_minor: amount,
            currency: currency.to_owned(),
            arn: arn.to_owned(),
            approval_code: text(38).map(str::to_owned),
            mcc: text(26).or_else(|| text(18)).map(str::to_owned),
            local_date,
        })
    }
}

#[cfg(test)]
mod tests;
