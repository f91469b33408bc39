//! The operations API under `/v1/` (DESIGN.md, "Operations API and simulation"): one file
//! per resource, each handler annotated with `#[utoipa::path]` so that [`routes`] builds the
//! router and the OpenAPI document together.
//!
//! Adding a resource is a file here and a line in [`routes`] (one `routes!` per path, its
//! methods' handlers together), handlers taking `ApiPath`/`ApiJson` and answering
//! `ApiError`.

mod accounts;
mod business_date;
pub(crate) mod cards;
mod clearing;
mod events;
mod rates;
mod simulate;

pub(crate) use events::MAX_EVENT_STREAMS;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminState;

/// Every `/v1/` route with its OpenAPI description. Authentication is applied around the
/// whole listener (`auth::require_token`), not here, so a route cannot be added without it.
pub(super) fn routes() -> OpenApiRouter<Arc<AdminState>> {
    OpenApiRouter::new()
        .routes(routes!(accounts::get_account))
        .routes(routes!(accounts::post_adjustment))
        .routes(routes!(business_date::get_business_date))
        .routes(routes!(clearing::post_presentments))
        .routes(routes!(clearing::get_file, clearing::put_file))
        .routes(routes!(cards::get_card, cards::patch_card))
        .routes(routes!(cards::lookup_card))
        .routes(routes!(cards::get_controls, cards::put_controls))
        .routes(routes!(cards::list_authorizations))
        .routes(routes!(cards::list_changes))
        .routes(routes!(cards::reset_pin_tries))
        .routes(routes!(rates::get_rates))
        .routes(routes!(events::stream))
        .routes(routes!(simulate::simulate_authorization))
        .routes(routes!(simulate::simulate_reversal))
        .routes(routes!(simulate::simulate_advice))
        .routes(routes!(simulate::list_cards))
}
