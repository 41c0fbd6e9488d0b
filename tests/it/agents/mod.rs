//! Agents: created, changed and deleted by admins of their organisation, with settings
//! validated as a whole and LLM keys that never come back out.

use serde_json::{json, Value};
use switchboard::auth::Role;

use crate::common::{error_code, TestApp};

pub const CREATE: &str = "mutation($input: CreateAgentInput!) { createAgent(input: $input) {
  id name model hasApiKey baseUrl systemPrompt isActive
  settings { workingHours { enabled timezone awayMessage schedule { monday { start end } } }
             translation { enabled sourceLanguage } sentiment { enabled negativeThreshold }
             followUp { enabled delayMinutes maxFollowUps messages } }
} }";

const SETTINGS: &str = "mutation($id: ID!, $settings: AgentSettingsChange!) {
  updateAgentSettings(id: $id, settings: $settings) {
    settings { workingHours { enabled timezone } sentiment { enabled negativeThreshold escalateOnVeryNegative } }
  }
}";

const AGENT: &str = "query($id: ID!) { agent(id: $id) { id name hasApiKey deletedAt
  settings { sentiment { negativeThreshold } } } }";

const SECRET_KEY: &str = "sk-test-do-not-leak-0123456789";

/// An agent of `org` made by its admin, answering its id.
pub async fn create_agent(app: &TestApp, org: &str, input: Value) -> String {
    let mut full = json!({"name": "Support", "systemPrompt": "You are a helpful support agent."});
    full.as_object_mut()
        .unwrap()
        .extend(input.as_object().cloned().unwrap_or_default());
    let answer = app
        .gql(Some(&app.admin(org)), CREATE, json!({"input": full}))
        .await;
    answer["data"]["createAgent"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("agent not created: {answer}"))
        .to_string()
}

#[tokio::test]
async fn an_agent_is_created_with_defaults_and_its_key_is_write_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin("acme");
    let input = json!({"name": "Support Agent 1", "model": "gpt-4o-mini", "apiKey": SECRET_KEY,
        "systemPrompt": "You are a helpful customer support agent."});
    let answer = app.gql(Some(&admin), CREATE, json!({"input": input})).await;
    let agent = &answer["data"]["createAgent"];
    assert_eq!(agent["name"], "Support Agent 1");
    assert_eq!(agent["hasApiKey"], true);
    assert_eq!(agent["isActive"], true);
    assert_eq!(agent["settings"]["workingHours"]["timezone"], "UTC");
    assert_eq!(agent["settings"]["sentiment"]["negativeThreshold"], 0.5);
    assert!(!answer.to_string().contains(SECRET_KEY));

    let introspection = app
        .gql(
            Some(&admin),
            "{ __type(name: \"Agent\") { fields { name } } }",
            json!({}),
        )
        .await;
    assert!(
        !introspection.to_string().contains("\"apiKey\""),
        "the key has no field to be read from"
    );
    let id = agent["id"].as_str().unwrap();
    let stored = app
        .sql_text("SELECT api_key FROM agents WHERE id = $1", id)
        .await;
    assert!(stored.starts_with("v1:"), "sealed at rest: {stored}");
    assert!(!stored.contains(SECRET_KEY));
}

#[tokio::test]
async fn the_seeds_rest_creates_an_agent_and_changes_one_settings_section_at_a_time() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let admin = app.admin("acme");
    let created: Value = client
        .post(app.url("/api/agents"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "Support Agent 1", "model": "gpt-4o-mini", "api_key": SECRET_KEY,
            "system_prompt": "You are a helpful customer support agent.", "is_active": true}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["has_api_key"], true);
    assert!(!created.to_string().contains(SECRET_KEY));
    let id = created["id"].as_str().unwrap();
    let working_hours = json!({"working_hours": {"enabled": true, "timezone": "UTC",
        "schedule": {"monday": {"start": "09:00", "end": "18:00"}},
        "away_message": "We are currently offline."}});
    let settings_url = app.url(&format!("/api/agents/{id}/settings"));
    let changed = client
        .put(&settings_url)
        .bearer_auth(&admin)
        .json(&working_hours)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let sentiment = json!({"sentiment": {"enabled": true, "alert_on_negative": true,
        "negative_threshold": 0.5, "escalate_on_very_negative": true}});
    let changed: Value = client
        .put(&settings_url)
        .bearer_auth(&admin)
        .json(&sentiment)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        changed["settings"]["working_hours"]["enabled"], true,
        "kept"
    );
    assert_eq!(
        changed["settings"]["sentiment"]["escalate_on_very_negative"],
        true
    );

    let bad = client
        .put(&settings_url)
        .bearer_auth(&admin)
        .json(&json!({"working_hours": {"enabled": true, "timezone": "Mars/Olympus"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin("acme");
    let id = create_agent(&app, "acme", json!({})).await;
    let bad = [
        json!({"workingHours": {"enabled": true, "timezone": "Nowhere/City",
            "schedule": {}, "awayMessage": "Closed"}}),
        json!({"workingHours": {"enabled": true, "timezone": "UTC",
            "schedule": {"friday": {"start": "18:00", "end": "09:00"}}, "awayMessage": "Closed"}}),
        json!({"workingHours": {"enabled": true, "timezone": "UTC", "schedule": {},
            "awayMessage": ""}}),
        json!({"sentiment": {"enabled": true, "alertOnNegative": true,
            "negativeThreshold": 1.2, "escalateOnVeryNegative": false}}),
        json!({"translation": {"enabled": true, "sourceLanguage": "klingon",
            "autoDetect": true, "translateIncoming": true, "translateOutgoing": true}}),
    ];
    for settings in bad {
        let answer = app
            .gql(
                Some(&admin),
                SETTINGS,
                json!({"id": id, "settings": settings}),
            )
            .await;
        assert_eq!(
            error_code(&answer),
            "BAD_USER_INPUT",
            "{settings}: {answer}"
        );
    }
    let agent = app.gql(Some(&admin), AGENT, json!({"id": id})).await;
    assert_eq!(
        agent["data"]["agent"]["settings"]["sentiment"]["negativeThreshold"],
        0.5
    );
    let good = json!({"sentiment": {"enabled": true, "alertOnNegative": true,
        "negativeThreshold": 0.3, "escalateOnVeryNegative": true}});
    let answer = app
        .gql(Some(&admin), SETTINGS, json!({"id": id, "settings": good}))
        .await;
    let sentiment = &answer["data"]["updateAgentSettings"]["settings"]["sentiment"];
    assert_eq!(sentiment["negativeThreshold"], 0.3);
}

#[tokio::test]
async fn another_organisation_cannot_see_or_change_an_agent_and_only_admins_change_them() {
    let app = TestApp::spawn().await;
    let id = create_agent(&app, "acme", json!({})).await;
    let outsider = app.admin("globex");
    let seen = app.gql(Some(&outsider), AGENT, json!({"id": id})).await;
    assert_eq!(error_code(&seen), "NOT_FOUND");
    let listed = app
        .gql(Some(&outsider), "{ agents { id } }", json!({}))
        .await;
    assert_eq!(listed["data"]["agents"], json!([]));
    let renamed = app
        .gql(
            Some(&outsider),
            "mutation($id: ID!) { updateAgent(id: $id, input: {name: \"Mine\"}) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&renamed), "NOT_FOUND");

    let manager = app.token("mia", "acme", Role::Manager);
    let viewer = app.token("vic", "acme", Role::Viewer);
    for (who, token) in [("manager", &manager), ("viewer", &viewer)] {
        let input = json!({"name": "X", "systemPrompt": "Y"});
        let made = app.gql(Some(token), CREATE, json!({"input": input})).await;
        assert_eq!(error_code(&made), "FORBIDDEN", "{who}");
        let deleted = app
            .gql(
                Some(token),
                "mutation($id: ID!) { deleteAgent(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(error_code(&deleted), "FORBIDDEN", "{who}");
    }
    let read = app.gql(Some(&viewer), AGENT, json!({"id": id})).await;
    assert_eq!(read["data"]["agent"]["id"], id.as_str(), "viewers read");
    let rest = reqwest::Client::new()
        .put(app.url(&format!("/api/agents/{id}/settings")))
        .bearer_auth(&outsider)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 404);
}

#[tokio::test]
async fn a_deleted_agent_leaves_the_list_but_stays_readable() {
    let app = TestApp::spawn().await;
    let admin = app.admin("acme");
    let id = create_agent(&app, "acme", json!({"apiKey": SECRET_KEY})).await;
    let deleted = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { deleteAgent(id: $id) { isActive deletedAt } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(deleted["data"]["deleteAgent"]["isActive"], false);
    assert!(deleted["data"]["deleteAgent"]["deletedAt"].is_string());
    let listed = app.gql(Some(&admin), "{ agents { id } }", json!({})).await;
    assert_eq!(listed["data"]["agents"], json!([]));
    let read = app.gql(Some(&admin), AGENT, json!({"id": id})).await;
    assert_eq!(read["data"]["agent"]["hasApiKey"], true);
    let again = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { updateAgent(id: $id, input: {isActive: true}) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&again), "CONFLICT");
}
