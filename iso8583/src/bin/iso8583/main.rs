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
    about = "Decode, encode and describe ISO 8583 messages",
    after_help = "Every command reads standard input and writes standard output; errors go to \
                  standard error:\n  \
                  iso8583 decode --spec iso87-binary < message.bin         (one raw message)\n  \
                  iso8583 decode --spec iso87-binary --hex < messages.hex  (hex, one a line)\n  \
                  iso8583 encode --spec iso87-binary --hex < messages.jsonl"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Messages from standard input, one JSON object per message per line out.
    ///
    /// Standard input holds one raw message (all of it), or with --hex one hex message per line.
    Decode {
        /// Built-in spec name (iso87-binary, iso87-ascii, iso87-bcd, iso87-ebcdic, iso93-ascii, iso93-ebcdic)
        /// or path of a TOML/JSON spec file.
        #[arg(long)]
        spec: String,
        /// Read one hex-encoded message per line from standard input instead of one raw message.
        #[arg(long)]
        hex: bool,
    },
    /// JSON lines from standard input, messages out (raw bytes, or hex lines with --hex).
    Encode {
        /// Built-in spec name or spec file path.
        #[arg(long)]
        spec: String,
        /// Write one uppercase hex line per message instead of raw bytes.
        #[arg(long)]
        hex: bool,
    },
    /// Messages from standard input, a readable field table out; card data masked unless --unmask.
    ///
    /// Standard input holds one raw message (all of it), or with --hex one hex message per line.
    Describe {
        /// Built-in spec name or spec file path.
        #[arg(long)]
        spec: String,
        /// Read one hex-encoded message per line from standard input instead of one raw message.
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
            eprintln!("iso8583: {}", chain(&e));
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

/// The error and its causes joined by ": ", each said once: an error whose message already
/// quotes its source (as `SpecError::NotFound` does) would otherwise repeat it with `{:#}`.
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
