//! Writing clearing files: for the harness (`harness clearing-file`), tests and benches.

use std::io::Write;

use iso8583::tlv::subfield;
use iso8583::{Mti, OwnedMessage};

use crate::{FileError, Layout, Presentment, PDS, PDS_COUNT, PDS_FILE_ID, PDS_TOTAL};

fn mti(s: &str) -> Result<Mti, FileError> {
    s.parse().map_err(|_| FileError::Decode {
        index: 0,
        reason: format!("bad MTI {s}"),
    })
}

fn de48(items: &[(&[u8], String)]) -> Result<Vec<u8>, FileError> {
    let mut out = Vec::new();
    for (tag, v) in items {
        subfield::write(PDS, tag, v.as_bytes(), &mut out).map_err(|e| FileError::Decode {
            index: 0,
            reason: format!("DE 48: {e}"),
        })?;
    }
    Ok(out)
}

/// The 1644 header (DE 24 = 697) of file `file_id`.
pub fn header_message(file_id: &str) -> Result<OwnedMessage, FileError> {
    Ok(OwnedMessage::new(mti("1644")?)
        .with(24, "697")
        .with(48, de48(&[(PDS_FILE_ID, file_id.to_owned())])?)
        .with(71, "00000001"))
}

/// The 1644 trailer (DE 24 = 695): `count` presentments whose DE 4 add up to `total`.
pub fn trailer_message(count: u64, total: u128) -> Result<OwnedMessage, FileError> {
    Ok(OwnedMessage::new(mti("1644")?).with(24, "695").with(
        48,
        de48(&[
            (PDS_TOTAL, total.to_string()),
            (PDS_COUNT, count.to_string()),
        ])?,
    ))
}

/// The 1240 of `p`, numbered `number` (DE 71).
pub fn presentment_message(p: &Presentment, number: u64) -> Result<OwnedMessage, FileError> {
    let mut m = OwnedMessage::new(mti("1240")?)
        .with(2, p.pan.as_str())
        .with(3, "000000")
        .with(4, format!("{:012}", p.amount_minor))
        .with(24, p.function_code.as_str())
        .with(31, p.arn.as_str())
        .with(49, p.currency.as_str())
        .with(71, format!("{:08}", number % 100_000_000));
    if let Some((y, mo, d)) = p.local_date {
        m.set(12, format!("{:02}{mo:02}{d:02}120000", y.rem_euclid(100)));
    }
    if let Some(c) = &p.approval_code {
        m.set(38, c.as_str());
    }
    if let Some(mcc) = &p.mcc {
        m.set(26, mcc.as_str());
    }
    Ok(m)
}

/// Appends `m` to `out` in `layout`: a 4-byte big-endian length and the message, or a JSON
/// line.
pub fn write_record(
    layout: Layout,
    m: &OwnedMessage,
    out: &mut impl Write,
) -> Result<(), FileError> {
    let spec = layout.spec()?;
    match layout {
        Layout::JsonLines => {
            out.write_all(m.to_json_string(spec).as_bytes())?;
            out.write_all(b"\n")?;
        }
        Layout::Ascii | Layout::Ebcdic => {
            let bytes = m.encode(spec).map_err(|e| FileError::Decode {
                index: 0,
                reason: e.to_string(),
            })?;
            let len = u32::try_from(bytes.len()).map_err(|_| FileError::Length {
                index: 0,
                len: bytes.len(),
                max: crate::MAX_RECORD_LEN,
            })?;
            out.write_all(&len.to_be_bytes())?;
            out.write_all(&bytes)?;
        }
    }
    Ok(())
}

/// A whole file: header, `presentments`, trailer with their count and total.
pub fn write_file(
    layout: Layout,
    file_id: &str,
    presentments: &[Presentment],
    out: &mut impl Write,
) -> Result<(), FileError> {
    write_record(layout, &header_message(file_id)?, out)?;
    let mut total = 0u128;
    for (i, p) in presentments.iter().enumerate() {
        write_record(layout, &presentment_message(p, i as u64 + 2)?, out)?;
        total += u128::from(p.amount_minor.unsigned_abs());
    }
    write_record(
        layout,
        &trailer_message(presentments.len() as u64, total)?,
        out,
    )
}
