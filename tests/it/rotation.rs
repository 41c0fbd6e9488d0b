//! `switchboard rotate-secrets`: values sealed under the previous key are sealed again under
//! the current one, and still open to the same secrets.

use serde_json::json;
use switchboard::rotation::reseal_all;
use switchboard::secrets::{place, SecretBox};

use crate::agents::create_agent;
use crate::common::TestApp;

#[tokio::test]
async fn rotation_reseals_every_value_under_the_new_key_once() {
    let app = TestApp::spawn().await;
    let agent = create_agent(&app, "acme", json!({"apiKey": "sk-rotate-me"})).await;
    let before = app
        .sql_text("SELECT api_key FROM agents WHERE id = $1", &agent)
        .await;
    // The tests' key (32 bytes of 1) becomes the previous one.
    let (old, new) = ([1u8; 32], [2u8; 32]);
    let rotating = SecretBox::from_keys(&new, Some(&old));
    let report = reseal_all(&app.services.db, &rotating).await.unwrap();
    let agents = report.iter().find(|r| r.table == "agents").unwrap();
    assert_eq!((agents.checked, agents.resealed), (1, 1));

    let after = app
        .sql_text("SELECT api_key FROM agents WHERE id = $1", &agent)
        .await;
    assert_ne!(after, before);
    assert!(after.contains(rotating.key_id()), "{after}");
    let only_new = SecretBox::from_keys(&new, None);
    let opened = only_new
        .open(&after, &place("agents", "api_key", &agent))
        .unwrap();
    assert_eq!(opened.expose(), "sk-rotate-me");

    let again = reseal_all(&app.services.db, &rotating).await.unwrap();
    assert!(again.iter().all(|r| r.resealed == 0), "{again:?}");
}
