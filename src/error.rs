//! One error taxonomy for the API, mapped to HTTP in one place.
//!
//! Handlers return [`ApiError`]; its `error_response` stores a [`Problem`] in
//! the response extensions, and the request-context middleware renders it as
//! `application/problem+json` with the request id and the caller's language.
//! Causes (store or registry errors) go to logs only, never to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// A field-level reason, as in `errors: [{"field","reason"}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    InvalidRequest { detail: Option<String>, errors: Vec<FieldError> },
    #[error("invalid national id")]
    InvalidNationalId { reason: &'static str },
    #[error("invalid phone")]
    InvalidPhone { reason: &'static str },
    #[error("missing bearer token")]
    MissingToken,
    #[error("invalid token")]
    InvalidToken,
    /// A signed callback (the SMSC's) whose `Bawaba-Signature` is missing or
    /// wrong: 401 like a bad token, but no bearer challenge.
    #[error("invalid signature")]
    BadSignature,
    #[error("forbidden")]
    Forbidden { detail: &'static str },
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("payload too large")]
    PayloadTooLarge,
    /// The request head and body did not arrive within `server.client_request_timeout_ms`.
    #[error("request timeout")]
    RequestTimeout,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("idempotency conflict")]
    IdempotencyConflict,
    #[error("recipient opted out")]
    RecipientOptedOut,
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The claim-guessing stop (CONTRACT §13).
    #[error("too many mismatches")]
    TooManyMismatches { retry_after_secs: u64 },
    #[error("upstream unavailable")]
    UpstreamUnavailable { retry_after_secs: u64 },
    #[error("upstream timeout")]
    UpstreamTimeout,
    #[error("store unavailable")]
    StoreUnavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn invalid(field: &str, reason: &str) -> Self {
        ApiError::InvalidRequest { detail: None, errors: vec![FieldError::new(field, reason)] }
    }

    pub fn invalid_detail(detail: impl Into<String>) -> Self {
        ApiError::InvalidRequest { detail: Some(detail.into()), errors: vec![] }
    }

    /// One error of each kind, in the contract's order (the OpenAPI
    /// document's list of codes).
    pub fn examples() -> Vec<ApiError> {
        vec![
            ApiError::InvalidRequest { detail: None, errors: vec![] },
            ApiError::InvalidNationalId { reason: "length" },
            ApiError::InvalidPhone { reason: "length" },
            ApiError::MissingToken,
            ApiError::InvalidToken,
            ApiError::BadSignature,
            ApiError::Forbidden { detail: "" },
            ApiError::NotFound,
            ApiError::PayloadTooLarge,
            ApiError::UnsupportedMediaType,
            ApiError::MethodNotAllowed,
            ApiError::RequestTimeout,
            ApiError::RateLimited { retry_after_secs: 1 },
            ApiError::TooManyMismatches { retry_after_secs: 1 },
            ApiError::IdempotencyConflict,
            ApiError::RecipientOptedOut,
            ApiError::UpstreamUnavailable { retry_after_secs: 1 },
            ApiError::UpstreamTimeout,
            ApiError::StoreUnavailable,
            ApiError::Internal,
        ]
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. } => "invalid_request",
            ApiError::InvalidNationalId { .. } => "invalid_national_id",
            ApiError::InvalidPhone { .. } => "invalid_phone",
            ApiError::MissingToken | ApiError::InvalidToken | ApiError::BadSignature => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::IdempotencyConflict => "idempotency_conflict",
            ApiError::RecipientOptedOut => "recipient_opted_out",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::TooManyMismatches { .. } => "too_many_mismatches",
            ApiError::UpstreamUnavailable { .. } => "upstream_unavailable",
            ApiError::UpstreamTimeout => "upstream_timeout",
            ApiError::StoreUnavailable => "store_unavailable",
            ApiError::Internal => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } | ApiError::InvalidNationalId { .. } | ApiError::InvalidPhone { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::MissingToken | ApiError::InvalidToken | ApiError::BadSignature => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::IdempotencyConflict => StatusCode::CONFLICT,
            ApiError::RecipientOptedOut => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } | ApiError::TooManyMismatches { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UpstreamUnavailable { .. } | ApiError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. } => "Invalid request",
            ApiError::InvalidNationalId { .. } => "Invalid national ID",
            ApiError::InvalidPhone { .. } => "Invalid phone number",
            ApiError::MissingToken | ApiError::InvalidToken | ApiError::BadSignature => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::NotFound => "Not found",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::PayloadTooLarge => "Payload too large",
            ApiError::RequestTimeout => "Request timeout",
            ApiError::UnsupportedMediaType => "Unsupported media type",
            ApiError::IdempotencyConflict => "Idempotency conflict",
            ApiError::RecipientOptedOut => "Recipient opted out",
            ApiError::RateLimited { .. } => "Too many requests",
            ApiError::TooManyMismatches { .. } => "Too many mismatches",
            ApiError::UpstreamUnavailable { .. } => "Registry unavailable",
            ApiError::UpstreamTimeout => "Registry timeout",
            ApiError::StoreUnavailable => "Store unavailable",
            ApiError::Internal => "Internal error",
        }
    }

    /// The human-readable explanation, in English or Arabic.
    pub fn detail(&self, arabic: bool) -> String {
        let (en, ar): (String, &str) = match self {
            ApiError::InvalidRequest { detail, errors } => (
                detail.clone().unwrap_or_else(|| {
                    let fields: Vec<String> = errors.iter().map(|e| format!("{} ({})", e.field, e.reason)).collect();
                    format!("The request is not valid: {}.", fields.join(", "))
                }),
                "الطلب غير صالح.",
            ),
            ApiError::InvalidNationalId { reason } => {
                (format!("The national ID is not valid ({reason})."), "الرقم القومي غير صحيح.")
            }
            ApiError::InvalidPhone { reason } => (
                format!("The phone number is not an Egyptian mobile number ({reason})."),
                "رقم الهاتف ليس رقم محمول مصري صحيح.",
            ),
            ApiError::MissingToken => ("A bearer token is required.".into(), "يلزم رمز دخول صالح."),
            ApiError::InvalidToken => {
                ("The bearer token is invalid or expired.".into(), "رمز الدخول غير صالح أو منتهي الصلاحية.")
            }
            ApiError::BadSignature => {
                ("The Bawaba-Signature header is missing or invalid.".into(), "توقيع الطلب مفقود أو غير صحيح.")
            }
            ApiError::Forbidden { detail } => ((*detail).into(), "غير مسموح بهذا الإجراء."),
            ApiError::NotFound => ("No such resource.".into(), "المورد غير موجود."),
            ApiError::MethodNotAllowed => ("This method is not allowed here.".into(), "هذه الطريقة غير مسموح بها هنا."),
            ApiError::PayloadTooLarge => (
                "The request body is larger than this endpoint accepts (at most 64 KiB).".into(),
                "حجم الطلب يتجاوز الحد المسموح.",
            ),
            ApiError::RequestTimeout => (
                "The request was not received in time; the connection is closed.".into(),
                "لم يصل الطلب في الوقت المحدد.",
            ),
            ApiError::UnsupportedMediaType => {
                ("The request body must be application/json.".into(), "يجب أن يكون محتوى الطلب بصيغة JSON.")
            }
            ApiError::IdempotencyConflict => (
                "This Idempotency-Key was used with a different request body.".into(),
                "مفتاح عدم التكرار مستخدم من قبل مع طلب مختلف.",
            ),
            ApiError::RecipientOptedOut => {
                ("The recipient has opted out of messages.".into(), "أوقف صاحب الرقم استقبال الرسائل.")
            }
            ApiError::RateLimited { .. } => ("Too many requests; retry later.".into(), "طلبات كثيرة جدًا، حاول لاحقًا."),
            ApiError::TooManyMismatches { .. } => (
                "Too many different values of this claim about this subject did not match; \
                 verifications carrying it are refused for a while."
                    .into(),
                "قيم مختلفة كثيرة لهذا البيان عن نفس الشخص لم تتطابق؛ التحقق به موقوف مؤقتًا.",
            ),
            ApiError::UpstreamUnavailable { .. } => {
                ("The registry is unavailable; retry later.".into(), "السجل غير متاح حاليًا، حاول لاحقًا.")
            }
            ApiError::UpstreamTimeout => {
                ("The registry did not answer in time.".into(), "لم يستجب السجل في الوقت المحدد.")
            }
            ApiError::StoreUnavailable => (
                "The gateway cannot record this call right now; retry later.".into(),
                "لا يمكن تسجيل العملية حاليًا، حاول لاحقًا.",
            ),
            ApiError::Internal => ("An internal error occurred.".into(), "حدث خطأ داخلي."),
        };
        if arabic { ar.to_owned() } else { en }
    }

    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ApiError::InvalidRequest { errors, .. } => errors.clone(),
            ApiError::InvalidNationalId { reason } => vec![FieldError::new("national_id", *reason)],
            ApiError::InvalidPhone { reason } => vec![FieldError::new("to", *reason)],
            _ => vec![],
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_secs }
            | ApiError::TooManyMismatches { retry_after_secs }
            | ApiError::UpstreamUnavailable { retry_after_secs } => Some((*retry_after_secs).max(1)),
            // CONTRACT §4 asks it of 429 and 503; a 504 says the same: the
            // registry may answer if asked again a little later.
            ApiError::StoreUnavailable | ApiError::UpstreamTimeout => Some(1),
            _ => None,
        }
    }
}

/// The problem body, before the request id and language are known.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Marker in response extensions: this response is a problem to be rendered.
#[derive(Debug, Clone)]
pub struct Problem(pub ApiError);

impl Problem {
    pub fn body(&self, request_id: &str, arabic: bool) -> ProblemBody {
        let e = &self.0;
        ProblemBody {
            type_: format!("https://bawaba.example/problems/{}", e.code()),
            title: e.title().to_owned(),
            status: e.status().as_u16(),
            detail: e.detail(arabic),
            code: e.code().to_owned(),
            request_id: request_id.to_owned(),
            errors: e.field_errors(),
        }
    }
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status());
        builder.content_type(PROBLEM_JSON);
        if let Some(secs) = self.retry_after() {
            builder.insert_header(("Retry-After", secs.to_string()));
        }
        match self {
            ApiError::MissingToken => {
                builder.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::InvalidToken => {
                builder.insert_header(("WWW-Authenticate", "Bearer error=\"invalid_token\""));
            }
            // Whatever of the body is still on its way is not waited for.
            ApiError::RequestTimeout => {
                builder.force_close();
            }
            _ => {}
        }
        // The body is rendered again by the request-context middleware with the
        // request id and language; this one stands in if it is not.
        let body = serde_json::to_vec(&Problem(self.clone()).body("", false)).unwrap_or_default();
        let mut resp = builder.body(body);
        resp.extensions_mut().insert(Problem(self.clone()));
        resp
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ApiError::StoreUnavailable
    }
}

/// The precedence of a request's key field (the national ID, the phone): when
/// it is the only thing wrong, its own error (`invalid_national_id`,
/// `invalid_phone`); otherwise one `invalid_request` naming every field, the
/// key first. `key` carries, on failure, that error and its field entry.
pub fn with_key_field<T>(key: Result<T, (ApiError, FieldError)>, mut errors: Vec<FieldError>) -> Result<T, ApiError> {
    match key {
        Ok(value) if errors.is_empty() => Ok(value),
        Err((alone, _)) if errors.is_empty() => Err(alone),
        Ok(_) => Err(ApiError::InvalidRequest { detail: None, errors }),
        Err((_, field)) => {
            errors.insert(0, field);
            Err(ApiError::InvalidRequest { detail: None, errors })
        }
    }
}

impl From<crate::resilience::Unavailable> for ApiError {
    fn from(e: crate::resilience::Unavailable) -> Self {
        match e {
            crate::resilience::Unavailable::Timeout => ApiError::UpstreamTimeout,
            crate::resilience::Unavailable::Down { retry_after } => {
                ApiError::UpstreamUnavailable { retry_after_secs: retry_after.as_secs() }
            }
        }
    }
}
