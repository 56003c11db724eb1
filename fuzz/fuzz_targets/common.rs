//! The first byte picks the HTTP status the answer came with; the rest is the body.
use reqwest::StatusCode;

const STATUSES: [u16; 8] = [200, 201, 302, 400, 404, 429, 500, 503];

pub fn split(data: &[u8]) -> (StatusCode, &[u8]) {
    match data.split_first() {
        Some((first, body)) => (StatusCode::from_u16(STATUSES[*first as usize % STATUSES.len()]).unwrap(), body),
        None => (StatusCode::OK, data),
    }
}
