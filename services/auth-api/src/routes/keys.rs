use std::sync::Arc;

use poem::web::Data;

use poem_openapi::{ApiResponse, OpenApi, payload::Json};
use shared::jwks::JwksDocument;

use super::Tag;
use crate::state::AuthState;

pub struct KeysApi;

#[derive(Debug, ApiResponse)]
pub enum Jwks {
    /// The public keys that verify access tokens, by `kid`.
    #[oai(status = 200)]
    Ok(Json<JwksDocument>, #[oai(header = "Cache-Control")] String),
}

#[OpenApi(tag = "Tag::Keys")]
impl KeysApi {
    /// The JSON Web Key Set of the access-token signing keys.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: Data<&Arc<AuthState>>) -> Jwks {
        Jwks::Ok(Json(state.keys.document().clone()), "public, max-age=300".into())
    }
}
