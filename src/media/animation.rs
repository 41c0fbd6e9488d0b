//! Talking-photo animations. `animate` records the order and a durable job; the job sends
//! the photo to D-ID or HeyGen, follows the video by polling (and at once when the
//! provider's callback arrives), copies the finished video into our storage as a new medium
//! before the provider's link expires, and records every step, which `animationStatus`
//! streams. Each step is a conditional update on the animation's sequence, so a callback
//! and a poll that race move it once.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{animation, animation_step, AnimationProvider, AnimationStatus};
use super::format::MediaKind;
use super::store::{self, Animation, AnimationStep};
use super::{ingest, service, MediaConfig};
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::jobs::{ClaimedJob, JobFailure, JobHandler, NewJob};
use crate::providers::animator::{AnimationOrder, Animator, AnimatorKind, Photo, RemoteState};
use crate::providers::ProviderError;
use crate::services::Services;
use crate::webhooks::{self, EventType, Outgoing};

pub const JOB: &str = "media.animate";
const SCRIPT_CHARS: usize = 5000;
const VOICE_CHARS: usize = 200;
/// The largest photo sent to a provider (D-ID takes 10 MB).
const PHOTO_MAX_BYTES: u64 = 10 * 1024 * 1024;
const CALLBACK_PURPOSE: &str = "animation-callback";

impl From<AnimatorKind> for AnimationProvider {
    fn from(kind: AnimatorKind) -> Self {
        match kind {
            AnimatorKind::DId => Self::DId,
            AnimatorKind::HeyGen => Self::HeyGen,
        }
    }
}

impl From<AnimationProvider> for AnimatorKind {
    fn from(provider: AnimationProvider) -> Self {
        match provider {
            AnimationProvider::DId => Self::DId,
            AnimationProvider::HeyGen => Self::HeyGen,
        }
    }
}

/// One step of an animation, as `animationStatus` sends it.
#[derive(Debug, Clone, Serialize, Deserialize, async_graphql::SimpleObject)]
pub struct AnimationStepEvent {
    pub animation_id: String,
    pub sequence: i64,
    pub status: AnimationStatus,
    /// What happened, for a person.
    pub detail: String,
    pub at: DateTime<Utc>,
}

pub fn topic(animation_id: &str) -> String {
    format!("animation:{animation_id}")
}

impl Event for AnimationStepEvent {
    fn topic(&self) -> String {
        topic(&self.animation_id)
    }
    fn sequence(&self) -> i64 {
        self.sequence
    }
}

impl From<AnimationStep> for AnimationStepEvent {
    fn from(step: AnimationStep) -> Self {
        Self {
            animation_id: step.animation_id,
            sequence: step.sequence,
            status: step.status,
            detail: step.detail,
            at: step.at,
        }
    }
}

pub struct Order {
    pub media_id: String,
    pub script: String,
    pub voice_id: Option<String>,
    pub provider: Option<AnimatorKind>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    animation_id: String,
}

fn job(s: &Services, animation_id: &str, key: String, delay: Duration) -> AppResult<NewJob> {
    Ok(NewJob::new(
        JOB,
        Payload {
            animation_id: animation_id.to_string(),
        },
    )?
    .max_attempts(s.config.media.animation_max_attempts)
    .delay(delay)
    .unique_key(key))
}

/// Records the order and queues its job: the animation, PENDING.
pub async fn animate(s: &Services, viewer: &Viewer, order: Order) -> AppResult<Animation> {
    viewer.require(Role::Manager)?;
    let photo = store::media(&s.db, viewer, &order.media_id).await?;
    if photo.kind != MediaKind::Photo {
        return Err(AppError::BadInput("only a photo can be animated".into()));
    }
    if photo.size_bytes as u64 > PHOTO_MAX_BYTES {
        return Err(AppError::BadInput(format!(
            "the photo is {} bytes: providers take photos up to {PHOTO_MAX_BYTES}",
            photo.size_bytes
        )));
    }
    let script = crate::input::text("script", &order.script, SCRIPT_CHARS)?;
    let voice_id = order
        .voice_id
        .filter(|v| !v.trim().is_empty())
        .map(|v| crate::input::line("voiceId", &v, VOICE_CHARS))
        .transpose()?;
    let kind = order
        .provider
        .unwrap_or_else(|| s.providers.default_animator());
    // Refused now rather than by the job: the caller can set it up and ask again.
    s.providers.animator(Some(kind))?;
    let now = s.clock.now();
    let id = uuid::Uuid::new_v4().to_string();
    let row = animation::ActiveModel {
        id: Set(id.clone()),
        org_id: Set(photo.org_id.clone()),
        memorial_id: Set(photo.memorial_id.clone()),
        photo_id: Set(photo.id.clone()),
        provider: Set(kind.into()),
        status: Set(AnimationStatus::Pending),
        script: Set(script),
        voice_id: Set(voice_id),
        remote_id: Set(None),
        remote_video_url: Set(None),
        result_media_id: Set(None),
        error: Set(None),
        sequence: Set(1),
        deadline_at: Set(None),
        created_by: Set(viewer.user_id.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let step = animation_step::ActiveModel {
        animation_id: Set(id.clone()),
        sequence: Set(1),
        status: Set(AnimationStatus::Pending),
        detail: Set(format!("queued for {}", kind.service())),
        at: Set(now),
    };
    let txn = crate::db::begin(&s.db).await?;
    let row = row.insert(&txn).await?;
    let step = step.insert(&txn).await?;
    s.jobs
        .enqueue_on(&txn, job(s, &id, format!("animate:{id}"), Duration::ZERO)?)
        .await?;
    txn.commit().await?;
    s.jobs.wake();
    s.bus.publish(AnimationStepEvent::from(step)).await;
    Ok(row)
}

/// What a step changes besides the status.
#[derive(Default)]
struct Change {
    remote_id: Option<String>,
    remote_video_url: Option<String>,
    result_media_id: Option<String>,
    error: Option<String>,
    deadline_at: Option<DateTime<Utc>>,
}

/// Moves the animation on from the state `from` was read in: `None` when something else
/// moved it first.
async fn advance(
    s: &Services,
    from: &Animation,
    to: AnimationStatus,
    detail: String,
    change: Change,
) -> AppResult<Option<Animation>> {
    let now = s.clock.now();
    let sequence = from.sequence + 1;
    let completed = (to == AnimationStatus::Done).then(|| {
        let data = json!({
            "animationId": from.id,
            "memorialId": from.memorial_id,
            "photoId": from.photo_id,
            "provider": from.provider,
            "resultMediaId": change.result_media_id.as_ref().or(from.result_media_id.as_ref()),
            "at": now,
        });
        Outgoing::new(&from.org_id, EventType::AnimationCompleted, data)
    });
    let mut update = animation::Entity::update_many()
        .col_expr(animation::Column::Status, Expr::value(to))
        .col_expr(animation::Column::Sequence, Expr::value(sequence))
        .col_expr(animation::Column::UpdatedAt, Expr::value(now));
    if let Some(remote_id) = change.remote_id {
        update = update.col_expr(animation::Column::RemoteId, Expr::value(remote_id));
    }
    if let Some(url) = change.remote_video_url {
        update = update.col_expr(animation::Column::RemoteVideoUrl, Expr::value(url));
    }
    if let Some(media_id) = change.result_media_id {
        update = update.col_expr(animation::Column::ResultMediaId, Expr::value(media_id));
    }
    if let Some(error) = change.error {
        update = update.col_expr(animation::Column::Error, Expr::value(error));
    }
    if let Some(deadline) = change.deadline_at {
        update = update.col_expr(animation::Column::DeadlineAt, Expr::value(deadline));
    }
    let txn = crate::db::begin(&s.db).await?;
    let moved = update
        .filter(animation::Column::Id.eq(&from.id))
        .filter(animation::Column::Sequence.eq(from.sequence))
        .exec(&txn)
        .await?
        .rows_affected;
    if moved == 0 {
        return Ok(None);
    }
    let step = animation_step::ActiveModel {
        animation_id: Set(from.id.clone()),
        sequence: Set(sequence),
        status: Set(to),
        detail: Set(detail),
        at: Set(now),
    }
    .insert(&txn)
    .await?;
    if let Some(outgoing) = completed {
        webhooks::emit_on(s, &txn, outgoing).await?;
    }
    txn.commit().await?;
    s.jobs.wake();
    s.bus.publish(AnimationStepEvent::from(step)).await;
    store::load_animation(&s.db, &from.id).await.map(Some)
}

/// The link a provider calls back when the video is ready, when DID_WEBHOOK_URL says where
/// we can be reached: that address, then the animation and a token only we can make.
fn callback_url(s: &Services, animation_id: &str) -> Option<url::Url> {
    let base = s.config.providers.did_webhook_url.as_ref()?;
    let token = s.secrets.sign(CALLBACK_PURPOSE, animation_id);
    let mut url = base.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .push(animation_id);
    url.query_pairs_mut().append_pair("token", &token);
    Some(url)
}

/// A provider's callback: genuine when its token is ours for the animation and its body
/// names the animation's video. The callback's content is not trusted: it only has the
/// video's state read now instead of at the next poll.
pub async fn callback(
    s: &Services,
    animation_id: &str,
    token: &str,
    body: &serde_json::Value,
) -> AppResult<()> {
    let id = crate::input::id(animation_id, "animation")?;
    if !s.secrets.verify(CALLBACK_PURPOSE, &id, token) {
        return Err(AppError::Unauthenticated(
            "the callback token is not valid".into(),
        ));
    }
    let row = store::load_animation(&s.db, &id).await?;
    let animator = s.providers.animator(Some(row.provider.into()))?;
    let named = animator.callback_remote_id(body);
    if named.is_none() || named != row.remote_id {
        return Err(AppError::Unauthenticated(
            "the callback is not about this animation's video".into(),
        ));
    }
    if row.status == AnimationStatus::Processing {
        s.jobs
            .enqueue(job(
                s,
                &id,
                format!("animate:{id}:callback"),
                Duration::ZERO,
            )?)
            .await?;
        s.jobs.wake();
    }
    Ok(())
}

/// The signed link to the finished video, once there is one.
pub fn video_url(s: &Services, row: &Animation) -> Option<String> {
    row.result_media_id
        .as_deref()
        .map(|id| super::links::signed(s, id, super::links::Variant::Original))
}

pub struct AnimateHandler(Services);

impl AnimateHandler {
    pub fn handler(s: Services) -> std::sync::Arc<dyn JobHandler> {
        std::sync::Arc::new(Self(s))
    }
}

#[async_trait]
impl JobHandler for AnimateHandler {
    fn kind(&self) -> &'static str {
        JOB
    }

    async fn run(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        let payload: Payload = job.payload()?;
        let s = &self.0;
        let row = match store::load_animation(&s.db, &payload.animation_id).await {
            Ok(row) => row,
            // Deleted with its memorial: nothing to do.
            Err(AppError::NotFound(_)) => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        let animator = s.providers.animator(Some(row.provider.into()))?;
        let outcome = match row.status {
            AnimationStatus::Pending | AnimationStatus::Submitting => {
                submit(s, animator.as_ref(), row).await
            }
            AnimationStatus::Processing => poll(s, animator.as_ref(), row).await,
            AnimationStatus::Downloading => copy(s, animator.as_ref(), row).await,
            AnimationStatus::Done | AnimationStatus::Failed => Ok(()),
        };
        outcome.map_err(|err| match err {
            Step::Provider(err) => err.into(),
            Step::App(err) => err.into(),
        })
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        let Ok(payload) = job.payload::<Payload>() else {
            return;
        };
        if let Err(err) = fail(&self.0, &payload.animation_id, error.to_string()).await {
            tracing::warn!(animation = %payload.animation_id, error = %err.message(), "could not record a failed animation");
        }
    }
}

/// Why a step did not finish.
enum Step {
    Provider(ProviderError),
    App(AppError),
}

impl From<ProviderError> for Step {
    fn from(err: ProviderError) -> Self {
        Self::Provider(err)
    }
}

impl From<AppError> for Step {
    fn from(err: AppError) -> Self {
        Self::App(err)
    }
}

impl From<sea_orm::DbErr> for Step {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::App(err.into())
    }
}

/// Ends the animation FAILED with `error`, from whatever step it was in.
async fn fail(s: &Services, animation_id: &str, error: String) -> AppResult<()> {
    loop {
        let row = store::load_animation(&s.db, animation_id).await?;
        if row.status.is_final() {
            return Ok(());
        }
        let change = Change {
            error: Some(error.clone()),
            ..Change::default()
        };
        if advance(s, &row, AnimationStatus::Failed, error.clone(), change)
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
}

/// A provider's refusal that asking again cannot change ends the animation with the
/// provider's words; anything else goes back to the job to retry.
async fn settle(s: &Services, row: &Animation, err: ProviderError) -> Result<(), Step> {
    if err.is_transient() {
        return Err(err.into());
    }
    fail(s, &row.id, err.describe()).await?;
    Ok(())
}

async fn read_photo(s: &Services, row: &Animation) -> AppResult<Photo> {
    let photo = store::load_media(&s.db, &row.photo_id).await?;
    let fetched = s.storage.get(&photo.storage_key, None).await?;
    let mut bytes = Vec::with_capacity(fetched.size as usize);
    let mut stream = fetched.stream;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() as u64 > PHOTO_MAX_BYTES {
            return Err(AppError::BadInput(
                "the photo is too large to animate".into(),
            ));
        }
    }
    Ok(Photo {
        bytes: Bytes::from(bytes),
        content_type: photo.content_type,
        file_name: photo.file_name,
    })
}

async fn submit(s: &Services, animator: &dyn Animator, row: Animation) -> Result<(), Step> {
    let row = if row.status == AnimationStatus::Pending {
        let detail = format!("sending the photo to {}", animator.kind().service());
        match advance(
            s,
            &row,
            AnimationStatus::Submitting,
            detail,
            Change::default(),
        )
        .await?
        {
            Some(row) => row,
            None => return Ok(()),
        }
    } else {
        row
    };
    let photo = read_photo(s, &row).await?;
    let callback = callback_url(s, &row.id);
    let order = AnimationOrder {
        photo: &photo,
        script: &row.script,
        voice_id: row.voice_id.as_deref(),
        callback_url: callback.as_ref(),
    };
    let remote_id = match animator.start(order).await {
        Ok(id) => id,
        Err(err) => return settle(s, &row, err).await,
    };
    let media = &s.config.media;
    let change = Change {
        remote_id: Some(remote_id.clone()),
        deadline_at: Some(
            s.clock.now() + chrono::Duration::seconds(media.animation_timeout_secs as i64),
        ),
        ..Change::default()
    };
    let detail = format!(
        "{} is making the video ({remote_id})",
        animator.kind().service()
    );
    if let Some(row) = advance(s, &row, AnimationStatus::Processing, detail, change).await? {
        next_poll(s, &row).await?;
    }
    Ok(())
}

/// Queues the next status read, one per poll period however many callers ask.
async fn next_poll(s: &Services, row: &Animation) -> AppResult<()> {
    let period = s.config.media.animation_poll_secs;
    let slot = s.clock.now().timestamp() / period as i64 + 1;
    s.jobs
        .enqueue(job(
            s,
            &row.id,
            format!("animate:{}:poll:{slot}", row.id),
            Duration::from_secs(period),
        )?)
        .await?;
    Ok(())
}

async fn poll(s: &Services, animator: &dyn Animator, row: Animation) -> Result<(), Step> {
    let remote_id = row
        .remote_id
        .clone()
        .ok_or_else(|| AppError::internal("a processing animation without its provider's id"))?;
    let state = match animator.state(&remote_id).await {
        Ok(state) => state,
        Err(err) => return settle(s, &row, err).await,
    };
    match state {
        RemoteState::Pending => {
            if row
                .deadline_at
                .is_some_and(|deadline| s.clock.now() >= deadline)
            {
                let minutes = s.config.media.animation_timeout_secs / 60;
                let message = format!(
                    "{} did not finish the video within {minutes} minutes",
                    animator.kind().service()
                );
                fail(s, &row.id, message).await?;
            } else {
                next_poll(s, &row).await?;
            }
            Ok(())
        }
        RemoteState::Failed { message } => {
            fail(
                s,
                &row.id,
                format!("{}: {message}", animator.kind().service()),
            )
            .await?;
            Ok(())
        }
        RemoteState::Done { video_url } => {
            let change = Change {
                remote_video_url: Some(video_url.to_string()),
                ..Change::default()
            };
            let detail = "the video is ready: copying it into storage".to_string();
            match advance(s, &row, AnimationStatus::Downloading, detail, change).await? {
                Some(row) => copy(s, animator, row).await,
                None => Ok(()),
            }
        }
    }
}

async fn copy(s: &Services, animator: &dyn Animator, row: Animation) -> Result<(), Step> {
    let url = row
        .remote_video_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .ok_or_else(|| AppError::internal("a downloading animation without its video link"))?;
    let stream = match animator.download(&url).await {
        Ok(stream) => stream,
        // The link expired before we read it: the provider gives a fresh one when asked.
        Err(err) if matches!(err.status, Some(403 | 404 | 410)) => {
            let detail = "the video link expired: asking for a fresh one".to_string();
            if let Some(row) = advance(
                s,
                &row,
                AnimationStatus::Processing,
                detail,
                Change::default(),
            )
            .await?
            {
                next_poll(s, &row).await?;
            }
            return Ok(());
        }
        Err(err) => return settle(s, &row, err).await,
    };
    let chunks = stream.map_err(AppError::from);
    let received = match ingest::receive(
        &MediaConfig::incoming_dir(&s.config.data_dir),
        s.config.media.max_bytes,
        Box::pin(chunks),
    )
    .await
    {
        Ok(received) => received,
        // The provider's trouble mid-way is worth another try; a file we refuse is not.
        Err(AppError::Provider(message)) => return Err(AppError::Provider(message).into()),
        Err(err) => {
            fail(
                s,
                &row.id,
                format!("the provider's video was refused: {}", err.message()),
            )
            .await?;
            return Ok(());
        }
    };
    let memorial = match store::load_memorial(&s.db, &row.memorial_id).await {
        Ok(memorial) => memorial,
        Err(AppError::NotFound(_)) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    let file_name = format!("animation-{}.{}", row.id, received.format.extension());
    let media = match service::keep(
        s,
        &memorial,
        &row.created_by,
        file_name,
        &received,
        Some(&row.id),
    )
    .await
    {
        Ok(media) => media,
        Err(err @ (AppError::BadInput(_) | AppError::BadRequest { .. })) => {
            fail(
                s,
                &row.id,
                format!("the provider's video was refused: {}", err.message()),
            )
            .await?;
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    let change = Change {
        result_media_id: Some(media.id.clone()),
        ..Change::default()
    };
    let detail = format!("done: the video is medium {}", media.id);
    if advance(s, &row, AnimationStatus::Done, detail, change)
        .await?
        .is_none()
    {
        // Something else finished it meanwhile: this copy is not the one kept.
        service::discard(s, &media).await?;
    }
    Ok(())
}
