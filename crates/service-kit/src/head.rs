//! `HEAD` on every `GET` route (RFC 9110 §9.3.2): the request is routed as `GET` and answered
//! with the same status and headers; actix-http's encoder sends no body for a `HEAD` request
//! (it keeps `Content-Length`). Streamed bodies (SSE, exports) are dropped at once rather than
//! polled for nothing.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;

use crate::problem::Problem;

/// Middleware: serves `HEAD` as `GET` without the body; a path without `GET` still answers 405
/// naming `HEAD`.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::HEAD {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    req.head_mut().method = Method::GET;
    let res = next.call(req).await?.map_into_boxed_body();
    if res.status() == StatusCode::METHOD_NOT_ALLOWED {
        let path = res.request().path().to_owned();
        let mut answer = Problem::method_not_allowed("HEAD", &path)
            .with_instance(path)
            .to_response();
        if let Some(allow) = res.headers().get(actix_web::http::header::ALLOW) {
            answer
                .headers_mut()
                .insert(actix_web::http::header::ALLOW, allow.clone());
        }
        return Ok(res.into_response(answer));
    }
    if matches!(res.response().body().size(), BodySize::Stream) {
        return Ok(res.map_body(|_, _| BoxBody::new(actix_web::body::None::new())));
    }
    Ok(res)
}
