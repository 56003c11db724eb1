//! Domain types: everything that crosses the API edge is parsed into one of
//! these before any work is done with it.

pub mod arabic_name;
pub mod context;
pub mod digits;
pub mod national_id;
pub mod phone;
pub mod registry_keys;
pub mod sms_encoding;
