//! Clearing through the running switch (issue 24): `POST /v1/clearing/presentments` posts a
//! batch of one file's presentments through the switch's own ledger writer, a few at once
//! (`[clearing] switch_in_flight`), so that they ride the same group commits as the
//! authorizations instead of contending with them as a second writer would;
//! `GET`/`PUT /v1/clearing/files/{file_id}` read and set the mark of a file imported whole.
//! `gateway clearing import` is their client.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::json::{ApiJson, ApiPath};
use crate::admin::{AdminState, MAX_CLEARING_BODY_BYTES};
use crate::clearing::{BatchOutcome, FileMark, FileView, PostContext, PresentmentBatch};
use crate::config::MAX_PRESENTMENT_BATCH;

/// Longest file id (the header's PDS 0105 is shorter).
const MAX_FILE_ID_LEN: usize = 64;
/// The longest a paced batch may take, seconds.
const MAX_PACED_BATCH_S: u64 = 2;

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
}

fn ledger_unavailable(e: ledger::LedgerError) -> ApiError {
    tracing::warn!(error = %e, "API: the ledger failed");
    ApiError::unavailable("the ledger cannot answer now")
}

fn check_file_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > MAX_FILE_ID_LEN
        || id.chars().any(char::is_control)
        || crate::admin::v1::cards::has_card_number(id.as_bytes())
    {
        return Err(unprocessable(
            "file_id: 1 to 64 characters, no control characters",
        ));
    }
    Ok(())
}

/// Posts presentments of one clearing file through the switch's ledger writer, at most
/// `[clearing] switch_in_flight` at once (an authorization waits behind a few of them at
/// most), and answers each one's outcome in the batch's order: `matched`, `partial`,
/// `over`, `forced`, `duplicate` (posted before: same DE 31 and kind, nothing moved) or
/// `rejected` (with why; nothing moved). Idempotent: sending a batch again moves nothing
/// more. 409 once the file is marked imported. On 503 some may have been posted: send the
/// batch again.
#[utoipa::path(
    post,
    path = "/v1/clearing/presentments",
    tag = "clearing",
    request_body = PresentmentBatch,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "Each presentment's outcome, in order", body = BatchOutcome),
        (status = BAD_REQUEST, description = "Not JSON", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = CONFLICT, description = "The file was imported whole before", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is larger than 512 KiB", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not application/json", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "Not a batch: a bad file id, no presentments or more than 500, or a records_per_s outside 1 to 100000 or too slow for the batch (2 s at most)", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now (some may be posted: send again)", body = ErrorBody),
    )
)]
pub(crate) async fn post_presentments(
    State(state): State<Arc<AdminState>>,
    ApiJson(batch): ApiJson<PresentmentBatch, MAX_CLEARING_BODY_BYTES>,
) -> Result<Json<BatchOutcome>, ApiError> {
    check_file_id(&batch.file_id)?;
    if batch.presentments.is_empty() || batch.presentments.len() > MAX_PRESENTMENT_BATCH {
        return Err(unprocessable("presentments: 1 to 500 of them"));
    }
    if let Some(r) = batch.records_per_s {
        if !(1..=crate::config::MAX_RECORDS_PER_S).contains(&r) {
            return Err(unprocessable("records_per_s: 1 to 100000"));
        }
        // Answered well within the request's timeout (10 s), not cut off by it midway.
        if batch.presentments.len() as u64 > u64::from(r) * MAX_PACED_BATCH_S {
            return Err(unprocessable(
                "records_per_s: a paced batch may take 2 s at most (2 x records_per_s presentments)",
            ));
        }
    }
    let core = state.status.core();
    let store = core.store();
    if store
        .clearing_file_imported(&batch.file_id)
        .await
        .map_err(ledger_unavailable)?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the file was imported before",
        ));
    }
    let cx = PostContext {
        clearing: &state.clearing,
        file_id: &batch.file_id,
        business_date: core.business_date().today(),
        now: jiff::Timestamp::now(),
    };
    let results = crate::clearing::post_batch(
        store,
        &batch.presentments,
        &cx,
        state.clearing.switch_in_flight,
        batch.records_per_s,
        std::time::Duration::from_millis(u64::from(state.clearing.yield_ms)),
    )
    .await
    .map_err(ledger_unavailable)?;
    Ok(Json(BatchOutcome {
        file_id: batch.file_id,
        results,
    }))
}

/// Whether the clearing file `file_id` was imported whole.
#[utoipa::path(
    get,
    path = "/v1/clearing/files/{file_id}",
    tag = "clearing",
    params(("file_id" = String, Path, description = "The file's id (PDS 0105)", example = "F-20261205-001")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The file's mark", body = FileView),
        (status = BAD_REQUEST, description = "A malformed path", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No file id in the path", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "Not a file id", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn get_file(
    State(state): State<Arc<AdminState>>,
    ApiPath(file_id): ApiPath<String>,
) -> Result<Json<FileView>, ApiError> {
    check_file_id(&file_id)?;
    let imported = state
        .status
        .core()
        .store()
        .clearing_file_imported(&file_id)
        .await
        .map_err(ledger_unavailable)?;
    Ok(Json(FileView { file_id, imported }))
}

/// Marks the clearing file `file_id` imported whole (after its last presentment): a later
/// import of it is refused. 201 when marked now, 409 when it was marked before.
#[utoipa::path(
    put,
    path = "/v1/clearing/files/{file_id}",
    tag = "clearing",
    params(("file_id" = String, Path, description = "The file's id (PDS 0105)", example = "F-20261205-001")),
    request_body = FileMark,
    security(("bearer" = [])),
    responses(
        (status = CREATED, description = "Marked imported", body = FileView),
        (status = BAD_REQUEST, description = "Not JSON, or a malformed path", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = NOT_FOUND, description = "No file id in the path", body = ErrorBody),
        (status = CONFLICT, description = "Marked imported before", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "The body is too large", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not application/json", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "Not a file id, or a bad body", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn put_file(
    State(state): State<Arc<AdminState>>,
    ApiPath(file_id): ApiPath<String>,
    ApiJson(mark): ApiJson<FileMark>,
) -> Result<(StatusCode, Json<FileView>), ApiError> {
    check_file_id(&file_id)?;
    let count = i64::try_from(mark.presentments)
        .map_err(|_| unprocessable("presentments: out of range"))?;
    let core = state.status.core();
    let marked = core
        .store()
        .mark_clearing_file(
            &file_id,
            count,
            core.business_date().today(),
            jiff::Timestamp::now(),
        )
        .await
        .map_err(ledger_unavailable)?;
    if !marked {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the file was marked imported before",
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(FileView {
            file_id,
            imported: true,
        }),
    ))
}
