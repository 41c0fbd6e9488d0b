//! A conversation as CSV (RFC 4180, via the `csv` crate), streamed a page of messages at a
//! time, for a caller of the organisation or for whoever holds a short-lived signed link.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use futures_util::StreamExt;

use super::lifecycle::{Conversation, StoredMessage};
use super::store;
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::services::Services;

/// How long a signed export link works.
const LINK_SECS: i64 = 300;
const PURPOSE: &str = "conversation-export";
const PAGE: u64 = 500;

const HEADER: [&str; 8] = [
    "time",
    "role",
    "author",
    "text",
    "original_text",
    "language",
    "sentiment",
    "delivery_status",
];

/// A link to the conversation's CSV that works without a token for a few minutes.
pub async fn signed_link(
    s: &Services,
    viewer: &Viewer,
    conversation_id: &str,
) -> AppResult<String> {
    let conversation = store::get(&s.db, viewer, conversation_id).await?;
    let expires = s.clock.now().timestamp() + LINK_SECS;
    let signature = s
        .secrets
        .sign(PURPOSE, &format!("{}|{expires}", conversation.id));
    Ok(format!(
        "{}/api/conversations/{}/export?exp={expires}&sig={signature}",
        s.config.public_base_url.as_str().trim_end_matches('/'),
        conversation.id
    ))
}

/// The conversation a signed link names, if the link is genuine and not expired.
pub async fn by_link(
    s: &Services,
    conversation_id: &str,
    expires: i64,
    signature: &str,
) -> AppResult<Conversation> {
    let id = crate::input::id(conversation_id, "conversation")?;
    let genuine = s
        .secrets
        .verify(PURPOSE, &format!("{id}|{expires}"), signature);
    if !genuine || expires < s.clock.now().timestamp() {
        return Err(AppError::Unauthenticated(
            "the export link is not valid or has expired".into(),
        ));
    }
    store::load(&s.db, &id).await
}

pub async fn for_viewer(
    s: &Services,
    viewer: &Viewer,
    conversation_id: &str,
) -> AppResult<Conversation> {
    store::get(&s.db, viewer, conversation_id).await
}

/// A cell a spreadsheet would read as a formula starts with a quote instead (a plain number
/// such as a negative sentiment is no formula and stays as it is).
fn neutralised(cell: &str) -> String {
    if cell.parse::<f64>().is_ok_and(f64::is_finite) {
        return cell.to_string();
    }
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

fn row(message: &StoredMessage) -> [String; 8] {
    [
        message.created_at.to_rfc3339(),
        format!("{:?}", message.role).to_uppercase(),
        message.author.clone().unwrap_or_default(),
        message.text.clone(),
        message.original_text.clone().unwrap_or_default(),
        message.language.clone().unwrap_or_default(),
        message
            .sentiment
            .map(|score| format!("{score:.3}"))
            .unwrap_or_default(),
        format!("{:?}", message.delivery).to_uppercase(),
    ]
}

fn csv_bytes<R: IntoIterator<Item = [String; 8]>>(
    rows: R,
    header: bool,
) -> Result<Bytes, AppError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |err: csv::Error| AppError::internal(format!("csv: {err}"));
    if header {
        writer.write_record(HEADER).map_err(failed)?;
    }
    for row in rows {
        writer
            .write_record(row.iter().map(|cell| neutralised(cell)))
            .map_err(failed)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|err| AppError::internal(format!("csv: {err}")))?;
    Ok(Bytes::from(bytes))
}

/// The download: the header, then each page of messages as it is read.
pub fn download(s: Services, conversation: Conversation) -> Response {
    let id = conversation.id.clone();
    let pages = futures_util::stream::unfold(Some(0i64), move |after| {
        let s = s.clone();
        let id = id.clone();
        async move {
            let after = after?;
            let page = match store::messages(&s.db, &id, after, PAGE).await {
                Ok(page) => page,
                Err(err) => {
                    return Some((Err(std::io::Error::other(err.message().to_string())), None))
                }
            };
            let next = page
                .has_next
                .then(|| page.items.last().map(|m| m.position))
                .flatten();
            let chunk = csv_bytes(page.items.iter().map(row), after == 0)
                .map_err(|err| std::io::Error::other(err.message().to_string()));
            Some((chunk, next))
        }
    });
    let mut response = Response::new(Body::from_stream(pages.boxed()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"conversation-{}.csv\"",
        conversation.id
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_spreadsheets_would_run_as_formulas_are_neutralised() {
        assert_eq!(neutralised("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralised("+cmd"), "'+cmd");
        assert_eq!(neutralised("+1"), "+1", "a number is no formula");
        assert_eq!(
            neutralised("-2+3+cmd|' /C calc'!A0"),
            "'-2+3+cmd|' /C calc'!A0"
        );
        assert_eq!(neutralised("-0.817"), "-0.817");
        assert_eq!(neutralised("@sum"), "'@sum");
        assert_eq!(neutralised("plain, \"quoted\""), "plain, \"quoted\"");
    }
}
