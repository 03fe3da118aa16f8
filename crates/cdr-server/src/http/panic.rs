//! No panic reaches a client: a panicking handler answers 500 problem+json, and the worker
//! goes on serving.

use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use futures_util::FutureExt;

use super::error::{ApiError, Code};

/// Middleware (`middleware::from_fn(catch_panics)`) turning a panic into a 500 answer. The
/// error is returned as the service's error, which actix renders through
/// [`ApiError`]'s `ResponseError` (the request itself cannot be kept: routing needs it unshared).
pub async fn catch_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let panicked = || ApiError::new(Code::Internal, "a request handler panicked").into();
    let call = match std::panic::catch_unwind(AssertUnwindSafe(|| next.call(req))) {
        Ok(fut) => fut,
        Err(_) => return Err(panicked()),
    };
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(res) => res.map(ServiceResponse::map_into_boxed_body),
        Err(_) => Err(panicked()),
    }
}
