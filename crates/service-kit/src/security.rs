//! Credentials compared in constant time, security headers and the request deadline: the
//! hardening both services apply the same way.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, Next};
use subtle::ConstantTimeEq;

use crate::problem::Problem;

/// Header carrying the gateway's token on the ingest service.
pub const GATEWAY_TOKEN_HEADER: &str = "x-gateway-token";
/// Header carrying an API key on the api service.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Compares two byte strings in time independent of where they differ (the length is not
/// hidden).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The Content-Security-Policy sent with every response. It allows what Swagger UI needs
/// (same-origin scripts, inline styles, data: images) and nothing from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; \
object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Security headers for every response (set unless a handler already set them).
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ))
}

/// The longest a request may take to produce its response head, as app-level data read by
/// [`request_deadline`].
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

/// Middleware: abandons a request whose handler has not answered within the app's
/// [`RequestTimeout`] and answers 503 with `Retry-After`. Dropping the handler's future rolls
/// back any open transaction, so a client retry is always safe. Only the time to the response
/// head counts: streamed bodies (SSE, exports) are not cut off.
pub async fn request_deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limit = req
        .app_data::<RequestTimeout>()
        .map_or(Duration::from_secs(30), |t| t.0);
    let path = req.path().to_owned();
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(res) => res.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            tracing::warn!(
                path,
                limit_ms = limit.as_millis() as u64,
                "request timed out"
            );
            Err(
                Problem::unavailable("the request took too long; retry later", 1)
                    .with_instance(path)
                    .into(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
