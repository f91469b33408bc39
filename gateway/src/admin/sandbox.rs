//! `GET /sandbox`: the sandbox in a browser, for a merchant's developer: the test cards and
//! what each does, a form that sends a simulated authorization or reversal and shows the
//! answer field by field (masked), and the latest decisions as the ledger records them (the
//! event stream). Plain HTML, CSS and JavaScript embedded in the binary; no build step.
//!
//! The page calls the API under `/v1/` with the token its visitor types (kept in the
//! browser's localStorage), or, with `[admin] sandbox = true`, the configured token filled in
//! (a sandbox's token is committed test data; a real switch's never leaves its file).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AdminState;

const PAGE: &str = include_str!("sandbox.html");
const SCRIPT: &str = include_str!("sandbox.js");
const STYLE: &str = include_str!("sandbox.css");
/// Where the page's HTML takes the sandbox token.
const TOKEN_SLOT: &str = "{{SANDBOX_TOKEN}}";

/// Scripts and styles from this listener only, no inline script, no framing, no referrer:
/// the page handles an API token.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; \
    base-uri 'none'";

fn html_attr(v: &str) -> String {
    v.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn asset(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            // The page may carry the sandbox's token.
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The page.
pub(crate) async fn page(State(state): State<Arc<AdminState>>) -> Response {
    let token = state
        .sandbox_token
        .as_ref()
        .map(|t| html_attr(t.expose()))
        .unwrap_or_default();
    asset("text/html; charset=utf-8", PAGE.replace(TOKEN_SLOT, &token))
}

/// Its script.
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT.to_owned())
}

/// Its style sheet.
pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_one_token_slot_and_attributes_are_escaped() {
        assert_eq!(PAGE.matches(TOKEN_SLOT).count(), 1);
        assert_eq!(html_attr(r#"a"b<c>&'"#), "a&quot;b&lt;c&gt;&amp;&#39;");
    }
}
