//! The API's error answer: `{"error": {"code": "...", "message": "..."}}` with a 4xx status
//! for anything the client can fix (DESIGN.md, "Operations API and simulation"), a 5xx only
//! when the switch itself cannot answer. Messages are written here or by handlers from what
//! they know; none carries a PAN, a token, or a request body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub(crate) error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and people (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `api_disabled`, `not_found`,
    /// `method_not_allowed`, `bad_request`, `unprocessable`, `unsupported_media_type`,
    /// `payload_too_large`, `request_timeout`, `unavailable`.
    #[schema(example = "not_found")]
    pub(crate) code: &'static str,
    /// For people; may change.
    #[schema(example = "no account A-9999")]
    pub(crate) message: String,
}

/// An error answer: a status, a code and a message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// `WWW-Authenticate` on a 401 (RFC 6750, section 3).
    challenge: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            challenge: None,
        }
    }

    /// 401: no token, another scheme, or the wrong token.
    pub(crate) fn unauthorized(message: &str, challenge: &'static str) -> Self {
        ApiError {
            challenge: Some(challenge),
            ..ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        }
    }

    /// 404 for an id the ledger does not know, or a path nothing serves.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503: the ledger (or another part of the switch) cannot answer now. The cause is
    /// logged by the caller, not sent.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// The error a bare status from a layer (timeout, body limit) or a fallback stands for.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "nothing is served at this path"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this method is not served at this path",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
            StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "send the body as application/json",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => {
                ("unprocessable", "the body does not fit the schema")
            }
            s if s.is_server_error() => ("unavailable", "the switch cannot answer now"),
            _ => ("bad_request", "the request is malformed"),
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(c) = self.challenge {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        resp
    }
}

/// Marks an error answer whose body stands as it is: `/readyz`'s plain-text 503, whose reason
/// is the point (probes and people read it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeepBody;

/// Outermost map over every answer: a bare error status from a layer (tower-http's 408 and
/// 413 have empty or plain-text bodies) becomes the JSON error body. Answers that already
/// carry JSON, and those marked [`KeepBody`], pass unchanged.
pub(crate) fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") || resp.extensions().get::<KeepBody>().is_some()
    {
        return resp;
    }
    ApiError::for_status(status).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> String {
        let b = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn bare_layer_statuses_become_json_errors() {
        for (status, code) in [
            (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        ] {
            let bare = (status, "length limit exceeded").into_response();
            let resp = json_errors(bare);
            assert_eq!(resp.status(), status);
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
            let v: serde_json::Value = serde_json::from_str(&body(resp).await).unwrap();
            assert_eq!(v["error"]["code"], code);
        }
    }

    #[tokio::test]
    async fn json_errors_successes_and_kept_bodies_pass_unchanged() {
        let api = ApiError::not_found("no such account").into_response();
        assert_eq!(
            body(json_errors(api)).await,
            r#"{"error":{"code":"not_found","message":"no such account"}}"#
        );
        let ok = json_errors("ready\n".into_response());
        assert_eq!(body(ok).await, "ready\n");
        let mut not_ready =
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: rates: stale\n").into_response();
        not_ready.extensions_mut().insert(KeepBody);
        assert_eq!(
            body(json_errors(not_ready)).await,
            "not ready: rates: stale\n"
        );
    }
}
