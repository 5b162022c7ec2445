//! What the resources' handlers share: JSON answers, bodies that must be objects, the trace
//! context of events, and (in the submodules) wire types, query parameters and time bounds.
//! Each resource (`crate::signals`, `crate::channels` …) keeps its handlers, wire types and
//! parameters in its own module; the error responses every route shares are added to the
//! OpenAPI document by [`crate::openapi`].

pub mod dto;
pub mod instant;
pub mod params;
pub mod slots;
#[cfg(test)]
mod tests;

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use domain::services::{CacheResult, QueryError};

/// A 200 with a JSON body that is already rendered (from the cache or just now).
pub fn json_bytes(
    body: impl Into<actix_web::web::Bytes>,
    cache: Option<CacheResult>,
) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    ));
    if let Some(result) = cache {
        res.insert_header(("X-Cache", HeaderValue::from_static(result.as_str())));
    }
    res.body(body.into())
}

/// Renders `value` as JSON bytes; a serialisation failure is a [`QueryError::Render`].
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, QueryError> {
    to_json_sized(value, 128)
}

/// [`to_json`] into a buffer of `capacity` bytes to start with (a page's rough size: growing
/// from serde's 128 bytes copies a 32 KB page about nine times).
pub fn to_json_sized<T: serde::Serialize>(
    value: &T,
    capacity: usize,
) -> Result<Vec<u8>, QueryError> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, value).map_err(|e| QueryError::Render(format!("JSON: {e}")))?;
    Ok(out)
}

/// The trace context of the current request, for events it causes.
pub fn trace_context() -> Option<domain::model::TraceContext> {
    service_kit::telemetry::current_trace_context()
}

/// A JSON body that must be an object (serde would also read a struct from an array), decoded
/// with problems naming the field.
pub fn object_body<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, service_kit::Problem> {
    if !value.is_object() {
        return Err(service_kit::Problem::bad_request(
            "the body must be a JSON object",
        ));
    }
    let bytes = serde_json::to_vec(&value)
        .map_err(|e| service_kit::Problem::bad_request(format!("unreadable body: {e}")))?;
    service_kit::extract::parse_json(&bytes)
}
