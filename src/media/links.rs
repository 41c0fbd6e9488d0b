//! Signed, expiring links to media: `/media/{id}?exp=…&sig=…` and its thumbnail at
//! `/media/{id}/thumbnail?…`. The signature (HMAC under the server's secret key) covers the
//! medium, the variant and the expiry, so no link can be guessed, widened or extended.

use crate::error::{AppError, AppResult};
use crate::services::Services;

const PURPOSE: &str = "media-link";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Thumbnail => "thumbnail",
        }
    }

    fn path(self, id: &str) -> String {
        match self {
            Self::Original => format!("/media/{id}"),
            Self::Thumbnail => format!("/media/{id}/thumbnail"),
        }
    }
}

fn message(id: &str, variant: Variant, expires: i64) -> String {
    format!("{id}|{}|{expires}", variant.name())
}

/// A link to the medium that works for MEDIA_LINK_SECS.
pub fn signed(s: &Services, id: &str, variant: Variant) -> String {
    let expires = s.clock.now().timestamp() + s.config.media.link_secs as i64;
    let signature = s.secrets.sign(PURPOSE, &message(id, variant, expires));
    format!(
        "{}{}?exp={expires}&sig={signature}",
        s.config.public_base_url.as_str().trim_end_matches('/'),
        variant.path(id)
    )
}

/// Whether a link's expiry and signature hold for the medium.
pub fn check(
    s: &Services,
    id: &str,
    variant: Variant,
    expires: i64,
    signature: &str,
) -> AppResult<()> {
    let genuine = s
        .secrets
        .verify(PURPOSE, &message(id, variant, expires), signature);
    if !genuine || expires < s.clock.now().timestamp() {
        return Err(AppError::Unauthenticated(
            "the media link is not valid or has expired".into(),
        ));
    }
    Ok(())
}
