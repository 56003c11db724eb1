//! `GET /docs/`: the API reference, Swagger UI over `/openapi.json`, from
//! assets built into the binary (nothing is loaded from elsewhere).

use actix_web::{guard, web};
use utoipa_swagger_ui::{Config, SwaggerUi};

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Swagger UI serves GET only; any other method is 405 with `Allow`, as on every path.
    let other_method = guard::Not(guard::Any(guard::Get()).or(guard::Head()));
    cfg.service(web::resource(["/docs", "/docs/{_:.*}"]).guard(other_method).to(|| super::method_not_allowed("GET")));
    cfg.service(SwaggerUi::new("/docs/{_:.*}").config(Config::new(["/openapi.json"])));
}
