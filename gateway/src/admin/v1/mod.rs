//! The operations API under `/v1/` (DESIGN.md, "Operations API and simulation"): one file
//! per resource, each handler annotated with `#[utoipa::path]` so that [`routes`] builds the
//! router and the OpenAPI document together.
//!
//! Adding a resource is a file here and a line in [`routes`]: for the planned card endpoints
//! (docs/ARCHITECTURE.md, "Admin listener and operations API"), `cards.rs` with `get_card`,
//! `lookup_card`, `patch_card`, ... taking `ApiPath`/`ApiJson` and answering `ApiError`, and
//! `.routes(routes!(cards::get_card, cards::patch_card))` below (one `routes!` per path).

mod accounts;
mod business_date;
mod rates;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminState;

/// Every `/v1/` route with its OpenAPI description. Authentication is applied around the
/// whole listener (`auth::require_token`), not here, so a route cannot be added without it.
pub(super) fn routes() -> OpenApiRouter<Arc<AdminState>> {
    OpenApiRouter::new()
        .routes(routes!(accounts::get_account))
        .routes(routes!(business_date::get_business_date))
        .routes(routes!(rates::get_rates))
}
