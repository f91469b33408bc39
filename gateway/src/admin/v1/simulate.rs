//! Simulation (DESIGN.md, "Operations API and simulation"): `POST /v1/simulate/authorization`,
//! `/reversal` and `/advice` build the ISO 8583 request a network would send and send it
//! through the first listener's own framing, codec and connection handler
//! (`admin::simulator`); the answer is the request and the response in the JSON form, masked,
//! with DE 39 and DE 38 pulled out, and the request's network key so that a reversal or a
//! completion can name it. `GET /v1/simulate/cards` lists the cards the simulator can name by
//! id (the seed file's) with what each one does today.
//!
//! Every simulated request is recorded like any network's: holds, decisions and events are
//! real. The acquirer (DE 32) is the simulator's own, `999999`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hsm::{ClearPin, KeyName, PinBlockFormat};
use iso8583::OwnedMessage;
use jiff::Timestamp;
use ledger::{CardRecord, CardStatus, NetworkKey, Pan};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cards::ledger_error;
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::json::ApiJson;
use crate::admin::simulator::build::{self, Ids, Terms, SIM_ACQUIRER};
use crate::admin::simulator::mask::masked_json;
use crate::admin::simulator::{SimFail, Simulator};
use crate::admin::AdminState;

/// Longest card id looked up (as `GET /v1/cards/{id}`).
const MAX_CARD_ID_LEN: usize = 64;
/// DE 18 when none is given: grocery stores.
const DEFAULT_MCC: &str = "5411";
/// DE 22 when none is given: chip read, PIN capability unknown.
const DEFAULT_ENTRY_MODE: &str = "051";
/// Cards `GET /v1/simulate/cards` lists (two ledger reads each): a sandbox has a few dozen.
const MAX_LISTED: usize = 500;

/// `POST /v1/simulate/authorization`'s body: a card (exactly one of `card_id` and `pan`) and
/// what is bought.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorizationBody {
    /// A card of the seed file by id (`GET /v1/simulate/cards`). Exactly one of `card_id`
    /// and `pan`.
    #[serde(default)]
    #[schema(example = "C-0018", max_length = 64)]
    pub(crate) card_id: Option<String>,
    /// Any card number (12 to 19 digits), known to the ledger or not (unknown: 14). Never
    /// written back unmasked.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{12,19}$")]
    pub(crate) pan: Option<String>,
    /// DE 4, in minor units of `currency`.
    #[schema(minimum = 0, maximum = 999_999_999_999_i64, example = 15000)]
    pub(crate) amount_minor: i64,
    /// DE 49: ISO 4217 alpha (`KRW`) or numeric (`410`).
    #[schema(example = "KRW", pattern = "^([A-Z]{3}|[0-9]{3})$")]
    pub(crate) currency: String,
    /// DE 18, merchant category code, 4 digits (default 5411).
    #[serde(default)]
    #[schema(example = "5411", pattern = "^[0-9]{4}$")]
    pub(crate) mcc: Option<String>,
    /// DE 19, the acquirer's country, ISO 3166 numeric (none by default).
    #[serde(default)]
    #[schema(example = "410", pattern = "^[0-9]{3}$")]
    pub(crate) country: Option<String>,
    /// DE 22: 3 digits, or `chip` (051, the default), `contactless` (071), `magstripe`
    /// (901), `ecommerce` (812), `manual` (012).
    #[serde(default)]
    #[schema(
        example = "ecommerce",
        pattern = "^([0-9]{3}|chip|contactless|magstripe|ecommerce|manual)$"
    )]
    pub(crate) entry_mode: Option<String>,
    /// The cardholder's PIN (4 to 12 digits): sent as DE 52, an ISO 9564 format 0 PIN block
    /// under the listener's `zpk`, as a network would. Needs an `[hsm]`.
    #[serde(default)]
    #[schema(example = "1234", pattern = "^[0-9]{4,12}$")]
    pub(crate) pin: Option<String>,
    /// The CVV2 typed by the cardholder (3 digits): sent in DE 48 as subelement 92.
    #[serde(default)]
    #[schema(example = "640", pattern = "^[0-9]{3}$")]
    pub(crate) cvv2: Option<String>,
    /// DE 14, YYMM (default: the card's own expiry when the ledger knows the card).
    #[serde(default)]
    #[schema(example = "3012", pattern = "^[0-9]{4}$")]
    pub(crate) expiry: Option<String>,
}

/// A request's identity: DE 32, DE 11, DE 7, as a reversal or completion names its original.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimulatedKey {
    /// DE 32 (the simulator's acquirer, `999999`).
    #[schema(example = "999999")]
    pub(crate) acquirer: String,
    /// DE 11.
    #[schema(example = "000042")]
    pub(crate) stan: String,
    /// DE 7, MMDDhhmmss UTC.
    #[schema(example = "1205103000")]
    pub(crate) transmitted: String,
}

/// The original a reversal or completion names: a simulation's `network_key` as it was
/// returned, or any network's (DE 32, DE 11, DE 7).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OriginalBody {
    /// DE 32 of the original (default: the simulator's, `999999`).
    #[serde(default)]
    #[schema(example = "999999", pattern = "^[0-9]{1,11}$")]
    pub(crate) acquirer: Option<String>,
    /// DE 11 of the original.
    #[schema(example = "000042", pattern = "^[0-9]{6}$")]
    pub(crate) stan: String,
    /// DE 7 of the original, MMDDhhmmss.
    #[schema(example = "1205103000", pattern = "^[0-9]{10}$")]
    pub(crate) transmitted: String,
    /// The original's MTI, first 4 digits of DE 90 (default `0100`).
    #[serde(default)]
    #[schema(example = "0100", pattern = "^0[12][0-9]0$")]
    pub(crate) mti: Option<String>,
}

/// `POST /v1/simulate/reversal`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReversalBody {
    /// The authorization reversed (DE 90).
    pub(crate) original: OriginalBody,
    /// A partial reversal: the amount the merchant keeps, minor units (DE 95). Absent: the
    /// whole amount is reversed.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 999_999_999_999_i64, example = 5000)]
    pub(crate) keep_minor: Option<i64>,
}

/// `POST /v1/simulate/advice`'s body: what a network decided on the issuer's behalf (0120),
/// or, with `original`, the completion of an authorization (0220, DE 90).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdviceBody {
    /// As in an authorization: exactly one of `card_id` and `pan`.
    #[serde(default)]
    #[schema(example = "C-0018", max_length = 64)]
    pub(crate) card_id: Option<String>,
    /// As in an authorization.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{12,19}$")]
    pub(crate) pan: Option<String>,
    /// DE 4 (a completion's final amount).
    #[schema(minimum = 0, maximum = 999_999_999_999_i64, example = 17500)]
    pub(crate) amount_minor: i64,
    /// DE 49: ISO 4217 alpha or numeric.
    #[schema(example = "KRW", pattern = "^([A-Z]{3}|[0-9]{3})$")]
    pub(crate) currency: String,
    /// DE 18 (default 5411).
    #[serde(default)]
    #[schema(pattern = "^[0-9]{4}$")]
    pub(crate) mcc: Option<String>,
    /// DE 19.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{3}$")]
    pub(crate) country: Option<String>,
    /// DE 22, as in an authorization.
    #[serde(default)]
    #[schema(pattern = "^([0-9]{3}|chip|contactless|magstripe|ecommerce|manual)$")]
    pub(crate) entry_mode: Option<String>,
    /// DE 39: what the network answered (default `00`).
    #[serde(default)]
    #[schema(example = "00", pattern = "^[0-9A-Z]{2}$")]
    pub(crate) response_code: Option<String>,
    /// DE 38: the network's approval code, 6 letters or digits.
    #[serde(default)]
    #[schema(example = "SBY123", pattern = "^[0-9A-Z]{6}$")]
    pub(crate) approval_code: Option<String>,
    /// The authorization this completes (0220 with DE 90); absent: a stand-in advice (0120).
    #[serde(default)]
    pub(crate) original: Option<OriginalBody>,
    /// DE 14, YYMM (default: the card's own).
    #[serde(default)]
    #[schema(pattern = "^[0-9]{4}$")]
    pub(crate) expiry: Option<String>,
}

/// What a simulation sent and got back.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimulationResult {
    /// The request as sent, in the JSON form (`{"mti", "fields"}`), card data masked.
    #[schema(value_type = Object, example = json!({"mti": "0100", "fields": {"2": "400000******0018", "4": "000000015000"}}))]
    pub(crate) request: serde_json::Value,
    /// The switch's answer in the JSON form, card data masked.
    #[schema(value_type = Object, example = json!({"mti": "0110", "fields": {"38": "0YEJMI", "39": "00"}}))]
    pub(crate) response: serde_json::Value,
    /// DE 39 of the answer (`00` approved; see fixtures/README.md for the rest).
    #[schema(example = "00")]
    pub(crate) response_code: Option<String>,
    /// DE 38 of the answer, on approvals.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "0YEJMI")]
    pub(crate) approval_code: Option<String>,
    /// The request's network key: pass it as `original` to reverse or complete it.
    pub(crate) network_key: SimulatedKey,
}

/// A card the simulator can name by id, with what it does today.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimCard {
    #[schema(example = "C-0018")]
    pub(crate) id: String,
    #[schema(example = "A-1001")]
    pub(crate) account: String,
    #[schema(example = "400000******0018")]
    pub(crate) pan_masked: String,
    /// YYMM.
    #[schema(example = "3012")]
    pub(crate) expiry: String,
    pub(crate) status: super::cards::Status,
    /// Whether the seed gave it a PIN (the sandbox's are in fixtures/README.md).
    pub(crate) pin: bool,
    /// What its authorizations answer, from its status, expiry, controls and wallets now.
    pub(crate) outcome: Vec<String>,
}

/// The seed file's cards.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimCardList {
    pub(crate) items: Vec<SimCard>,
}

fn unprocessable(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
}

fn digits(v: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
}

fn simulator(state: &AdminState) -> Result<&Arc<Simulator>, ApiError> {
    state
        .simulator
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("the switch has no listener to simulate on"))
}

/// The card named by `card_id` or `pan` (exactly one), with its ledger record when the
/// ledger knows it.
async fn card(
    state: &AdminState,
    sim: &Simulator,
    card_id: Option<&str>,
    pan: Option<&str>,
) -> Result<(Pan, Option<CardRecord>), ApiError> {
    let store = state.status.core().store();
    match (card_id, pan) {
        (Some(id), None) => {
            if id.is_empty() || id.len() > MAX_CARD_ID_LEN {
                return Err(ApiError::not_found("no such card"));
            }
            let rec = store
                .card(id)
                .await
                .map_err(ledger_error)?
                .ok_or_else(|| ApiError::not_found("no such card"))?;
            let pan = sim.pan_of(id).cloned().ok_or_else(|| {
                unprocessable(
                    "the simulator knows the numbers of the seed file's cards only: send pan",
                )
            })?;
            Ok((pan, Some(rec)))
        }
        (None, Some(p)) => {
            let pan = Pan::new(p).map_err(|_| unprocessable("pan must be 12 to 19 digits"))?;
            let rec = store.card_by_pan(&pan).await.map_err(ledger_error)?;
            Ok((pan, rec))
        }
        _ => Err(unprocessable("send exactly one of card_id and pan")),
    }
}

/// What every purchase-like body gives.
struct TermsIn<'a> {
    card_id: Option<&'a str>,
    pan: Option<&'a str>,
    amount_minor: i64,
    currency: &'a str,
    mcc: Option<&'a str>,
    country: Option<&'a str>,
    entry_mode: Option<&'a str>,
    expiry: Option<&'a str>,
}

async fn terms(state: &AdminState, sim: &Simulator, t: TermsIn<'_>) -> Result<Terms, ApiError> {
    if !(0..=999_999_999_999).contains(&t.amount_minor) {
        return Err(unprocessable("amount_minor must be from 0 to 999999999999"));
    }
    let currency = fx_rates::currency(t.currency)
        .map_err(|_| unprocessable("currency must be an ISO 4217 code (KRW or 410)"))?
        .numeric;
    let mcc = t.mcc.unwrap_or(DEFAULT_MCC);
    if !digits(mcc, 4, 4) {
        return Err(unprocessable("mcc must be 4 digits"));
    }
    if t.country.is_some_and(|c| !digits(c, 3, 3)) {
        return Err(unprocessable("country must be 3 digits (ISO 3166 numeric)"));
    }
    let entry_mode = match t.entry_mode.unwrap_or(DEFAULT_ENTRY_MODE) {
        "chip" => "051",
        "contactless" => "071",
        "magstripe" => "901",
        "ecommerce" => "812",
        "manual" => "012",
        m if digits(m, 3, 3) => m,
        _ => return Err(unprocessable(
            "entry_mode must be 3 digits or one of chip, contactless, magstripe, ecommerce, manual",
        )),
    };
    if t.expiry.is_some_and(|e| !digits(e, 4, 4)) {
        return Err(unprocessable("expiry must be YYMM"));
    }
    let (pan, rec) = card(state, sim, t.card_id, t.pan).await?;
    Ok(Terms {
        pan,
        expiry: t
            .expiry
            .map(str::to_owned)
            .or_else(|| rec.map(|r| r.expiry)),
        amount_minor: t.amount_minor,
        currency,
        mcc: mcc.to_owned(),
        country: t.country.map(str::to_owned),
        entry_mode: entry_mode.to_owned(),
    })
}

/// DE 52 for `pin`: ISO 9564 format 0 under the listener's `zpk` (the sandbox's `zpk` when
/// the listener checks nothing), by the switch's own HSM.
async fn pin_block(sim: &Simulator, pan: &Pan, pin: &str) -> Result<Vec<u8>, ApiError> {
    if !digits(pin, 4, 12) {
        return Err(unprocessable("pin must be 4 to 12 digits"));
    }
    let hsm = sim.hsm().ok_or_else(|| {
        unprocessable("a PIN needs the switch's [hsm] (its zpk): none is configured")
    })?;
    let zpk = sim.zpk().unwrap_or_else(|| KeyName::new(hsm::sandbox::ZPK));
    let pin = ClearPin::new(pin).map_err(|_| unprocessable("pin must be 4 to 12 digits"))?;
    let pan = pan.clear_digits().to_owned();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    hsm.run(deadline, move |h| {
        h.encrypt_pin_block(&zpk, PinBlockFormat::Iso0, &pan, &pin)
    })
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "simulator: no PIN block");
        ApiError::unavailable("the HSM cannot make the PIN block now")
    })
}

fn original_key(o: &OriginalBody) -> Result<(String, NetworkKey), ApiError> {
    let mti = o.mti.as_deref().unwrap_or("0100");
    let mti_ok = mti.len() == 4
        && mti.starts_with('0')
        && matches!(mti.as_bytes()[1], b'1' | b'2')
        && mti.as_bytes()[2].is_ascii_digit()
        && mti.ends_with('0');
    if !mti_ok {
        return Err(unprocessable(
            "original.mti must be an original's MTI (0100, 0200)",
        ));
    }
    if !iso8583::datetime::is_mmddhhmmss(&o.transmitted) {
        return Err(unprocessable("original.transmitted must be MMDDhhmmss"));
    }
    let key = NetworkKey::new(
        o.acquirer.as_deref().unwrap_or(SIM_ACQUIRER),
        &o.stan,
        &o.transmitted,
    )
    .map_err(|_| {
        unprocessable("original needs acquirer (1 to 11 digits), stan (6) and transmitted (10)")
    })?;
    Ok((mti.to_owned(), key))
}

/// Sends `req` and shapes the answer.
async fn exchange(
    sim: &Simulator,
    ids: &Ids,
    req: &OwnedMessage,
) -> Result<Json<SimulationResult>, ApiError> {
    let (sent, resp) = sim.exchange(req).await.map_err(|f| {
        let why = match &f {
            SimFail::Encode(e) => e.as_str(),
            SimFail::NoAnswer => "no answer in time",
            SimFail::Undecodable(e) => e.as_str(),
        };
        tracing::warn!(reason = %why, "simulator: no answer");
        match f {
            SimFail::Encode(_) => {
                unprocessable("the request does not fit the listener's spec (see its fields)")
            }
            _ => ApiError::unavailable("the switch did not answer the simulated request"),
        }
    })?;
    Ok(Json(SimulationResult {
        request: masked_json(sim.spec(), &sent),
        response: masked_json(sim.spec(), &resp),
        response_code: resp.get_str(39).map(str::to_owned),
        approval_code: resp.get_str(38).map(str::to_owned),
        network_key: SimulatedKey {
            acquirer: SIM_ACQUIRER.to_owned(),
            stan: ids.stan.clone(),
            transmitted: ids.transmitted.clone(),
        },
    }))
}

const RESULT_NOTE: &str = "The request and its answer, masked";

/// Sends a simulated authorization request (0100) through the first listener's own framing,
/// codec and connection handler, and returns it with the answer (0110). It is decided and
/// recorded like any network's: an approval places a hold.
#[utoipa::path(
    post,
    path = "/v1/simulate/authorization",
    tag = "simulation",
    request_body = AuthorizationBody,
    security(("bearer" = [])),
    responses(
        (status = OK, description = RESULT_NOTE, body = SimulationResult),
        (status = BAD_REQUEST, description = "Not JSON", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No card has this id", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is too large", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not application/json", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A field out of its bounds, or both or neither of card_id and pan", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The switch cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn simulate_authorization(
    State(state): State<Arc<AdminState>>,
    ApiJson(body): ApiJson<AuthorizationBody>,
) -> Result<Json<SimulationResult>, ApiError> {
    let sim = simulator(&state)?;
    if body.cvv2.as_deref().is_some_and(|c| !digits(c, 3, 3)) {
        return Err(unprocessable("cvv2 must be 3 digits"));
    }
    let t = terms(
        &state,
        sim,
        TermsIn {
            card_id: body.card_id.as_deref(),
            pan: body.pan.as_deref(),
            amount_minor: body.amount_minor,
            currency: &body.currency,
            mcc: body.mcc.as_deref(),
            country: body.country.as_deref(),
            entry_mode: body.entry_mode.as_deref(),
            expiry: body.expiry.as_deref(),
        },
    )
    .await?;
    let block = match &body.pin {
        Some(p) => Some(pin_block(sim, &t.pan, p).await?),
        None => None,
    };
    let de48 = body.cvv2.as_deref().map(hsm::sandbox::de48_with_cvv2);
    let ids = Ids::new(sim.next_stan(), Timestamp::now());
    let req = build::authorization(&ids, &t, block, de48);
    exchange(sim, &ids, &req).await
}

/// Sends a simulated reversal (0400) of an earlier authorization, named by its network key
/// (a simulation's `network_key`): its hold is released (in part with `keep_minor`). DE 2,
/// DE 4 and DE 49 are the original's when the ledger has it; a reversal of an original the
/// switch never saw is remembered and acknowledged, as the switch does for any network.
#[utoipa::path(
    post,
    path = "/v1/simulate/reversal",
    tag = "simulation",
    request_body = ReversalBody,
    security(("bearer" = [])),
    responses(
        (status = OK, description = RESULT_NOTE, body = SimulationResult),
        (status = BAD_REQUEST, description = "Not JSON", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is too large", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not application/json", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "The original's key or keep_minor out of bounds", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The switch cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn simulate_reversal(
    State(state): State<Arc<AdminState>>,
    ApiJson(body): ApiJson<ReversalBody>,
) -> Result<Json<SimulationResult>, ApiError> {
    let sim = simulator(&state)?;
    let (original_mti, original) = original_key(&body.original)?;
    if body
        .keep_minor
        .is_some_and(|k| !(0..=999_999_999_999).contains(&k))
    {
        return Err(unprocessable("keep_minor must be from 0 to 999999999999"));
    }
    let store = state.status.core().store();
    let decided = store.decision(&original).await.map_err(ledger_error)?;
    let amount = decided.as_ref().and_then(|d| {
        let ccy = fx_rates::currency(d.currency?.as_str()).ok()?.numeric;
        Some((d.amount_minor, ccy))
    });
    let pan = decided
        .as_ref()
        .and_then(|d| d.card_id.as_deref())
        .and_then(|id| sim.pan_of(id))
        .cloned();
    let r = build::Reversal {
        original_mti,
        original,
        pan,
        amount,
        keep_minor: body.keep_minor,
    };
    let ids = Ids::new(sim.next_stan(), Timestamp::now());
    let req = build::reversal(&ids, &r);
    exchange(sim, &ids, &req).await
}

/// Sends a simulated advice: a stand-in decision the network took on the issuer's behalf
/// (0120), recorded even though the switch did not decide it, or with `original` the
/// completion of an authorization (0220 with DE 90: its hold is captured for `amount_minor`).
#[utoipa::path(
    post,
    path = "/v1/simulate/advice",
    tag = "simulation",
    request_body = AdviceBody,
    security(("bearer" = [])),
    responses(
        (status = OK, description = RESULT_NOTE, body = SimulationResult),
        (status = BAD_REQUEST, description = "Not JSON", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No card has this id", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is too large", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not application/json", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A field out of its bounds", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The switch cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn simulate_advice(
    State(state): State<Arc<AdminState>>,
    ApiJson(body): ApiJson<AdviceBody>,
) -> Result<Json<SimulationResult>, ApiError> {
    let sim = simulator(&state)?;
    let code = body.response_code.as_deref().unwrap_or("00");
    let an = |v: &str, n: usize| {
        v.len() == n
            && v.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    };
    if !an(code, 2) {
        return Err(unprocessable("response_code must be 2 digits or capitals"));
    }
    if body.approval_code.as_deref().is_some_and(|a| !an(a, 6)) {
        return Err(unprocessable("approval_code must be 6 digits or capitals"));
    }
    let completes = body
        .original
        .as_ref()
        .map(original_key)
        .transpose()?
        .map(|(_, k)| k);
    let t = terms(
        &state,
        sim,
        TermsIn {
            card_id: body.card_id.as_deref(),
            pan: body.pan.as_deref(),
            amount_minor: body.amount_minor,
            currency: &body.currency,
            mcc: body.mcc.as_deref(),
            country: body.country.as_deref(),
            entry_mode: body.entry_mode.as_deref(),
            expiry: body.expiry.as_deref(),
        },
    )
    .await?;
    let ids = Ids::new(sim.next_stan(), Timestamp::now());
    let req = build::advice(
        &ids,
        &t,
        code,
        body.approval_code.as_deref(),
        completes.as_ref(),
    );
    exchange(sim, &ids, &req).await
}

/// The cards the simulator can name by id (the seed file's; the first 500 by id), masked,
/// with what their authorizations answer today (status, expiry, spend controls, wallets).
#[utoipa::path(
    get,
    path = "/v1/simulate/cards",
    tag = "simulation",
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The cards, by id", body = SimCardList),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn list_cards(
    State(state): State<Arc<AdminState>>,
) -> Result<Json<SimCardList>, ApiError> {
    let sim = simulator(&state)?;
    let store = state.status.core().store();
    let mut ids: Vec<&str> = sim.card_ids().collect();
    ids.sort_unstable();
    ids.truncate(MAX_LISTED);
    let today = Timestamp::now().strftime("%y%m").to_string();
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(c) = store.card(id).await.map_err(ledger_error)? else {
            continue;
        };
        let wallets = store
            .account(&c.account_id)
            .await
            .map_err(ledger_error)?
            .map(|(_, w)| w)
            .unwrap_or_default();
        let mut outcome = outcome(&c, &today);
        if sim.has_pin(id) {
            outcome.push("PIN on record: a wrong one 55, the third wrong in a row 75".into());
        }
        let shown: Vec<String> = wallets
            .iter()
            .map(|w| format!("{} {}", w.currency, w.available_minor()))
            .collect();
        if !shown.is_empty() {
            outcome.push(format!(
                "available (minor units): {}; more than that 51",
                shown.join(", ")
            ));
        }
        items.push(SimCard {
            id: c.id.clone(),
            account: c.account_id.clone(),
            pan_masked: c.masked.clone(),
            expiry: c.expiry.clone(),
            status: c.status.into(),
            pin: sim.has_pin(id),
            outcome,
        });
    }
    Ok(Json(SimCardList { items }))
}

/// What a card's status, expiry and controls make of its authorizations.
fn outcome(c: &CardRecord, today_yymm: &str) -> Vec<String> {
    let mut out = Vec::new();
    match c.status {
        CardStatus::Active => {}
        CardStatus::Lost => out.push("declined 41: lost".into()),
        CardStatus::Stolen => out.push("declined 43: stolen".into()),
        CardStatus::Blocked => out.push("declined 62: blocked".into()),
        CardStatus::Closed => out.push("declined 62: closed".into()),
    }
    if c.expiry.as_str() < today_yymm {
        out.push(format!("declined 54: expired (YYMM {})", c.expiry));
    }
    if let Some(k) = c.controls.as_deref() {
        if let Some(m) = k.per_transaction_max_minor {
            out.push(format!("61 above {m} (minor units) per transaction"));
        }
        if let Some(m) = k.daily_max_minor {
            out.push(format!("61 past {m} (minor units) a day"));
        }
        if let Some(m) = k.monthly_max_minor {
            out.push(format!("61 past {m} (minor units) a month"));
        }
        if let Some(m) = k.cash_daily_max_minor {
            out.push(format!("61 past {m} (minor units) of cash a day"));
        }
        for v in k.velocity.iter().flatten() {
            out.push(format!(
                "65 past {} approvals in {} s",
                v.max_count, v.window_s
            ));
        }
        if let Some(m) = &k.mcc_blocked {
            out.push(format!("57 for MCC {}", m.join(", ")));
        }
        if let Some(m) = k.mcc_allowed.as_ref().filter(|m| !m.is_empty()) {
            out.push(format!("57 for any MCC but {}", m.join(", ")));
        }
        if let Some(m) = &k.countries_blocked {
            out.push(format!("57 in country {}", m.join(", ")));
        }
        for (allowed, what) in [
            (k.ecommerce, "e-commerce"),
            (k.atm, "ATM"),
            (k.contactless, "contactless"),
        ] {
            if allowed == Some(false) {
                out.push(format!("57 for {what}"));
            }
        }
    }
    if out.is_empty() {
        out.push("approves".into());
    }
    out
}
