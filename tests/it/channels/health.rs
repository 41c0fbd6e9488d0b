//! The seed's `/api/health` and GraphQL's `health`: counts of agents and integrations, and
//! DEGRADED while an integration meant to be up is not.

use serde_json::{json, Value};

use super::*;
use crate::agents::create_agent;

async fn seed_health(app: &TestApp) -> (u16, Value) {
    let answer = reqwest::get(app.url("/api/health")).await.unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

#[tokio::test]
async fn health_counts_agents_and_integrations_and_a_failed_one_degrades_it() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, false).await;
    let (status, empty) = seed_health(&app).await;
    assert_eq!(status, 200);
    assert_eq!(
        empty,
        json!({"status": 200, "results": {"status": "healthy",
            "whatsapp": {"total_devices": 0, "connected_devices": 0},
            "telegram": {"total_bots": 0, "running_bots": 0},
            "active_agents": 0, "total_agents": 0}})
    );

    let agent = create_agent(&app, "acme", json!({})).await;
    create_agent(&app, "globex", json!({"isActive": false})).await;
    let first = connected_id(&connect(&app, "acme", whatsapp_input(&agent, "1065")).await);
    connected_id(&connect(&app, "acme", whatsapp_input(&agent, "2077")).await);
    let bot = connected_id(&connect(&app, "acme", telegram_input(&agent)).await);
    let (_, all_up) = seed_health(&app).await;
    assert_eq!(
        all_up["results"],
        json!({"status": "healthy",
            "whatsapp": {"total_devices": 2, "connected_devices": 2},
            "telegram": {"total_bots": 1, "running_bots": 1},
            "active_agents": 1, "total_agents": 2})
    );

    // Switched off by a person: not meant to be up, so nothing is down.
    app.gql(Some(&app.admin("acme")), DISCONNECT, json!({"id": first}))
        .await;
    let (_, one_off) = seed_health(&app).await;
    assert_eq!(one_off["results"]["status"], "healthy");
    assert_eq!(
        one_off["results"]["whatsapp"],
        json!({"total_devices": 1, "connected_devices": 1})
    );

    // Refused by its channel: meant to be up, and down.
    let integration = switchboard::channels::load(&app.services.db, &bot)
        .await
        .unwrap();
    switchboard::channels::fail(&app.services, &integration, "revoked".into())
        .await
        .unwrap();
    let (status, degraded) = seed_health(&app).await;
    assert_eq!(status, 200, "degraded still serves");
    assert_eq!(degraded["results"]["status"], "degraded");
    assert_eq!(
        degraded["results"]["telegram"],
        json!({"total_bots": 1, "running_bots": 0})
    );
    let graphql = app
        .gql(
            None,
            "{ health { status activeAgents totalAgents integrations { kind total connected } } }",
            json!({}),
        )
        .await;
    let health = &graphql["data"]["health"];
    assert_eq!(health["status"], "DEGRADED");
    assert_eq!(health["activeAgents"], 1);
    assert_eq!(health["totalAgents"], 2);
    assert_eq!(
        health["integrations"],
        json!([
            {"kind": "TELEGRAM", "total": 1, "connected": 0},
            {"kind": "WHATSAPP_CLOUD", "total": 1, "connected": 1},
            {"kind": "INSTAGRAM", "total": 0, "connected": 0},
            {"kind": "SANDBOX", "total": 0, "connected": 0},
            {"kind": "WHATSAPP_DEVICE", "total": 0, "connected": 0},
        ])
    );
}
