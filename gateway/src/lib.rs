//! The gateway: a framed TCP ISO 8583 switch that authorizes, converts and holds.
//!
//! Layers, from the wire in: the `framing` crate splits the stream into frames; [`server`] accepts
//! connections and runs each request as its own task under an in-flight limit; the
//! [`switch`] decodes, routes by MTI and answers through the `ledger` and `fx-rates` crates.
#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod admin;
pub mod app;
pub mod audit;
pub mod business_date;
pub mod clearing;
pub mod config;
pub mod error;
pub mod events;
pub mod hook;
pub mod link;
pub mod log_line;
pub mod log_writer;
pub mod metrics;
pub mod network_code;
pub mod quoter;
pub mod security;
pub mod server;
pub mod switch;

pub use business_date::BusinessDate;
pub use error::{ConfigError, Error, FramingError};
pub use network_code::NetworkCode;
