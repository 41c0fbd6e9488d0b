//! Local fake D-ID and HeyGen servers answering with their real JSON, failures included,
//! and the small real media tests animate and expect back (ffmpeg makes them).
//!
//! One fake speaks either dialect: `FakeAnimator::did()` or `FakeAnimator::heygen()`, then
//! `configure` points a `Config` at it. By default every animation is done after two status
//! reads; `set_outcome` changes that, `refuse` (and its shorthands) makes calls fail, and
//! `requests`, `uploads`, `creations` show what was sent.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use switchboard::config::Config;
use switchboard::providers::AnimatorKind;
use url::Url;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// D-ID keys come as `user:password`, the user part already base64.
pub const DID_KEY: &str = "dGVzdEBleGFtcGxlLmNvbQ:did-secret-key";
pub const HEYGEN_KEY: &str = "heygen-secret-key";

/// What the fake's animations do.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Pending for this many status reads, then done with a video the fake serves once.
    DoneAfter(usize),
    /// Pending (D-ID "started", HeyGen "processing") however often it is asked.
    Never,
    /// The provider could not make it (D-ID "error", HeyGen "failed"), for this reason.
    Fails(String),
    /// D-ID "rejected" it (its moderation); HeyGen says "failed".
    Rejected(String),
}

/// A call the fake can be told to refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// D-ID `POST /images`, HeyGen `POST /v1/talking_photo`.
    Upload,
    /// D-ID `POST /talks`, HeyGen `POST /v2/video/generate`.
    Create,
    /// D-ID `GET /talks/{id}`, HeyGen `GET /v1/video_status.get`.
    Status,
}

/// Answers `call` gets instead of its own, `times` times (`usize::MAX`: always).
struct Refusal {
    call: Call,
    times: usize,
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

struct State {
    kind: AnimatorKind,
    base: String,
    video: Vec<u8>,
    outcome: Outcome,
    uploads: usize,
    polls: HashMap<String, usize>,
    refusals: Vec<Refusal>,
    served: HashSet<String>,
}

pub struct FakeAnimator {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

#[derive(Clone, Copy)]
enum Route {
    Upload,
    Create,
    Status,
    Video,
}

struct Answer {
    state: Arc<Mutex<State>>,
    route: Route,
}

impl FakeAnimator {
    /// A fake D-ID: `POST /images`, `POST /talks`, `GET /talks/{id}`, videos at
    /// `/results/{id}.mp4`.
    pub async fn did() -> Self {
        Self::start(AnimatorKind::DId).await
    }

    /// A fake HeyGen, API and upload host in one: `POST /v1/talking_photo`,
    /// `POST /v2/video/generate`, `GET /v1/video_status.get`, videos at `/videos/{id}.mp4`.
    pub async fn heygen() -> Self {
        Self::start(AnimatorKind::HeyGen).await
    }

    async fn start(kind: AnimatorKind) -> Self {
        let server = MockServer::start().await;
        let dir = std::env::temp_dir().join(format!("switchboard-fake-{}", uuid::Uuid::new_v4()));
        let video = std::fs::read(make_video(&dir, 2)).expect("the fake's video was made");
        let _ = std::fs::remove_dir_all(&dir);
        let state = Arc::new(Mutex::new(State {
            kind,
            base: server.uri(),
            video,
            outcome: Outcome::DoneAfter(2),
            uploads: 0,
            polls: HashMap::new(),
            refusals: Vec::new(),
            served: HashSet::new(),
        }));
        let routes = match kind {
            AnimatorKind::DId => [
                ("POST", "^/images$", Route::Upload),
                ("POST", "^/talks$", Route::Create),
                ("GET", "^/talks/[^/]+$", Route::Status),
                ("GET", "^/results/[^/]+\\.mp4$", Route::Video),
            ],
            AnimatorKind::HeyGen => [
                ("POST", "^/v1/talking_photo$", Route::Upload),
                ("POST", "^/v2/video/generate$", Route::Create),
                ("GET", "^/v1/video_status.get$", Route::Status),
                ("GET", "^/videos/[^/]+\\.mp4$", Route::Video),
            ],
        };
        for (verb, route_path, route) in routes {
            Mock::given(method(verb))
                .and(path_regex(route_path))
                .respond_with(Answer {
                    state: state.clone(),
                    route,
                })
                .mount(&server)
                .await;
        }
        Self { server, state }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn kind(&self) -> AnimatorKind {
        self.state().kind
    }

    /// Points `config`'s provider of this kind at the fake, with a test key.
    pub fn configure(&self, config: &mut Config) {
        let base: Url = self.server.uri().parse().unwrap();
        let p = &mut config.providers;
        match self.kind() {
            AnimatorKind::DId => {
                p.did_api_base = base;
                p.did_api_key = Some(DID_KEY.into());
            }
            AnimatorKind::HeyGen => {
                p.heygen_api_base = base.clone();
                p.heygen_upload_base = base;
                p.heygen_api_key = Some(HEYGEN_KEY.into());
                p.heygen_voice_id = Some("heygen-default-voice".into());
            }
        }
        p.timeout_secs = 5;
    }

    /// What every animation does from now on (those already started included).
    pub fn set_outcome(&self, outcome: Outcome) {
        self.state().outcome = outcome;
    }

    /// `call` answers `status` with `body` (and Retry-After) the next `times` times.
    pub fn refuse(
        &self,
        call: Call,
        times: usize,
        status: u16,
        body: Value,
        retry_after: Option<u64>,
    ) {
        self.state().refusals.push(Refusal {
            call,
            times,
            status,
            body,
            retry_after,
        });
    }

    /// Every animation is refused: 402, the account is out of credits.
    pub fn out_of_credits(&self) {
        let body = match self.kind() {
            AnimatorKind::DId => {
                json!({"kind": "InsufficientCreditsError", "description": "not enough credits"})
            }
            AnimatorKind::HeyGen => {
                json!({"data": null, "error": {"code": "insufficient_credit", "message": "Insufficient credit."}})
            }
        };
        self.refuse(Call::Create, usize::MAX, 402, body, None);
    }

    /// Every animation is refused as invalid (400), in the provider's own words.
    pub fn invalid(&self, message: &str) {
        let body = self.error_body(message);
        self.refuse(Call::Create, usize::MAX, 400, body, None);
    }

    /// `call` fails with a 500 the next `times` times, then works.
    pub fn server_error(&self, call: Call, times: usize) {
        let body = self.error_body("Internal Server Error");
        self.refuse(call, times, 500, body, None);
    }

    /// `call` is rate limited (429 with Retry-After) the next `times` times, then works.
    pub fn rate_limited(&self, call: Call, times: usize, retry_after_secs: u64) {
        let body = self.error_body("Too Many Requests");
        self.refuse(call, times, 429, body, Some(retry_after_secs));
    }

    /// An error answer in the provider's shape: D-ID `{kind, description}`, HeyGen
    /// `{error: {code, message}}`.
    pub fn error_body(&self, message: &str) -> Value {
        match self.kind() {
            AnimatorKind::DId => json!({"kind": "ValidationError", "description": message}),
            AnimatorKind::HeyGen => {
                json!({"data": null, "error": {"code": "invalid_parameter", "message": message}})
            }
        }
    }

    /// Every request the fake was sent, in order.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The photo uploads it was sent.
    pub async fn uploads(&self) -> Vec<Request> {
        let upload = match self.kind() {
            AnimatorKind::DId => "/images",
            AnimatorKind::HeyGen => "/v1/talking_photo",
        };
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == upload)
            .collect()
    }

    /// The JSON bodies of the animations it was asked to make (D-ID talks, HeyGen videos).
    pub async fn creations(&self) -> Vec<Value> {
        let create = match self.kind() {
            AnimatorKind::DId => "/talks",
            AnimatorKind::HeyGen => "/v2/video/generate",
        };
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == create)
            .filter_map(|r| r.body_json().ok())
            .collect()
    }

    /// Status reads of the animation `id` so far.
    pub fn polls(&self, id: &str) -> usize {
        self.state().polls.get(id).copied().unwrap_or(0)
    }

    /// The video the fake serves for every finished animation.
    pub fn video(&self) -> Vec<u8> {
        self.state().video.clone()
    }

    /// Where the fake serves `id`'s video, once.
    pub fn result_url(&self, id: &str) -> Url {
        self.state().result_url(id).parse().unwrap()
    }

    /// The body the provider posts to the webhook/callback when `id` is done.
    pub fn callback_body(&self, id: &str) -> Value {
        let state = self.state();
        match state.kind {
            AnimatorKind::DId => state.talk(id, "done"),
            AnimatorKind::HeyGen => json!({
                "event_type": "avatar_video.success",
                "event_data": {"video_id": id, "url": state.result_url(id), "callback_id": null},
            }),
        }
    }
}

impl State {
    fn result_url(&self, id: &str) -> String {
        match self.kind {
            AnimatorKind::DId => format!("{}/results/{id}.mp4", self.base),
            // HeyGen's links are signed and expire.
            AnimatorKind::HeyGen => format!(
                "{}/videos/{id}.mp4?Expires=1999999999&Signature=x",
                self.base
            ),
        }
    }

    /// A D-ID talk as `GET /talks/{id}` answers it, and as its webhook posts it.
    fn talk(&self, id: &str, status: &str) -> Value {
        let mut talk = json!({
            "id": id,
            "object": "talk",
            "user_id": "google-oauth2|100000000000000000001",
            "created_by": "google-oauth2|100000000000000000001",
            "created_at": "2026-11-21T10:00:00.000Z",
            "source_url": format!("s3://d-id-images-prod/google-oauth2|100000000000000000001/img_{id}/photo.jpg"),
            "status": status,
        });
        match (status, &self.outcome) {
            ("done", _) => {
                talk["result_url"] = json!(self.result_url(id));
                talk["duration"] = json!(2.0);
            }
            ("error", Outcome::Fails(reason)) => {
                talk["error"] = json!({"kind": "FaceError", "description": reason});
            }
            ("rejected", Outcome::Rejected(reason)) => {
                talk["error"] = json!({"kind": "ModerationError", "description": reason});
            }
            _ => {}
        }
        talk
    }

    /// The status the animation `id` has at its `poll`th read (1 the first).
    fn status(&self, poll: usize) -> &'static str {
        let did = self.kind == AnimatorKind::DId;
        match &self.outcome {
            Outcome::DoneAfter(pending) if poll > *pending => {
                if did {
                    "done"
                } else {
                    "completed"
                }
            }
            Outcome::DoneAfter(_) | Outcome::Never => match (did, poll) {
                (true, 1) => "created",
                (true, _) => "started",
                (false, 1) => "pending",
                (false, _) => "processing",
            },
            Outcome::Fails(_) if did => "error",
            Outcome::Rejected(_) if did => "rejected",
            Outcome::Fails(_) | Outcome::Rejected(_) => "failed",
        }
    }

    fn refusal(&mut self, route: Route) -> Option<ResponseTemplate> {
        let call = match route {
            Route::Upload => Call::Upload,
            Route::Create => Call::Create,
            Route::Status => Call::Status,
            Route::Video => return None,
        };
        let refusal = self
            .refusals
            .iter_mut()
            .find(|r| r.call == call && r.times > 0)?;
        refusal.times = refusal.times.saturating_sub(1);
        let mut answer = ResponseTemplate::new(refusal.status).set_body_json(&refusal.body);
        if let Some(secs) = refusal.retry_after {
            answer = answer.insert_header("retry-after", secs.to_string().as_str());
        }
        Some(answer)
    }

    fn answer(&mut self, route: Route, request: &Request) -> ResponseTemplate {
        if let Some(refused) = self.refusal(route) {
            return refused;
        }
        let did = self.kind == AnimatorKind::DId;
        match route {
            Route::Upload => {
                self.uploads += 1;
                let n = self.uploads;
                if did {
                    ResponseTemplate::new(201).set_body_json(json!({
                        "id": format!("img_{n}"),
                        "url": format!("s3://d-id-images-prod/google-oauth2|100000000000000000001/img_{n}/photo.jpg"),
                    }))
                } else {
                    ResponseTemplate::new(200).set_body_json(json!({
                        "code": 100,
                        "data": {
                            "talking_photo_id": format!("tp{n:030x}"),
                            "talking_photo_url": format!("https://files.heygen.ai/talking_photo/tp{n:030x}.jpg"),
                        },
                        "msg": null,
                        "message": null,
                    }))
                }
            }
            Route::Create => {
                let n = self.polls.len() + 1;
                let id = if did {
                    format!("tlk_{n}")
                } else {
                    format!("{n:032x}")
                };
                self.polls.insert(id.clone(), 0);
                if did {
                    ResponseTemplate::new(201).set_body_json(json!({
                        "id": id,
                        "object": "talk",
                        "created_by": "google-oauth2|100000000000000000001",
                        "created_at": "2026-11-21T10:00:00.000Z",
                        "status": "created",
                    }))
                } else {
                    ResponseTemplate::new(200)
                        .set_body_json(json!({"error": null, "data": {"video_id": id}}))
                }
            }
            Route::Status => {
                let id = if did {
                    request.url.path().rsplit('/').next().map(str::to_string)
                } else {
                    request
                        .url
                        .query_pairs()
                        .find(|(k, _)| k == "video_id")
                        .map(|(_, v)| v.into_owned())
                };
                let Some((id, poll)) = id.and_then(|id| {
                    let poll = self.polls.get_mut(&id)?;
                    *poll += 1;
                    Some((id, *poll))
                }) else {
                    return if did {
                        ResponseTemplate::new(404).set_body_json(
                            json!({"kind": "NotFoundError", "description": "talk not found"}),
                        )
                    } else {
                        ResponseTemplate::new(404)
                            .set_body_json(json!({"code": 40012, "message": "Video not found"}))
                    };
                };
                let status = self.status(poll);
                if did {
                    return ResponseTemplate::new(200).set_body_json(self.talk(&id, status));
                }
                let done = status == "completed";
                let error = match &self.outcome {
                    Outcome::Fails(reason) | Outcome::Rejected(reason) if status == "failed" => {
                        json!({"code": 40119, "message": reason, "detail": reason})
                    }
                    _ => Value::Null,
                };
                ResponseTemplate::new(200).set_body_json(json!({
                    "code": 100,
                    "data": {
                        "id": id,
                        "status": status,
                        "video_url": done.then(|| self.result_url(&id)),
                        "thumbnail_url": null,
                        "duration": if done { json!(2.0) } else { Value::Null },
                        "error": error,
                    },
                    "message": "Success",
                }))
            }
            Route::Video => {
                let id = request
                    .url
                    .path()
                    .rsplit('/')
                    .next()
                    .and_then(|file| file.strip_suffix(".mp4"))
                    .unwrap_or_default()
                    .to_string();
                // Provider links expire: each video is there to be read once.
                if !self.polls.contains_key(&id) || !self.served.insert(id) {
                    return ResponseTemplate::new(404).set_body_string("Not Found");
                }
                ResponseTemplate::new(200)
                    .insert_header("content-type", "video/mp4")
                    .set_body_bytes(self.video.clone())
            }
        }
    }
}

impl Respond for Answer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .answer(self.route, request)
    }
}

/// A `seconds`-long 320x240 MP4 with sound (H.264 and AAC), copied into `dir`.
pub fn make_video(dir: &Path, seconds: u32) -> PathBuf {
    let args = [
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size=320x240:rate=25:duration={seconds}"),
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=440:duration={seconds}"),
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        "-movflags",
        "+faststart",
    ]
    .map(String::from);
    let made = cached_media(&format!("video-{seconds}s.mp4"), &args);
    copy_into(&made, dir)
}

/// A 640x480 JPEG photo, copied into `dir`.
pub fn make_jpeg(dir: &Path) -> PathBuf {
    let args = [
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x480:rate=1",
        "-frames:v",
        "1",
    ]
    .map(String::from);
    let made = cached_media("photo.jpg", &args);
    copy_into(&made, dir)
}

fn copy_into(made: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let to = dir.join(made.file_name().unwrap());
    std::fs::copy(made, &to).unwrap();
    to
}

/// `name`, made by ffmpeg with `args` the first time any test asks: kept in the system's
/// temporary directory, so each test process need not make it again.
fn cached_media(name: &str, args: &[String]) -> PathBuf {
    let dir = std::env::temp_dir().join("switchboard-test-media");
    let path = dir.join(name);
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).unwrap();
    // Made under a name of its own and renamed: a test reading it never sees half a file.
    let partial = dir.join(format!("{}-{name}", uuid::Uuid::new_v4().simple()));
    let ffmpeg = std::env::var("FFMPEG_PATH").unwrap_or_else(|_| "ffmpeg".into());
    let output = std::process::Command::new(ffmpeg)
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&partial)
        .output()
        .expect("ffmpeg runs (Debian package ffmpeg)");
    assert!(
        output.status.success(),
        "ffmpeg could not make {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&partial, &path).unwrap();
    path
}
