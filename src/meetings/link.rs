//! Meeting links: which platform, and the platform's own meeting id.

use url::Url;

use crate::error::{AppError, AppResult};

// Stored under the name bot services use (Vexa's `platform`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    async_graphql::Enum,
    serde::Serialize,
    serde::Deserialize,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum MeetingPlatform {
    GoogleMeet,
    Zoom,
    Teams,
}

impl MeetingPlatform {
    /// The name bot services use (Vexa's `platform`).
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingPlatform::GoogleMeet => "google_meet",
            MeetingPlatform::Zoom => "zoom",
            MeetingPlatform::Teams => "teams",
        }
    }

    /// The platform a bot service names (`google_meet`, `zoom`, `teams`).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::GoogleMeet, Self::Zoom, Self::Teams]
            .into_iter()
            .find(|platform| platform.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingLink {
    pub platform: MeetingPlatform,
    pub native_id: String,
    /// The link as it will be given to the bot.
    pub url: String,
    /// The meeting's passcode when the link carries it (Zoom's `pwd`, Teams' `p`), which a
    /// bot service that is given the id rather than the link needs (Vexa's `passcode`).
    pub passcode: Option<String>,
}

fn bad(detail: &str) -> AppError {
    AppError::BadInput(format!(
        "meetUrl {detail}: expected https://meet.google.com/abc-defg-hij, a Zoom https://…zoom.us/j/<id> link or a Teams https://teams.microsoft.com/l/meetup-join/… link"
    ))
}

pub fn parse(raw: &str) -> AppResult<MeetingLink> {
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(bad("is too long"));
    }
    let url = Url::parse(raw).map_err(|_| bad("is not a URL"))?;
    if url.scheme() != "https" {
        return Err(bad("must use https"));
    }
    // The link is handed on to the bot service: it must not carry anyone's credentials.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a user name or password"));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let (platform, native_id) = if host == "meet.google.com" {
        let code = segments.first().copied().unwrap_or_default();
        let parts: Vec<&str> = code.split('-').collect();
        let valid = segments.len() == 1
            && parts.len() == 3
            && [3, 4, 3].iter().zip(&parts).all(|(len, part)| {
                part.len() == *len && part.chars().all(|c| c.is_ascii_lowercase())
            });
        if !valid {
            return Err(bad("is not a Google Meet meeting code"));
        }
        (MeetingPlatform::GoogleMeet, code.to_string())
    } else if host == "zoom.us" || host.ends_with(".zoom.us") {
        match segments.as_slice() {
            ["j" | "s" | "w", id, ..] | ["wc", "join", id, ..]
                if (9..=12).contains(&id.len()) && id.chars().all(|c| c.is_ascii_digit()) =>
            {
                (MeetingPlatform::Zoom, id.to_string())
            }
            _ => return Err(bad("is not a Zoom meeting link")),
        }
    } else if host == "teams.microsoft.com" || host == "teams.live.com" {
        match segments.as_slice() {
            ["l", "meetup-join", thread, ..] => (MeetingPlatform::Teams, thread.to_string()),
            ["meet", id] if id.chars().all(|c| c.is_ascii_digit()) => {
                (MeetingPlatform::Teams, id.to_string())
            }
            _ => return Err(bad("is not a Teams meeting link")),
        }
    } else {
        return Err(bad("is not a Google Meet, Zoom or Teams link"));
    };
    let passcode_key = match platform {
        MeetingPlatform::Zoom => Some("pwd"),
        MeetingPlatform::Teams => Some("p"),
        MeetingPlatform::GoogleMeet => None,
    };
    let passcode = passcode_key.and_then(|key| {
        url.query_pairs()
            .find(|(name, value)| name == key && !value.is_empty())
            .map(|(_, value)| value.into_owned())
    });
    Ok(MeetingLink {
        platform,
        native_id,
        url: url.to_string(),
        passcode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_meet_codes_are_three_four_three_letters() {
        let link = parse("https://meet.google.com/abc-defg-hij").unwrap();
        assert_eq!(
            (link.platform, link.native_id.as_str()),
            (MeetingPlatform::GoogleMeet, "abc-defg-hij")
        );
        for bad_link in [
            "https://meet.google.com/abc-defg",
            "https://meet.google.com/ABC-DEFG-HIJ",
            "http://meet.google.com/abc-defg-hij",
            "https://meet.google.com/",
            "https://meet.google.com.evil.com/abc-defg-hij",
            "https://ann:secret@meet.google.com/abc-defg-hij",
        ] {
            assert_eq!(
                parse(bad_link).unwrap_err().code(),
                "BAD_USER_INPUT",
                "{bad_link}"
            );
        }
    }

    #[test]
    fn zoom_and_teams_links_yield_their_meeting_ids() {
        let zoom = parse("https://us02web.zoom.us/j/81234567890?pwd=abc").unwrap();
        assert_eq!(
            (zoom.platform, zoom.native_id.as_str()),
            (MeetingPlatform::Zoom, "81234567890")
        );
        let teams = parse(
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=x",
        )
        .unwrap();
        assert_eq!(teams.platform, MeetingPlatform::Teams);
        assert_eq!(teams.native_id, "19%3ameeting_abc%40thread.v2");
        let teams_short = parse("https://teams.live.com/meet/9876543210").unwrap();
        assert_eq!(teams_short.native_id, "9876543210");
        let web_client = parse("https://zoom.us/wc/join/81234567890").unwrap();
        assert_eq!(web_client.native_id, "81234567890");
    }

    #[test]
    fn a_passcode_in_the_link_is_kept_for_services_given_the_id() {
        let zoom = parse("https://us02web.zoom.us/j/81234567890?pwd=abc.1").unwrap();
        assert_eq!(zoom.passcode.as_deref(), Some("abc.1"));
        let teams = parse("https://teams.live.com/meet/9876543210?p=Xy7Z").unwrap();
        assert_eq!(teams.passcode.as_deref(), Some("Xy7Z"));
        assert_eq!(parse("https://zoom.us/j/812345678").unwrap().passcode, None);
        let meet = parse("https://meet.google.com/abc-defg-hij?p=nope").unwrap();
        assert_eq!(meet.passcode, None, "Meet links have no passcode");
    }

    #[test]
    fn anything_else_is_refused() {
        for bad_link in [
            "",
            "not a url",
            "https://example.com/meeting",
            "https://zoom.us/j/abc",
            "ftp://meet.google.com/abc-defg-hij",
        ] {
            assert!(parse(bad_link).is_err(), "{bad_link}");
        }
    }
}
