//! `POST /v1/sms`, `GET /v1/sms/{id}`, and the SMSC's two signed callbacks:
//! `POST /v1/sms/delivery-reports` and `POST /v1/sms/inbound`.

use super::body::{Body, CALLBACK_LIMIT};
use super::context_dto::{ContextDto, parse_context};
use super::gate::{AuditNote, Caller};
use super::json::ApiJson;
use super::smsc_wire;
use super::state::AppState;
use crate::audit::{Action, now_rfc3339};
use crate::domain::phone::PhoneNumber;
use crate::error::{ApiError, FieldError, with_key_field};
use crate::sms::inbound::{Intent, case_key};
use crate::sms::templates::Lang;
use crate::store::{IdempotencyKey, SmsAccept, SmsDelivery, SmsMessageRow};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendSmsRequest {
    /// An Egyptian mobile number in any common form.
    pub to: String,
    pub template: String,
    /// `ar` or `en`.
    pub lang: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[schema(value_type = ContextDto)]
    pub context: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SmsAccepted {
    pub id: String,
    pub status: &'static str,
    pub to: String,
    pub encoding: String,
    pub segments: i64,
}

fn accepted(m: &SmsMessageRow) -> HttpResponse {
    HttpResponse::Accepted().insert_header((actix_web::http::header::LOCATION, format!("/v1/sms/{}", m.id))).json(
        SmsAccepted {
            id: m.id.clone(),
            status: "queued",
            to: m.to_e164.clone(),
            encoding: m.encoding.clone(),
            segments: m.segments,
        },
    )
}

/// What differs between the outbox's messages (notifications and replies).
pub(crate) struct QueuedMessage<'a> {
    pub id: String,
    pub client_id: String,
    pub kind: &'static str,
    pub to: &'a PhoneNumber,
    pub case_ref: Option<String>,
    pub lang: Lang,
    pub status_key: Option<String>,
    pub text: String,
}

/// A message ready for the outbox: encoded and segmented, due now.
pub(crate) fn queued_message(m: QueuedMessage<'_>) -> SmsMessageRow {
    let segmented = crate::domain::sms_encoding::segment(&m.text);
    let now = now_rfc3339();
    SmsMessageRow {
        id: m.id,
        client_id: m.client_id,
        kind: m.kind.into(),
        to_e164: m.to.as_str().to_owned(),
        case_ref: m.case_ref,
        lang: m.lang.as_str().into(),
        status_key: m.status_key,
        text: m.text,
        encoding: match segmented.encoding {
            crate::domain::sms_encoding::Encoding::Gsm7 => "gsm7".into(),
            crate::domain::sms_encoding::Encoding::Ucs2 => "ucs2".into(),
        },
        segments: segmented.segments() as i64,
        status: "queued".into(),
        attempts: 0,
        created_at: now.clone(),
        sent_at: None,
        delivered_at: None,
        last_error: None,
        next_attempt_at: now,
        smsc_id: None,
    }
}

fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get("idempotency-key")
        .ok_or_else(|| ApiError::invalid("Idempotency-Key", "the header is required"))?;
    let key = value.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?.trim();
    if key.is_empty() || key.len() > crate::sms::IDEMPOTENCY_KEY_MAX {
        return Err(ApiError::invalid("Idempotency-Key", "must be 1 to 255 characters"));
    }
    Ok(key.to_owned())
}

#[utoipa::path(
    post, path = "/v1/sms", tag = "sms", operation_id = "send_sms",
    request_body = SendSmsRequest,
    params(("Idempotency-Key" = String, Header, description = "Required; the same key and body return the first answer, another body is 409")),
    responses(
        (status = 202, description = "Queued in the durable outbox", body = SmsAccepted,
            headers(("Location" = String, description = "`/v1/sms/{id}`"))),
    ),
)]
pub async fn send(
    state: web::Data<AppState>,
    caller: Caller,
    note: AuditNote,
    req: HttpRequest,
    body: ApiJson<SendSmsRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let body = body.0;
    // The request's canonical bytes (object keys sorted) identify "the same body".
    let body_hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&serde_json::to_value(&body).unwrap_or_default()).unwrap_or_default(),
    ));
    let context: ContextDto =
        super::json::parse(&serde_json::to_vec(&body.context).unwrap_or_default()).map_err(|e| match e {
            ApiError::InvalidRequest { errors, detail } => ApiError::InvalidRequest {
                detail,
                errors: errors
                    .into_iter()
                    .map(|f| {
                        FieldError::new(format!("context.{}", f.field).replace("context.body", "context"), f.reason)
                    })
                    .collect(),
            },
            other => other,
        })?;
    let mut errors = Vec::new();
    let context = parse_context(&context, &mut errors);
    note.update(|n| context.record(n));
    if context.case_ref.is_none() && !errors.iter().any(|e| e.field == "context.case_ref") {
        errors.push(FieldError::new("context.case_ref", "required for SMS"));
    }
    let phone = PhoneNumber::parse(&body.to);
    let lang = Lang::parse(&body.lang);
    if lang.is_none() {
        errors.push(FieldError::new("lang", "must be ar or en"));
    }
    let rendered =
        lang.map(|lang| state.sms.templates.render(&body.template, lang, &body.params, state.sms.max_segments));
    if let Some(Err(render_errors)) = &rendered {
        errors.extend(render_errors.iter().map(|e| FieldError::new(&e.field, &e.reason)));
    }
    let phone = with_key_field(
        phone.map_err(|e| (ApiError::InvalidPhone { reason: e.reason() }, FieldError::new("to", e.reason()))),
        errors,
    )?;
    // The text's segmentation was checked by the template; the outbox row records it again.
    let (Some(lang), Some(Ok((text, _, status_key)))) = (lang, rendered) else {
        return Err(ApiError::Internal);
    };
    note.update(|n| n.subject = Some(phone.as_str().to_owned()));
    context.authorise(&state, &caller.0, Action::SmsSend)?;
    let store = state.audit.store();
    let message = queued_message(QueuedMessage {
        id: super::request_id(&req),
        client_id: caller.0.client_id.clone(),
        kind: "notification",
        to: &phone,
        case_ref: context.case_ref.as_ref().map(|c| c.as_str().to_owned()),
        lang,
        status_key,
        text,
    });
    let idem = IdempotencyKey { client_id: caller.0.client_id.clone(), key, body_hash: body_hash.clone() };
    let summary = accepted(&message);
    match state.sms.acceptor.accept(Some(idem), message).await? {
        SmsAccept::Inserted => {
            note.update(|n| n.outcome = Some("accepted".into()));
            Ok(summary)
        }
        SmsAccept::Existing { message_id, body_hash: first } if first == body_hash => {
            let first = store.sms_message(&message_id).await?.ok_or(ApiError::Internal)?;
            note.update(|n| n.outcome = Some("accepted".into()));
            Ok(accepted(&first))
        }
        SmsAccept::Existing { .. } => Err(ApiError::IdempotencyConflict),
        // Read in the batch's own transaction, before the idempotency key.
        SmsAccept::OptedOut => Err(ApiError::RecipientOptedOut),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub status: String,
    pub at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SmsView {
    pub id: String,
    pub status: String,
    pub to: String,
    pub encoding: String,
    pub segments: i64,
    pub attempts: i64,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub history: Vec<HistoryEntry>,
}

#[utoipa::path(
    get, path = "/v1/sms/{id}", tag = "sms", operation_id = "read_sms",
    params(("id" = String, Path, description = "The id of the 202 (another client's message is 404)")),
    responses((status = 200, description = "The message's state and history", body = SmsView)),
)]
pub async fn read(
    state: web::Data<AppState>,
    caller: Caller,
    note: AuditNote,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::NotFound);
    }
    let store = state.audit.store();
    let m = store.sms_message(&id).await?.filter(|m| m.client_id == caller.0.client_id).ok_or(ApiError::NotFound)?;
    note.update(|n| n.subject = Some(m.to_e164.clone()));
    let history =
        store.sms_history(&id).await?.into_iter().map(|h| HistoryEntry { status: h.status, at: h.at }).collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(SmsView {
        id: m.id,
        status: m.status,
        to: m.to_e164,
        encoding: m.encoding,
        segments: m.segments,
        attempts: m.attempts,
        created_at: m.created_at,
        sent_at: m.sent_at,
        delivered_at: m.delivered_at,
        last_error: m.last_error,
        history,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryApplied {
    pub id: String,
    #[schema(pattern = "^(delivered|undelivered)$")]
    pub status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboundHandled {
    /// What the message asked: `stop`, `start`, `status`, `history`, `notify` or `unknown`.
    #[schema(pattern = "^(stop|start|status|history|notify|unknown)$")]
    pub intent: &'static str,
    pub reply_id: String,
}

/// Checks the SMSC's `Bawaba-Signature` over the raw body, then parses it.
/// A missing or wrong signature is 401 without a bearer challenge: the SMSC
/// signs, it holds no token.
fn signed_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    let header = req.headers().get("bawaba-signature").and_then(|v| v.to_str().ok()).ok_or(ApiError::BadSignature)?;
    if !connectors::smsc::verify(&state.sms.smsc_secret, header, body, crate::auth::unix_now()) {
        return Err(ApiError::BadSignature);
    }
    if !super::json::is_json(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    super::json::parse(body)
}

#[utoipa::path(
    post, path = "/v1/sms/delivery-reports", tag = "sms", operation_id = "sms_delivery_report",
    description = "Called by the SMSC, signed with `Bawaba-Signature` (not a bearer token).",
    request_body(content = smsc_wire::DeliveryReport, description = "The SMSC's delivery report (schemas/upstream/smsc.schema.json)."),
    responses((status = 200, description = "Applied", body = DeliveryApplied))
)]
pub async fn delivery_report(
    state: web::Data<AppState>,
    note: AuditNote,
    req: HttpRequest,
    body: Body<CALLBACK_LIMIT>,
) -> Result<HttpResponse, ApiError> {
    note.update(|n| n.client_id = Some("smsc".into()));
    let report: smsc_wire::DeliveryReport = signed_body(&state, &req, &body.0)?;
    report.check()?;
    let delivered = report.status == connectors::smsc::DELIVERED;
    let store = state.audit.store();
    let message = match uuid::Uuid::parse_str(&report.client_ref) {
        Ok(_) => store.sms_message(&report.client_ref).await?,
        Err(_) => None,
    };
    let message = message.ok_or(ApiError::NotFound)?;
    note.update(|n| n.subject = Some(message.to_e164.clone()));
    let error = report.error.as_deref().map(|e| e.chars().take(200).collect::<String>());
    let status = if delivered { "delivered" } else { "undelivered" };
    let applied = state
        .sms
        .acceptor
        .delivery(SmsDelivery { id: message.id.clone(), delivered, at: report.at.clone(), error })
        .await?;
    // Counted once per message and status, not per report the SMSC repeats.
    if applied == crate::store::DeliveryEffect::Moved {
        state.metrics.sms_final.with_label_values(&[status]).inc();
    }
    Ok(HttpResponse::Ok().json(DeliveryApplied { id: message.id, status }))
}

#[utoipa::path(
    post, path = "/v1/sms/inbound", tag = "sms", operation_id = "sms_inbound",
    description = "Called by the SMSC, signed with `Bawaba-Signature` (not a bearer token).",
    request_body(content = smsc_wire::InboundMessage, description = "A citizen's message to 5960 (schemas/upstream/smsc.schema.json)."),
    responses((status = 200, description = "Handled; a reply is queued", body = InboundHandled))
)]
pub async fn inbound(
    state: web::Data<AppState>,
    note: AuditNote,
    req: HttpRequest,
    body: Body<CALLBACK_LIMIT>,
) -> Result<HttpResponse, ApiError> {
    note.update(|n| n.client_id = Some("smsc".into()));
    let message: smsc_wire::InboundMessage = signed_body(&state, &req, &body.0)?;
    message.check()?;
    let phone = PhoneNumber::parse(&message.from).map_err(|e| ApiError::InvalidPhone { reason: e.reason() })?;
    note.update(|n| n.subject = Some(phone.as_str().to_owned()));
    let store = state.audit.store();
    let recent = store.sms_recent_notifications(phone.as_str(), 200).await?;
    // Replies go in the language of the number's last notification.
    let lang = recent.first().and_then(|m| Lang::parse(&m.lang)).unwrap_or(Lang::Ar);
    let replies = &state.sms.templates.replies;
    let now = now_rfc3339();
    let (intent, reply) = match crate::sms::inbound::parse(&message.text) {
        Intent::Stop => {
            store.sms_set_opt_out(phone.as_str(), true, &now).await?;
            crate::citizens::notify::stop(&state, &phone).await?;
            ("stop", replies.opted_out.get(lang).to_owned())
        }
        Intent::History { lang, national_id } => {
            ("history", crate::citizens::history::answer(&state, &phone, lang, national_id.as_ref()).await?)
        }
        Intent::Notify { lang, national_id } => {
            ("notify", crate::citizens::notify::answer(&state, &phone, lang, national_id.as_ref()).await?)
        }
        Intent::Start => {
            store.sms_set_opt_out(phone.as_str(), false, &now).await?;
            ("start", replies.opted_in.get(lang).to_owned())
        }
        Intent::CaseRef(key) => {
            // Only a number notified about this request learns its status.
            let known = recent.iter().find(|m| m.case_ref.as_deref().map(case_key).as_deref() == Some(key.as_str()));
            match known {
                Some(m) => {
                    let lang = Lang::parse(&m.lang).unwrap_or(lang);
                    let case_ref = m.case_ref.clone().unwrap_or_default();
                    (
                        "status",
                        state.sms.templates.status_reply(
                            lang,
                            &case_ref,
                            m.status_key.as_deref().unwrap_or("received"),
                        ),
                    )
                }
                None => ("unknown", replies.unknown.get(lang).to_owned()),
            }
        }
        Intent::Unknown => ("unknown", replies.unknown.get(lang).to_owned()),
    };
    let reply_row = queued_message(QueuedMessage {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: "bawaba".into(),
        kind: "reply",
        to: &phone,
        case_ref: None,
        lang,
        status_key: None,
        text: reply,
    });
    let reply_id = reply_row.id.clone();
    state.sms.acceptor.accept(None, reply_row).await?;
    note.update(|n| n.outcome = Some("ok".into()));
    Ok(HttpResponse::Ok().json(InboundHandled { intent, reply_id }))
}
