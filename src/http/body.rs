//! Reading request bodies: at most a route's limit (413 problem+json past
//! it, before anything more is read), and within the request's deadline.
//!
//! actix-web's `client_request_timeout` bounds only the request head; a
//! client that then sends its body a byte at a time would hold a connection
//! (and a buffer) for as long as it likes. Every body the gateway reads is
//! read here, so every one is bounded: the whole body must have arrived
//! `server.client_request_timeout_ms` after the head, or the answer is 408
//! `request_timeout` and the connection is closed.

use super::context::RequestContext;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// The JSON bodies of `/v1` (CONTRACT §4).
pub const JSON_LIMIT: usize = 64 * 1024;
/// `/oauth/token`: a form of four short fields.
pub const FORM_LIMIT: usize = 8 * 1024;
/// The SMSC's callbacks: one report or one message of at most 1,600 characters.
pub const CALLBACK_LIMIT: usize = 16 * 1024;

/// How long a client may take to send its request, as configured
/// (`server.client_request_timeout_ms`); registered as app data.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

impl Default for RequestTimeout {
    fn default() -> Self {
        RequestTimeout(Duration::from_secs(5))
    }
}

/// When the body of `req` must have arrived: the configured timeout after
/// its head was read.
pub fn deadline(req: &HttpRequest) -> Instant {
    let timeout = req.app_data::<web::Data<RequestTimeout>>().map(|t| t.0).unwrap_or(RequestTimeout::default().0);
    let started = req.extensions().get::<RequestContext>().map(|c| c.started).unwrap_or_else(Instant::now);
    started + timeout
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads the whole body, at most `limit` bytes, by `deadline`.
pub async fn read(
    mut payload: Payload,
    declared: Option<usize>,
    limit: usize,
    deadline: Instant,
) -> Result<Bytes, ApiError> {
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge);
    }
    let collect = async {
        let mut body = BytesMut::with_capacity(declared.unwrap_or(512).min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ApiError::invalid_detail("The request body could not be read."))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout_at(deadline.into(), collect).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::RequestTimeout),
    }
}

/// A raw body of at most `LIMIT` bytes, read within the request's deadline.
pub struct Body<const LIMIT: usize>(pub Bytes);

impl<const LIMIT: usize> FromRequest for Body<LIMIT> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (declared, deadline, payload) = (declared_length(req), deadline(req), payload.take());
        Box::pin(async move { read(payload, declared, LIMIT, deadline).await.map(Body) })
    }
}

/// What [`read`] needs of a request, taken before the extractor's future.
pub fn prepare(req: &HttpRequest, payload: &mut Payload) -> (Payload, Option<usize>, Instant) {
    (payload.take(), declared_length(req), deadline(req))
}
