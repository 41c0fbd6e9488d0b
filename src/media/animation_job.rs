//! The animation job's steps: send the photo to the provider, follow the video by polling
//! (or at once after its callback), copy the finished video into storage, or end FAILED with
//! a reason a person can act on. Each step moves the animation with `animation::advance`, a
//! conditional update, so a callback's poll and a scheduled one that race move it once.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use super::animation::{advance, callback_url, job, Change, Payload, JOB, PHOTO_MAX_BYTES};
use super::entity::AnimationStatus;
use super::store::{self, Animation};
use super::{ingest, service, MediaConfig};
use crate::error::{AppError, AppResult};
use crate::jobs::{ClaimedJob, JobFailure, JobHandler};
use crate::providers::animator::{AnimationOrder, Animator, Photo, RemoteState};
use crate::providers::ProviderError;
use crate::services::Services;

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
