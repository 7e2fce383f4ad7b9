//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`. Paths come from
//! the handlers' `#[utoipa::path]` attributes as they are registered in
//! [`crate::routes::api`], so a route cannot exist without its description.

use crate::error::Problem;
use crate::response::Accepted;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Pulse command API", description = "Commands of the Pulse social backend. Every command answers 202 with the id of the resource and the position of its event (a consistency token). Errors are RFC 9457 problem+json with `type` = `urn:pulse:problem:<slug>`."),
    components(schemas(Problem, Accepted)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        let api_key = SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key")));
        components.add_security_scheme("api_key", api_key);
    }
}

/// The document's fixed parts; routes add their paths.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
