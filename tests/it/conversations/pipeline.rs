//! The reply pipeline's rules, each against the fake LLM and Telegram: working hours on an
//! injected clock, translation, sentiment alerts and escalation, manual mode, failures.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use super::fakes::{telegram_update, ChatFakes};
use super::{answered, app_with, connect_telegram, conversations_when, deliver, messages};
use crate::agents::create_agent;
use crate::common::{error_code, TestApp};

const EVENTS: &str = "subscription($agent: ID!) { agentEvents(agentId: $agent) { sequence kind conversationId detail } }";

/// An agent (with `settings`) answering on a fresh Telegram integration.
async fn scene(fakes: &ChatFakes, settings: Value) -> (TestApp, String, String, String) {
    let app = app_with(fakes).await;
    let agent = create_agent(&app, "acme", json!({"settings": settings})).await;
    let (integration, secret) = connect_telegram(&app, fakes, "acme", &agent).await;
    (app, agent, integration, secret)
}

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn nine_to_six() -> Value {
    json!({"workingHours": {"enabled": true, "timezone": "UTC",
        "schedule": {"monday": {"start": "09:00", "end": "18:00"},
                     "tuesday": {"start": "09:00", "end": "18:00"}},
        "awayMessage": "We are currently offline."}})
}

#[tokio::test]
async fn inside_working_hours_the_agent_answers_and_outside_the_away_message_goes_once_a_day() {
    let fakes = ChatFakes::start().await;
    let (app, _agent, integration, secret) = scene(&fakes, nine_to_six()).await;
    // Monday 2026-12-07, 10:00 UTC.
    app.services.clock.set(at("2026-12-07T10:00:00Z"));
    deliver(&app, &integration, &secret, &telegram_update(1, 42, "Hi")).await;
    let list = conversations_when(&app, "acme", None, answered).await;
    assert!(messages(&list[0])[1]["text"]
        .as_str()
        .unwrap()
        .starts_with("Reply 1"));

    // 20:00 the same day: the away message, once however often the customer writes.
    app.services.clock.set(at("2026-12-07T20:00:00Z"));
    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(2, 42, "Anyone there?"),
    )
    .await;
    let list = conversations_when(&app, "acme", None, |l| {
        messages(&l[0]).len() == 4 && answered(l)
    })
    .await;
    assert_eq!(messages(&list[0])[3]["text"], "We are currently offline.");
    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(3, 42, "Hello???"),
    )
    .await;
    let list = conversations_when(&app, "acme", None, |l| messages(&l[0]).len() == 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        messages(&list[0]).len(),
        5,
        "no second away message that day"
    );
    assert_eq!(
        fakes.llm_asked().await.len(),
        1,
        "no LLM call outside working hours"
    );
}

#[tokio::test]
async fn a_spanish_message_is_detected_translated_for_the_agent_and_answered_in_spanish() {
    let fakes = ChatFakes::start().await;
    let translation = json!({"translation": {"enabled": true, "sourceLanguage": "en",
        "autoDetect": true, "translateIncoming": true, "translateOutgoing": true}});
    let (app, _agent, integration, secret) = scene(&fakes, translation).await;
    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(1, 42, "Hola, ¿cómo estás?"),
    )
    .await;
    let list = conversations_when(&app, "acme", None, answered).await;
    let said = messages(&list[0]);
    assert_eq!(said[0]["language"], "es");
    assert_eq!(said[0]["text"], "[en] Hola, ¿cómo estás?");
    assert_eq!(said[0]["originalText"], "Hola, ¿cómo estás?");
    assert_eq!(said[1]["text"], "[es] Reply 1 to: [en] Hola, ¿cómo estás?");
    assert_eq!(
        said[1]["originalText"],
        "Reply 1 to: [en] Hola, ¿cómo estás?"
    );
    let sent = fakes.telegram_sent().await;
    assert_eq!(sent[0]["text"], "[es] Reply 1 to: [en] Hola, ¿cómo estás?");
}

#[tokio::test]
async fn sentiment_raises_an_alert_and_a_very_negative_message_hands_the_conversation_over() {
    let fakes = ChatFakes::start().await;
    let sentiment = json!({"sentiment": {"enabled": true, "alertOnNegative": true,
        "negativeThreshold": 0.5, "escalateOnVeryNegative": true}});
    let (app, agent, integration, secret) = scene(&fakes, sentiment).await;
    let mut ws = app.ws_as_admin().await;
    ws.send(json!({"id": "e", "type": "subscribe", "payload": {"query": EVENTS, "variables": {"agent": agent}}})).await;

    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(1, 42, "Thank you so much! Great service!"),
    )
    .await;
    let list = conversations_when(&app, "acme", None, answered).await;
    let positive = messages(&list[0])[0]["sentiment"].as_f64().unwrap();
    assert!(positive > 0.5, "{positive}");

    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(
            2,
            42,
            "This is the worst experience ever! I want a refund immediately!",
        ),
    )
    .await;
    let negative = ws.next_json().await;
    assert_eq!(
        negative["payload"]["data"]["agentEvents"]["kind"],
        "NEGATIVE_SENTIMENT"
    );
    let escalated = ws.next_json().await;
    assert_eq!(
        escalated["payload"]["data"]["agentEvents"]["kind"],
        "ESCALATED"
    );
    let waiting = ws.next_json().await;
    assert_eq!(
        waiting["payload"]["data"]["agentEvents"]["kind"],
        "AWAITING_MANAGER"
    );
    let list = conversations_when(&app, "acme", None, |l| l[0]["manualMode"] == true).await;
    let said = messages(&list[0]);
    assert!(said[2]["sentiment"].as_f64().unwrap() <= -0.75);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list = conversations_when(&app, "acme", None, |_| true).await;
    assert_eq!(messages(&list[0]).len(), 3, "no AI reply once escalated");
    assert_eq!(fakes.telegram_sent().await.len(), 1);
}

#[tokio::test]
async fn the_llm_down_is_retried_then_the_failure_is_recorded_and_other_conversations_go_on() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let broken = wiremock::MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .mount(&broken)
        .await;
    let failing = create_agent(
        &app,
        "acme",
        json!({"baseUrl": format!("{}/v1", broken.uri())}),
    )
    .await;
    let working = create_agent(&app, "acme", json!({})).await;
    let (bad, bad_secret) = connect_telegram(&app, &fakes, "acme", &failing).await;
    let (good, good_secret) = second_bot(&app, &fakes, &working).await;
    deliver(&app, &bad, &bad_secret, &telegram_update(1, 42, "Hello")).await;
    deliver(&app, &good, &good_secret, &telegram_update(1, 43, "Hello")).await;
    let list = conversations_when(&app, "acme", Some(&failing), |l| {
        l.first().is_some_and(|c| c["failure"].is_string())
    })
    .await;
    assert!(
        list[0]["failure"].as_str().unwrap().contains("503"),
        "{}",
        list[0]["failure"]
    );
    assert_eq!(
        broken.received_requests().await.unwrap().len(),
        3,
        "AGENT_REPLY_MAX_ATTEMPTS"
    );
    conversations_when(&app, "acme", Some(&working), answered).await;
}

/// A second Telegram bot (its own token and id) for `agent`.
async fn second_bot(app: &TestApp, fakes: &ChatFakes, agent: &str) -> (String, String) {
    let token = "654321:BBB-second-bot";
    for (call, result) in [
        (
            "getMe",
            json!({"id": 654321, "is_bot": true, "first_name": "Two", "username": "two_bot"}),
        ),
        ("setWebhook", json!(true)),
    ] {
        Mock::given(method("POST"))
            .and(path(format!("/bot{token}/{call}")))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": result})),
            )
            .mount(&fakes.telegram)
            .await;
    }
    let answer = app
        .gql(
            Some(&app.admin("acme")),
            "mutation($input: ConnectIntegrationInput!) { connectIntegration(input: $input) { id } }",
            json!({"input": {"agentId": agent, "kind": "TELEGRAM", "name": "Second",
                "telegram": {"botToken": token, "mode": "WEBHOOK"}}}),
        )
        .await;
    let id = answer["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = fakes
        .telegram
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == format!("/bot{token}/setWebhook"))
        .find_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            body["secret_token"].as_str().map(str::to_string)
        })
        .unwrap();
    (id, secret)
}

#[tokio::test]
async fn two_bots_of_two_agents_each_answer_only_their_own_customers() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let first = create_agent(&app, "acme", json!({"systemPrompt": "You are agent one."})).await;
    let second = create_agent(&app, "acme", json!({"systemPrompt": "You are agent two."})).await;
    let (one, one_secret) = connect_telegram(&app, &fakes, "acme", &first).await;
    let (two, two_secret) = second_bot(&app, &fakes, &second).await;
    deliver(&app, &one, &one_secret, &telegram_update(1, 42, "For one")).await;
    deliver(&app, &two, &two_secret, &telegram_update(1, 42, "For two")).await;
    let mine = conversations_when(&app, "acme", Some(&first), answered).await;
    let theirs = conversations_when(&app, "acme", Some(&second), answered).await;
    assert_eq!((mine.len(), theirs.len()), (1, 1));
    assert_eq!(messages(&mine[0])[0]["text"], "For one");
    assert_eq!(messages(&theirs[0])[0]["text"], "For two");
    let prompts: Vec<String> = fakes
        .llm_asked()
        .await
        .iter()
        .map(|body| {
            format!(
                "{} / {}",
                body["messages"][0]["content"], body["messages"][1]["content"]
            )
        })
        .collect();
    assert!(
        prompts.contains(&"\"You are agent one.\" / \"For one\"".to_string()),
        "{prompts:?}"
    );
    assert!(
        prompts.contains(&"\"You are agent two.\" / \"For two\"".to_string()),
        "{prompts:?}"
    );
}

#[tokio::test]
async fn telegram_429_is_waited_out_and_the_reply_sent_once_while_a_blocked_user_fails_for_good() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    // Ahead of the working sendMessage, once.
    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/sendMessage$"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(json!({"ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fakes.telegram)
        .await;
    let (integration, secret) = connect_telegram(&app, &fakes, "acme", &agent).await;
    deliver(&app, &integration, &secret, &telegram_update(1, 42, "Hi")).await;
    let list = conversations_when(&app, "acme", None, answered).await;
    assert_eq!(messages(&list[0])[1]["delivery"], "SENT");
    assert_eq!(
        fakes.telegram_sent().await.len(),
        2,
        "the 429, then the one that went"
    );

    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/sendMessage$"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"ok": false, "error_code": 403,
            "description": "Forbidden: bot was blocked by the user"})),
        )
        .with_priority(1)
        .mount(&fakes.telegram)
        .await;
    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(2, 42, "Still there?"),
    )
    .await;
    let list = conversations_when(&app, "acme", None, |l| {
        messages(&l[0]).len() == 4 && answered(l)
    })
    .await;
    let reply = &messages(&list[0])[3];
    assert_eq!(reply["delivery"], "FAILED");
    assert!(reply["deliveryError"].as_str().unwrap().contains("blocked"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fakes.telegram_sent().await.len(),
        3,
        "a blocked user is not retried"
    );
}

#[tokio::test]
async fn subscribers_see_the_customers_message_and_the_reply_live_and_resume_after_a_sequence() {
    let fakes = ChatFakes::start().await;
    let (app, _agent, integration, secret) = scene(&fakes, json!({})).await;
    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(1, 42, "First"),
    )
    .await;
    let list = conversations_when(&app, "acme", None, answered).await;
    let id = list[0]["id"].as_str().unwrap().to_string();
    let query = "subscription($id: ID!, $after: Int) { conversationMessages(conversationId: $id, after: $after) { sequence role text delivery } }";
    let mut ws = app.ws_as_admin().await;
    ws.send(json!({"id": "m", "type": "subscribe", "payload": {"query": query, "variables": {"id": id}}})).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let frame = ws.next_json().await;
        seen.push(frame["payload"]["data"]["conversationMessages"].clone());
    }
    let last_seen = seen.last().unwrap()["sequence"].as_i64().unwrap();
    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(2, 42, "Second"),
    )
    .await;
    let mut live = Vec::new();
    while !live
        .iter()
        .any(|m: &Value| m["role"] == "ASSISTANT" && m["delivery"] == "SENT")
    {
        let frame = ws.next_json().await;
        live.push(frame["payload"]["data"]["conversationMessages"].clone());
    }
    assert_eq!(live[0]["text"], "Second");
    let sequences: Vec<i64> = live
        .iter()
        .map(|m| m["sequence"].as_i64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");

    let mut resumed = app.ws_as_admin().await;
    resumed.send(json!({"id": "r", "type": "subscribe", "payload": {"query": query, "variables": {"id": id, "after": last_seen}}})).await;
    let first = resumed.next_json().await;
    assert_eq!(
        first["payload"]["data"]["conversationMessages"]["text"],
        "Second"
    );
}

#[tokio::test]
async fn another_organisation_sees_no_conversation_and_the_dashboard_counts_its_own() {
    let fakes = ChatFakes::start().await;
    let (app, _agent, integration, secret) = scene(&fakes, json!({})).await;
    deliver(&app, &integration, &secret, &telegram_update(1, 42, "Hi")).await;
    let list = conversations_when(&app, "acme", None, answered).await;
    let id = list[0]["id"].as_str().unwrap();
    let outsider = app.admin("globex");
    let seen = app
        .gql(
            Some(&outsider),
            "query($id: ID!) { conversation(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&seen), "NOT_FOUND");
    let theirs = conversations_when(&app, "globex", None, |_| true).await;
    assert!(theirs.is_empty());
    let stats_query = "{ dashboardStats { messagesToday conversations activeAgents byChannel { channel messages } byHour } }";
    let stats = app
        .gql(Some(&app.admin("acme")), stats_query, json!({}))
        .await;
    let stats = &stats["data"]["dashboardStats"];
    assert_eq!(stats["messagesToday"], 2);
    assert_eq!(stats["conversations"], 1);
    assert_eq!(stats["activeAgents"], 1);
    assert_eq!(
        stats["byChannel"],
        json!([{"channel": "telegram", "messages": 2}])
    );
    let by_hour: Vec<u64> = serde_json::from_value(stats["byHour"].clone()).unwrap();
    assert_eq!(by_hour.len(), 24);
    assert_eq!(
        by_hour.iter().sum::<u64>(),
        2,
        "both of today's messages, in their hour: {by_hour:?}"
    );
    let empty = app.gql(Some(&outsider), stats_query, json!({})).await;
    assert_eq!(empty["data"]["dashboardStats"]["messagesToday"], 0);
    let refused = app
        .gql(
            Some(&app.admin("acme")),
            "mutation($i: ID!) { sandboxSendCustomerMessage(integrationId: $i, customer: \"x\", text: \"y\") }",
            json!({"i": integration}),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "sandbox mode only");
}
