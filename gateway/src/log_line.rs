//! The text log line, formatted for one line per message.
//!
//! The same layout as `tracing_subscriber`'s default ("full") text format, so that people and
//! scripts reading the log see no difference:
//!
//! ```text
//! 2026-11-25T08:15:29.176237Z  INFO gateway::switch: answered network=sandbox mti=0100 ...
//! ```
//!
//! (timestamp in UTC with microseconds, level right-aligned in five columns, the spans in
//! scope as `name{fields}:`, target, message, then the fields as `name=value`, strings quoted).
//! What differs is the cost, which matters at one line per message: the default format turns
//! the clock into a calendar date on every line and writes every part through styling
//! wrappers, even without colours. Here each thread keeps the text of the current second and
//! only writes the microseconds, and the fields go straight to the line.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The text format of the gateway's log (see the module's documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct LineFormat;

thread_local! {
    /// The second last formatted on this thread, and its text up to the fraction's dot.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Writes `t` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC).
fn write_time(w: &mut impl Write, t: SystemTime) -> fmt::Result {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != secs {
            let ts = i64::try_from(secs)
                .ok()
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            cell.1.clear();
            write!(cell.1, "{}", ts.strftime("%Y-%m-%dT%H:%M:%S."))?;
            cell.0 = secs;
        }
        w.write_str(&cell.1)
    })?;
    write!(w, "{:06}Z", since.subsec_micros())
}

fn level_text(level: &Level, ansi: bool) -> &'static str {
    match (*level, ansi) {
        (Level::ERROR, false) => "ERROR",
        (Level::WARN, false) => " WARN",
        (Level::INFO, false) => " INFO",
        (Level::DEBUG, false) => "DEBUG",
        (Level::TRACE, false) => "TRACE",
        (Level::ERROR, true) => "\x1b[31mERROR\x1b[0m",
        (Level::WARN, true) => "\x1b[33m WARN\x1b[0m",
        (Level::INFO, true) => "\x1b[32m INFO\x1b[0m",
        (Level::DEBUG, true) => "\x1b[34mDEBUG\x1b[0m",
        (Level::TRACE, true) => "\x1b[35mTRACE\x1b[0m",
    }
}

/// Writes an event's fields: the message bare, the others as ` name=value`.
struct Fields<'a, 'w> {
    w: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            self.w.write_fmt(value)
        } else {
            // `r#type` and the like print without their raw prefix, as the default does.
            let name = field.name().strip_prefix("r#").unwrap_or(field.name());
            write!(self.w, " {name}={value}")
        };
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_time(&mut w, SystemTime::now())?;
        let meta = event.metadata();
        write!(w, " {} ", level_text(meta.level(), w.has_ansi_escapes()))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                w.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(f) = ext.get::<FormattedFields<N>>().filter(|f| !f.is_empty()) {
                    write!(w, "{{{f}}}")?;
                }
                w.write_str(": ")?;
            }
        }
        write!(w, "{}: ", meta.target())?;
        let mut fields = Fields {
            w: &mut w,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writeln!(w)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// The lines `f` logs, with this format (`ours`) or the default full format.
    fn lines(ours: bool, f: impl FnOnce()) -> String {
        let out = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(out.clone());
        if ours {
            let sub = tracing_subscriber::registry().with(layer.event_format(LineFormat));
            tracing::subscriber::with_default(sub, f);
        } else {
            let sub = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(sub, f);
        }
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text
    }

    fn log_some() {
        let pan = "510000******0046";
        tracing::info!(network = %"sandbox", mti = %"0100", stan = "000123", %pan,
            latency_us = 1234u64, delta = -5i64, ok = true, "answered");
        let span = tracing::info_span!("link", name = "visa", r#type = "out");
        span.in_scope(|| {
            tracing::warn!(error = %"connection reset", attempt = 3u32, "link down");
            tracing::error!("plain {} message", 42);
        });
    }

    /// Everything after the timestamp, which differs between two runs.
    fn without_time(text: &str) -> Vec<String> {
        text.lines()
            .map(|l| l.split_once(' ').map(|(_, rest)| rest.to_owned()).unwrap())
            .collect()
    }

    #[test]
    fn lines_read_as_the_default_format_does() {
        let ours = lines(true, log_some);
        let theirs = lines(false, log_some);
        assert_eq!(
            without_time(&ours),
            without_time(&theirs),
            "\n{ours}\n{theirs}"
        );
        assert_eq!(ours.lines().count(), 3);
        assert!(ours.contains(
            " INFO gateway::log_line::tests: answered network=sandbox mti=0100 stan=\"000123\" \
             pan=510000******0046 latency_us=1234 delta=-5 ok=true\n"
        ));
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let mut s = String::new();
        let t = UNIX_EPOCH + std::time::Duration::from_micros(1_764_058_529_176_237);
        write_time(&mut s, t).unwrap();
        assert_eq!(s, "2025-11-25T08:15:29.176237Z");
        // The same second again comes from the thread's memory of it.
        s.clear();
        write_time(&mut s, t + std::time::Duration::from_micros(5)).unwrap();
        assert_eq!(s, "2025-11-25T08:15:29.176242Z");
        s.clear();
        write_time(&mut s, t + std::time::Duration::from_secs(86_400)).unwrap();
        assert_eq!(s, "2025-11-26T08:15:29.176237Z");
    }
}
