//! Follow-ups (seed 002, test 6) on the injected clock: sent after the delay with the
//! agent's messages in turn, at most `max_follow_ups` per silence, cancelled by the
//! customer's reply, none in manual mode, postponed outside working hours, and each sent
//! once by two instances on one database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use switchboard::jobs::{entity as job, JobState, NewJob};

use super::fakes::{telegram_update, ChatFakes};
use super::{answered, app_on, app_with, connect_telegram, conversations_when, deliver, messages};
use crate::agents::create_agent;
use crate::common::{TestApp, TestDb};

const FIRST: &str = "Hi! Just checking in. Do you have any questions?";
const SECOND: &str = "We're here to help if you need anything!";
const KIND: &str = "conversations.follow_up";

/// The seed's follow-up settings: after 5 minutes, at most 2, only if no reply.
fn seed_follow_ups() -> Value {
    json!({"followUp": {"enabled": true, "delayMinutes": 5, "maxFollowUps": 2,
        "onlyIfNoReply": true, "messages": [FIRST, SECOND]}})
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// An agent with `settings` on a fresh Telegram integration, and a customer answered once.
async fn answered_once(fakes: &ChatFakes, app: &TestApp, settings: Value) -> (String, String) {
    let agent = create_agent(app, "acme", json!({"settings": settings})).await;
    let (integration, secret) = connect_telegram(app, fakes, "acme", &agent).await;
    deliver(app, &integration, &secret, &telegram_update(1, 42, "Hi")).await;
    conversations_when(app, "acme", None, answered).await;
    (integration, secret)
}

/// Moves the clocks on and wakes the workers.
fn advance(apps: &[&TestApp], minutes: i64) {
    for app in apps {
        app.services
            .clock
            .advance(chrono::Duration::minutes(minutes));
        app.services.jobs.wake();
    }
}

/// The follow-up jobs, once every one due has run.
async fn settled_follow_up_jobs(app: &TestApp, done: usize) -> Vec<job::Model> {
    let mut last = vec![];
    for _ in 0..300 {
        last = job::Entity::find()
            .filter(job::Column::Kind.eq(KIND))
            .all(&app.services.db)
            .await
            .unwrap();
        let finished = last
            .iter()
            .filter(|j| j.state == JobState::Succeeded)
            .count();
        let running = last.iter().any(|j| j.state == JobState::Running);
        if finished >= done && !running {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("follow-up jobs never settled: {last:#?}");
}

/// The texts of the conversation's messages, as (role, text).
async fn said(app: &TestApp, count: usize) -> Vec<(String, String)> {
    let list = conversations_when(app, "acme", None, |l| {
        l.first().is_some_and(|c| messages(c).len() == count) && answered(l)
    })
    .await;
    messages(&list[0])
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn sent_texts(sent: &[Value]) -> Vec<String> {
    sent.iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn follow_ups_go_after_the_delay_in_turn_and_stop_at_the_maximum() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    answered_once(&fakes, &app, seed_follow_ups()).await;

    // Four minutes of silence: too early.
    advance(&[&app], 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(said(&app, 2).await.len(), 2);

    advance(&[&app], 2);
    let first = said(&app, 3).await;
    assert_eq!(first[2], ("ASSISTANT".into(), FIRST.into()));
    advance(&[&app], 6);
    let second = said(&app, 4).await;
    assert_eq!(second[3], ("ASSISTANT".into(), SECOND.into()));

    // The third is not sent: two at most.
    advance(&[&app], 60);
    settled_follow_up_jobs(&app, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(said(&app, 4).await.len(), 4);
    let sent = sent_texts(&fakes.telegram_sent().await);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(&sent[1..], [FIRST, SECOND]);
}

#[tokio::test]
async fn a_customers_reply_before_the_delay_cancels_the_follow_up_and_starts_a_new_count() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let (integration, secret) = answered_once(&fakes, &app, seed_follow_ups()).await;

    advance(&[&app], 3);
    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(2, 42, "Thanks"),
    )
    .await;
    said(&app, 4).await;
    // The first silence's follow-up is due now: it finds the customer wrote, and stays unsent.
    advance(&[&app], 3);
    let jobs = settled_follow_up_jobs(&app, 1).await;
    assert_eq!(jobs.len(), 2, "one queued after each reply");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(said(&app, 4).await.len(), 4);

    // The new silence has its own follow-ups, counted from the first message.
    advance(&[&app], 3);
    let now = said(&app, 5).await;
    assert_eq!(now[4], ("ASSISTANT".into(), FIRST.into()));
    assert_eq!(fakes.telegram_sent().await.len(), 3);
}

#[tokio::test]
async fn no_follow_up_goes_in_manual_mode() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    answered_once(&fakes, &app, seed_follow_ups()).await;
    let list = conversations_when(&app, "acme", None, answered).await;
    let taken = app
        .gql(
            Some(&app.admin("acme")),
            "mutation($id: ID!) { takeOverConversation(id: $id) { manualMode } }",
            json!({"id": list[0]["id"]}),
        )
        .await;
    assert_eq!(taken["data"]["takeOverConversation"]["manualMode"], true);

    advance(&[&app], 6);
    settled_follow_up_jobs(&app, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(said(&app, 2).await.len(), 2);
    assert_eq!(fakes.telegram_sent().await.len(), 1);
}

#[tokio::test]
async fn a_follow_up_due_after_closing_waits_for_the_next_opening() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let mut settings = seed_follow_ups();
    settings["workingHours"] = json!({"enabled": true, "timezone": "UTC",
        "schedule": {"monday": {"start": "09:00", "end": "18:00"},
                     "tuesday": {"start": "09:00", "end": "18:00"}},
        "awayMessage": "We are currently offline."});
    // Monday 2026-12-07, 17:57 UTC: answered; the follow-up would fall at 18:02.
    app.services.clock.set(at("2026-12-07T17:57:00Z"));
    answered_once(&fakes, &app, settings).await;

    app.services.clock.set(at("2026-12-07T18:30:00Z"));
    app.services.jobs.wake();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(said(&app, 2).await.len(), 2, "not after closing");
    app.services.clock.set(at("2026-12-08T08:59:00Z"));
    app.services.jobs.wake();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(said(&app, 2).await.len(), 2, "not before opening");

    app.services.clock.set(at("2026-12-08T09:00:30Z"));
    app.services.jobs.wake();
    let now = said(&app, 3).await;
    assert_eq!(now[2], ("ASSISTANT".into(), FIRST.into()));
}

#[tokio::test]
async fn two_instances_on_one_database_send_each_follow_up_once() {
    let fakes = ChatFakes::start().await;
    let db = TestDb::new().await;
    let a = app_on(&fakes, &db).await;
    let b = app_on(&fakes, &db).await;
    answered_once(&fakes, &a, seed_follow_ups()).await;

    // Copies of the first follow-up's job under other keys, due with it, as a stale
    // duplicate would be: of the five runs on two instances, the conditional update lets
    // one send.
    let queued = job::Entity::find()
        .filter(job::Column::Kind.eq(KIND))
        .one(&a.services.db)
        .await
        .unwrap()
        .expect("the first follow-up is queued");
    let payload: Value = serde_json::from_str(&queued.payload).unwrap();
    for n in 0..4 {
        let app = if n % 2 == 0 { &a } else { &b };
        app.services
            .jobs
            .enqueue(
                NewJob::new(KIND, payload.clone())
                    .unwrap()
                    .run_at(DateTime::from_timestamp_millis(queued.run_at).unwrap())
                    .unique_key(format!("copy-{n}")),
            )
            .await
            .unwrap();
    }
    advance(&[&a, &b], 6);
    said(&a, 3).await;
    settled_follow_up_jobs(&a, 5).await;
    advance(&[&a, &b], 6);
    said(&a, 4).await;
    advance(&[&a, &b], 60);
    settled_follow_up_jobs(&a, 6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts: Vec<String> = said(&b, 4).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(&texts[2..], [FIRST, SECOND]);
    let sent = sent_texts(&fakes.telegram_sent().await);
    assert_eq!(&sent[1..], [FIRST, SECOND], "each sent once: {sent:?}");
}
