//! `gateway serve --config FILE`: the switch. SIGTERM/SIGINT drain and exit 0; SIGHUP
//! reloads limits, the rates source and the log level. Also `check-config`, `check-ledger`,
//! `business-date reset` (back to the calendar after cutovers), `events tail` and `clearing
//! import`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gateway::app::{self, Overrides};
use gateway::config::{self, LogFormat};
use gateway::log_writer::{self, LogGuard};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// mimalloc instead of glibc's malloc: under load a fifth of the runtime's CPU went to
/// glibc's allocator (`_int_malloc`, `_int_free`, `malloc_consolidate`), for the many small,
/// short-lived allocations of each request crossing threads (runtime, ledger writer).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gateway",
    version,
    about = "Issuer-side ISO 8583 authorization and FX switch"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the switch.
    Serve {
        /// The configuration file (e.g. fixtures/sandbox.toml).
        #[arg(long)]
        config: PathBuf,
        /// Address of the first listener, instead of the file's.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Admin (health, metrics) address, instead of the file's.
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Directory of the embedded ledger, instead of the file's.
        #[arg(long)]
        var_dir: Option<PathBuf>,
        /// Log format, instead of the file's.
        #[arg(long, value_parser = ["text", "json"])]
        log_format: Option<String>,
    },
    /// Check the ledger's invariants, and with --record every answer a load generator
    /// recorded (`harness load --record`) against the decisions and holds; prints a JSON
    /// report, exits 1 on any violation.
    CheckLedger {
        /// The configuration naming the ledger.
        #[arg(long)]
        config: PathBuf,
        /// Directory of the embedded ledger, instead of the file's.
        #[arg(long)]
        var_dir: Option<PathBuf>,
        /// Record files of `harness load --record` (repeatable).
        #[arg(long)]
        record: Vec<PathBuf>,
    },
    /// Validate a configuration file and print it resolved.
    CheckConfig {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// The business date recorded in the ledger (cutovers).
    BusinessDate {
        #[command(subcommand)]
        command: BusinessDateCommand,
    },
    /// The ledger's events (CloudEvents JSON).
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Clearing files (issue 24).
    Clearing {
        #[command(subcommand)]
        command: ClearingCommand,
    },
}

#[derive(Subcommand)]
enum ClearingCommand {
    /// Check a clearing file whole (header, trailer count and total, not imported before),
    /// then post its presentments, a few at a time: through the running switch's own ledger
    /// writer (its operations API, `[admin] api_token`) when its admin listener answers,
    /// else through the ledger directly; prints a JSON report; exits 1 when the file is
    /// refused as a whole. Run again after a crash: what was posted is found, the rest is
    /// posted, each once.
    Import {
        /// The configuration naming the ledger and the rates (e.g. fixtures/sandbox.toml).
        #[arg(long)]
        config: PathBuf,
        /// Directory of the embedded ledger, instead of the file's (as given to serve).
        #[arg(long)]
        var_dir: Option<PathBuf>,
        /// The running switch's admin address, instead of the file's `[admin] address` (as
        /// given to serve).
        #[arg(long)]
        admin: Option<std::net::SocketAddr>,
        /// Post this many presentments a second (else `[clearing] records_per_s`, else 500
        /// through a running switch on the embedded ledger, else no cap).
        #[arg(long, value_parser = clap::value_parser!(u32)
            .range(1..=i64::from(gateway::config::MAX_RECORDS_PER_S)))]
        records_per_s: Option<u32>,
        /// Open the ledger directly even when a switch answers (a second writer beside it:
        /// slows its authorizations down).
        #[arg(long)]
        direct: bool,
        /// The clearing file (RDW ASCII or EBCDIC, or JSON lines).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Print the events as JSON lines: from the topic when `[events] kafka` is set, else from
    /// the ledger's outbox. Each carries its commit position as `outboxpos`.
    Tail {
        /// The configuration naming the ledger and the broker.
        #[arg(long)]
        config: PathBuf,
        /// Directory of the embedded ledger, instead of the file's (as given to serve).
        #[arg(long)]
        var_dir: Option<PathBuf>,
        /// The first commit position to print (`outboxpos`).
        #[arg(long, default_value_t = 1)]
        from: i64,
        /// Keep printing events as they come.
        #[arg(long)]
        follow: bool,
        /// Read the ledger's outbox even when a broker is configured.
        #[arg(long)]
        outbox: bool,
    },
}

#[derive(Subcommand)]
enum BusinessDateCommand {
    /// Back to the calendar: remove the recorded cutovers that moved the business date past
    /// today's date in business_date.time_zone (each run of the harness's cutover scenario
    /// moves the sandbox a day ahead). Prints a JSON line. Takes effect when an instance
    /// starts: a running one keeps its date (it only moves forward) until restarted.
    Reset {
        /// The configuration naming the ledger (e.g. fixtures/sandbox.toml).
        #[arg(long)]
        config: PathBuf,
        /// Directory of the embedded ledger, instead of the file's (as given to serve).
        #[arg(long)]
        var_dir: Option<PathBuf>,
    },
}

type FilterHandle = reload::Handle<EnvFilter, Registry>;

/// Logging to stderr through a writer thread (see `gateway::log_writer`); the guard flushes it.
fn init_logging(level: &str, format: LogFormat) -> anyhow::Result<(FilterHandle, LogGuard)> {
    let filter = EnvFilter::try_new(level).context("log.level")?;
    let (writer, guard) = log_writer::buffered(std::io::stderr()).context("log writer thread")?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .try_init()?,
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    // Colours only for a person at a terminal, not in files and pipes.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .event_format(gateway::log_line::LineFormat)
                    .with_writer(writer),
            )
            .try_init()?,
    }
    Ok((handle, guard))
}

/// An offline command's configuration (with its `--var-dir`) and a runtime to run it on:
/// `check-ledger`, `business-date reset`, `events tail`.
fn offline(
    config: &std::path::Path,
    var_dir: Option<PathBuf>,
) -> anyhow::Result<(config::Config, tokio::runtime::Runtime)> {
    let mut c = config::load(config).with_context(|| format!("{}", config.display()))?;
    Overrides {
        var_dir,
        ..Overrides::default()
    }
    .apply(&mut c)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok((c, rt))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The error and its causes, as an operator reads them, and no backtrace: with
            // RUST_BACKTRACE set (for the panics it is meant for) anyhow's own report made a
            // mistyped path in a configuration a page of stack frames.
            eprintln!("Error: {e}");
            let mut causes = e.chain().skip(1).peekable();
            if causes.peek().is_some() {
                eprintln!("\nCaused by:");
                for c in causes {
                    eprintln!("    {c}");
                }
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => {
            let c = config::load(&config).with_context(|| format!("{}", config.display()))?;
            // Secrets serialize as where they come from (a value as "<redacted>"), URLs
            // without their passwords.
            let text = toml::to_string_pretty(&c)?;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            Ok(())
        }
        Command::CheckLedger {
            config,
            var_dir,
            record,
        } => {
            let (c, rt) = offline(&config, var_dir)?;
            let mut lines = Vec::new();
            for path in &record {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
                for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
                    let r: gateway::audit::Recorded = serde_json::from_str(line)
                        .with_context(|| format!("{}:{}", path.display(), i + 1))?;
                    lines.push(r);
                }
            }
            let report = rt.block_on(async {
                let store = app::open_ledger(&c).await?;
                anyhow::Ok(gateway::audit::audit(&store, &lines).await?)
            })?;
            let text = serde_json::to_string_pretty(&report)?;
            let _ = std::io::Write::write_all(&mut std::io::stdout(), (text + "\n").as_bytes());
            if !report.ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::BusinessDate {
            command: BusinessDateCommand::Reset { config, var_dir },
        } => {
            let (c, rt) = offline(&config, var_dir)?;
            let line = rt.block_on(reset_business_date(&c))?;
            let _ = std::io::Write::write_all(&mut std::io::stdout(), (line + "\n").as_bytes());
            Ok(())
        }
        Command::Events {
            command:
                EventsCommand::Tail {
                    config,
                    var_dir,
                    from,
                    follow,
                    outbox,
                },
        } => {
            let (c, rt) = offline(&config, var_dir)?;
            rt.block_on(async {
                let mut out = std::io::stdout().lock();
                match c.events.kafka.clone().filter(|_| !outbox) {
                    Some(b) => {
                        gateway::events::tail::topic(&c.events, &b, from, follow, &mut out).await
                    }
                    None => {
                        let store = app::open_ledger(&c).await?;
                        gateway::events::tail::outbox(&store, from, follow, &mut out).await
                    }
                }
            })
        }
        Command::Clearing {
            command:
                ClearingCommand::Import {
                    config,
                    var_dir,
                    admin,
                    records_per_s,
                    direct,
                    file,
                },
        } => {
            let (c, rt) = offline(&config, var_dir)?;
            let report = rt.block_on(async {
                let mut clearing = c.clearing.clone();
                if records_per_s.is_some() {
                    clearing.records_per_s = records_per_s;
                }
                let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
                let admin = admin.unwrap_or(c.admin.address);
                if !direct && gateway::clearing::switch_answers(admin).await {
                    let token = c.admin.api_token()?.ok_or_else(|| {
                        anyhow::anyhow!(
                            "a switch answers at {admin}, but [admin] api_token (or \
                             api_token_file) is not set: the import goes through its API; \
                             set the token, or stop the switch, or pass --direct"
                        )
                    })?;
                    let api = gateway::clearing::SwitchApi {
                        base: format!("http://{admin}/").parse()?,
                        token,
                    };
                    // The embedded ledger's one writer: a pace that keeps the authorizations'
                    // p99 within 1.5x unless one is set (PostgreSQL's measured within it flat
                    // out).
                    if clearing.records_per_s.is_none() && c.ledger.postgres.is_none() {
                        clearing.records_per_s = Some(gateway::config::SWITCH_RECORDS_PER_S);
                    }
                    let opts = gateway::clearing::ImportOptions {
                        clearing,
                        // The switch posts on its own business date.
                        business_date: jiff::Zoned::now().date(),
                        progress,
                    };
                    return gateway::clearing::import_via_api(&api, &file, &opts).await;
                }
                let store = app::open_ledger_with_rates(&c).await?;
                let calendar = gateway::BusinessDate::with_clock_offset(
                    &c.business_date.time_zone,
                    c.business_date.clock_offset_s,
                )
                .context("business_date.time_zone")?
                .today();
                let business_date = store
                    .latest_cutover()
                    .await?
                    .map_or(calendar, |l| l.max(calendar));
                let opts = gateway::clearing::ImportOptions {
                    clearing,
                    business_date,
                    progress,
                };
                gateway::clearing::import(&store, &file, &opts).await
            })?;
            let text = serde_json::to_string_pretty(&report)?;
            let _ = std::io::Write::write_all(&mut std::io::stdout(), (text + "\n").as_bytes());
            if report.refused.is_some() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Serve {
            config,
            listen,
            admin,
            var_dir,
            log_format,
        } => {
            let overrides = Overrides {
                listen,
                admin,
                var_dir,
            };
            let mut c = config::load(&config).with_context(|| format!("{}", config.display()))?;
            overrides.apply(&mut c).with_context(|| {
                format!("{} with the command line's overrides", config.display())
            })?;
            if let Some(f) = log_format {
                c.log.format = if f == "json" {
                    LogFormat::Json
                } else {
                    LogFormat::Text
                };
            }
            let (filter, _log) = init_logging(&c.log.level, c.log.format)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let result = rt.block_on(serve(config, overrides, c, filter));
            // Runtime threads may still log while they stop; then the guard flushes.
            drop(rt);
            result
        }
    }
}

/// `gateway business-date reset`: removes the cutovers ahead of the calendar; returns the
/// JSON line to print (the calendar date, how many were removed, and the date an instance
/// starting now takes).
async fn reset_business_date(c: &config::Config) -> anyhow::Result<String> {
    let calendar = gateway::BusinessDate::with_clock_offset(
        &c.business_date.time_zone,
        c.business_date.clock_offset_s,
    )
    .context("business_date.time_zone")?
    .today();
    // No ledger file yet: nothing was recorded, and a reset must not create one.
    let missing = c.ledger.embedded.as_ref().filter(|p| !p.exists());
    let (removed, latest) = if missing.is_some() {
        (0, None)
    } else {
        let store = app::open_ledger(c).await?;
        let removed = store.reset_cutovers(calendar).await?;
        (removed, store.latest_cutover().await?)
    };
    let at_start = latest.map_or(calendar, |l| l.max(calendar));
    if removed > 0 {
        eprintln!(
            "gateway: {removed} cutover(s) ahead of {calendar} removed; instances started from \
             now on answer with {at_start}, running ones keep their date until restarted"
        );
    }
    Ok(serde_json::json!({
        "calendar": calendar.to_string(),
        "removed_cutovers": removed,
        "business_date_at_start": at_start.to_string(),
    })
    .to_string())
}

async fn serve(
    path: PathBuf,
    overrides: Overrides,
    config: config::Config,
    filter: FilterHandle,
) -> anyhow::Result<()> {
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut running = app::start(config).await.context("start")?;
    for (name, addr) in &running.listeners {
        info!(network = %name, %addr, "ready");
    }
    loop {
        tokio::select! {
            why = running.ledger_stopped() => {
                // Nothing can be committed: answering on would only answer 91. Exit non-zero
                // so that the supervisor starts a new process on the same (intact) ledger.
                error!(reason = %why, "the ledger cannot commit any more; exiting");
                anyhow::bail!("the ledger stopped: {why}");
            }
            _ = sigterm.recv() => { info!("SIGTERM: draining"); break; }
            _ = sigint.recv() => { info!("SIGINT: draining"); break; }
            _ = sighup.recv() => {
                let loaded = config::load(&path).and_then(|mut new| {
                    overrides.apply(&mut new)?;
                    Ok(new)
                });
                match loaded {
                    Ok(new) => {
                        let level = new.log.level.clone();
                        match running.reload(new).await {
                            Ok(changed) => {
                                if changed.contains(&"log.level") {
                                    match EnvFilter::try_new(&level) {
                                        Ok(f) => { let _ = filter.reload(f); }
                                        Err(e) => warn!(error = %e, "log.level not applied"),
                                    }
                                }
                                info!(?changed, "SIGHUP: configuration reloaded");
                            }
                            Err(e) => error!(error = %e, "SIGHUP: reload failed; keeping the running configuration"),
                        }
                    }
                    Err(e) => error!(error = %e, "SIGHUP: configuration refused; keeping the running one"),
                }
            }
        }
    }
    running.drain().await;
    Ok(())
}
