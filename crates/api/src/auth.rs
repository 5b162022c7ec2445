//! The admin guard: writes and admin calls need `X-API-Key`, compared in constant time with
//! every configured key (service-kit's [`SecretList`](service_kit::SecretList)). Only in dev
//! mode without any key are they open.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use service_kit::Problem;
use service_kit::security::API_KEY_HEADER;

use crate::state::ApiState;

/// Proof that the request carries a valid admin key; take it as a handler argument.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<Admin, Problem> {
    let Some(state) = req.app_data::<web::Data<ApiState>>() else {
        return Err(Problem::internal(
            "admin guard",
            &"ApiState is not registered",
        ));
    };
    let admin = &state.admin;
    if admin.keys.is_empty() && admin.dev_mode {
        return Ok(Admin);
    }
    match req.headers().get(API_KEY_HEADER) {
        Some(key) if admin.keys.matches_any(key.as_bytes()) => Ok(Admin),
        Some(_) => Err(Problem::unauthorized(
            "X-API-Key",
            "the X-API-Key is not valid",
        )),
        None => Err(Problem::unauthorized(
            "X-API-Key",
            "this call needs an X-API-Key header",
        )),
    }
}
