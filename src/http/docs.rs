//! `GET /docs/`: the API reference, Swagger UI over `/openapi.json`, from
//! assets built into the binary (nothing is loaded from elsewhere).

use actix_web::web;
use utoipa_swagger_ui::{Config, SwaggerUi};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(SwaggerUi::new("/docs/{_:.*}").config(Config::new(["/openapi.json"])));
}
