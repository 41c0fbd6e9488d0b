//! Reads: memorials, media and animations as their organisation may see them.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::{animation, animation_step, media, memorial};
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::Page;

pub use animation::Model as Animation;
pub use animation_step::Model as AnimationStep;
pub use media::Model as Media;
pub use memorial::Model as Memorial;

/// Rows after the keyset cursor `(created_at, id)`, newest first.
fn before<C: ColumnTrait>(at_column: C, id_column: C, after: (DateTime<Utc>, String)) -> Condition {
    let (at, id) = after;
    Condition::any()
        .add(at_column.lt(at))
        .add(Condition::all().add(at_column.eq(at)).add(id_column.lt(id)))
}

pub async fn memorial(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<Memorial> {
    let row = load_memorial(db, &crate::input::id(id, "memorial")?).await?;
    viewer.owns(&row.org_id, "memorial")?;
    Ok(row)
}

pub async fn memorials(
    db: &DatabaseConnection,
    viewer: &Viewer,
    after: Option<(DateTime<Utc>, String)>,
    first: u64,
) -> AppResult<Page<Memorial>> {
    let mut query = memorial::Entity::find().filter(memorial::Column::OrgId.eq(&viewer.org_id));
    if let Some(after) = after {
        query = query.filter(before(
            memorial::Column::CreatedAt,
            memorial::Column::Id,
            after,
        ));
    }
    let items = query
        .order_by_desc(memorial::Column::CreatedAt)
        .order_by_desc(memorial::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    Ok(Page::of(items, first))
}

/// A medium by id, for the domain's own work (links, jobs).
pub async fn load_media(db: &DatabaseConnection, id: &str) -> AppResult<Media> {
    media::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("media"))
}

pub async fn media(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<Media> {
    let row = load_media(db, &crate::input::id(id, "media")?).await?;
    viewer.owns(&row.org_id, "media")?;
    Ok(row)
}

/// A memorial's media (the caller has been checked to own it), newest first.
pub async fn media_of(
    db: &DatabaseConnection,
    memorial_id: &str,
    after: Option<(DateTime<Utc>, String)>,
    first: u64,
) -> AppResult<Page<Media>> {
    let mut query = media::Entity::find().filter(media::Column::MemorialId.eq(memorial_id));
    if let Some(after) = after {
        query = query.filter(before(media::Column::CreatedAt, media::Column::Id, after));
    }
    let items = query
        .order_by_desc(media::Column::CreatedAt)
        .order_by_desc(media::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    Ok(Page::of(items, first))
}

pub async fn load_animation(db: &DatabaseConnection, id: &str) -> AppResult<Animation> {
    animation::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("animation"))
}

pub async fn animation(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<Animation> {
    let row = load_animation(db, &crate::input::id(id, "animation")?).await?;
    viewer.owns(&row.org_id, "animation")?;
    Ok(row)
}

/// The animations made of a photo, newest first.
pub async fn animations_of(db: &DatabaseConnection, photo_id: &str) -> AppResult<Vec<Animation>> {
    Ok(animation::Entity::find()
        .filter(animation::Column::PhotoId.eq(photo_id))
        .order_by_desc(animation::Column::CreatedAt)
        .all(db)
        .await?)
}

/// An animation's steps with a sequence above `after`, in order.
pub async fn steps(
    db: &DatabaseConnection,
    animation_id: &str,
    after: i64,
) -> AppResult<Vec<AnimationStep>> {
    Ok(animation_step::Entity::find()
        .filter(animation_step::Column::AnimationId.eq(animation_id))
        .filter(animation_step::Column::Sequence.gt(after))
        .order_by_asc(animation_step::Column::Sequence)
        .all(db)
        .await?)
}

/// A memorial by id, for the domain's own work.
pub async fn load_memorial(db: &DatabaseConnection, id: &str) -> AppResult<Memorial> {
    memorial::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("memorial"))
}
