//! The W3C trace context of the call being served, carried to registry calls.
//!
//! The gateway parses and checks the caller's `traceparent` (or starts a new
//! trace) and runs the request under [`scope`]; each registry request made
//! while it runs carries the `traceparent` given there.

use std::future::Future;

tokio::task_local! {
    static TRACEPARENT: String;
}

/// Runs `f` with `traceparent` (already well-formed) as the trace context of
/// the registry calls it makes.
pub async fn scope<F: Future>(traceparent: String, f: F) -> F::Output {
    TRACEPARENT.scope(traceparent, f).await
}

/// Adds the current `traceparent`, if any, to a registry request.
pub(crate) fn propagate(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match TRACEPARENT.try_with(|t| t.clone()) {
        Ok(t) => request.header("traceparent", t),
        Err(_) => request,
    }
}
