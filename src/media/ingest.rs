//! A file on its way in: spooled to a temporary file under the data directory as it
//! streams (never whole in memory), refused the moment it passes the size limit, its format
//! read from its first bytes; then probed, copied into storage with its thumbnail, and only
//! then recorded. Nothing of a refused file is kept.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use super::format::{Format, SNIFF_BYTES};
use super::probe::{self, Probed, Tools};
use crate::error::{AppError, AppResult};
use crate::providers::storage::Storage;

/// A received file in the incoming folder; removed when dropped.
pub struct Received {
    pub path: PathBuf,
    pub size: u64,
    pub format: Format,
}

impl Drop for Received {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.path) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %err, "could not remove a received file");
            }
        }
    }
}

/// Removes a partly written file when receiving stops early.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            std::fs::remove_file(path).ok();
        }
    }
}

pub fn too_large(limit: u64) -> AppError {
    AppError::bad_request(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the file is larger than the {limit} bytes this server takes (MEDIA_MAX_BYTES)"),
    )
}

/// Streams `chunks` into `dir`, refusing past `limit` bytes or when the first bytes are not
/// a photo or video we take.
pub async fn receive<S>(dir: &Path, limit: u64, mut chunks: S) -> AppResult<Received>
where
    S: Stream<Item = AppResult<Bytes>> + Unpin,
{
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(AppError::internal)?;
    let path = dir.join(uuid::Uuid::new_v4().to_string());
    let mut partial = Partial(Some(path.clone()));
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(AppError::internal)?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut format = None;
    let mut size = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        if format.is_none() {
            head.extend_from_slice(&chunk[..chunk.len().min(SNIFF_BYTES - head.len())]);
            if head.len() == SNIFF_BYTES {
                format = Some(sniffed(&head)?);
            }
        }
        file.write_all(&chunk).await.map_err(AppError::internal)?;
    }
    let format = match format {
        Some(format) => format,
        None => sniffed(&head)?,
    };
    file.flush().await.map_err(AppError::internal)?;
    file.sync_all().await.map_err(AppError::internal)?;
    partial.0 = None;
    Ok(Received { path, size, format })
}

fn sniffed(head: &[u8]) -> AppResult<Format> {
    Format::sniff(head).ok_or_else(|| {
        AppError::BadInput(
            "the file is not a photo (JPEG, PNG, WebP) or a video (MP4, MOV, AVI, MKV, WebM)"
                .into(),
        )
    })
}

/// Where a stored file's bytes and thumbnail went.
pub struct Stored {
    pub storage_key: String,
    pub thumbnail_key: Option<String>,
    pub probed: Probed,
}

/// Probes the file and copies it, and its thumbnail, into storage under `key_base`.
/// On failure nothing stays in storage.
pub async fn store(
    tools: &Tools,
    storage: &Storage,
    received: &Received,
    key_base: &str,
) -> AppResult<Stored> {
    let mut probed = probe::probe(tools, &received.path, received.format).await?;
    let storage_key = format!("{key_base}/original.{}", received.format.extension());
    storage.put_file(&storage_key, &received.path).await?;
    let thumbnail_key = match probed.thumbnail.take() {
        Some(jpeg) => {
            let key = format!("{key_base}/thumbnail.jpg");
            if let Err(err) = storage.put_bytes(&key, Bytes::from(jpeg)).await {
                forget(storage, &[storage_key.as_str()]).await;
                return Err(err.into());
            }
            Some(key)
        }
        None => None,
    };
    Ok(Stored {
        storage_key,
        thumbnail_key,
        probed,
    })
}

/// Removes stored objects nothing will point at (a failed write, a deleted row). A failure
/// is logged: the object is orphaned, not reachable.
pub async fn forget(storage: &Storage, keys: &[&str]) {
    for key in keys {
        if let Err(err) = storage.delete(key).await {
            tracing::warn!(key, error = %err.describe(), "could not remove a stored media object");
        }
    }
}
