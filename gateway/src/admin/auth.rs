//! Bearer-token authentication of everything under `/v1/` (RFC 6750, section 2.1:
//! `Authorization: Bearer TOKEN`).
//!
//! The configured token is kept as its SHA-256 digest and a presented token is hashed and
//! compared with `subtle`'s constant-time equality: the time taken says nothing about how
//! much of a guess was right, nor (the digests being of one length) about the token's
//! length. Neither token is logged or echoed.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AdminState;
use crate::config::ApiToken;

/// Paths under this prefix need the token; the rest of the admin listener is open.
pub(crate) const API_PREFIX: &str = "/v1";

/// The configured token, as a digest.
#[derive(Clone)]
pub(crate) struct TokenDigest([u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(<redacted>)")
    }
}

impl TokenDigest {
    pub(crate) fn new(token: &ApiToken) -> Self {
        TokenDigest(Sha256::digest(token.expose().as_bytes()).into())
    }

    fn matches(&self, presented: &[u8]) -> bool {
        let d: [u8; 32] = Sha256::digest(presented).into();
        d.ct_eq(&self.0).into()
    }
}

/// What an `Authorization` header says, checked against `expected`.
pub(crate) fn check(expected: Option<&TokenDigest>, header: Option<&[u8]>) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "api_disabled",
            "the API is off: no [admin] api_token or api_token_file is configured",
        ));
    };
    let Some(value) = header else {
        return Err(ApiError::unauthorized(
            "send Authorization: Bearer TOKEN",
            "Bearer realm=\"gateway\"",
        ));
    };
    // The scheme is case-insensitive (RFC 9110, section 11.1); one space, then the token.
    let token = match value.split_first_chunk::<7>() {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case(b"bearer ") => rest,
        _ => {
            return Err(ApiError::unauthorized(
                "the Authorization scheme must be Bearer",
                "Bearer realm=\"gateway\"",
            ))
        }
    };
    if !expected.matches(token) {
        return Err(ApiError::unauthorized(
            "the bearer token is not valid",
            "Bearer realm=\"gateway\", error=\"invalid_token\"",
        ));
    }
    Ok(())
}

/// The one path that also takes the token as `?access_token=` (RFC 6750, section 2.3): the
/// event stream, for browsers' `EventSource`, which cannot send headers. Nowhere else: a
/// token in a URL ends up in histories and proxy logs. (This listener logs no URL.)
pub(crate) const QUERY_TOKEN_PATH: &str = "/v1/events/stream";

/// `access_token` of the query, percent-decoded.
fn query_token(uri: &axum::http::Uri) -> Option<String> {
    let axum::extract::Query(mut q) =
        axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(uri)
            .ok()?;
    q.remove("access_token")
}

/// Middleware: requests under [`API_PREFIX`] pass only with the token.
pub(crate) async fn require_token(
    State(state): State<Arc<AdminState>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let guarded = path == API_PREFIX
        || path
            .strip_prefix(API_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'));
    if guarded {
        let mut header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        if header.is_none() && path == QUERY_TOKEN_PATH {
            header = query_token(req.uri()).map(|t| format!("Bearer {t}").into_bytes());
        }
        if let Err(e) = check(state.token.as_ref(), header.as_deref()) {
            // The path is not logged: a client may have put a card number in it.
            tracing::debug!("API request refused: no valid bearer token");
            return e.into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> TokenDigest {
        TokenDigest::new(&ApiToken::new("test-token-0123456789"))
    }

    #[test]
    fn the_right_token_passes_in_any_scheme_case() {
        let d = digest();
        assert!(check(Some(&d), Some(b"Bearer test-token-0123456789")).is_ok());
        assert!(check(Some(&d), Some(b"bearer test-token-0123456789")).is_ok());
    }

    #[test]
    fn missing_wrong_scheme_and_wrong_token_are_401() {
        let d = digest();
        for h in [
            None,
            Some(&b"Basic dGVzdDp0ZXN0"[..]),
            Some(&b"Bearer"[..]),
            Some(&b"Bearer test-token-012345678"[..]),
            Some(&b"Bearer test-token-0123456789 "[..]),
            Some(&b"Bearer  test-token-0123456789"[..]),
        ] {
            let e = check(Some(&d), h).unwrap_err().into_response();
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{h:?}");
            assert!(e.headers().contains_key(header::WWW_AUTHENTICATE));
        }
    }

    #[test]
    fn no_configured_token_is_403_for_any_header() {
        let e = check(None, Some(b"Bearer anything-at-all-here")).unwrap_err();
        assert_eq!(e.into_response().status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn the_query_token_is_read_percent_decoded() {
        let uri: axum::http::Uri = "/v1/events/stream?from=3&access_token=a%2Bb"
            .parse()
            .unwrap();
        assert_eq!(query_token(&uri).as_deref(), Some("a+b"));
        let none: axum::http::Uri = "/v1/events/stream?from=3".parse().unwrap();
        assert_eq!(query_token(&none), None);
    }

    #[test]
    fn debug_hides_the_digest() {
        assert_eq!(format!("{:?}", digest()), "TokenDigest(<redacted>)");
    }
}
