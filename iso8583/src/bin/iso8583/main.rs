//! `iso8583`: decode, encode and describe ISO 8583 messages from the command line.
//!
//! Input is one raw message on stdin, or with `--hex` one hex message per line (blank lines and
//! lines starting with `#` are skipped). Each message that fails is reported on stderr with its
//! line, field number and byte offset; the others go on; the exit status is 1 if any failed.

mod decode;
mod describe;
mod encode;
mod input;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "iso8583",
    version,
    about = "Decode, encode and describe ISO 8583 messages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Messages in, one JSON object per message per line out.
    Decode {
        /// Built-in spec name (iso87-binary, iso87-ascii, iso87-bcd, iso87-ebcdic, iso93-ascii)
        /// or path of a TOML/JSON spec file.
        #[arg(long)]
        spec: String,
        /// Read one hex-encoded message per line instead of one raw message.
        #[arg(long)]
        hex: bool,
    },
    /// JSON lines in, messages out (raw bytes, or one hex line per message with --hex).
    Encode {
        /// Built-in spec name or spec file path.
        #[arg(long)]
        spec: String,
        /// Write one uppercase hex line per message instead of raw bytes.
        #[arg(long)]
        hex: bool,
    },
    /// Messages in, a readable field table out; card data masked unless --unmask.
    Describe {
        /// Built-in spec name or spec file path.
        #[arg(long)]
        spec: String,
        /// Read one hex-encoded message per line instead of one raw message.
        #[arg(long)]
        hex: bool,
        /// Show PAN, track data, PIN block and other secrets in full.
        #[arg(long)]
        unmask: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("iso8583: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Ok(false) when some message failed (already reported on stderr).
fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Decode { spec, hex } => decode::run(&*load(&spec)?, hex),
        Command::Encode { spec, hex } => encode::run(&*load(&spec)?, hex),
        Command::Describe { spec, hex, unmask } => describe::run(&*load(&spec)?, hex, unmask),
    }
}

fn load(spec: &str) -> Result<std::sync::Arc<iso8583::Spec>> {
    Ok(iso8583::Spec::load(spec)?)
}
