//! The usual scene of a meetings test: the fake outside services, an app talking to them, a
//! manager of acme and the bot they sent into a meeting.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::auth::Role;
use switchboard::config::Config;

use super::fakes::Fakes;
use super::{TestApp, TestDb};

/// The meeting the scene's bot is sent into.
pub const MEET: &str = "https://meet.google.com/abc-defg-hij";

/// `triggerMeetingBot` for `$url`, with an optional idempotency `$key`.
pub const TRIGGER: &str = "mutation($url: String!, $key: String) {
  triggerMeetingBot(input: {meetUrl: $url, botName: \"Scribe\", idempotencyKey: $key}) { id status platform nativeMeetingId }
}";

/// `meetingBot`: everything a test looks at of bot `$id`.
pub const BOT: &str = "query($id: ID!) { meetingBot(id: $id) {
  status errorMessage resultData summary
  statusHistory { sequence status source reason }
  transcript { sequence start end speaker text }
  tasks { title assignee jiraKey jiraUrl error }
} }";

/// An app talking to `fakes`.
pub async fn app_with(fakes: &Fakes) -> TestApp {
    app_with_and(fakes, |_| {}).await
}

/// An app talking to `fakes`, with `tweak` applied to its configuration.
pub async fn app_with_and(fakes: &Fakes, tweak: impl FnOnce(&mut Config) + 'static) -> TestApp {
    app_on(&TestDb::new().await, fakes, tweak).await
}

/// As [`app_with_and`], on `db`, which other instances may share.
pub async fn app_on(
    db: &TestDb,
    fakes: &Fakes,
    tweak: impl FnOnce(&mut Config) + 'static,
) -> TestApp {
    let configure = {
        let mut template = Config::for_tests("sqlite::memory:", std::path::Path::new("."));
        fakes.configure(&mut template);
        template.providers
    };
    TestApp::builder()
        .db(db)
        .config(move |c| {
            c.providers = configure;
            c.meetings.pipeline_max_attempts = 3;
            tweak(c);
        })
        .spawn()
        .await
}

/// `TRIGGER` for `url` as `token`'s bearer: the whole response.
pub async fn trigger(app: &TestApp, token: &str, url: &str) -> Value {
    app.gql(Some(token), TRIGGER, json!({"url": url})).await
}

/// The usual scene of a meetings test: a manager of acme (their token) and the bot they sent
/// into `MEET` (its id; the bot service calls it `ext-1`), in an app talking to `fakes`.
pub struct Scene {
    pub fakes: Fakes,
    pub app: TestApp,
    pub token: String,
    pub bot: String,
}

impl Scene {
    /// The scene against fakes that answer nothing but the bot's start.
    pub async fn new() -> Self {
        Self::with(Fakes::start().await).await
    }

    /// The scene against `fakes`, which the test has set answering already.
    pub async fn with(fakes: Fakes) -> Self {
        Self::configured(fakes, |_| {}).await
    }

    /// As [`Scene::with`], with `tweak` applied to the app's configuration.
    pub async fn configured(fakes: Fakes, tweak: impl FnOnce(&mut Config) + 'static) -> Self {
        fakes.bot_service_starts("ext-1").await;
        let app = app_with_and(&fakes, tweak).await;
        Self::in_app(fakes, app).await
    }

    /// The manager and their bot in `app`, which talks to `fakes` and whose bot service must
    /// start the bot.
    pub async fn in_app(fakes: Fakes, app: TestApp) -> Self {
        let token = app.token("ann", "acme", Role::Manager);
        let bot = trigger_id(&app, &token, MEET).await;
        Self {
            fakes,
            app,
            token,
            bot,
        }
    }

    /// The scene's bot (`ext-1` at the service) and a second one in another meeting (`ext-2`).
    pub async fn with_two_bots() -> (Self, String) {
        let scene = Self::new().await;
        scene.fakes.bot_service_starts("ext-2").await;
        let second = trigger_id(&scene.app, &scene.token, "https://zoom.us/j/812345678").await;
        (scene, second)
    }

    /// A scene whose keep-alive (and so credential re-check) comes every second.
    pub async fn checking_every_second() -> Self {
        Self::configured(Fakes::start().await, |c| c.graphql.keep_alive_secs = 1).await
    }
}

/// As [`trigger`], which must succeed: the new bot's id.
pub async fn trigger_id(app: &TestApp, token: &str, url: &str) -> String {
    let response = trigger(app, token, url).await;
    response["data"]["triggerMeetingBot"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_string()
}

/// Bot `id` as `token`'s bearer reads it (`BOT`).
pub async fn bot(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(Some(token), BOT, json!({"id": id})).await["data"]["meetingBot"].clone()
}

/// Polls until the bot reaches `status` (the pipeline runs on the job worker).
pub async fn wait_for_status(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let current = bot(app, token, id).await;
        if current["status"] == status {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("bot never became {status}: {}", bot(app, token, id).await);
}

/// The statuses of a bot's history, oldest first.
pub fn statuses(bot: &Value) -> Vec<String> {
    bot["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect()
}

/// A manager's token of acme that is still accepted now (within the 30 s leeway for clock
/// skew) and no longer a second or two from now.
pub fn token_about_to_expire(app: &TestApp) -> String {
    app.services
        .jwt
        .issue("ann", Some("acme"), Role::Manager, -29)
        .unwrap()
}
