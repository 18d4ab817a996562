use std::sync::Arc;

use auth_api::tokens::{SigningKey, TokenIssuer};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use shared::{
    config::TokenSettings,
    jwks::JwksClient,
    tokens::{KeySource, TokenError, TokenVerifier},
};

use crate::helpers::{Backend, TestApp, spawn_app};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Signs `claims` with the app's own key, the way auth-api would, so that only the claim
/// under test is wrong.
fn sign(app: &TestApp, claims: &Value) -> String {
    let key = SigningKey::from_pem(&app.signing_key).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid().to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(app.signing_key.as_bytes()).unwrap()).unwrap()
}

fn claims(user_id: &Value) -> Value {
    json!({"sub": user_id, "preferred_username": "x", "iss": "chat-suite", "aud": "chat-suite",
           "iat": now(), "exp": now() + 300, "jti": uuid::Uuid::new_v4()})
}

async fn assert_refused(app: &TestApp, token: &str, code: &str) {
    let resp = app.get("/me", Some(token)).await;
    assert_eq!(resp.status, 401, "{}", resp.body);
    assert_eq!(resp.body["code"], code, "{}", resp.body);
}

async fn me_needs_a_valid_access_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("quinn").await;
    let user_id = &session["user_id"];

    // The harness's own signature is accepted, so each refusal below is for its one flaw.
    assert_eq!(app.get("/me", Some(&sign(&app, &claims(user_id)))).await.status, 200);

    let missing = app.get("/me", None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.body["code"], "missing_token");

    let mut expired = claims(user_id);
    expired["exp"] = json!(now() - 60);
    assert_refused(&app, &sign(&app, &expired), "token_expired").await;

    let mut foreign_audience = claims(user_id);
    foreign_audience["aud"] = json!("another-app");
    assert_refused(&app, &sign(&app, &foreign_audience), "invalid_token").await;

    let mut foreign_issuer = claims(user_id);
    foreign_issuer["iss"] = json!("https://evil.example");
    assert_refused(&app, &sign(&app, &foreign_issuer), "invalid_token").await;

    let mut no_exp = claims(user_id);
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_refused(&app, &sign(&app, &no_exp), "invalid_token").await;

    // alg "none": no signature at all.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(user_id).to_string());
    assert_refused(&app, &format!("{header}.{payload}."), "invalid_token").await;

    // HS256 "signed" with the public key, the classic algorithm confusion.
    let jwks = app.get("/.well-known/jwks.json", None).await.body;
    let public_x = jwks["keys"][0]["x"].as_str().unwrap();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = jwks["keys"][0]["kid"].as_str().map(str::to_owned);
    let confused =
        jsonwebtoken::encode(&hs_header, &claims(user_id), &EncodingKey::from_secret(public_x.as_bytes())).unwrap();
    assert_refused(&app, &confused, "invalid_token").await;

    // A real token with its payload changed.
    let real = session["access_token"].as_str().unwrap();
    let parts: Vec<&str> = real.split('.').collect();
    let mut tampered_claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    tampered_claims["sub"] = json!(uuid::Uuid::new_v4());
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(tampered_claims.to_string()), parts[2]);
    assert_refused(&app, &tampered, "invalid_token").await;

    // Signed by a key auth-api never published.
    let stranger = SigningKey::generate().unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(stranger.kid().to_owned());
    let foreign = jsonwebtoken::encode(
        &header,
        &claims(user_id),
        &EncodingKey::from_ed_pem(stranger.to_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    assert_refused(&app, &foreign, "invalid_token").await;

    assert_refused(&app, "garbage", "invalid_token").await;
}

async fn an_access_token_verifies_from_the_jwks_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("rosa").await;
    let token = session["access_token"].as_str().unwrap();

    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.headers["cache-control"], "public, max-age=300");
    let key = &jwks.body["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"), &json!("sig"))
    );

    // Only the published document and a generic JWT library: what any client could do.
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["chat-suite"]);
    validation.set_issuer(&["chat-suite"]);
    let decoded = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(decoded.claims["sub"], session["user_id"]);
    assert_eq!(decoded.claims["preferred_username"], "rosa");
    assert_eq!(decoded.claims["exp"].as_i64().unwrap() - decoded.claims["iat"].as_i64().unwrap(), 900);
}

async fn the_jwks_client_fetches_caches_and_refuses_unknown_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("sam").await;
    let settings = TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() };
    let client = Arc::new(JwksClient::new(format!("{}/.well-known/jwks.json", app.address)).unwrap());
    let verifier = TokenVerifier::new(KeySource::Remote(client.clone()), &settings);
    assert!(!client.is_loaded());
    let claims = verifier.verify(session["access_token"].as_str().unwrap()).await.unwrap();
    assert_eq!(claims.sub.to_string(), session["user_id"].as_str().unwrap());
    assert!(client.is_loaded());

    let stranger = SigningKey::generate().unwrap();
    let foreign = TokenIssuer::new(stranger, settings.clone(), std::time::Duration::from_secs(60))
        .issue(claims.sub, "sam")
        .unwrap();
    assert!(matches!(verifier.verify(&foreign).await, Err(TokenError::UnknownKey)));

    let unreachable = TokenVerifier::new(
        KeySource::Remote(Arc::new(JwksClient::new("http://127.0.0.1:9/jwks.json".into()).unwrap())),
        &settings,
    );
    assert!(matches!(
        unreachable.verify(session["access_token"].as_str().unwrap()).await,
        Err(TokenError::KeysUnavailable(_))
    ));
}

/// A rotation: the new key signs, the retired one stays published, so the tokens it signed
/// keep working until they expire.
async fn tokens_of_a_retired_key_verify_while_it_is_published(backend: Backend) {
    use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
    let retired = SigningKey::generate().unwrap();
    let retired_public = ed25519_dalek::SigningKey::from_pkcs8_pem(retired.to_pem())
        .unwrap()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let app = crate::helpers::spawn_app_with(backend, &[&format!("--jwt-retired-public-keys={retired_public}")]).await;
    let session = app.register("xavier").await;
    let current_kid = jsonwebtoken::decode_header(session["access_token"].as_str().unwrap()).unwrap().kid.unwrap();
    assert_ne!(current_kid, retired.kid(), "the new key signs");

    let jwks = app.get("/.well-known/jwks.json", None).await.body;
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [current_kid.as_str(), retired.kid()]);

    let settings = TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() };
    let user_id = uuid::Uuid::parse_str(session["user_id"].as_str().unwrap()).unwrap();
    let old_token =
        TokenIssuer::new(retired, settings, std::time::Duration::from_secs(60)).issue(user_id, "xavier").unwrap();
    let me = app.get("/me", Some(&old_token)).await;
    assert_eq!((me.status, &me.body["username"]), (200, &json!("xavier")));
}

testkit::on_both_backends!(
    me_needs_a_valid_access_token,
    an_access_token_verifies_from_the_jwks_alone,
    the_jwks_client_fetches_caches_and_refuses_unknown_keys,
    tokens_of_a_retired_key_verify_while_it_is_published,
);
