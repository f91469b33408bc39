//! Cards: `GET /v1/cards/{id}`, `POST /v1/cards/lookup`, `PATCH /v1/cards/{id}` (status),
//! `GET|PUT /v1/cards/{id}/controls`, `GET /v1/cards/{id}/authorizations` (cursor paging) and
//! `GET /v1/cards/{id}/changes` (who changed what).
//!
//! Cards are named by id in paths, never by PAN; a PAN is only ever accepted in a POST body
//! (lookup) and never written back, logged or quoted in an error. Changes go through the
//! ledger's writer as operations, under the card's account lock, so the very next
//! authorization of the card on any instance sees them, and each is recorded with who made
//! it (the `X-Operator` header, else `api`) and the values before and after.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use jiff::Timestamp;
use ledger::{CardChange, CardRecord, CardStatus, Controls, Decision, LedgerError, Pan, Velocity};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::json::{ApiJson, ApiPath};
use crate::admin::AdminState;

/// Longest card id looked up; longer ones are unknown without reading the ledger.
const MAX_CARD_ID_LEN: usize = 64;
/// Page size when `limit` is not given, and the most a page holds.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;
/// Longest `X-Operator` value recorded; longer or unprintable ones are refused.
const MAX_OPERATOR_LEN: usize = 64;

/// A card as the API shows it: masked, by id.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CardView {
    /// The card's stable id.
    #[schema(example = "C-0018")]
    pub(crate) id: String,
    /// The account the card draws on.
    #[schema(example = "A-1001")]
    pub(crate) account: String,
    /// First six and last four digits; the rest masked.
    #[schema(example = "400000******0018")]
    pub(crate) pan_masked: String,
    /// DE 14 form, `YYMM`.
    #[schema(example = "2812")]
    pub(crate) expiry: String,
    pub(crate) status: Status,
    /// The card's own controls (what `PUT /v1/cards/{id}/controls` sets).
    pub(crate) controls: ControlsBody,
    /// What authorizations are decided on: the card's own controls over its account's
    /// default.
    pub(crate) effective_controls: ControlsBody,
    /// The chip's application transaction counter as the switch last took it (issue 23):
    /// absent until a cryptogram of the card verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) chip: Option<ChipView>,
}

/// The replay window's top (`ledger::ATC_WINDOW` counters below it are still taken once).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChipView {
    /// The highest ATC (EMV tag 9F36) seen with a verified ARQC; an ATC already seen, or
    /// more than `ledger::ATC_WINDOW` (256) below this, is declined 82.
    #[schema(example = 42)]
    pub(crate) atc_highest: u16,
    /// The PAN sequence number (DE 23) of the card application that sent it: a card
    /// re-issued with a higher PSN counts again from 1.
    #[schema(example = "01")]
    pub(crate) psn: String,
}

impl CardView {
    fn of(c: &CardRecord) -> Self {
        CardView {
            id: c.id.clone(),
            account: c.account_id.clone(),
            pan_masked: c.masked.clone(),
            expiry: c.expiry.clone(),
            status: Status::from(c.status),
            controls: ControlsBody::of(c.own_controls.as_ref()),
            effective_controls: ControlsBody::of(c.controls.as_deref()),
            chip: None,
        }
    }

    /// [`CardView::of`] with the card's chip counter read from the ledger.
    async fn with_chip(c: &CardRecord, state: &AdminState) -> Result<Self, ApiError> {
        let mut v = CardView::of(c);
        let sec = state
            .status
            .core()
            .store()
            .card_security_of(&c.pan_hash)
            .await
            .map_err(ledger_error)?;
        v.chip = sec.and_then(|s| {
            Some(ChipView {
                atc_highest: s.atc_highest?,
                psn: format!("{:02}", s.atc_psn.unwrap_or(0)),
            })
        });
        Ok(v)
    }
}

/// A card's status, and the code an authorization on it is declined with: active (none),
/// blocked and closed (62), lost (41), stolen (43).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Active,
    Blocked,
    Lost,
    Stolen,
    Closed,
}

impl From<CardStatus> for Status {
    fn from(s: CardStatus) -> Self {
        match s {
            CardStatus::Active => Status::Active,
            CardStatus::Blocked => Status::Blocked,
            CardStatus::Lost => Status::Lost,
            CardStatus::Stolen => Status::Stolen,
            CardStatus::Closed => Status::Closed,
        }
    }
}

impl From<Status> for CardStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Active => CardStatus::Active,
            Status::Blocked => CardStatus::Blocked,
            Status::Lost => CardStatus::Lost,
            Status::Stolen => CardStatus::Stolen,
            Status::Closed => CardStatus::Closed,
        }
    }
}

/// Spend controls (DESIGN.md, "Operations API"): all optional; amounts in minor units of the
/// account's home currency after conversion; the day and month are the business date's.
/// Declines: 61 amount limit, 65 frequency limit, 57 not permitted (MCC, country, channel).
/// `{}` is no controls.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ControlsBody {
    /// Most one authorization may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 999_999_999_999_i64, example = 500_000)]
    pub(crate) per_transaction_max_minor: Option<i64>,
    /// Most the approvals of one business day may add up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 999_999_999_999_i64)]
    pub(crate) daily_max_minor: Option<i64>,
    /// Most the approvals of one business month may add up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 999_999_999_999_i64)]
    pub(crate) monthly_max_minor: Option<i64>,
    /// Most the cash withdrawals (DE 3 `01`) of one business day may add up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 999_999_999_999_i64)]
    pub(crate) cash_daily_max_minor: Option<i64>,
    /// At most `max_count` approvals in any `window_s` seconds, per rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) velocity: Option<Vec<VelocityBody>>,
    /// Merchant category codes (DE 18) refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["7995"]))]
    pub(crate) mcc_blocked: Option<Vec<String>>,
    /// When set, the only MCCs allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mcc_allowed: Option<Vec<String>>,
    /// ISO 3166 numeric country codes (DE 19, else DE 43's) refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["408"]))]
    pub(crate) countries_blocked: Option<Vec<String>>,
    /// Card-not-present e-commerce allowed (DE 22/25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ecommerce: Option<bool>,
    /// ATM withdrawals allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) atm: Option<bool>,
    /// Contactless allowed (DE 22 `07`/`91`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contactless: Option<bool>,
}

/// One velocity rule.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VelocityBody {
    #[schema(minimum = 1, example = 5)]
    pub(crate) max_count: u32,
    #[schema(minimum = 1, example = 3600)]
    pub(crate) window_s: u32,
}

impl ControlsBody {
    fn of(c: Option<&Controls>) -> Self {
        let Some(c) = c else {
            return ControlsBody::default();
        };
        ControlsBody {
            per_transaction_max_minor: c.per_transaction_max_minor,
            daily_max_minor: c.daily_max_minor,
            monthly_max_minor: c.monthly_max_minor,
            cash_daily_max_minor: c.cash_daily_max_minor,
            velocity: c.velocity.as_ref().map(|v| {
                v.iter()
                    .map(|r| VelocityBody {
                        max_count: r.max_count,
                        window_s: r.window_s,
                    })
                    .collect()
            }),
            mcc_blocked: c.mcc_blocked.clone(),
            mcc_allowed: c.mcc_allowed.clone(),
            countries_blocked: c.countries_blocked.clone(),
            ecommerce: c.ecommerce,
            atm: c.atm,
            contactless: c.contactless,
        }
    }

    /// The ledger's controls, checked (`None`: none set).
    fn into_controls(self) -> Result<Option<Controls>, ApiError> {
        let c = Controls {
            per_transaction_max_minor: self.per_transaction_max_minor,
            daily_max_minor: self.daily_max_minor,
            monthly_max_minor: self.monthly_max_minor,
            cash_daily_max_minor: self.cash_daily_max_minor,
            velocity: self.velocity.map(|v| {
                v.into_iter()
                    .map(|r| Velocity {
                        max_count: r.max_count,
                        window_s: r.window_s,
                    })
                    .collect()
            }),
            mcc_blocked: self.mcc_blocked,
            mcc_allowed: self.mcc_allowed,
            countries_blocked: self.countries_blocked,
            ecommerce: self.ecommerce,
            atm: self.atm,
            contactless: self.contactless,
        };
        c.validate().map_err(unprocessable)?;
        Ok((!c.is_empty()).then_some(c))
    }
}

fn unprocessable(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
}

/// `PATCH /v1/cards/{id}`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CardPatch {
    pub(crate) status: Status,
}

/// `POST /v1/cards/lookup`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Lookup {
    /// The card number (12 to 19 digits). Never written back.
    #[schema(example = "4000001000000018", pattern = "^[0-9]{12,19}$")]
    pub(crate) pan: String,
}

/// One decision recorded on the card.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuthorizationView {
    /// The network key: DE 32, DE 11, DE 7.
    pub(crate) network_key: NetworkKeyView,
    /// `authorization`, `reversal`, `advice`, `completion`, `timed_out`, ...
    #[schema(example = "authorization")]
    pub(crate) kind: String,
    /// DE 39.
    #[schema(example = "00")]
    pub(crate) response_code: String,
    /// DE 38, on approvals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) approval_code: Option<String>,
    /// The transaction amount (DE 4 / DE 49).
    pub(crate) amount: Amount,
    /// What was approved (minor units of the transaction currency).
    pub(crate) approved_minor: i64,
    /// The amount in the home currency at the rate it was converted at, for foreign
    /// amounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) billing: Option<BillingView>,
    /// The wallet the hold was placed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) wallet_currency: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(example = "2026-12-05")]
    pub(crate) business_date: String,
    /// RFC 3339.
    pub(crate) created_at: String,
    /// When its hold lapses, if it placed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<String>,
    /// The hold it placed, as it is now (approvals only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hold: Option<HoldView>,
}

/// A hold: what an approval reserves until it is captured, reversed or expires.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HoldView {
    /// `active`, `captured`, `released` or `expired`.
    #[schema(example = "active")]
    pub(crate) status: String,
    /// The wallet it is on.
    #[schema(example = "KRW")]
    pub(crate) currency: String,
    /// What it holds now (0 unless active), minor units of `currency`.
    pub(crate) held_minor: i64,
    /// What was captured from it.
    pub(crate) captured_minor: i64,
    /// When it lapses if nothing else happens (RFC 3339).
    pub(crate) expires_at: String,
}

impl HoldView {
    fn of(h: &ledger::Hold) -> Self {
        HoldView {
            status: h.status.as_str().to_owned(),
            currency: h.currency.to_string(),
            held_minor: h.held_minor,
            captured_minor: h.captured_minor,
            expires_at: h.expires_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NetworkKeyView {
    #[schema(example = "123456")]
    pub(crate) acquirer: String,
    #[schema(example = "000001")]
    pub(crate) stan: String,
    #[schema(example = "1205103000")]
    pub(crate) transmitted: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Amount {
    pub(crate) minor: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "USD")]
    pub(crate) currency: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BillingView {
    pub(crate) minor: i64,
    #[schema(example = "KRW")]
    pub(crate) currency: String,
    /// Transaction currency -> home currency, full precision, as text.
    #[schema(example = "1385.2")]
    pub(crate) rate: String,
    /// The rate set it came from.
    pub(crate) rate_set: String,
}

impl AuthorizationView {
    fn of(d: &Decision) -> Self {
        AuthorizationView {
            network_key: NetworkKeyView {
                acquirer: d.key.acquirer().to_owned(),
                stan: d.key.stan().to_owned(),
                transmitted: d.key.transmission().to_owned(),
            },
            kind: d.kind.as_str().to_owned(),
            response_code: d.response_code.as_str().to_owned(),
            approval_code: d.approval_code.clone(),
            amount: Amount {
                minor: d.amount_minor,
                currency: d.currency.map(|c| c.to_string()),
            },
            approved_minor: d.approved_minor,
            billing: d.billing.as_ref().map(|b| BillingView {
                minor: b.amount_minor,
                currency: b.currency.to_string(),
                rate: b.rate.to_string(),
                rate_set: b.version.clone(),
            }),
            wallet_currency: d.wallet_currency.map(|c| c.to_string()),
            business_date: d.business_date.to_string(),
            created_at: d.created_at.to_string(),
            expires_at: d.expires_at.map(|t| t.to_string()),
            hold: None,
        }
    }
}

/// A page of a card's decisions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuthorizationPage {
    pub(crate) items: Vec<AuthorizationView>,
    /// Pass as `cursor` for the next (older) page; `null` on the last.
    pub(crate) next_cursor: Option<String>,
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub(crate) limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// One recorded change of a card.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangeView {
    /// RFC 3339.
    pub(crate) at: String,
    /// Who made it (`X-Operator`, else `api`).
    #[schema(example = "ops:alice")]
    pub(crate) actor: String,
    /// `status` or `controls`.
    #[schema(example = "status")]
    pub(crate) field: String,
    /// The value before (JSON: a status string, a controls object, or `null`).
    pub(crate) before: serde_json::Value,
    /// The value after (JSON: a status string, a controls object, or `null`).
    pub(crate) after: serde_json::Value,
}

/// A card's changes, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangeList {
    pub(crate) items: Vec<ChangeView>,
}

pub(crate) fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::Invalid { reason, .. } => unprocessable(reason),
        LedgerError::Backpressure { .. } => ApiError::unavailable("the ledger is busy: retry"),
        e => {
            tracing::warn!(error = %e, "API: the ledger failed");
            ApiError::unavailable("the ledger cannot answer now")
        }
    }
}

fn no_card() -> ApiError {
    ApiError::not_found("no such card")
}

async fn card_by_id(state: &AdminState, id: &str) -> Result<CardRecord, ApiError> {
    if id.is_empty() || id.len() > MAX_CARD_ID_LEN {
        return Err(no_card());
    }
    state
        .status
        .core()
        .store()
        .card(id)
        .await
        .map_err(ledger_error)?
        .ok_or_else(no_card)
}

/// Who is making a change: `X-Operator` (printable ASCII, at most 64), else `api`.
pub(crate) fn operator(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(v) = headers.get("x-operator") else {
        return Ok("api".to_owned());
    };
    let ok = !v.is_empty()
        && v.len() <= MAX_OPERATOR_LEN
        && v.as_bytes().iter().all(|b| (0x20..0x7f).contains(b));
    if !ok {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "X-Operator must be 1 to 64 printable ASCII characters",
        ));
    }
    if has_card_number(v.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "X-Operator must not hold a card number",
        ));
    }
    Ok(String::from_utf8_lossy(v.as_bytes()).into_owned())
}

async fn apply(
    state: &AdminState,
    id: String,
    headers: &HeaderMap,
    status: Option<CardStatus>,
    controls: Option<Option<Controls>>,
) -> Result<CardRecord, ApiError> {
    if id.is_empty() || id.len() > MAX_CARD_ID_LEN {
        return Err(no_card());
    }
    let change = CardChange {
        card_id: id,
        status,
        controls,
        actor: operator(headers)?,
        at: Timestamp::now(),
    };
    let store = state.status.core().store();
    let card = store
        .change_card(change)
        .await
        .map_err(ledger_error)?
        .ok_or_else(no_card)?;
    Ok(card)
}

/// Whether `text` holds a run of digits as long as a card number: a PAN in the audit trail.
pub(crate) fn has_card_number(text: &[u8]) -> bool {
    text.split(|b| !b.is_ascii_digit())
        .any(|run| run.len() >= ledger::MIN_PAN_LEN)
}

const ID_PARAM: &str = "The card id (the sandbox's are in fixtures/README.md)";

/// A card, masked, with its status and controls.
#[utoipa::path(
    get,
    path = "/v1/cards/{id}",
    tag = "cards",
    params(("id" = String, Path, description = ID_PARAM, example = "C-0018")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The card", body = CardView),
        (status = BAD_REQUEST, description = "A malformed path", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such card", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn get_card(
    State(state): State<Arc<AdminState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CardView>, ApiError> {
    let card = card_by_id(&state, &id).await?;
    Ok(Json(CardView::with_chip(&card, &state).await?))
}

/// A card found by its number (sent in the body, never in a URL); answered masked.
#[utoipa::path(
    post,
    path = "/v1/cards/lookup",
    tag = "cards",
    request_body = Lookup,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The card", body = CardView),
        (status = BAD_REQUEST, description = "Not JSON", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No card has this number", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is too large", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not application/json", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "Not a card number", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn lookup_card(
    State(state): State<Arc<AdminState>>,
    ApiJson(body): ApiJson<Lookup>,
) -> Result<Json<CardView>, ApiError> {
    let pan =
        Pan::new(&body.pan).map_err(|_| unprocessable("pan must be 12 to 19 digits".to_owned()))?;
    let card = state
        .status
        .core()
        .store()
        .card_by_pan(&pan)
        .await
        .map_err(ledger_error)?
        .ok_or_else(no_card)?;
    Ok(Json(CardView::with_chip(&card, &state).await?))
}

/// Changes a card's status: `blocked`, `lost`, `stolen` or `closed` decline its next
/// authorization on every instance (62, 41, 43, 62); `active` allows it again.
#[utoipa::path(
    patch,
    path = "/v1/cards/{id}",
    tag = "cards",
    params(
        ("id" = String, Path, description = ID_PARAM, example = "C-0018"),
        ("X-Operator" = Option<String>, Header, description = "Who is making the change (recorded; default `api`)"),
    ),
    request_body = CardPatch,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The card as it is now", body = CardView),
        (status = BAD_REQUEST, description = "Not JSON, or a bad X-Operator", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such card", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is too large", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not application/json", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "Not a status", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn patch_card(
    State(state): State<Arc<AdminState>>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CardPatch>,
) -> Result<Json<CardView>, ApiError> {
    let card = apply(&state, id, &headers, Some(body.status.into()), None).await?;
    Ok(Json(CardView::of(&card)))
}

/// A card's own spend controls (`{}`: none; its account's default may still apply: see
/// `effective_controls` on the card).
#[utoipa::path(
    get,
    path = "/v1/cards/{id}/controls",
    tag = "cards",
    params(("id" = String, Path, description = ID_PARAM, example = "C-0018")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The card's own controls", body = ControlsBody),
        (status = BAD_REQUEST, description = "A malformed path", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such card", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn get_controls(
    State(state): State<Arc<AdminState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ControlsBody>, ApiError> {
    let card = card_by_id(&state, &id).await?;
    Ok(Json(ControlsBody::of(card.own_controls.as_ref())))
}

/// Replaces a card's own spend controls (`{}` removes them). The next authorization of the
/// card on every instance is decided on them; counters already kept (the day's total, the
/// velocity window) stay.
#[utoipa::path(
    put,
    path = "/v1/cards/{id}/controls",
    tag = "cards",
    params(
        ("id" = String, Path, description = ID_PARAM, example = "C-0018"),
        ("X-Operator" = Option<String>, Header, description = "Who is making the change (recorded; default `api`)"),
    ),
    request_body = ControlsBody,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The card's own controls as they are now", body = ControlsBody),
        (status = BAD_REQUEST, description = "Not JSON, or a bad X-Operator", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such card", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is too large", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not application/json", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "Controls out of their bounds", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn put_controls(
    State(state): State<Arc<AdminState>>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ControlsBody>,
) -> Result<Json<ControlsBody>, ApiError> {
    let controls = body.into_controls()?;
    let card = apply(&state, id, &headers, None, Some(controls)).await?;
    Ok(Json(ControlsBody::of(card.own_controls.as_ref())))
}

/// A cursor: the last item's creation time (µs) and network key, hex-encoded so that it is
/// one opaque URL-safe token.
fn encode_cursor(d: &Decision) -> String {
    hex::encode(format!(
        "{}|{}",
        d.created_at.as_microsecond(),
        d.key.db_str()
    ))
}

fn decode_cursor(c: &str) -> Result<(Timestamp, String), ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "cursor is not one this API gave",
        )
    };
    if c.len() > 256 {
        return Err(bad());
    }
    let raw = hex::decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (us, key) = text.split_once('|').ok_or_else(bad)?;
    let t = us
        .parse::<i64>()
        .ok()
        .and_then(|us| Timestamp::from_microsecond(us).ok())
        .ok_or_else(bad)?;
    ledger::NetworkKey::from_db(key).map_err(|_| bad())?;
    Ok((t, key.to_owned()))
}

/// The decisions recorded on a card (authorizations, declines, advices), newest first, a
/// page at a time; each approval with its hold as it is now (held, captured, released,
/// expired).
#[utoipa::path(
    get,
    path = "/v1/cards/{id}/authorizations",
    tag = "cards",
    params(("id" = String, Path, description = ID_PARAM, example = "C-0018"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "A page, newest first", body = AuthorizationPage),
        (status = BAD_REQUEST, description = "A bad limit or cursor", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such card", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn list_authorizations(
    State(state): State<Arc<AdminState>>,
    ApiPath(id): ApiPath<String>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuthorizationPage>, ApiError> {
    let Query(q) = query.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "limit must be a whole number from 1 to 500; cursor a token this API gave",
        )
    })?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "limit must be from 1 to 500",
        ));
    }
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let card = card_by_id(&state, &id).await?;
    // One more than the page: whether there is a next page without a second query.
    let store = state.status.core().store();
    let mut items = store
        .card_decisions(&card.id, limit + 1, before)
        .await
        .map_err(ledger_error)?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more {
        items.last().map(encode_cursor)
    } else {
        None
    };
    let mut views = Vec::with_capacity(items.len());
    for d in &items {
        let mut v = AuthorizationView::of(d);
        if d.response_code.is_approval() {
            v.hold = store
                .hold(&d.key)
                .await
                .map_err(ledger_error)?
                .as_ref()
                .map(HoldView::of);
        }
        views.push(v);
    }
    Ok(Json(AuthorizationPage {
        items: views,
        next_cursor,
    }))
}

/// Who changed the card's status and controls, when, from what to what: the latest 100,
/// newest first.
#[utoipa::path(
    get,
    path = "/v1/cards/{id}/changes",
    tag = "cards",
    params(("id" = String, Path, description = ID_PARAM, example = "C-0018")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The changes, newest first", body = ChangeList),
        (status = BAD_REQUEST, description = "A malformed path", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such card", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn list_changes(
    State(state): State<Arc<AdminState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ChangeList>, ApiError> {
    let card = card_by_id(&state, &id).await?;
    let rows = state
        .status
        .core()
        .store()
        .card_changes(&card.id, 100)
        .await
        .map_err(ledger_error)?;
    let json = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
    Ok(Json(ChangeList {
        items: rows
            .iter()
            .map(|c| ChangeView {
                at: c.at.to_string(),
                actor: c.actor.clone(),
                field: c.field.clone(),
                before: json(&c.before),
                after: json(&c.after),
            })
            .collect(),
    }))
}

/// What a PIN try reset did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PinTriesReset {
    /// The card.
    #[schema(example = "C-0117")]
    pub(crate) card_id: String,
    /// Wrong PINs in a row before the reset (the limit blocks PIN use: 75).
    #[schema(example = 3)]
    pub(crate) pin_tries_before: u32,
    /// Always 0: PIN use is allowed again.
    pub(crate) pin_tries: u32,
}

/// Resets a card's PIN try counter after its holder proved who they are: wrong PINs in a row
/// up to the limit answer 75 until this is done. Recorded with who did it (`X-Operator`) and
/// published as `card.updated`.
#[utoipa::path(
    post,
    path = "/v1/cards/{id}/pin-tries/reset",
    tag = "cards",
    params(
        ("id" = String, Path, description = ID_PARAM, example = "C-0117"),
        ("X-Operator" = Option<String>, Header, description = "Who is resetting it (recorded; default `api`)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "Reset", body = PinTriesReset),
        (status = BAD_REQUEST, description = "A malformed path, or a bad X-Operator", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such card", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "The card has no PIN on record", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn reset_pin_tries(
    State(state): State<Arc<AdminState>>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<PinTriesReset>, ApiError> {
    let card = card_by_id(&state, &id).await?;
    let actor = operator(&headers)?;
    let before = state
        .status
        .core()
        .store()
        .reset_pin_tries(&card.id, &actor, Timestamp::now())
        .await
        .map_err(ledger_error)?
        .ok_or_else(|| unprocessable("the card has no PIN on record".to_owned()))?;
    Ok(Json(PinTriesReset {
        card_id: card.id,
        pin_tries_before: before,
        pin_tries: 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_make() {
        let key = ledger::NetworkKey::new("123456", "000001", "1205103000").unwrap();
        let c = hex::encode(format!("1764900000000000|{}", key.db_str()));
        let (t, k) = decode_cursor(&c).unwrap();
        assert_eq!(t.as_microsecond(), 1_764_900_000_000_000);
        assert_eq!(k, key.db_str());
        for bad in ["", "zz", "00", &hex::encode("12|nokey"), &"a".repeat(300)] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn operators_are_printable_and_hold_no_card_number() {
        let mut h = HeaderMap::new();
        assert_eq!(operator(&h).unwrap(), "api");
        h.insert("x-operator", "ops:alice".parse().unwrap());
        assert_eq!(operator(&h).unwrap(), "ops:alice");
        h.insert("x-operator", "4000001000000018".parse().unwrap());
        assert!(operator(&h).is_err());
        h.insert("x-operator", "x".repeat(65).parse().unwrap());
        assert!(operator(&h).is_err());
    }

    #[test]
    fn controls_out_of_bounds_are_422() {
        let body: ControlsBody = serde_json::from_str(r#"{"mcc_blocked": ["79"]}"#).unwrap();
        let e = body.into_controls().unwrap_err();
        use axum::response::IntoResponse;
        assert_eq!(e.into_response().status(), StatusCode::UNPROCESSABLE_ENTITY);
        let empty: ControlsBody = serde_json::from_str("{}").unwrap();
        assert!(empty.into_controls().unwrap().is_none());
    }
}
