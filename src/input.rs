//! Text from outside (callers, webhooks, providers) on its way to the database. Postgres
//! refuses U+0000 in text, and a name, key or id has no use for any control character, so
//! none of it gets as far as an SQL error.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AppError, AppResult};

/// A caller's one-line value: trimmed, 1 to `max_chars` characters, no control characters.
pub fn line(field: &str, value: &str, max_chars: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max_chars {
        return Err(AppError::BadInput(format!(
            "{field} must be 1 to {max_chars} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(AppError::BadInput(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(value.to_string())
}

/// A caller's text that may run over lines (a prompt, a message): 1 to `max_chars`
/// characters, no control characters but line breaks and tabs.
pub fn text(field: &str, value: &str, max_chars: usize) -> AppResult<String> {
    if value.trim().is_empty() || value.chars().count() > max_chars {
        return Err(AppError::BadInput(format!(
            "{field} must be 1 to {max_chars} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::BadInput(format!(
            "{field} must not contain control characters other than line breaks and tabs"
        )));
    }
    Ok(value.to_string())
}

/// One of our ids (a UUID, in the form we store it): anything else names nothing.
pub fn id(value: &str, what: &str) -> AppResult<String> {
    uuid::Uuid::parse_str(value.trim())
        .map(|id| id.to_string())
        .map_err(|_| AppError::not_found(what))
}

/// Whether any string in `value`, key or element, holds U+0000.
pub fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A provider's JSON answer as `T`, with U+0000 removed from its strings: it carries no
/// meaning there, and an answer we must keep cannot be sent back.
pub fn provider_json<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    let mut value: Value = serde_json::from_slice(bytes)?;
    strip_nul(&mut value);
    serde_json::from_value(value)
}

fn strip_nul(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('\0') => text.retain(|c| c != '\0'),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(fields) => {
            if fields.keys().any(|k| k.contains('\0')) {
                *fields = std::mem::take(fields)
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', ""), v))
                    .collect();
            }
            fields.values_mut().for_each(strip_nul);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_line_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(line("botName", "  Scribe ", 10).unwrap(), "Scribe");
        for bad in ["", "   ", "elevenchars", "Scri\0be", "Scri\u{7}be", "a\nb"] {
            assert_eq!(
                line("botName", bad, 10).unwrap_err().code(),
                "BAD_USER_INPUT",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_a_uuid_is_one_of_our_ids() {
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(super::id(&id.to_uppercase(), "bot").unwrap(), id);
        for bad in ["", "a\0b", "../../etc", &format!("{id}\0")] {
            assert_eq!(
                super::id(bad, "bot").unwrap_err().code(),
                "NOT_FOUND",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nul_is_found_and_stripped_anywhere_in_json() {
        let answer = r#"{"a": [1, {"b\u0000": "x\u0000y"}], "c": "clean"}"#;
        assert!(has_nul(&serde_json::from_str(answer).unwrap()));
        let stripped: Value = provider_json(answer.as_bytes()).unwrap();
        assert_eq!(stripped, json!({"a": [1, {"b": "xy"}], "c": "clean"}));
        assert!(!has_nul(&stripped));
    }
}
