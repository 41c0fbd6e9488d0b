//! Keyset pages for the lists that grow: a page size within bounds, and opaque cursors that
//! carry the last row's (time, id), so a page never skips or repeats a row inserted meanwhile.

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::error::{AppError, AppResult};

/// One page of a list, and whether more follow it.
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// The page out of `first + 1` rows read: the extra one only says that more follow.
    pub fn of(mut rows: Vec<T>, first: u64) -> Self {
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Self {
            items: rows,
            has_next,
        }
    }
}

/// `first` as a page size: 1 to 100.
pub fn page_size(first: i32) -> AppResult<u64> {
    if !(1..=100).contains(&first) {
        return Err(AppError::BadInput("first must be between 1 and 100".into()));
    }
    Ok(first as u64)
}

/// The cursor after the row of `at` and `id`.
pub fn encode(at: DateTime<Utc>, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}|{id}", at.timestamp_micros()))
}

/// The (time, id) a cursor from [`encode`] carries; anything else is BAD_USER_INPUT.
pub fn decode(cursor: &str) -> AppResult<(DateTime<Utc>, String)> {
    let bad = || AppError::BadInput("after is not a cursor from this list".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (micros, id) = text.split_once('|').ok_or_else(bad)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((at, id.to_string()))
}
