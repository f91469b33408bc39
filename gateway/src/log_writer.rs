//! Log lines written by a background thread, many per `write` call.
//!
//! At `info` the gateway logs one line per message. Written straight to stderr, each line was
//! one `write` syscall on a runtime worker under stderr's lock (the profile under load showed
//! those writes beside the socket writes). Here a formatted line is appended to a shared buffer
//! (a copy, no allocation once the buffer has grown) and a thread writes whatever accumulated
//! in one call. Nothing is dropped: past [`MAX_PENDING`] bytes a logging thread waits for the
//! writer (backpressure, like a slow stderr). Lines still pending when the process is killed
//! outright are lost; [`LogGuard`] flushes them on a normal exit.
//!
//! While lines keep coming the writer writes at most every [`FLUSH_INTERVAL`] and nobody wakes
//! it: a logger signals only a writer that found nothing to write and went to sleep. (Waking
//! it at every line that found the buffer empty cost a futex wake on the logging worker and a
//! `write` of one or two lines each time: 7% of the switch's samples under load.)

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tracing_subscriber::fmt::MakeWriter;

/// Bytes waiting before loggers block until the writer catches up.
pub const MAX_PENDING: usize = 1 << 20;

/// Longest a line waits in the buffer while the writer is busy (it writes, then pauses this
/// long to let lines accumulate).
pub const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    closed: bool,
    /// The writer is waiting on `more` for a first line.
    idle: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when bytes are added or the writer is closed.
    more: Condvar,
    /// Signalled when the writer took the pending bytes.
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A logger that panicked mid-append left whole lines at worst: keep logging.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `MakeWriter` for the fmt layer: cheap to clone, each event's line goes to the buffer.
#[derive(Clone)]
pub struct BufferedWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread after it wrote everything pending (on drop).
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer that sends to `out` from a thread of its own, and the guard that flushes it.
pub fn buffered<W: Write + Send + 'static>(out: W) -> std::io::Result<(BufferedWriter, LogGuard)> {
    let shared = Arc::new(Shared::default());
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || run(&s, out))?;
    Ok((
        BufferedWriter {
            shared: shared.clone(),
        },
        LogGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn run<W: Write>(shared: &Shared, mut out: W) {
    let mut spare = Vec::new();
    loop {
        let closed = {
            let mut st = shared.lock();
            while st.pending.is_empty() && !st.closed {
                st.idle = true;
                st = shared.more.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
            st.idle = false;
            std::mem::swap(&mut st.pending, &mut spare);
            st.closed
        };
        shared.drained.notify_all();
        // Nowhere to report a failing stderr; the lines are dropped as `eprintln!` would.
        let _ = out.write_all(&spare).and_then(|()| out.flush());
        spare.clear();
        if closed {
            if shared.lock().pending.is_empty() {
                return;
            }
            continue;
        }
        // Let the next lines gather; a logger facing a full buffer waits at most this long
        // (and the guard's close at most this long too).
        std::thread::sleep(FLUSH_INTERVAL);
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.more.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One event's writer: appends to the shared buffer.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut st = self.shared.lock();
        while st.pending.len() >= MAX_PENDING && !st.closed {
            st = self
                .shared
                .drained
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        st.pending.extend_from_slice(buf);
        let wake = std::mem::take(&mut st.idle);
        drop(st);
        if wake {
            self.shared.more.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` into a shared vector that also counts write calls.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut g = self.0.lock().unwrap();
            g.0.extend_from_slice(buf);
            g.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_from_every_thread_arrives_whole_in_fewer_writes() {
        let sink = Sink::default();
        let (w, guard) = buffered(sink.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        let line = format!("thread {t} line {i}\n");
                        w.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let (bytes, writes) = sink.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let mine: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(
                mine,
                (0..5000).collect::<Vec<_>>(),
                "thread {t}: order kept"
            );
        }
        assert!(writes < 20_000, "{writes} writes for 20000 lines");
    }

    /// A writer that went to sleep with nothing to write must be woken by the next line,
    /// not only by more lines or by the guard's close.
    #[test]
    fn a_lone_line_after_a_quiet_spell_is_written_while_the_process_runs() {
        let sink = Sink::default();
        let (w, guard) = buffered(sink.clone()).unwrap();
        for i in 0..3 {
            // Long enough for the writer to have found the buffer empty and gone idle.
            std::thread::sleep(FLUSH_INTERVAL * 10);
            let line = format!("lone line {i}\n");
            w.make_writer().write_all(line.as_bytes()).unwrap();
            let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while !String::from_utf8_lossy(&sink.0.lock().unwrap().0).contains(line.as_str()) {
                assert!(
                    std::time::Instant::now() < until,
                    "line {i} not written within 5 s"
                );
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        drop(guard);
    }

    #[test]
    fn a_full_buffer_blocks_the_logger_until_drained_and_loses_nothing() {
        let sink = Sink::default();
        let (w, guard) = buffered(sink.clone()).unwrap();
        let big = vec![b'x'; MAX_PENDING / 4];
        for _ in 0..16 {
            w.make_writer().write_all(&big).unwrap();
        }
        drop(guard);
        assert_eq!(sink.0.lock().unwrap().0.len(), 16 * big.len());
    }
}
