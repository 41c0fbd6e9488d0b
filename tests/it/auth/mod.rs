//! Who is calling: JWTs (HS256 and RS256) and API keys, through the real server.

mod credentials;

use serde_json::{json, Value};
use switchboard::auth::jwt::Claims;
use switchboard::auth::{JwtKeys, Role};

use crate::common::{error_code, TestApp, VIEWER_QUERY};

#[tokio::test]
async fn health_is_public_but_protected_fields_need_a_token() {
    let app = TestApp::spawn().await;
    let health = app
        .gql(None, "{ health { status sandbox database } }", json!({}))
        .await;
    assert_eq!(health["data"]["health"]["status"], "HEALTHY");
    assert_eq!(health["data"]["health"]["database"], "up");

    let anonymous = app.gql(None, VIEWER_QUERY, json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    let token = app.token("ann", "acme", Role::Manager);
    let signed_in = app.gql(Some(&token), VIEWER_QUERY, json!({})).await;
    assert_eq!(
        signed_in["data"]["viewer"],
        json!({"userId": "ann", "organisationId": "acme", "role": "MANAGER", "viaApiKey": false})
    );
}

#[tokio::test]
async fn expired_garbage_and_wrongly_signed_tokens_are_refused_with_a_reason() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    let expired = app
        .services
        .jwt
        .sign(&Claims {
            sub: "ann".into(),
            org: None,
            role: Some("admin".into()),
            exp: now - 600,
            iat: now - 1200,
        })
        .unwrap();
    let foreign = JwtKeys::hs256(b"some-other-installation-secret!!")
        .issue("ann", None, Role::Admin, 600)
        .unwrap();
    for (token, reason) in [
        (expired.as_str(), "token expired"),
        ("not.a.jwt", "token is malformed"),
        (foreign.as_str(), "token signature is not valid"),
    ] {
        let response = app.gql(Some(token), VIEWER_QUERY, json!({})).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{token}");
        assert_eq!(response["errors"][0]["message"], reason);
    }
}

#[tokio::test]
async fn an_org_claim_absent_means_the_users_own_organisation() {
    let app = TestApp::spawn().await;
    let token = app
        .services
        .jwt
        .issue("solo", None, Role::Admin, 600)
        .unwrap();
    let response = app.gql(Some(&token), VIEWER_QUERY, json!({})).await;
    assert_eq!(response["data"]["viewer"]["organisationId"], "solo");
}

const CREATE_KEY: &str = "mutation($name: String!) { createApiKey(name: $name, role: MANAGER) { secret apiKey { id prefix role } } }";

#[tokio::test]
async fn api_keys_are_shown_once_work_as_bearer_or_header_and_can_be_revoked() {
    let app = TestApp::spawn().await;
    let admin = app.admin("acme");
    let created = app
        .gql(Some(&admin), CREATE_KEY, json!({"name": "crm sync"}))
        .await;
    let secret = created["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let id = created["data"]["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("sb_"));
    assert!(secret.starts_with(
        created["data"]["createApiKey"]["apiKey"]["prefix"]
            .as_str()
            .unwrap()
    ));

    let as_bearer = app.gql(Some(&secret), VIEWER_QUERY, json!({})).await;
    assert_eq!(as_bearer["data"]["viewer"]["organisationId"], "acme");
    assert_eq!(as_bearer["data"]["viewer"]["viaApiKey"], true);
    let as_header: Value = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("x-api-key", &secret)
        .json(&json!({"query": VIEWER_QUERY}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(as_header["data"]["viewer"]["role"], "MANAGER");

    // The list never carries the secret.
    let listed = app
        .gql(Some(&admin), "{ apiKeys { id name prefix } }", json!({}))
        .await;
    assert_eq!(listed["data"]["apiKeys"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret));

    let revoked = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
            json!({"id": id}),
        )
        .await;
    assert!(revoked["data"]["revokeApiKey"]["revokedAt"].is_string());
    let refused = app.gql(Some(&secret), VIEWER_QUERY, json!({})).await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    assert_eq!(refused["errors"][0]["message"], "API key revoked");
}

#[tokio::test]
async fn another_organisation_cannot_see_or_revoke_a_key_and_non_admins_cannot_make_one() {
    let app = TestApp::spawn().await;
    let created = app
        .gql(
            Some(&app.admin("acme")),
            CREATE_KEY,
            json!({"name": "acme key"}),
        )
        .await;
    let id = created["data"]["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let other = app.admin("globex");
    let listed = app.gql(Some(&other), "{ apiKeys { id } }", json!({})).await;
    assert_eq!(listed["data"]["apiKeys"], json!([]));
    let revoke = app
        .gql(
            Some(&other),
            "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&revoke), "NOT_FOUND");

    let manager = app.token("mo", "acme", Role::Manager);
    let denied = app
        .gql(Some(&manager), CREATE_KEY, json!({"name": "sneaky"}))
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    let viewer = app.token("vi", "acme", Role::Viewer);
    let denied = app
        .gql(Some(&viewer), "{ apiKeys { id } }", json!({}))
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
}

#[tokio::test]
async fn rs256_tokens_are_checked_with_the_configured_public_key() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let public_key = format!("{fixtures}/rs256-public.pem");
    let app = TestApp::builder()
        .config(move |c| {
            c.auth.jwt_secret = None;
            c.auth.jwt_public_key = Some(public_key);
        })
        .spawn()
        .await;
    let private = std::fs::read(format!("{fixtures}/rs256-private.pem")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: "ivy".into(),
        org: Some("initech".into()),
        role: Some("viewer".into()),
        exp: now + 600,
        iat: now,
    };
    let sign = |claims: &Claims| {
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_rsa_pem(&private).unwrap(),
        )
        .unwrap()
    };
    let signed = app.gql(Some(&sign(&claims)), VIEWER_QUERY, json!({})).await;
    assert_eq!(signed["data"]["viewer"]["organisationId"], "initech");

    // An HS256 token made with the public key as its secret is the classic confusion attack.
    let forged = JwtKeys::hs256(&std::fs::read(format!("{fixtures}/rs256-public.pem")).unwrap())
        .issue("ivy", Some("initech"), Role::Admin, 600)
        .unwrap();
    let refused = app.gql(Some(&forged), VIEWER_QUERY, json!({})).await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
}
