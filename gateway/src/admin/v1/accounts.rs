//! `GET /v1/accounts/{id}`: an account's wallets, each with its balance, held and available
//! amounts in minor units of its currency.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::json::ApiPath;
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
    /// to. `null` when this instance does not know it (see docs/ARCHITECTURE.md: read from
    /// the seed file until the ledger offers it).
    #[schema(example = "KRW", pattern = "^[A-Z]{3}$")]
    pub(crate) home_currency: Option<String>,
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
    // Every wallet of the ledger, filtered: fine for the sandbox's and tests' sizes; an
    // indexed read of one account belongs in the ledger (left to it).
    let wallets = state
        .status
        .core()
        .store()
        .export_balances()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "API: reading balances failed");
            ApiError::unavailable("the ledger cannot answer now")
        })?;
    let mut mine: Vec<_> = wallets.into_iter().filter(|w| w.account_id == id).collect();
    if mine.is_empty() {
        // Every account has at least its home wallet (the seed creates it).
        return Err(ApiError::not_found("no such account"));
    }
    let home = state.home_currencies.get(&id).copied();
    match home {
        Some(h) => ledger::order_for_de54(&mut mine, h),
        None => mine.sort_by_key(|w| w.currency),
    }
    Ok(Json(Account {
        id,
        home_currency: home.map(|c| c.to_string()),
        wallets: mine
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
