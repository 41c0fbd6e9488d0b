//! Keyset pages for the lists that grow: a page size within bounds, and opaque cursors that
//! carry the last row's (time, id), so a page never skips or repeats a row inserted meanwhile.

use async_graphql::connection::{Connection, Edge};
use async_graphql::OutputType;
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

impl<T> Page<T> {
    /// The page as a Relay connection, after a cursor when `has_previous`; each row becomes
    /// a node under the cursor `cursor` makes of it.
    pub fn connection<N: OutputType>(
        self,
        has_previous: bool,
        cursor: impl Fn(&T) -> String,
    ) -> Connection<String, N>
    where
        T: Into<N>,
    {
        let mut connection = Connection::new(has_previous, self.has_next);
        connection.edges = self
            .items
            .into_iter()
            .map(|row| Edge::new(cursor(&row), row.into()))
            .collect();
        connection
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
