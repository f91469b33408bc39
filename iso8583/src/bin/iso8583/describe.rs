//! `iso8583 describe`: a readable field table per message, card data masked.

use crate::input::read_messages;
use anyhow::Result;
use iso8583::spec::{ContentClass, FieldSpec, LengthType};
use iso8583::{mask, Message, Spec};
use std::io::Write;

pub(crate) fn run(spec: &Spec, hex_lines: bool, unmask: bool) -> Result<bool> {
    let mut ok = true;
    let mut out = std::io::stdout().lock();
    for item in read_messages(hex_lines)? {
        let bytes = match &item.bytes {
            Ok(b) => b,
            Err(e) => {
                ok = false;
                eprintln!("{}: {e}", item.origin);
                continue;
            }
        };
        match iso8583::decode(spec, bytes) {
            Ok(m) => write!(out, "{}", table(spec, &m, unmask))?,
            Err(e) => {
                ok = false;
                eprintln!("{}: {e}{}", item.origin, item.hint(hex_lines));
            }
        }
    }
    Ok(ok)
}

fn table(spec: &Spec, m: &Message<'_>, unmask: bool) -> String {
    let mut s = format!("MTI {} ({})\n", m.mti(), spec.name());
    for n in m.fields() {
        let (Some(f), Some(v)) = (spec.field(n), m.bytes(n)) else {
            continue;
        };
        let shown = if unmask {
            if f.class == ContentClass::B {
                hex::encode_upper(&*v)
            } else {
                String::from_utf8_lossy(&v).into_owned()
            }
        } else {
            mask::render(spec, n, &v)
        };
        s.push_str(&format!(
            "  {n:>3}  {:<40} {:<7} {shown}\n",
            f.name,
            attribute(f)
        ));
    }
    s.push('\n');
    s
}

/// The ISO-style attribute: "n6", "n..19", "ans...999", "b8".
fn attribute(f: &FieldSpec) -> String {
    let class = match f.class {
        ContentClass::N => "n",
        ContentClass::A => "a",
        ContentClass::An => "an",
        ContentClass::Ans => "ans",
        ContentClass::Z => "z",
        ContentClass::Xn => "x+n",
        ContentClass::B => "b",
    };
    let dots = match f.length {
        LengthType::Fixed => "",
        LengthType::L => ".",
        LengthType::LL => "..",
        LengthType::LLL => "...",
        LengthType::LLLL => "....",
    };
    format!("{class}{dots}{}", f.max)
}
