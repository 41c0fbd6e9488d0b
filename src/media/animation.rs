//! Talking-photo animations: `animate` records the order and a durable job, whose steps
//! (`animation_job`) send the photo to D-ID or HeyGen, follow the video, and copy it into our
//! storage; `callback` takes the provider's word that it is ready. Every step is recorded
//! through `advance`, a conditional update on the animation's sequence, and streamed on
//! `animationStatus`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{animation, animation_step, AnimationProvider, AnimationStatus};
use super::format::MediaKind;
use super::store::{self, Animation, AnimationStep};
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::jobs::NewJob;
use crate::providers::animator::AnimatorKind;
use crate::services::Services;
use crate::webhooks::{self, EventType, Outgoing};

pub const JOB: &str = "media.animate";
const SCRIPT_CHARS: usize = 5000;
const VOICE_CHARS: usize = 200;
/// The largest photo sent to a provider (D-ID takes 10 MB).
pub(super) const PHOTO_MAX_BYTES: u64 = 10 * 1024 * 1024;
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
pub(super) struct Payload {
    pub(super) animation_id: String,
}

pub(super) fn job(
    s: &Services,
    animation_id: &str,
    key: String,
    delay: Duration,
) -> AppResult<NewJob> {
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
pub(super) struct Change {
    pub(super) remote_id: Option<String>,
    pub(super) remote_video_url: Option<String>,
    pub(super) result_media_id: Option<String>,
    pub(super) error: Option<String>,
    pub(super) deadline_at: Option<DateTime<Utc>>,
}

/// Moves the animation on from the state `from` was read in: `None` when something else
/// moved it first.
pub(super) async fn advance(
    s: &Services,
    from: &Animation,
    to: AnimationStatus,
    detail: String,
    change: Change,
) -> AppResult<Option<Animation>> {
    let now = s.clock.now();
    let sequence = from.sequence + 1;
    let completed = to.is_final().then(|| {
        let media_id = change
            .result_media_id
            .as_ref()
            .or(from.result_media_id.as_ref());
        let data = json!({
            "animationId": from.id,
            "memorialId": from.memorial_id,
            "photoId": from.photo_id,
            "provider": from.provider,
            "status": to,
            "resultMediaId": media_id,
            "videoUrl": media_id.map(|id| super::links::signed(s, id, super::links::Variant::Original)),
            "error": change.error.as_ref().or(from.error.as_ref()),
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
pub(super) fn callback_url(s: &Services, animation_id: &str) -> Option<url::Url> {
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
