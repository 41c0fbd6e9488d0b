//! Where media are kept, through the `object_store` crate: the local filesystem (under the
//! data directory by default) or any S3-compatible service (AWS, MinIO, R2) when
//! `STORAGE_URL=s3://bucket/prefix`. Writes stream in parts; reads stream, by range.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::http::ProviderError;

const SERVICE: &str = "storage";
/// What one part of a streamed write holds (S3 takes parts of 5 MiB and more).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts in flight at once while a file is written.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

/// An object's bytes, whole or a range of them.
pub struct Fetched {
    /// The object's whole size.
    pub size: u64,
    /// The bytes `stream` holds.
    pub range: Range<u64>,
    pub stream: BoxStream<'static, Result<Bytes, ProviderError>>,
}

fn failed(err: object_store::Error) -> ProviderError {
    match err {
        object_store::Error::NotFound { .. } => ProviderError {
            status: Some(404),
            ..ProviderError::refused(SERVICE, "the object is not in storage")
        },
        other => ProviderError::new(SERVICE, other.to_string()),
    }
}

impl Storage {
    /// `file:///path` or `s3://bucket[/prefix]`; `None` keeps media under `data_dir/media`.
    pub fn from_url(url: Option<&str>, data_dir: &FsPath) -> anyhow::Result<Self> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        match url {
            Some(url) if url.starts_with("s3://") => {
                let rest = &url["s3://".len()..];
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    anyhow::bail!("STORAGE_URL s3://… needs a bucket name");
                }
                let store = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()?;
                Ok(Self {
                    store: Arc::new(store),
                    prefix: Path::from(prefix),
                })
            }
            Some(url) => {
                let dir = url
                    .strip_prefix("file://")
                    .ok_or_else(|| anyhow::anyhow!("STORAGE_URL must be file:// or s3://"))?;
                Self::local(FsPath::new(dir))
            }
            None => Self::local(&data_dir.join("media")),
        }
    }

    fn local(dir: &FsPath) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true)),
            prefix: Path::default(),
        })
    }

    fn path(&self, key: &str) -> Path {
        self.prefix.parts().chain(Path::from(key).parts()).collect()
    }

    /// Streams a local file into storage under `key`, a part at a time; its size.
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<u64, ProviderError> {
        let io = |err: std::io::Error| ProviderError::new(SERVICE, format!("reading {err}"));
        let mut source = tokio::fs::File::open(file).await.map_err(io)?;
        let upload = self
            .store
            .put_multipart(&self.path(key))
            .await
            .map_err(failed)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buffer = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let read = match source.read(&mut buffer).await {
                Ok(read) => read,
                Err(err) => {
                    writer.abort().await.ok();
                    return Err(io(err));
                }
            };
            if read == 0 {
                break;
            }
            size += read as u64;
            if let Err(err) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                return Err(failed(err));
            }
            writer.write(&buffer[..read]);
        }
        writer.finish().await.map_err(failed)?;
        Ok(size)
    }

    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), ProviderError> {
        self.store
            .put(&self.path(key), bytes.into())
            .await
            .map(drop)
            .map_err(failed)
    }

    /// The object under `key`, or `range` of it (clipped to its end).
    pub async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Fetched, ProviderError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&self.path(key), options)
            .await
            .map_err(failed)?;
        Ok(Fetched {
            size: result.meta.size,
            range: result.range.clone(),
            stream: result.into_stream().map_err(failed).boxed(),
        })
    }

    /// The object's size, without reading it.
    pub async fn size(&self, key: &str) -> Result<u64, ProviderError> {
        Ok(self.store.head(&self.path(key)).await.map_err(failed)?.size)
    }

    /// Removes the object; one already gone is no error.
    pub async fn delete(&self, key: &str) -> Result<(), ProviderError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(failed(err)),
        }
    }
}
