//! What a file is, decided by its first bytes (never by its name or the type the client
//! claimed): the photo and video containers the seed accepts.

use async_graphql::Enum;
use sea_orm::{DeriveActiveEnum, EnumIter};

/// How many leading bytes [`Format::sniff`] needs.
pub const SNIFF_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum MediaKind {
    #[sea_orm(string_value = "PHOTO")]
    Photo,
    #[sea_orm(string_value = "VIDEO")]
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Mp4,
    Mov,
    Avi,
    Matroska,
    Webm,
}

impl Format {
    /// The format `head` (the file's first bytes) starts with, if it is one we take.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        let at =
            |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
        if at(0, &[0xFF, 0xD8, 0xFF]) {
            return Some(Self::Jpeg);
        }
        if at(0, b"\x89PNG\r\n\x1a\n") {
            return Some(Self::Png);
        }
        if at(0, b"RIFF") && at(8, b"WEBP") {
            return Some(Self::Webp);
        }
        if at(0, b"RIFF") && at(8, b"AVI ") {
            return Some(Self::Avi);
        }
        if at(4, b"ftyp") {
            // QuickTime's own brand; every other ISO base media brand plays as MP4.
            return Some(if at(8, b"qt  ") { Self::Mov } else { Self::Mp4 });
        }
        if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
            // EBML: the DocType in the header says WebM or Matroska.
            let webm = head.windows(4).any(|w| w == b"webm");
            return Some(if webm { Self::Webm } else { Self::Matroska });
        }
        None
    }

    pub fn kind(self) -> MediaKind {
        match self {
            Self::Jpeg | Self::Png | Self::Webp => MediaKind::Photo,
            Self::Mp4 | Self::Mov | Self::Avi | Self::Matroska | Self::Webm => MediaKind::Video,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Mp4 => "video/mp4",
            Self::Mov => "video/quicktime",
            Self::Avi => "video/x-msvideo",
            Self::Matroska => "video/x-matroska",
            Self::Webm => "video/webm",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Mp4 => "mp4",
            Self::Mov => "mov",
            Self::Avi => "avi",
            Self::Matroska => "mkv",
            Self::Webm => "webm",
        }
    }

    pub fn image_format(self) -> Option<image::ImageFormat> {
        match self {
            Self::Jpeg => Some(image::ImageFormat::Jpeg),
            Self::Png => Some(image::ImageFormat::Png),
            Self::Webp => Some(image::ImageFormat::WebP),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_first_bytes() {
        let cases: [(&[u8], Option<Format>); 9] = [
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", Some(Format::Jpeg)),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some(Format::Png)),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Some(Format::Webp)),
            (b"RIFF\x24\0\0\0AVI LIST", Some(Format::Avi)),
            (b"\0\0\0\x20ftypisom\0\0\x02\0", Some(Format::Mp4)),
            (b"\0\0\0\x14ftypqt  \0\0\0\0", Some(Format::Mov)),
            (
                b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm",
                Some(Format::Webm),
            ),
            (
                b"\x1A\x45\xDF\xA3\xA3\x42\x86\x81\x01\x42\x82\x88matroska",
                Some(Format::Matroska),
            ),
            (b"this is a text file named clip.mp4", None),
        ];
        for (head, expected) in cases {
            assert_eq!(Format::sniff(head), expected, "{head:?}");
        }
    }
}
