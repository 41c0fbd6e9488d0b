//! Seed 002's load test (test 9) on one server against fake channels: 50 customers writing
//! at once, then 50 follow-ups falling due together while 5 broadcasts of 200 recipients
//! each go out on the same Telegram bot. Every message is handled, nobody gets anything
//! twice, and the bot's one rate limit holds for all of it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::fakes::{telegram_update, ChatFakes};
use super::{connect_telegram, deliver};
use crate::agents::create_agent;
use crate::broadcasts::{create_ok, wait_for};
use crate::common::{TestApp, TestDb};

const CUSTOMERS: i64 = 50;
const BROADCASTS: i64 = 5;
const RECIPIENTS: i64 = 200;
/// Messages a second the bot may send (Telegram's own limit is 30; this keeps the test short).
const RATE: u32 = 300;

async fn count(app: &TestApp, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let backend = app.services.db.get_database_backend();
    let row = app
        .services
        .db
        .query_one_raw(sea_orm::Statement::from_string(backend, sql.to_string()))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

/// Waits (up to 30 s) until `sql` counts `wanted`.
async fn counted(app: &TestApp, sql: &str, wanted: i64) {
    let mut last = 0;
    for _ in 0..600 {
        last = count(app, sql).await;
        if last == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{sql} counted {last}, not {wanted}; messages and jobs by state: {:?}",
        states(app).await
    );
}

/// Messages by role and delivery, and jobs by kind and state, with an error of each: what
/// a failure needs to be understood.
async fn states(app: &TestApp) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    let backend = app.services.db.get_database_backend();
    let mut found = Vec::new();
    for sql in [
        "SELECT role, delivery, COUNT(*), MIN(delivery_error) FROM messages GROUP BY role, delivery",
        "SELECT kind, state, COUNT(*), MIN(last_error) FROM jobs GROUP BY kind, state",
    ] {
        let rows = app
            .services
            .db
            .query_all_raw(sea_orm::Statement::from_string(backend, sql.to_string()))
            .await
            .unwrap();
        for row in rows {
            found.push(format!(
                "{:?} {:?} {:?} {:?}",
                row.try_get_by_index::<String>(0),
                row.try_get_by_index::<String>(1),
                row.try_get_by_index::<i64>(2),
                row.try_get_by_index::<Option<String>>(3)
            ));
        }
    }
    found
}

/// Sends by chat id, as the fake Telegram received them.
async fn sends_by_chat(fakes: &ChatFakes) -> HashMap<String, usize> {
    let mut by_chat = HashMap::new();
    for body in fakes.telegram_sent().await {
        let chat = match &body["chat_id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        };
        *by_chat.entry(chat).or_default() += 1;
    }
    by_chat
}

#[tokio::test]
async fn fifty_customers_fifty_follow_ups_and_five_broadcasts_at_once_each_handled_once() {
    let fakes = ChatFakes::start().await;
    let (openai, telegram) = (fakes.openai.uri(), fakes.telegram.uri());
    let app = TestApp::builder()
        .db(&TestDb::new().await)
        .config(move |config| {
            config.providers.openai_base_url = format!("{openai}/v1").parse().unwrap();
            config.providers.openai_api_key = Some("sk-server".into());
            config.providers.telegram_api_base = telegram.parse().unwrap();
            config.providers.timeout_secs = 5;
            config.public_base_url = "https://switchboard.test".parse().unwrap();
            config.channels.telegram_send_rate = RATE;
            config.jobs.concurrency = 16;
        })
        .spawn()
        .await;
    let settings = json!({"followUp": {"enabled": true, "delayMinutes": 5, "maxFollowUps": 1,
        "onlyIfNoReply": true, "messages": ["Anything else we can do?"]}});
    let agent = create_agent(&app, "acme", json!({"settings": settings})).await;
    let (integration, secret) = connect_telegram(&app, &fakes, "acme", &agent).await;

    // 9.1: fifty customers at once.
    let writes = (0..CUSTOMERS).map(|n| {
        let (app, integration, secret) = (&app, &integration, &secret);
        async move {
            deliver(
                app,
                integration,
                secret,
                &telegram_update(n + 1, 500 + n, "Hello?"),
            )
            .await
        }
    });
    let statuses = futures_util::future::join_all(writes).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let replies = "SELECT COUNT(*) FROM messages WHERE role = 'assistant' AND delivery = 'sent'";
    counted(&app, replies, CUSTOMERS).await;

    // 9.2 and 9.3 together: the follow-ups fall due as the broadcasts start.
    let started = Instant::now();
    let broadcasts: Vec<String> = {
        let mut ids = Vec::new();
        for b in 0..BROADCASTS {
            let recipients: Vec<String> = (0..RECIPIENTS)
                .map(|r| (1_000_000 + b * RECIPIENTS + r).to_string())
                .collect();
            ids.push(
                create_ok(
                    &app,
                    "acme",
                    json!({"agentId": agent, "integrationId": integration,
                    "message": format!("News {b}"), "recipients": recipients}),
                )
                .await,
            );
        }
        ids
    };
    app.services.clock.advance(chrono::Duration::minutes(6));
    app.services.jobs.wake();
    for id in &broadcasts {
        let done = wait_for(&app, "acme", id, "COMPLETED").await;
        assert_eq!(done["progress"]["counts"]["sent"], RECIPIENTS, "{done}");
    }
    counted(&app, replies, 2 * CUSTOMERS).await;
    let elapsed = started.elapsed().as_secs_f64();

    let by_chat = sends_by_chat(&fakes).await;
    let total: usize = by_chat.values().sum();
    let expected = (2 * CUSTOMERS + BROADCASTS * RECIPIENTS) as usize;
    assert_eq!(
        total, expected,
        "every reply, follow-up and broadcast message, once"
    );
    for n in 0..CUSTOMERS {
        assert_eq!(
            by_chat.get(&(500 + n).to_string()),
            Some(&2),
            "customer {n}: a reply and a follow-up"
        );
    }
    assert!(by_chat
        .iter()
        .filter(|(chat, _)| chat.len() == 7)
        .all(|(_, n)| *n == 1));
    // The follow-ups and broadcasts shared the bot's budget: at RATE a second, give or take
    // the limiter's 50 ms burst.
    let least = (CUSTOMERS + BROADCASTS * RECIPIENTS) as f64 / f64::from(RATE) - 0.1;
    assert!(
        elapsed >= least,
        "{elapsed:.2} s for what takes at least {least:.2} s at {RATE}/s"
    );
}
