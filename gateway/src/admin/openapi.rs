//! The OpenAPI 3.1 document: its header here, its paths and schemas from the handlers
//! (`#[utoipa::path]`, `#[derive(ToSchema)]`), served at `/openapi.json`.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's header; the routers add the paths.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "gateway admin and operations API",
        description = "Health, metrics and the operations API of the ISO 8583 switch, on its \
            loopback admin listener. Everything under /v1/ needs `Authorization: Bearer TOKEN` \
            ([admin] api_token or api_token_file). Errors are {\"error\": {\"code\", \"message\"}} \
            with a 4xx status for anything the client can fix.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Open: probes and scrapers"),
        (name = "accounts", description = "Accounts and their wallets"),
        (name = "switch", description = "The switch's business date and rates"),
        (name = "simulation", description = "Simulated network requests, sent through the \
            first listener's own framing, codec and connection handler, and recorded like any \
            network's"),
        (name = "events", description = "The ledger's events as server-sent events"),
        (name = "clearing", description = "Clearing presentments posted through the switch's \
            own ledger writer (`gateway clearing import`'s path when the switch runs)"),
    )
)]
pub(crate) struct ApiDoc;

/// The `bearer` security scheme the `/v1/` operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}
