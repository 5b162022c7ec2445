//! Request extractors whose rejections are problems naming the field at fault.
//!
//! [`Json`] and [`Query`] deserialize through `serde_path_to_error`, so a wrong type deep in a
//! batch reads `messages[3].channelId: invalid type …`; the `*_config` functions give actix's own
//! `web::Json`/`web::Query`/`web::Path` the same problem format for routes that use them.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::web::{self, BytesMut};
use actix_web::{FromRequest, HttpRequest, mime};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::problem::{FieldProblem, Problem};

/// Default body limit when no [`JsonLimit`] is registered.
pub const DEFAULT_JSON_LIMIT: usize = 256 * 1024;

/// The largest JSON body [`Json`] accepts, as app data (on the app, a scope or a resource).
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

/// A JSON body deserialized into `T`. Rejections: 415 when the content type is not JSON, 413
/// over the [`JsonLimit`], 400 for malformed JSON, 400 naming the field for a wrong value.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<JsonLimit>()
            .map_or(DEFAULT_JSON_LIMIT, |l| l.0);
        let checked = check_json_request(req, limit);
        let mut payload = payload.take();
        Box::pin(async move {
            checked?;
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|e| Problem::bad_request(format!("cannot read body: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(Problem::payload_too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(Json)
        })
    }
}

fn check_json_request(req: &HttpRequest, limit: usize) -> Result<(), Problem> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        });
    if !is_json {
        return Err(Problem::unsupported_media_type("application/json"));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(Problem::payload_too_large(limit));
    }
    Ok(())
}

/// Deserializes `body` as `T`, with a problem naming the field on failure.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = field_path(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let detail = strip_position(&inner);
                Problem::validation(with_missing_field(field, &detail), detail)
            }
            serde_json::error::Category::Eof => {
                Problem::bad_request(format!("the body is not complete JSON: {inner}"))
            }
            _ => Problem::bad_request(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| Problem::bad_request(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// A query string deserialized into `T`; a wrong value is a 400 naming the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = Problem;
    type Future = std::future::Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

/// Deserializes a query string as `T`, with a problem naming the parameter on failure.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Problem> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_path(e.path());
        let detail = e.into_inner().to_string();
        Problem::validation(with_missing_field(field, &detail), detail)
    })
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// `JsonConfig` for routes using actix's `web::Json`: its rejections become problems.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |e, _req| {
            let problem = match &e {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => Problem::payload_too_large(limit),
                JsonPayloadError::ContentType => {
                    Problem::unsupported_media_type("application/json")
                }
                JsonPayloadError::Deserialize(inner) if inner.is_data() => {
                    Problem::validation("", strip_position(inner))
                }
                other => Problem::bad_request(other.to_string()),
            };
            problem.into()
        })
}

/// `QueryConfig` for routes using actix's `web::Query`: its rejections become 400 problems.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e, _req| {
        let detail = match &e {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        Problem::validation("", format!("invalid query: {detail}")).into()
    })
}

/// `PathConfig` for `web::Path`: a segment that does not parse is a 400 problem naming it,
/// not a 404 or 500.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e, req| {
        let detail = match &e {
            PathError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        let names: Vec<&str> = req.match_info().iter().map(|(k, _)| k).collect();
        let problem =
            Problem::validation(names.join(","), format!("invalid path parameter: {detail}"));
        if names.len() > 1 {
            problem
                .with_errors(
                    names
                        .iter()
                        .map(|n| FieldProblem {
                            field: (*n).to_owned(),
                            detail: detail.clone(),
                        })
                        .collect(),
                )
                .into()
        } else {
            problem.into()
        }
    })
}

fn field_path(path: &serde_path_to_error::Path) -> String {
    let rendered = path.to_string();
    if rendered == "." {
        String::new()
    } else {
        rendered
    }
}

/// serde reports a missing field at its parent's path; name the field itself.
fn with_missing_field(path: String, detail: &str) -> String {
    let missing = detail
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match missing {
        Some(name) if path.is_empty() => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None => path,
    }
}

/// serde_json appends " at line 1 column 17"; the field path says more.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Item {
        channel_id: i64,
        text: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Batch {
        messages: Vec<Item>,
    }

    #[test]
    fn json_problems_name_the_field() {
        let e = parse_json::<Batch>(br#"{"messages":[{"channelId":1},{"channelId":"x"}]}"#)
            .expect_err("wrong type");
        assert_eq!(e.status, 400);
        assert_eq!(e.field.as_deref(), Some("messages[1].channelId"));
        assert!(!e.detail.as_deref().unwrap_or("").contains("line 1"));

        let e = parse_json::<Item>(br#"{}"#).expect_err("missing");
        assert!(
            e.detail.as_deref().unwrap_or("").contains("channelId"),
            "{e:?}"
        );

        let e = parse_json::<Item>(br#"{"channelId": 1"#).expect_err("eof");
        assert_eq!(e.type_uri, "urn:tp-capital:problem:bad-request");

        let e = parse_json::<Item>(br#"{"channelId": 1} trailing"#).expect_err("trailing");
        assert_eq!(e.status, 400);
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Params {
        limit: Option<u32>,
        asset: Option<String>,
    }

    #[test]
    fn query_problems_name_the_parameter() {
        let p: Params = parse_query("limit=5&asset=PETR4").expect("ok");
        assert_eq!(p.limit, Some(5));
        let e = parse_query::<Params>("limit=abc").expect_err("bad");
        assert_eq!(e.field.as_deref(), Some("limit"));
    }
}
