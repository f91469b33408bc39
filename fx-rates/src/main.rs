//! `fx-rates`: publish rate sets to Redis, show the current one, convert an amount.
//!
//! DESIGN.md: `fx-rates publish --redis URL FILE.csv`, `fx-rates show --redis URL`,
//! `fx-rates convert (--rates FILE.csv | --redis URL) --amount MINOR --from CCY --to CCY`
//! (currencies alpha or numeric) printing JSON with at least `amount` (minor units),
//! `currency`, `rate` and `de10`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use fx_rates::{
    convert, currency, read_current, ConvertOptions, ExponentOverrides, Publisher, RateSet,
    Rounding,
};
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
    Convert {
        /// Rates from a CSV file.
        #[arg(long, conflicts_with = "url", required_unless_present = "url")]
        rates: Option<PathBuf>,
        #[command(flatten)]
        redis: OptionalRedisArgs,
        /// Amount in minor units of --from.
        #[arg(long)]
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
}

#[derive(Args)]
struct RedisArgs {
    /// Redis URL, e.g. redis://127.0.0.1:6379/
    #[arg(long = "redis", value_name = "URL")]
    url: String,
    /// Key namespace (keys fx:{NS}:...).
    #[arg(long, default_value = "default")]
    namespace: String,
}

#[derive(Args)]
struct OptionalRedisArgs {
    /// Rates from the current set in Redis.
    #[arg(long = "redis", value_name = "URL")]
    url: Option<String>,
    /// Key namespace (keys fx:{NS}:...).
    #[arg(long, default_value = "default")]
    namespace: String,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fx-rates: {e:#}");
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
                    (None, Some(url)) => read_current(&url, &redis.namespace)
                        .await
                        .with_context(|| format!("reading the current set from {url}"))?
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
                    "currency": c.currency.alpha,
                    "currency_numeric": c.currency.numeric_str(),
                    "exponent": c.exponent,
                    "rate": c.rate.to_string(),
                    "de10": c.de10.as_str(),
                    "path": c.path.name(),
                    "version": &*c.version,
                    "from": c.from.alpha,
                    "amount_from": c.amount_from_minor,
                    "exponent_from": c.exponent_from,
                    "rounding": c.rounding.name(),
                });
                println!("{out}");
                Ok(())
            }
        }
    })
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
    let mut publisher = Publisher::connect(&redis.url, &redis.namespace, retention)
        .await
        .with_context(|| format!("connecting to {}", redis.url))?;
    let published = publisher.publish(&set).await?;
    println!("{}", serde_json::to_string(&published)?);
    Ok(())
}

async fn show(redis: RedisArgs) -> Result<()> {
    let Some(set) = read_current(&redis.url, &redis.namespace)
        .await
        .with_context(|| format!("reading from {}", redis.url))?
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
