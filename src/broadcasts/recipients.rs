//! A broadcast's recipients as a caller gives them: each read in its channel's form (a
//! Telegram chat id is an integer, a WhatsApp number E.164 digits, an Instagram-scoped id
//! digits), written the one way the channel takes it, and each kept once. Pure: no I/O.

use std::collections::HashSet;

use crate::channels::{phone_digits, IntegrationKind};
use crate::error::{AppError, AppResult};

/// The most recipients one broadcast takes.
pub const MOST: usize = 100_000;

/// How many bad recipients an error names.
const NAMED: usize = 5;

/// The recipients in the form the channel takes, the first of each kept, in order; any bad
/// one refuses them all.
pub fn normalize(kind: IntegrationKind, given: &[String]) -> AppResult<Vec<String>> {
    if given.is_empty() {
        return Err(AppError::BadInput("recipients must not be empty".into()));
    }
    if given.len() > MOST {
        return Err(AppError::BadInput(format!(
            "at most {MOST} recipients per broadcast ({} given)",
            given.len()
        )));
    }
    let mut seen = HashSet::with_capacity(given.len());
    let mut kept = Vec::with_capacity(given.len());
    let mut bad = Vec::new();
    for (index, raw) in given.iter().enumerate() {
        match one(kind, raw) {
            Some(recipient) => {
                if seen.insert(recipient.clone()) {
                    kept.push(recipient);
                }
            }
            None => bad.push(index),
        }
    }
    if !bad.is_empty() {
        let named: Vec<String> = bad
            .iter()
            .take(NAMED)
            .map(|&index| format!("#{index} {:?}", shorten(&given[index])))
            .collect();
        return Err(AppError::BadInput(format!(
            "{} recipient(s) are not {}: {}",
            bad.len(),
            what(kind),
            named.join(", ")
        )));
    }
    Ok(kept)
}

fn what(kind: IntegrationKind) -> &'static str {
    match kind {
        IntegrationKind::Telegram => "Telegram chat ids (integers)",
        IntegrationKind::WhatsappCloud => "E.164 phone numbers",
        IntegrationKind::WhatsappDevice => {
            "E.164 phone numbers or WhatsApp chat ids (<digits>@c.us)"
        }
        IntegrationKind::Instagram => "Instagram-scoped user ids (digits)",
        IntegrationKind::Sandbox => "non-empty names of at most 64 characters",
    }
}

/// At most 32 characters of a bad value, for the error.
fn shorten(value: &str) -> String {
    value.chars().take(32).collect()
}

fn one(kind: IntegrationKind, raw: &str) -> Option<String> {
    let value = raw.trim();
    match kind {
        IntegrationKind::Telegram => value.parse::<i64>().ok().map(|id| id.to_string()),
        IntegrationKind::WhatsappCloud => phone_digits(value),
        // WAHA's chat id of a person; a group's (`@g.us`) is no recipient.
        IntegrationKind::WhatsappDevice => {
            let number = ["@c.us", "@s.whatsapp.net"]
                .into_iter()
                .find_map(|suffix| value.strip_suffix(suffix))
                .unwrap_or(value);
            phone_digits(number).map(|digits| format!("{digits}@c.us"))
        }
        IntegrationKind::Instagram => {
            let valid =
                (1..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
            valid.then(|| value.to_string())
        }
        IntegrationKind::Sandbox => {
            let valid = !value.is_empty()
                && value.chars().count() <= 64
                && !value.chars().any(char::is_control);
            valid.then(|| value.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn each_channel_takes_its_own_form_once() {
        let telegram = normalize(
            IntegrationKind::Telegram,
            &strings(&["42", " 42", "-1001234", "+42"]),
        )
        .unwrap();
        assert_eq!(telegram, ["42", "-1001234"]);
        let whatsapp = normalize(
            IntegrationKind::WhatsappCloud,
            &strings(&["+1 (234) 567-890", "1234567890", "+44 7700 900123"]),
        )
        .unwrap();
        assert_eq!(whatsapp, ["1234567890", "447700900123"]);
        let device = normalize(
            IntegrationKind::WhatsappDevice,
            &strings(&[
                "+7 900 123-45-67",
                "79001234567@c.us",
                "447700900123@s.whatsapp.net",
            ]),
        )
        .unwrap();
        assert_eq!(device, ["79001234567@c.us", "447700900123@c.us"]);
        assert!(normalize(IntegrationKind::WhatsappDevice, &strings(&["1203@g.us"])).is_err());
    }

    #[test]
    fn a_bad_recipient_refuses_them_all_and_is_named() {
        let err = normalize(
            IntegrationKind::WhatsappCloud,
            &strings(&["+1234567890", "+0987", "call me"]),
        )
        .unwrap_err();
        let AppError::BadInput(message) = err else {
            panic!("not bad input");
        };
        assert!(message.contains("2 recipient(s)"), "{message}");
        assert!(message.contains("#1 \"+0987\""), "{message}");
        assert!(normalize(IntegrationKind::Instagram, &strings(&["12a"])).is_err());
        assert!(normalize(IntegrationKind::Telegram, &[]).is_err());
        assert!(normalize(IntegrationKind::Sandbox, &strings(&["a\u{7}"])).is_err());
    }
}
