//! Memorial media in the GraphQL API: thin resolvers over `service`, `animation` and `store`.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{
    ComplexObject, Context, InputObject, Object, SimpleObject, Subscription, Upload, ID,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::animation::{self, AnimationStepEvent, Order};
use super::entity::{AnimationProvider, AnimationStatus};
use super::format::MediaKind;
use super::links::{self, Variant};
use super::service::{self, NewMemorial};
use super::store;
use crate::error::{AppError, AppResult};
use crate::events::Timeline;
use crate::graphql::context::ContextExt;
use crate::graphql::fanout::{check_after, follow_live};
use crate::graphql::pagination;
use crate::services::Services;

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Memorial {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<store::Memorial> for Memorial {
    fn from(row: store::Memorial) -> Self {
        Self {
            id: ID(row.id),
            name: row.name,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[ComplexObject]
impl Memorial {
    /// Its photos and videos, newest first.
    async fn media(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Media, EmptyFields, EmptyFields>> {
        let first = pagination::page_size(first)?;
        let after = after.as_deref().map(pagination::decode).transpose()?;
        let has_previous = after.is_some();
        let page = store::media_of(ctx.db(), &self.id, after, first).await?;
        Ok(page.connection(has_previous, |row| {
            pagination::encode(row.created_at, &row.id)
        }))
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Media {
    pub id: ID,
    pub memorial_id: ID,
    pub kind: MediaKind,
    /// Decided by the file's content, not its name.
    pub content_type: String,
    pub file_name: String,
    pub size_bytes: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_secs: Option<f64>,
    pub codec: Option<String>,
    /// The animation that made this video, if one did.
    pub animation_id: Option<ID>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    has_thumbnail: bool,
}

impl From<store::Media> for Media {
    fn from(row: store::Media) -> Self {
        Self {
            id: ID(row.id),
            memorial_id: ID(row.memorial_id),
            kind: row.kind,
            content_type: row.content_type,
            file_name: row.file_name,
            size_bytes: row.size_bytes,
            width: row.width,
            height: row.height,
            duration_secs: row.duration_secs,
            codec: row.codec,
            animation_id: row.animation_id.map(ID),
            created_at: row.created_at,
            has_thumbnail: row.thumbnail_key.is_some(),
        }
    }
}

#[ComplexObject]
impl Media {
    /// A signed link to the file (Range requests work), valid for MEDIA_LINK_SECS.
    async fn url(&self, ctx: &Context<'_>) -> String {
        links::signed(ctx.services(), &self.id, Variant::Original)
    }

    /// A signed link to its JPEG thumbnail.
    async fn thumbnail_url(&self, ctx: &Context<'_>) -> Option<String> {
        self.has_thumbnail
            .then(|| links::signed(ctx.services(), &self.id, Variant::Thumbnail))
    }

    /// The animations made of this photo, newest first.
    async fn animations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Animation>> {
        let rows = store::animations_of(ctx.db(), &self.id).await?;
        Ok(rows
            .into_iter()
            .map(|row| Animation::new(ctx.services(), row))
            .collect())
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Animation {
    pub id: ID,
    pub media_id: ID,
    pub memorial_id: ID,
    pub provider: AnimationProvider,
    pub status: AnimationStatus,
    pub script: String,
    pub voice_id: Option<String>,
    /// Why it failed, for a person.
    pub error: Option<String>,
    /// The stored video, once DONE.
    pub result_media_id: Option<ID>,
    /// A signed link to the stored video, once DONE.
    pub video_url: Option<String>,
    /// The sequence of the latest step; pass it as `after` to `animationStatus`.
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Animation {
    fn new(s: &Services, row: store::Animation) -> Self {
        Self {
            video_url: animation::video_url(s, &row),
            id: ID(row.id),
            media_id: ID(row.photo_id),
            memorial_id: ID(row.memorial_id),
            provider: row.provider,
            status: row.status,
            script: row.script,
            voice_id: row.voice_id,
            error: row.error,
            result_media_id: row.result_media_id.map(ID),
            sequence: row.sequence,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[ComplexObject]
impl Animation {
    /// Every step so far, in order.
    async fn steps(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AnimationStepEvent>> {
        let steps = store::steps(ctx.db(), &self.id, 0).await?;
        Ok(steps.into_iter().map(Into::into).collect())
    }
}

#[derive(InputObject)]
pub struct CreateMemorialInput {
    pub name: String,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct AnimatePhotoInput {
    pub media_id: ID,
    /// What the photo says.
    pub script: String,
    /// The provider's voice; leave out for the configured default.
    pub voice_id: Option<String>,
    /// Leave out for the configured default (USE_HEYGEN).
    pub provider: Option<AnimationProvider>,
}

#[derive(Default)]
pub struct MediaQuery;

#[Object]
impl MediaQuery {
    /// The organisation's memorials, newest first.
    async fn memorials(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Memorial, EmptyFields, EmptyFields>> {
        let viewer = ctx.viewer()?;
        let first = pagination::page_size(first)?;
        let after = after.as_deref().map(pagination::decode).transpose()?;
        let has_previous = after.is_some();
        let page = store::memorials(ctx.db(), viewer, after, first).await?;
        Ok(page.connection(has_previous, |row| {
            pagination::encode(row.created_at, &row.id)
        }))
    }

    async fn memorial(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Memorial> {
        Ok(store::memorial(ctx.db(), ctx.viewer()?, &id).await?.into())
    }

    async fn media(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Media> {
        Ok(store::media(ctx.db(), ctx.viewer()?, &id).await?.into())
    }

    async fn animation(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Animation> {
        let row = store::animation(ctx.db(), ctx.viewer()?, &id).await?;
        Ok(Animation::new(ctx.services(), row))
    }
}

#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    async fn create_memorial(
        &self,
        ctx: &Context<'_>,
        input: CreateMemorialInput,
    ) -> async_graphql::Result<Memorial> {
        let new = NewMemorial {
            name: input.name,
            description: input.description,
        };
        Ok(service::create_memorial(ctx.services(), ctx.viewer()?, new)
            .await?
            .into())
    }

    /// Deletes the memorial with all its media and animations.
    async fn delete_memorial(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Memorial> {
        Ok(service::delete_memorial(ctx.services(), ctx.viewer()?, &id)
            .await?
            .into())
    }

    /// Adds a photo (JPEG, PNG, WebP) or video (MP4, MOV, AVI, MKV, WebM) to a memorial,
    /// sent as a GraphQL multipart request. Its type is read from its content.
    async fn upload_media(
        &self,
        ctx: &Context<'_>,
        memorial_id: ID,
        file: Upload,
    ) -> async_graphql::Result<Media> {
        let viewer = ctx.viewer()?;
        let upload = file
            .value(ctx)
            .map_err(|_| AppError::BadInput("the file part is missing".into()))?;
        let chunks = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(upload.content))
            .map(|chunk| chunk.map_err(AppError::internal));
        let media = service::upload(
            ctx.services(),
            viewer,
            &memorial_id,
            Some(&upload.filename),
            chunks,
        )
        .await?;
        Ok(media.into())
    }

    /// Has D-ID or HeyGen make a talking video of a photo; follow it on `animationStatus`.
    async fn animate_photo(
        &self,
        ctx: &Context<'_>,
        input: AnimatePhotoInput,
    ) -> async_graphql::Result<Animation> {
        let order = Order {
            media_id: input.media_id.to_string(),
            script: input.script,
            voice_id: input.voice_id,
            provider: input.provider.map(Into::into),
        };
        let row = animation::animate(ctx.services(), ctx.viewer()?, order).await?;
        Ok(Animation::new(ctx.services(), row))
    }
}

struct StepTimeline {
    services: Services,
    animation_id: String,
}

#[async_trait]
impl Timeline for StepTimeline {
    type Item = AnimationStepEvent;

    fn topic(&self) -> String {
        animation::topic(&self.animation_id)
    }

    async fn snapshot(&self) -> AppResult<Vec<AnimationStepEvent>> {
        self.after(0).await
    }

    async fn after(&self, sequence: i64) -> AppResult<Vec<AnimationStepEvent>> {
        let steps = store::steps(&self.services.db, &self.animation_id, sequence).await?;
        Ok(steps.into_iter().map(Into::into).collect())
    }

    fn is_final(&self, item: &AnimationStepEvent) -> bool {
        item.status.is_final()
    }
}

#[derive(Default)]
pub struct MediaSubscription;

#[Subscription]
impl MediaSubscription {
    /// Every step of the animation so far, then each new one; ends after DONE or FAILED.
    /// Reconnecting with `after: <last sequence seen>` delivers exactly what was missed.
    async fn animation_status(
        &self,
        ctx: &Context<'_>,
        animation_id: ID,
        after: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<AnimationStepEvent>>> {
        let row = store::animation(ctx.db(), ctx.viewer()?, &animation_id).await?;
        check_after(after, row.sequence, "animation")?;
        let timeline = StepTimeline {
            services: ctx.services().clone(),
            animation_id: row.id,
        };
        Ok(follow_live(ctx, timeline, after))
    }
}
