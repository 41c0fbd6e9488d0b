//! Media bytes over HTTP, for whoever holds a signed link: streamed from storage, with
//! `Range` requests answered (206) so a browser can seek in a video.

use std::ops::Range;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;

use super::links::{self, Variant};
use super::store;
use crate::error::{AppError, AppResult};
use crate::services::Services;

#[derive(Deserialize)]
pub struct Link {
    exp: Option<i64>,
    sig: Option<String>,
}

pub async fn original(
    State(s): State<Services>,
    Path(id): Path<String>,
    Query(link): Query<Link>,
    headers: HeaderMap,
) -> AppResult<Response> {
    serve(&s, &id, Variant::Original, link, &headers).await
}

pub async fn thumbnail(
    State(s): State<Services>,
    Path(id): Path<String>,
    Query(link): Query<Link>,
    headers: HeaderMap,
) -> AppResult<Response> {
    serve(&s, &id, Variant::Thumbnail, link, &headers).await
}

/// What a `Range` header asks of an object of `size` bytes: `None` for the whole object
/// (no header, or one we answer whole: several ranges, another unit), `Err` when it cannot
/// be satisfied.
pub fn requested_range(header: Option<&str>, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        // The last `end` bytes.
        let suffix: u64 = end.parse().map_err(|_| ())?;
        if suffix == 0 {
            return Err(());
        }
        size.saturating_sub(suffix)..size
    } else {
        let start: u64 = start.parse().map_err(|_| ())?;
        let end = if end.is_empty() {
            size
        } else {
            let last: u64 = end.parse().map_err(|_| ())?;
            if last < start {
                return Err(());
            }
            last.saturating_add(1).min(size)
        };
        start..end
    };
    if range.start >= size {
        return Err(());
    }
    Ok(Some(range))
}

async fn serve(
    s: &Services,
    id: &str,
    variant: Variant,
    link: Link,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let id = crate::input::id(id, "media")?;
    let (Some(expires), Some(signature)) = (link.exp, link.sig) else {
        return Err(AppError::Unauthenticated(
            "media are served by signed links: ask GraphQL for the medium's url".into(),
        ));
    };
    links::check(s, &id, variant, expires, &signature)?;
    let media = store::load_media(&s.db, &id).await?;
    let (key, content_type) = match variant {
        Variant::Original => (media.storage_key.clone(), media.content_type.clone()),
        Variant::Thumbnail => (
            media
                .thumbnail_key
                .clone()
                .ok_or_else(|| AppError::not_found("thumbnail"))?,
            "image/jpeg".to_string(),
        ),
    };
    let size = s.storage.size(&key).await?;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let Ok(range) = requested_range(range_header, size) else {
        let mut response = AppError::bad_request(
            StatusCode::RANGE_NOT_SATISFIABLE,
            format!("the range is outside the file's {size} bytes"),
        )
        .into_response();
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes */{size}")).map_err(AppError::internal)?,
        );
        return Ok(response);
    };
    let fetched = s.storage.get(&key, range.clone()).await?;
    let stream = fetched
        .stream
        .map_err(|err| std::io::Error::other(err.describe()));
    let mut response = Response::new(Body::from_stream(stream));
    let set = |response: &mut Response, name, value: String| -> AppResult<()> {
        response.headers_mut().insert(
            name,
            HeaderValue::from_str(&value).map_err(AppError::internal)?,
        );
        Ok(())
    };
    set(&mut response, header::CONTENT_TYPE, content_type)?;
    set(&mut response, header::ACCEPT_RANGES, "bytes".into())?;
    set(
        &mut response,
        header::CONTENT_LENGTH,
        (fetched.range.end - fetched.range.start).to_string(),
    )?;
    // The link expires; a cache must not keep serving it after.
    set(
        &mut response,
        header::CACHE_CONTROL,
        "private, max-age=300".into(),
    )?;
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(
            &mut response,
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                fetched.range.start,
                fetched.range.end - 1,
                fetched.size
            ),
        )?;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::requested_range;

    #[test]
    fn range_headers_are_read_as_rfc_9110_says() {
        assert_eq!(requested_range(None, 100), Ok(None));
        assert_eq!(requested_range(Some("bytes=0-9"), 100), Ok(Some(0..10)));
        assert_eq!(requested_range(Some("bytes=90-"), 100), Ok(Some(90..100)));
        assert_eq!(requested_range(Some("bytes=-10"), 100), Ok(Some(90..100)));
        assert_eq!(
            requested_range(Some("bytes=95-200"), 100),
            Ok(Some(95..100))
        );
        assert_eq!(requested_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(requested_range(Some("items=0-1"), 100), Ok(None));
        assert_eq!(requested_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(requested_range(Some("bytes=9-3"), 100), Err(()));
        assert_eq!(requested_range(Some("bytes=-0"), 100), Err(()));
        assert_eq!(requested_range(Some("bytes=x-y"), 100), Err(()));
    }
}
