//! Sans-IO ISO 8583: specs as data, a zero-copy nom decoder, an encoder, BER-TLV and sub-field
//! views for composite fields, and masking for people. No sockets, no async, no clock.
//!
//! ```
//! use iso8583::{decode, Mti, OwnedMessage, Spec};
//!
//! let spec = Spec::builtin("iso87-binary").unwrap();
//! let mut req = OwnedMessage::new("0800".parse::<Mti>().unwrap());
//! req.set(7, "1125063015").set(11, "000001").set(70, "301");
//! let wire = req.encode(spec).unwrap();
//!
//! let msg = decode(spec, &wire).unwrap();
//! assert_eq!(msg.mti().response().as_str(), "0810");
//! assert_eq!(msg.text(70).as_deref(), Some("301"));
//! assert_eq!(msg.to_owned_message(), req);
//! ```
#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod bitmap;
mod codec;
pub mod datetime;
mod decode;
mod encode;
mod error;
mod json;
pub mod limits;
pub mod mask;
mod message;
mod mti;
mod owned;
pub mod spec;
pub mod tlv;

pub use decode::{decode, decode_partial, PartialMessage};
pub use error::{DecodeError, EncodeError, JsonError, SpecError, TlvError};
pub use message::Message;
pub use mti::{InvalidMti, Mti};
pub use owned::OwnedMessage;
pub use spec::{Spec, VersionRule};
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
