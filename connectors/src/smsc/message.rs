//! What the gateway submits to the SMSC, what the SMSC acknowledges, and what
//! the SMSC posts back to the gateway.

use serde::{Deserialize, Serialize};

/// How a message's text is encoded on the air (`gsm7` or `ucs2` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsEncoding {
    /// The GSM 03.38 7-bit default alphabet (with its extension table).
    Gsm7,
    /// UTF-16 (every Arabic text).
    Ucs2,
}

impl SmsEncoding {
    pub const ALL: [SmsEncoding; 2] = [SmsEncoding::Gsm7, SmsEncoding::Ucs2];

    pub fn as_str(self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "gsm7",
            SmsEncoding::Ucs2 => "ucs2",
        }
    }

    /// Reads the wire form.
    pub fn from_wire(value: &str) -> Option<Self> {
        SmsEncoding::ALL.into_iter().find(|e| e.as_str() == value)
    }
}

/// One message to send. `Debug` never prints the recipient or the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Submission {
    /// The gateway's message id (a UUID). The SMSC is idempotent on it: the
    /// same reference submitted again is not sent again.
    pub client_ref: String,
    /// The sender, the short code (`"5960"`).
    pub from: String,
    /// The recipient in E.164 (`+201001234567`).
    pub to: String,
    /// The text as it is to be read on the phone.
    pub text: String,
    pub encoding: SmsEncoding,
    /// How many concatenated parts the text takes (at least 1).
    pub segments: u32,
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission")
            .field("client_ref", &self.client_ref)
            .field("from", &self.from)
            .field("to", &"<redacted>")
            .field("text", &"<redacted>")
            .field("encoding", &self.encoding)
            .field("segments", &self.segments)
            .finish()
    }
}

/// The SMSC's acknowledgement of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitAck {
    /// The SMSC's id of the message; delivery reports carry it.
    pub smsc_id: String,
    /// `true` when this `client_ref` had been submitted before: the first
    /// answer again, and the message was not sent a second time.
    pub duplicate: bool,
}

/// The wire value of [`DeliveryReport::status`] for a message that reached the handset.
pub const DELIVERED: &str = "delivered";
/// The wire value of [`DeliveryReport::status`] for a message the network gave up on.
pub const UNDELIVERED: &str = "undelivered";

/// What the SMSC posts to `{gateway}/v1/sms/delivery-reports`, signed with
/// `Bawaba-Signature`. `Debug` prints no personal data (there is none in it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryReport {
    /// The id the SMSC acknowledged the submission with.
    pub smsc_id: String,
    /// The gateway's message id the submission carried.
    pub client_ref: String,
    /// `"delivered"` or `"undelivered"`.
    pub status: String,
    /// When the network reported the outcome (RFC 3339, UTC).
    pub at: String,
    /// Why the message was not delivered (an upper-case code such as
    /// `ABSENT_SUBSCRIBER`); absent when it was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the SMSC posts to `{gateway}/v1/sms/inbound` when a citizen texts
/// the short code, signed with `Bawaba-Signature`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct InboundMessage {
    /// The SMSC's id of the inbound message.
    pub smsc_id: String,
    /// The sender in E.164.
    pub from: String,
    /// The short code it was sent to (`"5960"`).
    pub to: String,
    pub text: String,
    /// When the SMSC received it (RFC 3339, UTC).
    pub received_at: String,
}

impl std::fmt::Debug for InboundMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundMessage")
            .field("smsc_id", &self.smsc_id)
            .field("from", &"<redacted>")
            .field("to", &self.to)
            .field("text", &"<redacted>")
            .field("received_at", &self.received_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_serialise_as_their_wire_strings() {
        for encoding in SmsEncoding::ALL {
            assert_eq!(serde_json::to_string(&encoding).expect("serialises"), format!("\"{}\"", encoding.as_str()));
            assert_eq!(SmsEncoding::from_wire(encoding.as_str()), Some(encoding));
        }
        assert_eq!(SmsEncoding::from_wire("UCS2"), None);
    }

    #[test]
    fn a_submission_never_prints_the_recipient_or_the_text() {
        let submission = Submission {
            client_ref: "0190c1a2-7b3e-7c44-9a55-0d1e2f3a4b5c".into(),
            from: "5960".into(),
            to: "+201001234567".into(),
            text: "طلبك رقم 123 قيد المراجعة".into(),
            encoding: SmsEncoding::Ucs2,
            segments: 1,
        };
        let printed = format!("{submission:?}");
        assert!(!printed.contains("201001234567") && !printed.contains("قيد"), "{printed}");
        assert!(printed.contains("0190c1a2"));
    }

    #[test]
    fn an_inbound_message_never_prints_the_sender_or_the_text() {
        let inbound = InboundMessage {
            smsc_id: "SM-1".into(),
            from: "+201001234567".into(),
            to: "5960".into(),
            text: "STOP".into(),
            received_at: "2026-01-05T08:00:00Z".into(),
        };
        let printed = format!("{inbound:?}");
        assert!(!printed.contains("201001234567") && !printed.contains("STOP"), "{printed}");
    }

    #[test]
    fn a_delivered_report_has_no_error_field_on_the_wire() {
        let report = DeliveryReport {
            smsc_id: "SM-1".into(),
            client_ref: "0190c1a2-7b3e-7c44-9a55-0d1e2f3a4b5c".into(),
            status: DELIVERED.into(),
            at: "2026-01-05T08:00:00Z".into(),
            error: None,
        };
        let wire = serde_json::to_value(&report).expect("serialises");
        assert!(wire.get("error").is_none(), "{wire}");
        assert_eq!(serde_json::from_value::<DeliveryReport>(wire).expect("reads back"), report);
        let with_null = serde_json::json!({"smsc_id": "SM-1", "client_ref": "r", "status": "delivered",
            "at": "2026-01-05T08:00:00Z", "error": null});
        assert_eq!(serde_json::from_value::<DeliveryReport>(with_null).expect("reads").error, None);
    }
}
