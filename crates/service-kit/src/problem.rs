//! The one error type of both HTTP surfaces: RFC 9457 `application/problem+json`.
//!
//! Handlers return `Result<_, Problem>`; domain errors convert with `From`; internal failures
//! are logged with their context and answered as a bare 500. [`problem_fallback`] turns every
//! other error response (unknown route, wrong method, an extractor's rejection) into a problem
//! too, so clients only ever see one error format.

use std::fmt;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use domain::ports::StoreError;
use domain::services::QueryError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client should wait before retrying when the database is unavailable.
pub const STORE_RETRY_AFTER_SECS: u64 = 2;

/// The body of an RFC 9457 problem (named `Problem` in OpenAPI): what went wrong, for a machine (`type`, `status`) and for a human
/// (`title`, `detail`). Validation problems name the offending `field` (a JSON path such as
/// `messages[3].channelId`), or list several in `errors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Problem)]
#[schema(example = json!({
    "type": "urn:tp-capital:problem:validation",
    "title": "Invalid request",
    "status": 400,
    "detail": "channelId: invalid type: boolean `true`, expected a channel id (number or numeric string)",
    "field": "channelId",
    "success": false,
    "message": "channelId: invalid type: boolean `true`, expected a channel id (number or numeric string)"
}))]
pub struct ProblemDetails {
    /// A URI identifying the kind of problem (`urn:tp-capital:problem:*`, or `about:blank`).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path this occurrence is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The input field at fault, as a path (`messageId`, `messages[2].text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Several field problems at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// Seconds to wait before retrying, sent as `Retry-After`.
    #[serde(skip)]
    #[schema(ignore)]
    pub retry_after: Option<u64>,
    /// The credential a 401 asks for, sent as `WWW-Authenticate` (RFC 9110 §11.6.1).
    #[serde(skip)]
    #[schema(ignore)]
    pub challenge: Option<String>,
}

/// An RFC 9457 problem, the error type of every handler. Boxed so `Result<T, Problem>` stays
/// small; read and change its fields through `Deref` to [`ProblemDetails`]. In OpenAPI
/// documents reference it as `body = Problem` with `content_type = "application/problem+json"`.
///
/// On the wire it also carries two extension members for the legacy dashboard, which shows
/// `message` when `success` is false: `success` (always `false`) and `message` (the detail,
/// else the title).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Problem(Box<ProblemDetails>);

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(flatten)]
            details: &'a ProblemDetails,
            success: bool,
            message: &'a str,
        }
        Wire {
            details: &self.0,
            success: false,
            message: self.message(),
        }
        .serialize(s)
    }
}

impl std::ops::Deref for Problem {
    type Target = ProblemDetails;

    fn deref(&self) -> &ProblemDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemDetails {
        &mut self.0
    }
}

impl utoipa::PartialSchema for Problem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
        let mut schema = <ProblemDetails as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            let success = ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([false]))
                .description(Some("Always `false` (extension member for legacy clients)"));
            let message = ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "The detail, else the title (extension member for legacy clients)",
                ));
            object
                .properties
                .insert("success".to_owned(), success.into());
            object
                .properties
                .insert("message".to_owned(), message.into());
            object
                .required
                .extend(["success".to_owned(), "message".to_owned()]);
        }
        schema
    }
}

impl ToSchema for Problem {
    fn name() -> std::borrow::Cow<'static, str> {
        <ProblemDetails as ToSchema>::name()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <ProblemDetails as ToSchema>::schemas(schemas);
    }
}

/// The realm of every credential challenge.
pub const REALM: &str = "tp-capital";

/// The `WWW-Authenticate` value of a credential sent in `header` (a key or token compared as
/// is, not an HTTP authentication scheme): `ApiKey realm="tp-capital", header="X-API-Key"`.
pub fn api_key_challenge(header: &str) -> String {
    format!("ApiKey realm=\"{REALM}\", header=\"{header}\"")
}

/// The most characters of a problem's detail or field: what a client sent is echoed at most
/// this long.
pub const MAX_ECHO: usize = 300;

fn clip(text: String) -> String {
    if text.len() <= MAX_ECHO {
        return text;
    }
    match text.char_indices().nth(MAX_ECHO) {
        Some((cut, _)) => {
            let mut clipped = text[..cut].to_owned();
            clipped.push('…');
            clipped
        }
        None => text,
    }
}

/// One invalid field among several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldProblem {
    /// The field, as a path.
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

impl Problem {
    /// A problem of kind `slug` (`urn:tp-capital:problem:{slug}`).
    pub fn new(status: StatusCode, slug: &str, title: impl Into<String>) -> Self {
        Self(Box::new(ProblemDetails {
            type_uri: format!("urn:tp-capital:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            field: None,
            errors: Vec::new(),
            retry_after: None,
            challenge: None,
        }))
    }

    /// What a legacy client shows: the detail, else the title.
    pub fn message(&self) -> &str {
        self.detail.as_deref().unwrap_or(&self.title)
    }

    /// A problem that is nothing more than its status (`about:blank`, title = reason phrase).
    pub fn from_status(status: StatusCode) -> Self {
        let mut problem = Self::new(status, "", status.canonical_reason().unwrap_or("Error"));
        problem.type_uri = "about:blank".to_owned();
        problem
    }

    /// Adds the occurrence's detail, clipped to [`MAX_ECHO`] characters: a detail may quote
    /// the client's input, and a 200 KB value must not come back (or be logged) whole.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(clip(detail.into()));
        self
    }

    /// Names the field at fault (clipped like the detail: it may be a client's key).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(clip(field.into()));
        self
    }

    /// Lists several field problems.
    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.errors = errors;
        self
    }

    /// Sets the request path.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Asks the client to wait `secs` before retrying.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 400: the input is malformed (not JSON, not a valid query string).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Malformed request").with_detail(detail)
    }

    /// 400: well-formed input with an invalid value in `field`.
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let field = field.into();
        let detail = detail.into();
        let detail = if field.is_empty() || detail.starts_with(&field) {
            detail
        } else {
            format!("{field}: {detail}")
        };
        let problem =
            Self::new(StatusCode::BAD_REQUEST, "validation", "Invalid request").with_detail(detail);
        if field.is_empty() {
            problem
        } else {
            problem.with_field(field)
        }
    }

    /// 401: missing or wrong credentials, with the `WWW-Authenticate` challenge naming the
    /// header that carries them ([`api_key_challenge`]).
    pub fn unauthorized(credential_header: &str, detail: impl Into<String>) -> Self {
        let mut problem =
            Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized").with_detail(detail);
        problem.challenge = Some(api_key_challenge(credential_header));
        problem
    }

    /// 404: nothing here.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found").with_detail(detail)
    }

    /// 405: the route exists, the method does not.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
        )
        .with_detail(format!("{method} is not supported on {path}"))
    }

    /// 409: the change collides with existing data.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict").with_detail(detail)
    }

    /// 413: the body is larger than `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
        )
        .with_detail(format!("the body exceeds the limit of {limit} bytes"))
    }

    /// 415: the body is not of the expected media type.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .with_detail(format!("the body must be {expected}"))
    }

    /// 429: slow down for `retry_after` seconds.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
        )
        .with_detail(format!("rate limit exceeded; retry in {retry_after} s"))
        .with_retry_after(retry_after)
    }

    /// 503: a dependency is down; retry after `retry_after` seconds.
    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        )
        .with_detail(detail)
        .with_retry_after(retry_after)
    }

    /// 500: logs `error` with `context` at error level and answers without any detail.
    pub fn internal(context: &str, error: &dyn fmt::Display) -> Self {
        tracing::error!(context, error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
        )
        .with_detail("an unexpected error occurred; it has been logged")
    }

    /// The status as a `StatusCode`.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The HTTP response: the JSON body, `Content-Type: application/problem+json`, and
    /// `Retry-After` when set.
    pub fn to_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        builder.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        builder.insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
        if let Some(secs) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(challenge) = &self.challenge {
            builder.insert_header((header::WWW_AUTHENTICATE, challenge.as_str()));
        }
        match serde_json::to_vec(self) {
            Ok(body) => builder.body(body),
            Err(_) => builder.finish(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        Problem::status_code(self)
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => {
                tracing::warn!(error = %why, "database unavailable");
                Problem::unavailable(
                    "the database is unavailable; retry later",
                    STORE_RETRY_AFTER_SECS,
                )
            }
            StoreError::NotFound => Problem::not_found("no such resource"),
            StoreError::Conflict(why) => {
                tracing::info!(error = %why, "write conflict");
                Problem::conflict("the change conflicts with a concurrent one; retry")
            }
            StoreError::Internal(why) => Problem::internal("store", &why),
        }
    }
}

impl From<QueryError> for Problem {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Store(e) => e.into(),
            QueryError::Render(why) => Problem::internal("render", &why),
        }
    }
}

/// Default service of the app: 404 for an unknown path, 405 for a known path asked with a
/// method none of its routes serves (actix sends both to the app's default service).
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let problem = if req.match_pattern().is_some() {
        Problem::method_not_allowed(req.method().as_str(), req.path())
    } else {
        Problem::not_found(format!("no route for {}", req.path()))
    };
    problem.with_instance(req.path()).to_response()
}

/// Default service of a resource: 405 for a method it does not serve.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    Problem::method_not_allowed(req.method().as_str(), req.path())
        .with_instance(req.path())
        .to_response()
}

/// Middleware: any error response that is not already a problem and carries no body of its
/// own (actix's own 404/405, an extractor's rejection, an error returned by another
/// middleware) becomes one. Client errors
/// keep their message as `detail`; server errors never show theirs.
pub async fn problem_fallback(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path().to_owned();
    let res = match next.call(req).await {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => return Err(as_problem(e, &path).into()),
    };
    let status = res.status();
    let is_error = status.is_client_error() || status.is_server_error();
    // A handler's own error body (e.g. the health report with 503) is left alone; bodiless
    // answers and actix's own errors are replaced.
    let replace = res.response().error().is_some()
        || matches!(
            res.response().body().size(),
            BodySize::None | BodySize::Sized(0)
        );
    if !is_error || !replace || is_problem(res.headers()) {
        return Ok(res);
    }
    let mut problem = if status == StatusCode::METHOD_NOT_ALLOWED {
        Problem::method_not_allowed(res.request().method().as_str(), res.request().path())
    } else if status == StatusCode::NOT_FOUND {
        Problem::not_found(format!("no route for {}", res.request().path()))
    } else {
        let mut problem = Problem::from_status(status);
        if status.is_client_error()
            && let Some(error) = res.response().error()
        {
            problem = problem.with_detail(error.to_string());
        }
        problem
    };
    if status.is_server_error() {
        if let Some(error) = res.response().error() {
            tracing::error!(error = %error, path = res.request().path(), "request failed");
        }
        problem.detail = None;
    }
    problem.instance = Some(res.request().path().to_owned());
    let mut replacement = problem.to_response();
    for name in [header::RETRY_AFTER, header::ALLOW, header::WWW_AUTHENTICATE] {
        if let Some(value) = res.headers().get(&name) {
            replacement.headers_mut().insert(name, value.clone());
        }
    }
    Ok(res.into_response(replacement))
}

/// An error that escaped as `Err` (another middleware's), rendered as a problem when it is
/// not one already.
fn as_problem(e: actix_web::Error, path: &str) -> Problem {
    if let Some(problem) = e.as_error::<Problem>() {
        return problem.clone();
    }
    let status = e.as_response_error().status_code();
    let problem = Problem::from_status(status).with_instance(path);
    if status.is_server_error() {
        tracing::error!(error = %e, path, "request failed");
        problem
    } else {
        problem.with_detail(e.to_string())
    }
}

fn is_problem(headers: &header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn renders_rfc9457_with_retry_after() {
        let res = Problem::unavailable("db down", 2).to_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.headers().get(header::RETRY_AFTER).map(|v| v.as_bytes()),
            Some(&b"2"[..])
        );
        assert_eq!(
            res.headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(PROBLEM_JSON.as_bytes())
        );
        let body = to_bytes(res.into_body()).await.expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["type"], "urn:tp-capital:problem:unavailable");
        assert_eq!(json["status"], 503);
        assert_eq!(json["detail"], "db down");
        assert!(json.get("field").is_none());
    }

    #[test]
    fn validation_names_the_field_once() {
        let p = Problem::validation("messageId", "missing field");
        assert_eq!(p.field.as_deref(), Some("messageId"));
        assert_eq!(p.detail.as_deref(), Some("messageId: missing field"));
    }

    #[test]
    fn echoed_input_is_clipped() {
        let huge = "v".repeat(200_000);
        let p = Problem::validation(huge.clone(), format!("invalid value: string \"{huge}\""));
        assert!(p.detail.as_deref().unwrap_or("").chars().count() <= MAX_ECHO + 1);
        assert!(p.field.as_deref().unwrap_or("").chars().count() <= MAX_ECHO + 1);
        let short = Problem::bad_request("fine");
        assert_eq!(short.detail.as_deref(), Some("fine"));
    }

    #[test]
    fn store_errors_map_to_statuses_without_internals() {
        let p: Problem = StoreError::Unavailable("connection refused 10.0.0.1".into()).into();
        assert_eq!(p.status, 503);
        assert_eq!(p.retry_after, Some(STORE_RETRY_AFTER_SECS));
        assert!(!p.to_string().contains("10.0.0.1"));
        let p: Problem = StoreError::Internal("syntax error at SELECT".into()).into();
        assert_eq!(p.status, 500);
        assert!(!p.to_string().contains("SELECT"));
        assert_eq!(Problem::from(StoreError::NotFound).status, 404);
        assert_eq!(Problem::from(StoreError::Conflict("x".into())).status, 409);
    }
}
