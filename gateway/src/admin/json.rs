//! JSON in and out of the API, with rejections as [`ApiError`]s.
//!
//! axum's own rejections answer in plain text and quote serde's message, which quotes the
//! offending value: a card number sent where a number was expected would come back in the
//! error. These say what was wrong without echoing anything the client sent.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON request body (`Content-Type: application/json`), or a JSON 4xx: 400 not JSON, 415
/// another content type, 422 JSON of the wrong shape, 413 larger than `LIMIT` bytes (by its
/// `Content-Length` before anything is read, else while it is read: never more is kept).
///
/// `LIMIT` is [`super::MAX_BODY_BYTES`] but for the few endpoints that take more (a batch of
/// clearing presentments); the listener's own limit is the largest of them.
#[derive(Debug)]
pub(crate) struct ApiJson<T, const LIMIT: usize = { super::MAX_BODY_BYTES }>(pub(crate) T);

impl<S, T, const LIMIT: usize> FromRequest<S> for ApiJson<T, LIMIT>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > LIMIT as u64) {
            return Err(ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, LIMIT).await {
            Ok(b) => b,
            Err(e) => {
                return Err(if is_length_limit(&e) {
                    ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE)
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        "the body could not be read",
                    )
                })
            }
        };
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(json_rejection(&r)),
        }
    }
}

/// Whether reading a body failed on its length limit (ours, or the listener's).
fn is_length_limit(e: &axum::Error) -> bool {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains("length limit exceeded") {
            return true;
        }
        cur = err.source();
    }
    false
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    let status = r.status();
    match r {
        JsonRejection::JsonSyntaxError(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body is not valid JSON",
        ),
        JsonRejection::JsonDataError(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
            "the body does not fit this endpoint's schema (see /openapi.json)",
        ),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        }
        // Reading the body failed: over the body limit (413), or the client went away.
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => ApiError::for_status(status),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body could not be read",
        ),
    }
}

/// Path parameters, or a JSON 400 (a segment that is not valid percent-encoded UTF-8, or
/// not of the parameter's type) that does not quote the segment.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(path_rejection(&r)),
        }
    }
}

fn path_rejection(r: &PathRejection) -> ApiError {
    if r.status().is_server_error() {
        // A route whose parameters do not match its handler: our bug, not the client's.
        tracing::error!(error = %r.body_text(), "path parameters do not match the route");
        return ApiError::unavailable("the switch cannot answer this path now");
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "a path segment is not valid (percent-encoded UTF-8 of the right type)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{header, Request};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use axum::Router;
    use tower::ServiceExt;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Lookup {
        #[allow(dead_code)]
        pan: String,
    }

    fn app() -> Router {
        Router::new()
            .route(
                "/lookup",
                post(|ApiJson(_): ApiJson<Lookup>| async { "ok" }),
            )
            .route(
                "/n/{n}",
                get(|ApiPath(n): ApiPath<u32>| async move { n.to_string() }),
            )
            .layer(tower_http::limit::RequestBodyLimitLayer::new(64))
    }

    async fn call(req: Request<Body>) -> (StatusCode, String) {
        let resp = app().oneshot(req).await.unwrap().into_response();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn post_json(body: &str, content_type: &str) -> Request<Body> {
        Request::post("/lookup")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_owned()))
            .unwrap()
    }

    const PAN: &str = "4000001000000018";

    #[tokio::test]
    async fn a_good_body_passes() {
        let (s, b) = call(post_json(
            &format!("{{\"pan\":\"{PAN}\"}}"),
            "application/json",
        ))
        .await;
        assert_eq!((s, b.as_str()), (StatusCode::OK, "ok"));
    }

    #[tokio::test]
    async fn bad_bodies_are_json_4xx_that_echo_nothing() {
        let cases = [
            (
                post_json("{\"pan\":", "application/json"),
                400,
                "bad_request",
            ),
            // Wrong type: serde's message would quote the number.
            (
                post_json(&format!("{{\"pan\":{PAN}}}"), "application/json"),
                422,
                "unprocessable",
            ),
            // Unknown field named by a PAN: serde's message would quote it.
            (
                post_json(&format!("{{\"{PAN}\":\"x\"}}"), "application/json"),
                422,
                "unprocessable",
            ),
            (
                post_json(&format!("{{\"pan\":\"{PAN}\"}}"), "text/plain"),
                415,
                "unsupported_media_type",
            ),
            (
                post_json(
                    &format!("{{\"pan\":\"{}\"}}", "4".repeat(100)),
                    "application/json",
                ),
                413,
                "payload_too_large",
            ),
        ];
        for (req, status, code) in cases {
            let (s, b) = call(req).await;
            assert_eq!(s.as_u16(), status, "{b}");
            let v: serde_json::Value = serde_json::from_str(&b).unwrap();
            assert_eq!(v["error"]["code"], code, "{b}");
            assert!(v["error"]["message"].is_string(), "{b}");
            assert!(
                !b.contains("4000001000") && !b.contains("4444"),
                "echoed: {b}"
            );
        }
    }

    #[tokio::test]
    async fn a_bad_path_segment_is_a_json_400() {
        for uri in ["/n/4000001000000018", "/n/%FF"] {
            let (s, b) = call(Request::get(uri).body(Body::empty()).unwrap()).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {b}");
            assert!(
                b.contains("\"bad_request\"") && !b.contains("4000001000"),
                "{b}"
            );
        }
        let (s, b) = call(Request::get("/n/7").body(Body::empty()).unwrap()).await;
        assert_eq!((s, b.as_str()), (StatusCode::OK, "7"));
    }
}
