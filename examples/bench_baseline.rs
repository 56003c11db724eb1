//! The baseline of the benchmarks: a bare actix-web JSON endpoint, with the
//! same worker count as the gateway under test. Not part of the product.
//!
//! `cargo run --release --example bench_baseline -- 127.0.0.1:18181 2`

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18181".into());
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    HttpServer::new(|| {
        App::new().route(
            "/hello",
            web::post().to(|body: web::Bytes| async move {
                HttpResponse::Ok().json(serde_json::json!({"outcome": "match", "bytes": body.len()}))
            }),
        )
    })
    .workers(workers)
    .bind(addr)?
    .run()
    .await
}
