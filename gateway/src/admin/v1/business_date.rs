//! `GET /v1/business-date`: the date in DE 15 of every answer, and whether a cutover moved it
//! past the calendar.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::error::ErrorBody;
use crate::admin::AdminState;

/// The business date now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BusinessDateView {
    /// The business date (ISO 8601).
    #[schema(example = "2026-12-05", format = Date)]
    pub(crate) business_date: String,
    /// Its DE 15 form, `MMDD`.
    #[schema(example = "1205", pattern = "^[0-9]{4}$")]
    pub(crate) de15: String,
    /// The calendar date in `time_zone` (with `business_date.clock_offset_s` applied).
    #[schema(example = "2026-12-05", format = Date)]
    pub(crate) calendar_date: String,
    /// The IANA time zone of the calendar.
    #[schema(example = "Asia/Seoul")]
    pub(crate) time_zone: String,
    /// True when a cutover (0800, DE 70 = 201) moved the business date past the calendar.
    pub(crate) moved_by_cutover: bool,
}

/// The business date, and whether a cutover moved it.
#[utoipa::path(
    get,
    path = "/v1/business-date",
    tag = "switch",
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The business date", body = BusinessDateView),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
    )
)]
pub(crate) async fn get_business_date(
    State(state): State<Arc<AdminState>>,
) -> Json<BusinessDateView> {
    let bd = state.status.core().business_date();
    let (today, calendar) = (bd.today(), bd.calendar());
    Json(BusinessDateView {
        business_date: today.to_string(),
        de15: crate::BusinessDate::mmdd(today),
        calendar_date: calendar.to_string(),
        time_zone: bd.time_zone().iana_name().unwrap_or("UTC").to_owned(),
        moved_by_cutover: today > calendar,
    })
}
