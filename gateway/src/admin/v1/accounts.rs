//! `GET /v1/accounts/{id}`: an account's wallets, each with its balance, held and available
//! amounts in minor units of its currency; `POST /v1/accounts/{id}/adjustments`: an
//! operator's credit or debit of one wallet, once per idempotency key.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::json::{ApiJson, ApiPath};
use crate::admin::AdminState;

/// Longest account id looked up; longer ones are unknown without reading the ledger.
const MAX_ACCOUNT_ID_LEN: usize = 64;

/// An account and its wallets.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Account {
    /// The account's id (`fixtures/cards.json`: `A-1001`).
    #[schema(example = "A-1001")]
    pub(crate) id: String,
    /// ISO 4217 alpha code of the account's home currency: what foreign amounts are converted
    /// to.
    #[schema(example = "KRW", pattern = "^[A-Z]{3}$")]
    pub(crate) home_currency: String,
    /// Wallets, the home currency's first, then by alpha code.
    pub(crate) wallets: Vec<WalletView>,
}

/// One currency wallet. Amounts are integers in minor units of `currency` (cents, fils;
/// won and yen have none).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WalletView {
    /// ISO 4217 alpha code.
    #[schema(example = "USD", pattern = "^[A-Z]{3}$")]
    pub(crate) currency: String,
    /// The ledger balance: changes with captures, advices and refunds.
    #[schema(example = 100_000_000_000_i64)]
    pub(crate) balance_minor: i64,
    /// The sum of the active holds (authorizations not yet captured, reversed or expired).
    #[schema(example = 2_500_i64)]
    pub(crate) held_minor: i64,
    /// `balance_minor - held_minor`; may be negative after advices.
    #[schema(example = 99_999_997_500_i64)]
    pub(crate) available_minor: i64,
}

/// An account's wallets and balances.
#[utoipa::path(
    get,
    path = "/v1/accounts/{id}",
    tag = "accounts",
    params((
        "id" = String,
        Path,
        description = "The account id (the sandbox's: A-1001 to A-1008)",
        example = "A-1001"
    )),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The account", body = Account),
        (status = BAD_REQUEST, description = "A malformed path", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such account", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn get_account(
    State(state): State<Arc<AdminState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Account>, ApiError> {
    if id.is_empty() || id.len() > MAX_ACCOUNT_ID_LEN {
        return Err(ApiError::not_found("no such account"));
    }
    let (home, mut wallets) = state
        .status
        .core()
        .store()
        .account(&id)
        .await
        .map_err(ledger_unavailable)?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    ledger::order_for_de54(&mut wallets, home);
    Ok(Json(Account {
        id,
        home_currency: home.to_string(),
        wallets: wallets
            .iter()
            .map(|w| WalletView {
                currency: w.currency.to_string(),
                balance_minor: w.balance_minor,
                held_minor: w.held_minor,
                available_minor: w.available_minor(),
            })
            .collect(),
    }))
}

fn ledger_unavailable(e: ledger::LedgerError) -> ApiError {
    tracing::warn!(error = %e, "API: the ledger failed");
    ApiError::unavailable("the ledger cannot answer now")
}

/// Longest idempotency key, and its characters: printable, no spaces.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 64;
/// Longest reason kept.
const MAX_REASON_LEN: usize = 200;

/// `POST /v1/accounts/{id}/adjustments`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdjustmentBody {
    /// Signed, minor units of `currency`: positive credits the wallet, negative debits it.
    /// Not zero.
    #[schema(minimum = -999_999_999_999_i64, maximum = 999_999_999_999_i64, example = 5_000)]
    pub(crate) amount_minor: i64,
    /// ISO 4217 alpha code of a wallet the account has.
    #[schema(example = "KRW", pattern = "^[A-Z]{3}$")]
    pub(crate) currency: String,
    /// The caller's key (1 to 64 of `A-Z a-z 0-9 . _ : -`): the same key twice is one
    /// adjustment; reused for other terms, a 409.
    #[schema(
        example = "goodwill-2026-12-05-001",
        pattern = "^[A-Za-z0-9._:-]{1,64}$"
    )]
    pub(crate) idempotency_key: String,
    /// Why, for the people who read the ledger (at most 200 characters).
    #[schema(example = "goodwill credit: delayed refund", max_length = 200)]
    pub(crate) reason: String,
}

/// An adjustment as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdjustmentView {
    pub(crate) account: String,
    pub(crate) currency: String,
    pub(crate) amount_minor: i64,
    pub(crate) idempotency_key: String,
    pub(crate) reason: String,
    /// Who made it (`X-Operator`, else `api`).
    pub(crate) actor: String,
    /// RFC 3339.
    pub(crate) at: String,
    /// The wallet's balance right after it.
    pub(crate) balance_after_minor: i64,
    /// True when this key had been used before with the same terms: nothing moved now.
    pub(crate) replayed: bool,
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable",
        format!("{field}: {message}"),
    )
}

/// Credits or debits one wallet of the account, once per idempotency key, recorded with who
/// (`X-Operator`) and why. 201 when made, 200 when the key was used before with the same
/// terms (nothing moved), 409 when it was used for other terms.
#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/adjustments",
    tag = "accounts",
    params(
        ("id" = String, Path, description = "The account id", example = "A-1001"),
        ("X-Operator" = Option<String>, Header, description = "Who is making the adjustment (recorded; default `api`)"),
    ),
    request_body = AdjustmentBody,
    security(("bearer" = [])),
    responses(
        (status = CREATED, description = "Recorded; the balance moved", body = AdjustmentView),
        (status = OK, description = "Recorded before under this key; nothing moved", body = AdjustmentView),
        (status = BAD_REQUEST, description = "Not JSON, or a bad X-Operator", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such account", body = ErrorBody),
        (status = CONFLICT, description = "The key was used for another adjustment", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is too large", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not application/json", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A zero or out-of-range amount, a currency the account has no wallet in, a bad key or reason", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn post_adjustment(
    State(state): State<Arc<AdminState>>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AdjustmentBody>,
) -> Result<(StatusCode, Json<AdjustmentView>), ApiError> {
    if id.is_empty() || id.len() > MAX_ACCOUNT_ID_LEN {
        return Err(ApiError::not_found("no such account"));
    }
    let key_ok = !body.idempotency_key.is_empty()
        && body.idempotency_key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && body
            .idempotency_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
    if !key_ok {
        return Err(bad("idempotency_key", "1 to 64 of A-Z a-z 0-9 . _ : -"));
    }
    if body.reason.chars().count() > MAX_REASON_LEN || body.reason.chars().any(char::is_control) {
        return Err(bad(
            "reason",
            "at most 200 characters, no control characters",
        ));
    }
    if crate::admin::v1::cards::has_card_number(body.reason.as_bytes()) {
        return Err(bad("reason", "must not hold a card number"));
    }
    let currency = body
        .currency
        .parse::<ledger::Currency>()
        .map_err(|_| bad("currency", "an ISO 4217 alpha code"))?;
    let actor = crate::admin::v1::cards::operator(&headers)?;
    let store = state.status.core().store();
    if store
        .account(&id)
        .await
        .map_err(ledger_unavailable)?
        .is_none()
    {
        return Err(ApiError::not_found("no such account"));
    }
    let rec = store
        .adjust(ledger::Adjustment {
            account_id: id,
            currency,
            amount_minor: body.amount_minor,
            idempotency_key: body.idempotency_key,
            reason: body.reason,
            actor,
            at: jiff::Timestamp::now(),
        })
        .await
        .map_err(|e| match e {
            ledger::LedgerError::Invalid {
                field: "idempotency_key",
                reason,
            } => ApiError::new(StatusCode::CONFLICT, "conflict", reason),
            ledger::LedgerError::Invalid { field, reason } => bad(field, &reason),
            e => ledger_unavailable(e),
        })?;
    let a = &rec.adjustment;
    let status = if rec.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(AdjustmentView {
            account: a.account_id.clone(),
            currency: a.currency.to_string(),
            amount_minor: a.amount_minor,
            idempotency_key: a.idempotency_key.clone(),
            reason: a.reason.clone(),
            actor: a.actor.clone(),
            at: a.at.to_string(),
            balance_after_minor: rec.balance_after_minor,
            replayed: rec.replayed,
        }),
    ))
}
