//! Real-time decision hooks (issue 22): for a card in a program, once our own checks would
//! approve, the authorization is POSTed to the program's service and its answer becomes an
//! input of the ledger's decision (`ledger::HookVerdict`).
//!
//! The request: `POST url` with `Content-Type: application/json` and
//! `X-Hook-Signature: t=UNIX_SECONDS,v1=HEX`, where `HEX` is HMAC-SHA256 under the
//! program's secret of `UNIX_SECONDS` + `"."` + the body's bytes (the receiver recomputes it
//! and refuses an old `t`: a captured request cannot be replayed later). The body
//! ([`HookBody`]) has the masked PAN and the card id, never the PAN; the amounts; the
//! billing amount of a conversion; the merchant's fields; the controls' result.
//!
//! The answer, status 200 and a JSON object: `{"decision": "approve"}`,
//! `{"decision": "decline", "response_code": "05"}` (two alphanumerics, not an approval
//! code), or `{"decision": "partial", "approved_minor": 1500}` (minor units of the
//! transaction currency, more than 0). Anything else within the budget is malformed; no
//! answer within the budget is a timeout; no connection is a connection error: each of these
//! hands the decision to the program's stand-in, recorded with its reason.
//!
//! One `reqwest` client for every program: its pool keeps connections to each host open
//! between authorizations (no TCP or TLS handshake per request).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use iso8583::OwnedMessage;
use ledger::{HookAnswer, HookQuery, HookVerdict, ResponseCode, StandIn, StandInReason};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::time::Instant;

use crate::config::Config;
use crate::error::ConfigError;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-hook-signature";

/// Largest answer read from a hook: an answer is a few dozen bytes.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Time kept back from the request's deadline for the decision's commit after the hook.
pub const COMMIT_RESERVE: Duration = Duration::from_millis(200);

/// Idle pooled connections kept per hook host.
const POOL_IDLE_PER_HOST: usize = 32;

/// One program's hook.
#[derive(Debug)]
struct Program {
    url: reqwest::Url,
    secret: Vec<u8>,
    budget: Duration,
    stand_in: StandIn,
}

/// Every program's hook and the client that calls them.
#[derive(Debug)]
pub struct Hooks {
    programs: HashMap<String, Program>,
    members: ledger::Programs,
    client: reqwest::Client,
}

/// What a hook answered, before it is checked: a field that does not belong to the decision
/// (say `approved_minor` with `approve`) makes the answer malformed, so that a confused
/// service is never read as approving in full.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    decision: String,
    response_code: Option<String>,
    approved_minor: Option<i64>,
}

/// `{"minor": int, "currency": "USD"}`, as the events show amounts.
#[derive(Serialize, Debug)]
pub struct AmountJson {
    /// Minor units.
    pub minor: i64,
    /// ISO 4217 alpha code.
    pub currency: String,
}

/// The conversion our checks would apply (DE 6, DE 10).
#[derive(Serialize, Debug)]
pub struct BillingJson {
    /// DE 6 in the home currency.
    pub amount: AmountJson,
    /// The fee-free rate, transaction currency to home currency.
    pub rate: String,
    /// The rate set's version.
    pub rate_set: String,
}

/// Where and how the card is used.
#[derive(Serialize, Debug)]
pub struct MerchantJson {
    /// DE 18.
    pub mcc: Option<String>,
    /// DE 19, else DE 43's country (ISO 3166 numeric).
    pub country: Option<String>,
    /// DE 41.
    pub terminal_id: Option<String>,
    /// DE 42.
    pub merchant_id: Option<String>,
    /// DE 43.
    pub name_location: Option<String>,
    /// DE 22.
    pub entry_mode: Option<String>,
    /// E-commerce (DE 22 81 or DE 25 59).
    pub ecommerce: bool,
    /// At an ATM (MCC 6011).
    pub atm: bool,
    /// Contactless (DE 22 07 or 91).
    pub contactless: bool,
}

/// The message's network identity.
#[derive(Serialize, Debug)]
pub struct NetworkKeyJson {
    /// DE 32.
    pub acquirer: String,
    /// DE 11.
    pub stan: String,
    /// DE 7.
    pub transmitted: String,
    /// DE 37.
    pub rrn: Option<String>,
}

/// What a hook is sent.
#[derive(Serialize, Debug)]
pub struct HookBody {
    /// The program.
    pub program: String,
    /// The card's id.
    pub card_id: String,
    /// Its account.
    pub account: String,
    /// First six and last four digits of the PAN.
    pub pan_masked: String,
    /// `purchase` or `cash`.
    pub kind: &'static str,
    /// DE 4 and DE 49.
    pub amount: AmountJson,
    /// What our checks would approve (less than `amount` for a partial approval of the
    /// funds).
    pub approved: AmountJson,
    /// The billing amount when the home wallet pays through a conversion.
    pub billing: Option<BillingJson>,
    /// The merchant's fields.
    pub merchant: MerchantJson,
    /// `passed` (the card's controls let it through) or `none` (no controls).
    pub controls: ledger::ControlsResult,
    /// Whether the acquirer takes a partial approval (DE 3/DE 22 as the network says).
    pub partial_allowed: bool,
    /// The business date, YYYY-MM-DD.
    pub business_date: String,
    /// The message's identity.
    pub network_key: NetworkKeyJson,
}

/// HMAC-SHA256 of `timestamp.body` under `secret`, hex: what [`SIGNATURE_HEADER`] carries
/// after `v1=`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The client's TLS: rustls with the ring provider the listeners use, trusting the
/// system's roots and the programs' own CAs (`ca_file`).
fn tls_config(
    extra: Vec<rustls_pki_types::CertificateDer<'static>>,
) -> Result<tokio_rustls::rustls::ClientConfig, ConfigError> {
    // *ring*, as the listeners (app/tls.rs says why not aws-lc-rs).
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // A system certificate rustls cannot parse is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    for cert in extra {
        roots
            .add(cert)
            .map_err(|e| ConfigError::invalid("programs.ca_file", e.to_string()))?;
    }
    tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::invalid("programs", format!("TLS: {e}")))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

impl Hooks {
    /// The hooks `config` names; `None` when it has no `[[programs]]`.
    pub fn from_config(config: &Config) -> Result<Option<Hooks>, ConfigError> {
        if config.programs.is_empty() {
            return Ok(None);
        }
        let mut programs = HashMap::new();
        let mut members = ledger::Programs::new();
        let mut cas = Vec::new();
        for (i, p) in config.programs.iter().enumerate() {
            let key = format!("programs[{i}]");
            if let Some(path) = &p.ca_file {
                use rustls_pki_types::pem::PemObject;
                let bad = |e: &dyn std::fmt::Display| {
                    ConfigError::invalid(
                        format!("{key}.ca_file"),
                        format!("{}: {e}", path.display()),
                    )
                };
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(&e))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(&e))?;
                if certs.is_empty() {
                    return Err(bad(&"no certificate in it"));
                }
                cas.extend(certs);
            }
            let url = reqwest::Url::parse(&p.url)
                .map_err(|e| ConfigError::invalid(format!("{key}.url"), e.to_string()))?;
            programs.insert(
                p.name.clone(),
                Program {
                    url,
                    secret: p.secret(&key)?,
                    budget: Duration::from_millis(p.budget_ms),
                    stand_in: p.stand_in.to_ledger(),
                },
            );
            members.add(&p.name, &p.cards, &p.accounts);
        }
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(cas)?)
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .tcp_nodelay(true)
            // Hooks are named by URL in the config; a redirect would send the signed body
            // somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| ConfigError::invalid("programs", format!("HTTP client: {e}")))?;
        Ok(Some(Hooks {
            programs,
            members,
            client,
        }))
    }

    /// Which cards are in which program, for the ledger ([`ledger::Store::set_programs`]).
    pub fn members(&self) -> ledger::Programs {
        self.members.clone()
    }

    /// Asks `q.program`'s hook about the authorization in `body`, within its budget and before
    /// `deadline` (less [`COMMIT_RESERVE`]); its verdict, or the stand-in's with its reason.
    pub async fn ask(
        &self,
        q: &HookQuery,
        body: &HookBody,
        deadline: Instant,
    ) -> (HookVerdict, Duration) {
        let started = Instant::now();
        let Some(p) = self.programs.get(&q.program) else {
            // The ledger's programs and ours come from one config: a program the ledger
            // names that we do not know is a reload in between. Decided as a silent hook.
            return (
                stand_in(q, StandIn::Decline, StandInReason::Connection),
                started.elapsed(),
            );
        };
        let budget = p.budget.min(
            deadline
                .saturating_duration_since(started)
                .saturating_sub(COMMIT_RESERVE),
        );
        let verdict = match tokio::time::timeout(budget, self.call(p, q, body)).await {
            Ok(Ok(answer)) => HookVerdict::Answered {
                program: q.program.clone(),
                answer,
            },
            Ok(Err(reason)) => stand_in(q, p.stand_in, reason),
            Err(_) => stand_in(q, p.stand_in, StandInReason::Timeout),
        };
        (verdict, started.elapsed())
    }

    async fn call(
        &self,
        p: &Program,
        q: &HookQuery,
        body: &HookBody,
    ) -> Result<HookAnswer, StandInReason> {
        let bytes = serde_json::to_vec(body).map_err(|_| StandInReason::Malformed)?;
        let t = jiff::Timestamp::now().as_second();
        let sig = format!("t={t},v1={}", signature(&p.secret, t, &bytes));
        let mut resp = self
            .client
            .post(p.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sig)
            .body(bytes)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    StandInReason::Timeout
                } else if e.is_connect() || e.is_request() {
                    StandInReason::Connection
                } else {
                    StandInReason::Malformed
                }
            })?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(StandInReason::Malformed);
        }
        let mut answer = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|_| StandInReason::Connection)? {
            if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(StandInReason::Malformed);
            }
            answer.extend_from_slice(&chunk);
        }
        parse_answer(&answer, q).ok_or(StandInReason::Malformed)
    }
}

fn stand_in(q: &HookQuery, stand_in: StandIn, reason: StandInReason) -> HookVerdict {
    HookVerdict::StandIn {
        program: q.program.clone(),
        reason,
        stand_in,
    }
}

/// A hook's answer, if it is one: a decline's code is two alphanumerics and no approval; a
/// partial amount is more than 0 (and no more than the amount: more is a full approval).
pub fn parse_answer(bytes: &[u8], q: &HookQuery) -> Option<HookAnswer> {
    let a: Answer = serde_json::from_slice(bytes).ok()?;
    Some(
        match (a.decision.as_str(), a.response_code, a.approved_minor) {
            ("approve", None, None) => HookAnswer::Approve,
            ("decline", Some(code), None) => {
                let code = ResponseCode::parse(&code).ok()?;
                if code.is_approval() {
                    return None;
                }
                HookAnswer::Decline(code)
            }
            ("partial", None, Some(minor)) if minor > 0 => {
                if minor >= q.amount_minor {
                    HookAnswer::Approve
                } else {
                    HookAnswer::ApprovePartial(minor)
                }
            }
            _ => return None,
        },
    )
}

/// The word for metrics and logs: `approve`, `decline`, `partial`, or `stand_in_` + reason.
pub fn outcome_label(v: &HookVerdict) -> &'static str {
    match v {
        HookVerdict::Answered { answer, .. } => match answer {
            HookAnswer::Approve => "approve",
            HookAnswer::Decline(_) => "decline",
            HookAnswer::ApprovePartial(_) => "partial",
        },
        HookVerdict::StandIn { reason, .. } => match reason {
            StandInReason::Timeout => "stand_in_timeout",
            StandInReason::Connection => "stand_in_connection",
            StandInReason::Malformed => "stand_in_malformed",
        },
    }
}

/// The body for `q` and the message it came from.
pub fn body(q: &HookQuery, req: &OwnedMessage, r: &ledger::AuthRequest) -> HookBody {
    let text = |n: u16| req.get_str(n).map(|s| s.trim_end().to_owned());
    let amount = |minor: i64, c: money::Currency| AmountJson {
        minor,
        currency: c.as_str().to_owned(),
    };
    HookBody {
        program: q.program.clone(),
        card_id: q.card_id.clone(),
        account: q.account_id.clone(),
        pan_masked: q.pan_masked.clone(),
        kind: r.kind.as_str(),
        amount: amount(q.amount_minor, q.currency),
        approved: amount(q.approved_minor, q.currency),
        billing: q.billing.as_ref().map(|b| BillingJson {
            amount: amount(b.amount_minor, b.currency),
            rate: b.rate.to_string(),
            rate_set: b.version.clone(),
        }),
        merchant: MerchantJson {
            mcc: r.merchant.mcc.clone(),
            country: r.merchant.country.clone(),
            terminal_id: text(41),
            merchant_id: text(42),
            name_location: text(43),
            entry_mode: text(22),
            ecommerce: r.merchant.ecommerce,
            atm: r.merchant.atm,
            contactless: r.merchant.contactless,
        },
        controls: q.controls,
        partial_allowed: r.allow_partial,
        business_date: r.business_date.to_string(),
        network_key: NetworkKeyJson {
            acquirer: text(32).unwrap_or_default(),
            stan: text(11).unwrap_or_default(),
            transmitted: text(7).unwrap_or_default(),
            rrn: text(37),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> HookQuery {
        HookQuery {
            program: "fleet".into(),
            card_id: "C-0174".into(),
            account_id: "A-1010".into(),
            pan_masked: "400000******0018".into(),
            amount_minor: 10_000,
            currency: "USD".parse().unwrap(),
            approved_minor: 10_000,
            billing: None,
            controls: ledger::ControlsResult::None,
        }
    }

    #[test]
    fn answers_are_read_strictly() {
        let q = query();
        let a = |s: &str| parse_answer(s.as_bytes(), &q);
        assert_eq!(a(r#"{"decision":"approve"}"#), Some(HookAnswer::Approve));
        assert_eq!(
            a(r#"{"decision":"decline","response_code":"05"}"#),
            Some(HookAnswer::Decline(ResponseCode::parse("05").unwrap()))
        );
        assert_eq!(
            a(r#"{"decision":"partial","approved_minor":2500}"#),
            Some(HookAnswer::ApprovePartial(2500))
        );
        // More than asked is all of it.
        assert_eq!(
            a(r#"{"decision":"partial","approved_minor":20000}"#),
            Some(HookAnswer::Approve)
        );
        for bad in [
            "",
            "garbage",
            "{}",
            r#"{"decision":"maybe"}"#,
            r#"{"decision":"decline"}"#,
            r#"{"decision":"decline","response_code":"00"}"#,
            r#"{"decision":"decline","response_code":"5"}"#,
            r#"{"decision":"partial","approved_minor":0}"#,
            r#"{"decision":"partial","approved_minor":-5}"#,
            r#"{"decision":"approve","extra":1}"#,
            r#"{"decision":"approve","approved_minor":100}"#,
            r#"{"decision":"partial","approved_minor":100,"response_code":"05"}"#,
            r#"[]"#,
        ] {
            assert_eq!(a(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: Python's
        // hmac.new(b"0123456789abcdef", b"1700000000.{}", hashlib.sha256).hexdigest().
        assert_eq!(
            signature(b"0123456789abcdef", 1_700_000_000, b"{}"),
            "e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
        );
    }
}
