//! SMS status updates on short code 5960: templates, the durable outbox and
//! its dispatcher, and what citizens' texts mean.

pub mod acceptor;
pub mod dispatcher;
pub mod inbound;
pub mod templates;

pub use acceptor::SmsAcceptor;
pub use dispatcher::{DispatchSettings, Dispatcher};
pub use templates::{Lang, Templates};
