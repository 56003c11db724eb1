//! The one failure taxonomy every connector reports in.

use std::time::Duration;

/// The word error messages carry in place of an upstream code the connector
/// does not know: a registry could put anything (a national ID) there.
pub const UNRECOGNISED: &str = "unrecognised";

/// Why one upstream attempt failed. Messages never contain personal data
/// (no IDs, names or phone numbers): they go to operational logs.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamError {
    /// No answer within the attempt's time limit.
    #[error("registry did not answer in time")]
    Timeout,
    /// Connection refused or reset, or a 5xx / 429 answer.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// A 429 or 503 that says how long to wait before the next attempt
    /// (`Retry-After`, RFC 9110 §10.2.3).
    #[error("registry busy, asked for a pause of {} ms", .0.as_millis())]
    Busy(Duration),
    /// An answer that does not parse as the protocol says (including a 200
    /// carrying a server fault).
    #[error("registry sent a malformed answer: {0}")]
    Malformed(String),
    /// The registry refused the request itself (a 4xx or a client fault):
    /// retrying cannot help.
    #[error("registry rejected the request: {0}")]
    Rejected(String),
}

impl UpstreamError {
    /// Transient failures are worth another attempt and count against the circuit.
    pub fn is_transient(&self) -> bool {
        !matches!(self, UpstreamError::Rejected(_))
    }

    /// Classifies a transport error from reqwest.
    pub fn from_reqwest(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            UpstreamError::Timeout
        } else if err.is_decode() {
            UpstreamError::Malformed("body could not be decoded".into())
        } else if err.is_connect() {
            UpstreamError::Unavailable("connection failed".into())
        } else {
            UpstreamError::Unavailable("connection closed or reset".into())
        }
    }

    /// A redirect is never followed (it could send the citizen's data
    /// elsewhere): it is a failure of the registry that retrying cannot help.
    pub fn redirect(status: reqwest::StatusCode) -> Self {
        UpstreamError::Rejected(format!("HTTP {} redirect not followed", status.as_u16()))
    }

    /// Classifies a non-success HTTP status.
    pub fn from_status(status: reqwest::StatusCode) -> Self {
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            UpstreamError::Unavailable(format!("HTTP {}", status.as_u16()))
        } else {
            UpstreamError::Rejected(format!("HTTP {}", status.as_u16()))
        }
    }
}
