//! SMS status updates on short code 5960: templates, the durable outbox and
//! its dispatcher, and what citizens' texts mean.

pub mod acceptor;
pub mod dispatcher;
pub mod inbound;
pub mod templates;

/// The states of an outbox message, from acceptance to the SMSC's report.
pub const MESSAGE_STATUSES: [&str; 5] = ["queued", "sent", "delivered", "undelivered", "failed"];

/// How a message's text is encoded for the SMSC.
pub const ENCODINGS: [&str; 2] = ["gsm7", "ucs2"];

/// The longest `Idempotency-Key` of `POST /v1/sms`, in bytes.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

pub use acceptor::SmsAcceptor;
pub use dispatcher::{DispatchSettings, Dispatcher};
pub use templates::{Lang, Templates};
