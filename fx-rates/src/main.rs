//! `fx-rates`: publish rate sets to Redis, show the current one, convert an amount.
//!
//! DESIGN.md: `fx-rates publish --redis URL FILE.csv`, `fx-rates show --redis URL`,
//! `fx-rates convert (--rates FILE.csv | --redis URL) --amount MINOR --from CCY --to CCY`
//! (currencies alpha or numeric) printing JSON with at least `amount` (minor units),
//! `currency`, `rate` and `de10`. Also `fx-rates remove --redis URL --namespace NS`.
//! Wherever `--redis` is taken: `--redis-ca FILE` (the CA of a `rediss://` server) and
//! `--redis-password-file FILE` (a password kept out of the URL and the process list).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand};
use fx_rates::redis::redact_url;
use fx_rates::{
    convert, currency, read_current, remove_namespace, ConvertOptions, ExponentOverrides,
    Publisher, RateSet, RedisTarget, Rounding,
};
use rust_decimal::Decimal;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "fx-rates",
    version,
    about = "Fee-free FX rate sets: publish, show, convert"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a rates CSV and publish it as the new current set.
    Publish {
        #[command(flatten)]
        redis: RedisArgs,
        /// Seconds an old set stays readable after it is replaced.
        #[arg(long, default_value_t = fx_rates::redis::DEFAULT_RETENTION.as_secs())]
        retention_secs: u64,
        /// Pivot currency for cross rates.
        #[arg(long, default_value = fx_rates::DEFAULT_PIVOT)]
        pivot: String,
        /// The rates file (header base,quote,rate).
        file: PathBuf,
    },
    /// Print the current set as JSON.
    Show {
        #[command(flatten)]
        redis: RedisArgs,
    },
    /// Convert an amount in minor units and print the result as JSON.
    ///
    /// Prints `amount` (minor units of the target) and `amount_decimal` (the same in major
    /// units), `amount_from` / `amount_from_decimal` for the input, `currency`, `rate`, `de10`.
    #[command(group(ArgGroup::new("source").args(["rates", "url"]).required(true)))]
    Convert {
        /// Rates from a CSV file (header base,quote,rate).
        #[arg(long, value_name = "FILE.csv")]
        rates: Option<PathBuf>,
        #[command(flatten)]
        redis: OptionalRedisArgs,
        /// Amount in minor units of --from: cents for USD (12345 = 123.45 USD), won for KRW
        /// (no decimals), fils for KWD (3 decimals).
        #[arg(long, value_name = "MINOR")]
        amount: u64,
        /// Source currency (alpha or numeric).
        #[arg(long)]
        from: String,
        /// Target currency (alpha or numeric).
        #[arg(long)]
        to: String,
        /// half-even (default) or half-up.
        #[arg(long, default_value = "half-even")]
        rounding: Rounding,
        /// Network exponent override, CCY=N (repeatable), e.g. --exponent ISK=2.
        #[arg(long = "exponent", value_name = "CCY=N")]
        exponents: Vec<String>,
    },
    /// Delete a namespace: its current-set pointer and every stored set.
    ///
    /// Stop publishers to the namespace first. Gateways reading it keep their last snapshot
    /// until it is older than their max_age_s, then refuse conversions (39=91).
    Remove {
        /// Redis URL, e.g. redis://127.0.0.1:6379/
        #[arg(long = "redis", value_name = "URL", value_parser = redis_url)]
        url: String,
        #[command(flatten)]
        access: RedisAccess,
        /// The namespace to delete (no default: say which).
        #[arg(long)]
        namespace: String,
    },
}

/// The help text of --namespace: the braces are part of the key names (a Redis Cluster hash
/// tag), not a placeholder's.
const NAMESPACE_HELP: &str = "Key namespace: its keys are fx:{NS}:current and \
    fx:{NS}:set:VERSION with the braces kept, e.g. fx:{default}:current";

#[derive(Args)]
struct RedisArgs {
    /// Redis URL, e.g. redis://127.0.0.1:6379/
    #[arg(long = "redis", value_name = "URL", value_parser = redis_url)]
    url: String,
    #[command(flatten)]
    access: RedisAccess,
    #[arg(long, default_value = "default", help = NAMESPACE_HELP)]
    namespace: String,
}

impl RedisArgs {
    fn target(&self) -> Result<RedisTarget> {
        self.access.target(&self.url)
    }
}

#[derive(Args)]
struct OptionalRedisArgs {
    /// Rates from the current set in Redis, e.g. redis://127.0.0.1:6379/
    #[arg(long = "redis", value_name = "URL", value_parser = redis_url)]
    url: Option<String>,
    #[command(flatten)]
    access: RedisAccess,
    #[arg(long, default_value = "default", help = NAMESPACE_HELP)]
    namespace: String,
}

/// How to reach a Redis server beyond its URL.
#[derive(Args)]
struct RedisAccess {
    /// PEM file of the CA a rediss:// server's certificate must chain to (default: the
    /// system's trusted roots)
    #[arg(long, value_name = "FILE")]
    redis_ca: Option<PathBuf>,
    /// File holding the Redis password (its trailing newline ignored), to keep it out of the
    /// URL and the process list
    #[arg(long, value_name = "FILE")]
    redis_password_file: Option<PathBuf>,
}

impl RedisAccess {
    fn target(&self, url: &str) -> Result<RedisTarget> {
        let password = match &self.redis_password_file {
            None => None,
            Some(path) => {
                // The file's contents never reach a message.
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--redis-password-file {}", path.display()))?;
                Some(text.trim_end_matches(['\n', '\r']).to_owned())
            }
        };
        Ok(RedisTarget {
            url: url.to_owned(),
            ca_file: self.redis_ca.clone(),
            password,
        })
    }
}

/// A Redis URL has a scheme (redis://, rediss://, unix://, redis+unix://); a bare HOST:PORT is
/// the usual slip, and the client's own message for it ("did not parse") does not say so.
fn redis_url(s: &str) -> Result<String, String> {
    if s.contains("://") {
        return Ok(s.to_string());
    }
    let slash = if s.ends_with('/') { "" } else { "/" };
    Err(format!(
        "not a Redis URL: did you mean redis://{s}{slash} ?"
    ))
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fx-rates: {}", chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        match cli.command {
            Command::Publish {
                redis,
                retention_secs,
                pivot,
                file,
            } => publish(redis, Duration::from_secs(retention_secs), &pivot, &file).await,
            Command::Show { redis } => show(redis).await,
            Command::Remove {
                url,
                access,
                namespace,
            } => {
                let removed = remove_namespace(access.target(&url)?, &namespace)
                    .await
                    .with_context(|| {
                        format!("removing namespace {namespace:?} at {}", redact_url(&url))
                    })?;
                println!(
                    "{}",
                    json!({"namespace": namespace, "removed_keys": removed})
                );
                Ok(())
            }
            Command::Convert {
                rates,
                redis,
                amount,
                from,
                to,
                rounding,
                exponents,
            } => {
                let set = match (rates, redis.url) {
                    (Some(path), _) => read_file_set(&path)?,
                    (None, Some(url)) => read_current(redis.access.target(&url)?, &redis.namespace)
                        .await
                        .with_context(|| {
                            format!("reading the current set from {}", redact_url(&url))
                        })?
                        .context("no rate set is published in this namespace")?,
                    (None, None) => bail!("give --rates FILE.csv or --redis URL"),
                };
                let mut overrides = ExponentOverrides::new();
                for e in &exponents {
                    let (code, n) = e
                        .split_once('=')
                        .with_context(|| format!("--exponent {e:?}: expected CCY=N"))?;
                    overrides.set(
                        code,
                        n.parse().with_context(|| format!("--exponent {e:?}"))?,
                    )?;
                }
                let opts = ConvertOptions {
                    rounding,
                    exponents: overrides,
                };
                let c = convert(&set, amount, currency(&from)?, currency(&to)?, &opts)?;
                let out = json!({
                    "amount": c.amount_minor,
                    "amount_decimal": major(c.amount_minor, c.exponent)?,
                    "currency": c.currency.alpha,
                    "currency_numeric": c.currency.numeric_str(),
                    "exponent": c.exponent,
                    "rate": c.rate.to_string(),
                    "de10": c.de10.as_str(),
                    "path": c.path.name(),
                    "version": &*c.version,
                    "from": c.from.alpha,
                    "amount_from": c.amount_from_minor,
                    "amount_from_decimal": major(c.amount_from_minor, c.exponent_from)?,
                    "exponent_from": c.exponent_from,
                    "rounding": c.rounding.name(),
                });
                println!("{out}");
                Ok(())
            }
        }
    })
}

/// `minor` in major units as a decimal string with `exponent` places: 12345, 2 -> "123.45".
fn major(minor: u64, exponent: u8) -> Result<String> {
    Ok(
        Decimal::try_from_i128_with_scale(i128::from(minor), u32::from(exponent))
            .with_context(|| format!("{minor} with {exponent} decimals"))?
            .to_string(),
    )
}

/// The error and its causes joined by ": ", each said once: the Redis client's errors repeat
/// their cause in their own message, so `{:#}` would print "Connection refused" three times.
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

fn read_file_set(path: &std::path::Path) -> Result<RateSet> {
    let text = read_limited(path)?;
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    };
    RateSet::from_csv(&text, &fx_rates::version::file_version(&hash))
        .with_context(|| format!("{}", path.display()))
}

fn read_limited(path: &std::path::Path) -> Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() > fx_rates::MAX_CSV_BYTES {
        bail!(
            "{}: {} bytes, limit {}",
            path.display(),
            meta.len(),
            fx_rates::MAX_CSV_BYTES
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))
}

async fn publish(
    redis: RedisArgs,
    retention: Duration,
    pivot: &str,
    file: &std::path::Path,
) -> Result<()> {
    let text = read_limited(file)?;
    // Every check happens here, before Redis is touched: a refused file publishes nothing.
    let checked = RateSet::from_csv(&text, "unpublished")
        .with_context(|| format!("{} refused", file.display()))?;
    let set = RateSet::new(checked.pairs().to_vec(), "unpublished", currency(pivot)?)?;
    let mut publisher = Publisher::connect(redis.target()?, &redis.namespace, retention)
        .await
        .with_context(|| format!("connecting to {}", redact_url(&redis.url)))?;
    let published = publisher.publish(&set).await?;
    println!("{}", serde_json::to_string(&published)?);
    Ok(())
}

async fn show(redis: RedisArgs) -> Result<()> {
    let Some(set) = read_current(redis.target()?, &redis.namespace)
        .await
        .with_context(|| format!("reading from {}", redact_url(&redis.url)))?
    else {
        bail!(
            "no rate set is published in namespace {:?}",
            redis.namespace
        );
    };
    let rates: Vec<_> = set
        .pairs()
        .iter()
        .map(|p| json!({"base": p.base.alpha, "quote": p.quote.alpha, "rate": p.rate.to_string()}))
        .collect();
    let out = json!({
        "version": set.version(),
        "pivot": set.pivot().alpha,
        "content_hash": set.content_hash(),
        "pairs": rates.len(),
        "rates": rates,
    });
    println!("{out}");
    Ok(())
}
