//! The length prefix of a frame: `binary2`, `ascii4` or `bcd2`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::FramingError;

/// How the length of a frame is written before it.
///
/// The length never counts the prefix itself, nor the optional fixed header that follows it
/// (see [`super::FrameCodec`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthPrefix {
    /// 2-byte big-endian binary length, 0..=65535.
    Binary2,
    /// 4 ASCII decimal digits, 0000..=9999.
    Ascii4,
    /// 2 bytes of packed BCD (4 digits), 0000..=9999.
    Bcd2,
}

impl LengthPrefix {
    /// Bytes the prefix takes on the wire.
    pub const fn width(self) -> usize {
        match self {
            LengthPrefix::Binary2 | LengthPrefix::Bcd2 => 2,
            LengthPrefix::Ascii4 => 4,
        }
    }

    /// The largest length the prefix can express.
    pub const fn max_len(self) -> usize {
        match self {
            LengthPrefix::Binary2 => u16::MAX as usize,
            LengthPrefix::Ascii4 | LengthPrefix::Bcd2 => 9999,
        }
    }

    /// The names accepted in configuration and on the command line.
    pub const NAMES: [&'static str; 3] = ["binary2", "ascii4", "bcd2"];

    /// The name used in configuration, on command lines and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            LengthPrefix::Binary2 => "binary2",
            LengthPrefix::Ascii4 => "ascii4",
            LengthPrefix::Bcd2 => "bcd2",
        }
    }

    /// Reads the length from exactly [`Self::width`] bytes.
    pub fn read(self, raw: &[u8]) -> Result<usize, FramingError> {
        let bad = || FramingError::BadLength {
            prefix: self,
            raw: hex_of(raw),
        };
        if raw.len() != self.width() {
            return Err(bad());
        }
        match self {
            LengthPrefix::Binary2 => Ok(raw.iter().fold(0, |acc, &b| acc * 256 + usize::from(b))),
            LengthPrefix::Ascii4 => raw.iter().try_fold(0usize, |acc, &b| {
                if b.is_ascii_digit() {
                    Ok(acc * 10 + usize::from(b - b'0'))
                } else {
                    Err(bad())
                }
            }),
            LengthPrefix::Bcd2 => raw.iter().try_fold(0usize, |acc, &b| {
                let (hi, lo) = (b >> 4, b & 0x0F);
                if hi > 9 || lo > 9 {
                    Err(bad())
                } else {
                    Ok(acc * 100 + usize::from(hi) * 10 + usize::from(lo))
                }
            }),
        }
    }

    /// Appends the prefix for `len` to `out`.
    pub fn write(self, len: usize, out: &mut Vec<u8>) -> Result<(), FramingError> {
        if len > self.max_len() {
            return Err(FramingError::TooLarge {
                len,
                max: self.max_len(),
            });
        }
        match self {
            LengthPrefix::Binary2 => out.extend_from_slice(&(len as u16).to_be_bytes()),
            LengthPrefix::Ascii4 => out.extend_from_slice(format!("{len:04}").as_bytes()),
            LengthPrefix::Bcd2 => {
                let d = |n: usize| (n % 10) as u8;
                out.push((d(len / 1000) << 4) | d(len / 100));
                out.push((d(len / 10) << 4) | d(len));
            }
        }
        Ok(())
    }
}

/// Length prefixes are a few bytes: shown as hex so an operator can see what arrived.
fn hex_of(raw: &[u8]) -> String {
    raw.iter().map(|b| format!("{b:02X}")).collect()
}

impl fmt::Display for LengthPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LengthPrefix {
    type Err = FramingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "binary2" => Ok(LengthPrefix::Binary2),
            "ascii4" => Ok(LengthPrefix::Ascii4),
            "bcd2" => Ok(LengthPrefix::Bcd2),
            other => Err(FramingError::UnknownFraming(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_prefix_round_trips_its_extremes() {
        for p in [
            LengthPrefix::Binary2,
            LengthPrefix::Ascii4,
            LengthPrefix::Bcd2,
        ] {
            for len in [0, 1, 9, 10, 99, 100, 1234, p.max_len()] {
                let mut out = Vec::new();
                p.write(len, &mut out).unwrap();
                assert_eq!(out.len(), p.width());
                assert_eq!(p.read(&out).unwrap(), len, "{p} {len}");
            }
        }
    }

    #[test]
    fn names_read_back_and_unknown_ones_are_refused() {
        for p in [
            LengthPrefix::Binary2,
            LengthPrefix::Ascii4,
            LengthPrefix::Bcd2,
        ] {
            assert_eq!(p.name().parse::<LengthPrefix>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
            assert!(LengthPrefix::NAMES.contains(&p.name()));
        }
        assert!(matches!(
            "binary4".parse::<LengthPrefix>(),
            Err(FramingError::UnknownFraming(_))
        ));
    }

    #[test]
    fn bcd2_is_packed_decimal() {
        let mut out = Vec::new();
        LengthPrefix::Bcd2.write(1234, &mut out).unwrap();
        assert_eq!(out, [0x12, 0x34]);
    }

    #[test]
    fn non_digits_are_refused() {
        assert!(matches!(
            LengthPrefix::Ascii4.read(b"01a4"),
            Err(FramingError::BadLength { .. })
        ));
        assert!(matches!(
            LengthPrefix::Bcd2.read(&[0x1A, 0x00]),
            Err(FramingError::BadLength { .. })
        ));
    }

    #[test]
    fn too_long_for_the_prefix_is_refused() {
        let mut out = Vec::new();
        assert!(LengthPrefix::Ascii4.write(10_000, &mut out).is_err());
        assert!(out.is_empty());
    }
}
