//! Memorials and their media: the commands, with their role checks. Managers and admins
//! write; viewers read; another organisation's rows do not exist for the caller.

use bytes::Bytes;
use futures_util::Stream;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};

use super::entity::{media, memorial};
use super::ingest::{self, Received};
use super::probe::Tools;
use super::store::{self, Media, Memorial};
use super::MediaConfig;
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::services::Services;

const NAME_CHARS: usize = 200;
const DESCRIPTION_CHARS: usize = 5000;
const FILE_NAME_CHARS: usize = 255;

pub struct NewMemorial {
    pub name: String,
    pub description: Option<String>,
}

pub fn tools(s: &Services) -> Tools {
    Tools {
        ffprobe: s.config.media.ffprobe_path.clone(),
        ffmpeg: s.config.meetings.ffmpeg_path.clone(),
        timeout: s.config.media.tool_timeout(),
        photo_max_pixels: s.config.media.photo_max_pixels,
    }
}

pub async fn create_memorial(
    s: &Services,
    viewer: &Viewer,
    new: NewMemorial,
) -> AppResult<Memorial> {
    viewer.require(Role::Manager)?;
    let name = crate::input::line("name", &new.name, NAME_CHARS)?;
    let description = new
        .description
        .filter(|d| !d.trim().is_empty())
        .map(|d| crate::input::text("description", &d, DESCRIPTION_CHARS))
        .transpose()?;
    let now = s.clock.now();
    let row = memorial::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        org_id: Set(viewer.org_id.clone()),
        name: Set(name),
        description: Set(description),
        created_by: Set(viewer.user_id.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(row.insert(&s.db).await?)
}

/// Deletes the memorial with its media and animations, then their stored bytes.
pub async fn delete_memorial(s: &Services, viewer: &Viewer, id: &str) -> AppResult<Memorial> {
    viewer.require(Role::Manager)?;
    let row = store::memorial(&s.db, viewer, id).await?;
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = store::media_of(&s.db, &row.id, after, 500).await?;
        for item in &page.items {
            keys.push(item.storage_key.clone());
            keys.extend(item.thumbnail_key.clone());
        }
        match page.items.last() {
            Some(last) if page.has_next => after = Some((last.created_at, last.id.clone())),
            _ => break,
        }
    }
    // The media and animations go with it (foreign keys cascade).
    memorial::Entity::delete_by_id(row.id.clone())
        .exec(&s.db)
        .await?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    ingest::forget(&s.storage, &keys).await;
    Ok(row)
}

/// What an uploaded file is called, as the client named it (shown, never trusted).
fn file_name(name: Option<&str>) -> String {
    let name = name
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n))
        .unwrap_or_default();
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(FILE_NAME_CHARS)
        .collect();
    if clean.trim().is_empty() {
        "upload".into()
    } else {
        clean
    }
}

/// Receives a file into a memorial: streamed in under the size limit, checked, stored with
/// its thumbnail, recorded.
pub async fn upload<S>(
    s: &Services,
    viewer: &Viewer,
    memorial_id: &str,
    name: Option<&str>,
    chunks: S,
) -> AppResult<Media>
where
    S: Stream<Item = AppResult<Bytes>> + Unpin,
{
    viewer.require(Role::Manager)?;
    let memorial = store::memorial(&s.db, viewer, memorial_id).await?;
    let received = ingest::receive(
        &MediaConfig::incoming_dir(&s.config.data_dir),
        s.config.media.max_bytes,
        chunks,
    )
    .await?;
    keep(
        s,
        &memorial,
        &viewer.user_id,
        file_name(name),
        &received,
        None,
    )
    .await
}

/// Probes and stores a received file, and records it in the memorial.
pub async fn keep(
    s: &Services,
    memorial: &Memorial,
    by: &str,
    file_name: String,
    received: &Received,
    animation_id: Option<&str>,
) -> AppResult<Media> {
    let id = uuid::Uuid::new_v4().to_string();
    let key_base = format!("{}/{}/{id}", memorial.org_id, memorial.id);
    let stored = ingest::store(&tools(s), &s.storage, received, &key_base).await?;
    let as_int = |v: Option<u32>| v.and_then(|v| i32::try_from(v).ok());
    let row = media::ActiveModel {
        id: Set(id),
        org_id: Set(memorial.org_id.clone()),
        memorial_id: Set(memorial.id.clone()),
        kind: Set(received.format.kind()),
        content_type: Set(received.format.content_type().to_string()),
        file_name: Set(file_name),
        size_bytes: Set(i64::try_from(received.size).map_err(AppError::internal)?),
        width: Set(as_int(stored.probed.width)),
        height: Set(as_int(stored.probed.height)),
        duration_secs: Set(stored.probed.duration_secs),
        codec: Set(stored.probed.codec.clone()),
        storage_key: Set(stored.storage_key.clone()),
        thumbnail_key: Set(stored.thumbnail_key.clone()),
        animation_id: Set(animation_id.map(str::to_string)),
        created_by: Set(by.to_string()),
        created_at: Set(s.clock.now()),
    };
    // A memorial deleted meanwhile fails the insert (its foreign key): the bytes go too.
    let inserted = row.insert(&s.db).await.map_err(AppError::from);
    if inserted.is_err() {
        let mut keys = vec![stored.storage_key.as_str()];
        keys.extend(stored.thumbnail_key.as_deref());
        ingest::forget(&s.storage, &keys).await;
    }
    inserted
}

/// Removes a medium nothing points at, row and bytes.
pub async fn discard(s: &Services, media: &Media) -> AppResult<()> {
    media::Entity::delete_by_id(media.id.clone())
        .exec(&s.db)
        .await?;
    let mut keys = vec![media.storage_key.as_str()];
    keys.extend(media.thumbnail_key.as_deref());
    ingest::forget(&s.storage, &keys).await;
    Ok(())
}
