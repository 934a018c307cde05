//! Upload validation: what a file really is, read from its bytes.
//!
//! The type a client declares (a file name, a `Content-Type` header) is
//! ignored: browsers guess, attackers lie. [`check_upload`] looks at the magic
//! numbers (PNG, JPEG, WebP, PDF), applies the size limit of the upload's
//! [`BlobCategory`], and for images reads the dimensions from the headers —
//! without decoding a pixel — so that a "decompression bomb" declaring
//! 100 000 × 100 000 pixels is refused before anything tries to render it.
//! Pure functions over a byte slice: no I/O, no panics on any input.
//!
//! ```
//! use tms_core::files::{ContentType, check_upload};
//! use tms_core::ports::BlobCategory;
//! // The 24 bytes a PNG needs to say what it is: signature and IHDR.
//! let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
//! png.extend_from_slice(&640u32.to_be_bytes());
//! png.extend_from_slice(&480u32.to_be_bytes());
//! let checked = check_upload(BlobCategory::CatalogueImage, &png)?;
//! assert_eq!(checked.content_type, ContentType::Png);
//! assert_eq!(checked.dimensions, Some((640, 480)));
//! assert!(check_upload(BlobCategory::CatalogueImage, b"GIF89a...").is_err());
//! # Ok::<(), tms_core::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::ports::BlobCategory;

/// The largest width or height accepted for an image, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8000;

const MIB: usize = 1024 * 1024;

/// A file type recognised from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
    /// `image/webp`.
    WebP,
    /// `application/pdf`.
    Pdf,
}

impl ContentType {
    /// The MIME type to store and serve the file with.
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Png => "image/png",
            ContentType::Jpeg => "image/jpeg",
            ContentType::WebP => "image/webp",
            ContentType::Pdf => "application/pdf",
        }
    }

    /// Whether this is an image (with dimensions to bound).
    pub fn is_image(self) -> bool {
        !matches!(self, ContentType::Pdf)
    }

    /// The type stored as [`ContentType::mime`]; `None` for anything else.
    pub fn from_mime(mime: &str) -> Option<Self> {
        [
            ContentType::Png,
            ContentType::Jpeg,
            ContentType::WebP,
            ContentType::Pdf,
        ]
        .into_iter()
        .find(|t| t.mime() == mime)
    }

    /// The file name extension that goes with the type.
    pub fn extension(self) -> &'static str {
        match self {
            ContentType::Png => "png",
            ContentType::Jpeg => "jpg",
            ContentType::WebP => "webp",
            ContentType::Pdf => "pdf",
        }
    }
}

/// The name a file is offered under when downloaded: the last path segment
/// of what the client sent, without control characters, quotes, slashes or
/// other characters that mean something in a header, at most 100
/// characters, and always ending with the extension of its real type — an
/// HTML page cannot come back as `invoice.html` when it was checked as a
/// PNG. Only ever used in `Content-Disposition`, never in a path or key.
///
/// ```
/// use tms_core::files::{ContentType, display_name};
/// assert_eq!(display_name("C:\\scans\\passport.PNG", ContentType::Png), "passport.png");
/// assert_eq!(display_name("../../etc/passwd", ContentType::Pdf), "passwd.pdf");
/// assert_eq!(display_name("x.html", ContentType::Jpeg), "x.jpg");
/// assert_eq!(display_name("", ContentType::WebP), "file.webp");
/// assert_eq!(display_name("تأشيرة.pdf", ContentType::Pdf), "تأشيرة.pdf");
/// ```
pub fn display_name(sent: &str, content_type: ContentType) -> String {
    let last = sent.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '"' | ';' | ',' | ':' | '*' | '?' | '<' | '>' | '|' | '%')
        })
        .collect();
    let cleaned = cleaned.trim().trim_matches('.');
    // The stem: what is before the last dot, if that looks like an extension.
    let stem = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.chars().count() <= 5 => stem,
        _ => cleaned,
    };
    let stem: String = stem.trim().chars().take(100).collect();
    let stem = if stem.is_empty() {
        "file".to_owned()
    } else {
        stem
    };
    format!("{stem}.{}", content_type.extension())
}

/// What an upload of a category may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadRules {
    /// The largest accepted size in bytes.
    pub max_bytes: usize,
    /// Whether PDF documents are accepted besides images.
    pub allows_pdf: bool,
}

/// The rules of uploads of `category`, or `None` when files of that category
/// are never uploaded (generated documents are written by the server only).
pub fn rules_for(category: BlobCategory) -> Option<UploadRules> {
    match category {
        BlobCategory::CatalogueImage | BlobCategory::CampaignImage => Some(UploadRules {
            max_bytes: 10 * MIB,
            allows_pdf: false,
        }),
        // A logo is printed on every document: keep it small.
        BlobCategory::Branding => Some(UploadRules {
            max_bytes: 2 * MIB,
            allows_pdf: false,
        }),
        // Passport scans and visas come as photos or as PDFs.
        BlobCategory::BookingDocument => Some(UploadRules {
            max_bytes: 20 * MIB,
            allows_pdf: true,
        }),
        BlobCategory::GeneratedDocument => None,
    }
}

/// An upload that passed [`check_upload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedUpload {
    /// The type read from the bytes.
    pub content_type: ContentType,
    /// Width and height in pixels, for images.
    pub dimensions: Option<(u32, u32)>,
    /// The size in bytes.
    pub len: usize,
}

/// Checks an upload of `category`: its type from the magic numbers, its size
/// against the category's limit, an image's dimensions against
/// [`MAX_IMAGE_SIDE`]. Anything else is [`Error::Invalid`] on field `file`.
pub fn check_upload(category: BlobCategory, bytes: &[u8]) -> Result<CheckedUpload> {
    let rules = rules_for(category)
        .ok_or_else(|| invalid("files of this kind are generated, not uploaded"))?;
    if bytes.is_empty() {
        return Err(invalid("the file is empty"));
    }
    if bytes.len() > rules.max_bytes {
        return Err(invalid(format!(
            "the file is larger than the limit of {} MiB",
            rules.max_bytes / MIB
        )));
    }
    let content_type = detect(bytes).ok_or_else(|| {
        invalid(if rules.allows_pdf {
            "only PNG, JPEG, WebP images and PDF documents are accepted"
        } else {
            "only PNG, JPEG and WebP images are accepted"
        })
    })?;
    if content_type == ContentType::Pdf {
        if !rules.allows_pdf {
            return Err(invalid("only PNG, JPEG and WebP images are accepted"));
        }
        check_pdf(bytes)?;
        return Ok(CheckedUpload {
            content_type,
            dimensions: None,
            len: bytes.len(),
        });
    }
    let (width, height) = match content_type {
        ContentType::Png => png_size(bytes),
        ContentType::Jpeg => jpeg_size(bytes),
        ContentType::WebP => webp_size(bytes),
        ContentType::Pdf => None,
    }
    .ok_or_else(|| invalid("the image is truncated or damaged"))?;
    if width == 0 || height == 0 {
        return Err(invalid("the image has no pixels"));
    }
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(invalid(format!(
            "the image is {width}×{height} pixels; at most {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} is accepted"
        )));
    }
    Ok(CheckedUpload {
        content_type,
        dimensions: Some((width, height)),
        len: bytes.len(),
    })
}

/// The type announced by the magic number at the start of `bytes`.
pub fn detect(bytes: &[u8]) -> Option<ContentType> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ContentType::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ContentType::Jpeg)
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some(ContentType::WebP)
    } else if bytes.starts_with(b"%PDF-") {
        Some(ContentType::Pdf)
    } else {
        None
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid("file", message)
}

/// A PDF must end with its `%%EOF` marker (trailing whitespace allowed): a
/// file cut off in transit does not.
fn check_pdf(bytes: &[u8]) -> Result<()> {
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if tail.windows(5).any(|w| w == b"%%EOF") {
        Ok(())
    } else {
        Err(invalid("the PDF document is truncated or damaged"))
    }
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn le_u24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(3)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], 0]))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// PNG: the first chunk must be IHDR, holding width and height.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((be_u32(bytes, 16)?, be_u32(bytes, 20)?))
}

/// JPEG: walk the marker segments up to the first start-of-frame.
fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut pos = 2;
    loop {
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while *bytes.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = *bytes.get(pos)?;
        match marker {
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => pos += 1,
            // End of image or start of scan before any frame header.
            0xD9 | 0xDA => return None,
            _ => {
                let len = usize::from(be_u16(bytes, pos + 1)?);
                if len < 2 {
                    return None;
                }
                // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
                if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                    let height = be_u16(bytes, pos + 4)?;
                    let width = be_u16(bytes, pos + 6)?;
                    return Some((u32::from(width), u32::from(height)));
                }
                pos = pos.checked_add(1 + len)?;
            }
        }
    }
}

/// WebP: the first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended).
fn webp_size(bytes: &[u8]) -> Option<(u32, u32)> {
    match bytes.get(12..16)? {
        b"VP8X" => Some((le_u24(bytes, 24)? + 1, le_u24(bytes, 27)? + 1)),
        b"VP8 " => {
            // A key frame: 3-byte frame tag, then the start code 9D 01 2A.
            if bytes.get(23..26)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            let width = le_u16(bytes, 26)? & 0x3FFF;
            let height = le_u16(bytes, 28)? & 0x3FFF;
            Some((u32::from(width), u32::from(height)))
        }
        b"VP8L" => {
            if *bytes.get(20)? != 0x2F {
                return None;
            }
            let bits = le_u32(bytes, 21)?;
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// A real, complete 1×1 PNG is long; the header part is what is read,
    /// so tests build signature + IHDR (+ the rest of a valid file).
    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&height.to_be_bytes());
        // bit depth, colour type, compression, filter, interlace, CRC.
        b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(b"\0\0\0\0IEND\xaeB`\x82");
        b
    }

    /// A baseline JPEG header: SOI, an APP0 (JFIF) segment, then SOF0.
    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        b.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
        b.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        b.extend_from_slice(&[0xFF, 0xFF, 0xC0, 0x00, 0x0B, 0x08]);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
        b.extend_from_slice(&[0xFF, 0xD9]);
        b
    }

    fn riff(chunk: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&(4 + 8 + payload.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WEBP");
        b.extend_from_slice(chunk);
        b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend_from_slice(payload);
        b
    }

    fn webp_lossy(width: u16, height: u16) -> Vec<u8> {
        let mut p = vec![0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A];
        p.extend_from_slice(&width.to_le_bytes());
        p.extend_from_slice(&height.to_le_bytes());
        p.extend_from_slice(&[0; 8]);
        riff(b"VP8 ", &p)
    }

    fn webp_lossless(width: u32, height: u32) -> Vec<u8> {
        let bits = (width - 1) | ((height - 1) << 14);
        let mut p = vec![0x2F];
        p.extend_from_slice(&bits.to_le_bytes());
        p.extend_from_slice(&[0; 4]);
        riff(b"VP8L", &p)
    }

    fn webp_extended(width: u32, height: u32) -> Vec<u8> {
        let mut p = vec![0x10, 0, 0, 0];
        p.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
        p.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
        riff(b"VP8X", &p)
    }

    fn pdf() -> Vec<u8> {
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
          2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n\
          trailer << /Root 1 0 R >>\n%%EOF\n"
            .to_vec()
    }

    fn message(err: Error) -> String {
        match err {
            Error::Invalid(fields) => {
                let json = serde_json::to_value(&fields).unwrap();
                assert_eq!(json[0]["field"], "file");
                json[0]["message"].as_str().unwrap().to_owned()
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn real_headers_are_recognised_with_their_dimensions() {
        let cases = [
            (png(640, 480), ContentType::Png, (640, 480)),
            (jpeg(1024, 768), ContentType::Jpeg, (1024, 768)),
            (webp_lossy(300, 200), ContentType::WebP, (300, 200)),
            (webp_lossless(17, 9), ContentType::WebP, (17, 9)),
            (webp_extended(8000, 1), ContentType::WebP, (8000, 1)),
        ];
        for (bytes, content_type, dims) in cases {
            let checked = check_upload(BlobCategory::CatalogueImage, &bytes).unwrap();
            assert_eq!(checked.content_type, content_type);
            assert_eq!(checked.dimensions, Some(dims));
            assert_eq!(checked.len, bytes.len());
        }
        assert_eq!(ContentType::WebP.mime(), "image/webp");
    }

    #[test]
    fn pdfs_only_where_documents_are_allowed() {
        let checked = check_upload(BlobCategory::BookingDocument, &pdf()).unwrap();
        assert_eq!(checked.content_type, ContentType::Pdf);
        assert_eq!(checked.dimensions, None);
        assert_eq!(checked.content_type.mime(), "application/pdf");
        let msg = message(check_upload(BlobCategory::Branding, &pdf()).unwrap_err());
        assert!(msg.contains("only PNG, JPEG and WebP"), "{msg}");
        // A passport photo is fine too.
        check_upload(BlobCategory::BookingDocument, &jpeg(800, 600)).unwrap();
    }

    #[test]
    fn the_declared_type_does_not_matter_only_the_bytes() {
        // An HTML page named logo.png is still HTML.
        let msg = message(
            check_upload(BlobCategory::Branding, b"<html><script>x</script></html>").unwrap_err(),
        );
        assert!(msg.contains("only PNG, JPEG and WebP images"), "{msg}");
        for hostile in [
            &b"GIF89a\x01\0\x01\0"[..],
            b"BM\0\0\0\0",
            b"\x7fELF\x02\x01\x01",
            b"PK\x03\x04",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        ] {
            assert!(check_upload(BlobCategory::BookingDocument, hostile).is_err());
        }
    }

    #[test]
    fn size_limits_per_category() {
        let mut big = png(10, 10);
        big.resize(2 * MIB + 1, 0);
        let msg = message(check_upload(BlobCategory::Branding, &big).unwrap_err());
        assert!(msg.contains("2 MiB"), "{msg}");
        check_upload(BlobCategory::CatalogueImage, &big).unwrap();
        let mut huge = pdf();
        huge.resize(20 * MIB + 1, b' ');
        assert!(check_upload(BlobCategory::BookingDocument, &huge).is_err());
        assert!(
            message(check_upload(BlobCategory::CatalogueImage, &[]).unwrap_err()).contains("empty")
        );
        let msg = message(check_upload(BlobCategory::GeneratedDocument, &pdf()).unwrap_err());
        assert!(msg.contains("generated"), "{msg}");
    }

    #[test]
    fn huge_or_empty_declared_dimensions_are_refused() {
        for bytes in [
            png(8001, 10),
            png(10, u32::MAX),
            jpeg(60000, 60000),
            webp_extended(1 << 24, 1),
            webp_lossless(16384, 16384),
        ] {
            let msg = message(check_upload(BlobCategory::CatalogueImage, &bytes).unwrap_err());
            assert!(msg.contains("at most 8000×8000"), "{msg}");
        }
        assert!(
            message(check_upload(BlobCategory::CatalogueImage, &png(0, 10)).unwrap_err())
                .contains("no pixels")
        );
        assert!(check_upload(BlobCategory::CatalogueImage, &jpeg(10, 0)).is_err());
    }

    #[test]
    fn truncated_and_damaged_files_are_refused_without_panicking() {
        let samples = [
            png(64, 64),
            jpeg(64, 64),
            webp_lossy(64, 64),
            webp_lossless(64, 64),
            webp_extended(64, 64),
            pdf(),
        ];
        for sample in &samples {
            // Every prefix: never a panic, and a cut-off header is refused.
            for end in 0..sample.len() {
                let _ = check_upload(BlobCategory::BookingDocument, &sample[..end]);
            }
        }
        for sample in &samples[..5] {
            assert!(check_upload(BlobCategory::CatalogueImage, &sample[..12]).is_err());
        }
        // A PDF cut off before its end marker.
        let cut = pdf();
        let msg = message(
            check_upload(BlobCategory::BookingDocument, &cut[..cut.len() - 8]).unwrap_err(),
        );
        assert!(msg.contains("truncated"), "{msg}");
        // PNG whose first chunk is not IHDR; JPEG whose scan starts before a frame.
        let mut bad_png = png(1, 1);
        bad_png[12..16].copy_from_slice(b"tEXt");
        assert!(check_upload(BlobCategory::CatalogueImage, &bad_png).is_err());
        let bad_jpeg = [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9];
        assert!(check_upload(BlobCategory::CatalogueImage, &bad_jpeg).is_err());
        // A segment length of 0 or 1 would loop or go backwards.
        let zero_len = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x00, 0xFF, 0xC0];
        assert!(check_upload(BlobCategory::CatalogueImage, &zero_len).is_err());
        // Lossy WebP without its start code.
        let mut bad_webp = webp_lossy(5, 5);
        bad_webp[23] = 0;
        assert!(check_upload(BlobCategory::CatalogueImage, &bad_webp).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz over every header parser.
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        };
        let prefixes: [&[u8]; 5] = [
            b"\x89PNG\r\n\x1a\n",
            &[0xFF, 0xD8, 0xFF],
            b"RIFF\0\0\0\0WEBP",
            b"%PDF-",
            b"",
        ];
        for round in 0..5000 {
            let mut bytes = prefixes[round % prefixes.len()].to_vec();
            let extra = usize::from(next()) % 64;
            bytes.extend((0..extra).map(|_| next()));
            let _ = check_upload(BlobCategory::BookingDocument, &bytes);
        }
    }
}
