//! Inbound mail (feature `mail-inbound`): raw RFC 5322 bytes into the
//! minimised [`InboundMail`] that Mail Ops stores.
//!
//! - **Total.** [`parse`] never fails and never panics: mail is whatever the
//!   sender's software produced, and a ticket must still open for it. What
//!   did not parse is left out and named in [`InboundMail::defects`]
//!   (a missing `Date`, a bad transfer encoding, a truncated multipart, a
//!   header with bytes that are not text, a body cut at the cap).
//! - **Charsets** are decoded by `mail-parser` (legacy single-byte ones such
//!   as windows-1256 and ISO-8859-x, multi-byte ones such as ISO-2022-JP and
//!   Shift JIS), as are RFC 2047 encoded words and RFC 2231 parameters.
//! - **HTML is sanitised** with `ammonia`: no scripts, styles, event
//!   handlers, frames or forms; no remote images (their `src` is dropped, so
//!   opening a ticket does not tell the sender it was read); links keep
//!   their target but get `rel="noopener noreferrer nofollow"`. Inline
//!   images (`cid:`) are kept as references.
//! - **Bounded.** Text and HTML bodies are cut at [`MAX_BODY_BYTES`] each,
//!   header values at [`MAX_HEADER_CHARS`], address lists at
//!   [`MAX_ADDRESSES`], references at [`MAX_REFERENCES`], attachments at
//!   [`MAX_ATTACHMENTS`]; each cut is a defect.
//! - **Part ids** are IMAP section numbers (RFC 3501 §6.4.5): `"1"` for a
//!   single-part body, `"2"`, `"1.2"` inside multiparts.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use tms_core::ports::{InboundAttachment, InboundMail, MailAddress};

/// The most text (and, separately, sanitised HTML) kept of one message.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The most characters kept of one header value (subject, a name, an id).
pub const MAX_HEADER_CHARS: usize = 2048;
/// The most addresses kept of one address header.
pub const MAX_ADDRESSES: usize = 200;
/// The most `References` ids kept (the newest ones).
pub const MAX_REFERENCES: usize = 100;
/// The most attachments listed.
pub const MAX_ATTACHMENTS: usize = 100;
/// The most defects listed (a broken message could otherwise list one per
/// part).
const MAX_DEFECTS: usize = 50;

/// Parses one raw message; see the module doc.
///
/// ```
/// let mail = tms_adapters::mail::inbound::parse(
///     b"From: Amina <amina@example.com>\r\nSubject: Visa\r\n\
///       Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\nHello",
/// );
/// assert_eq!(mail.subject.as_deref(), Some("Visa"));
/// assert_eq!(mail.text, "Hello");
/// assert!(mail.defects.iter().any(|d| d.contains("Message-ID")));
/// ```
pub fn parse(raw: &[u8]) -> InboundMail {
    // mail-parser is fuzzed and meant to be total; this is the belt to its
    // braces: one message that trips a bug must not take the sync down.
    std::panic::catch_unwind(|| parse_inner(raw)).unwrap_or_else(|_| InboundMail {
        defects: vec!["the message could not be parsed at all".to_owned()],
        ..InboundMail::default()
    })
}

fn parse_inner(raw: &[u8]) -> InboundMail {
    let mut out = InboundMail::default();
    let mut defects = Defects::default();
    let Some(message) = MessageParser::default().parse(raw) else {
        defects.push("no headers: this is not a mail message");
        out.text = cut_text(&String::from_utf8_lossy(raw), &mut defects, "text");
        out.defects = defects.0;
        return out;
    };

    out.message_id = message
        .message_id()
        .map(|id| header_text(id, "Message-ID", &mut defects));
    if out.message_id.is_none() {
        defects.push("no Message-ID header");
    }
    out.in_reply_to = ids(message.in_reply_to())
        .into_iter()
        .next()
        .map(|id| header_text(&id, "In-Reply-To", &mut defects));
    let mut references: Vec<String> = ids(message.references())
        .iter()
        .map(|id| header_text(id, "References", &mut defects))
        .collect();
    if references.len() > MAX_REFERENCES {
        // The newest ones matter for threading: keep the tail.
        references.drain(..references.len() - MAX_REFERENCES);
        defects.push(format!("References cut to the last {MAX_REFERENCES} ids"));
    }
    out.references = references;

    out.from = addresses(message.from(), "From", &mut defects)
        .into_iter()
        .next();
    if out.from.is_none() {
        defects.push("no From header");
    }
    out.reply_to = addresses(message.reply_to(), "Reply-To", &mut defects);
    out.to = addresses(message.to(), "To", &mut defects);
    out.cc = addresses(message.cc(), "Cc", &mut defects);
    out.subject = message
        .subject()
        .map(|s| header_text(s, "Subject", &mut defects));

    out.date = match message.date() {
        Some(date) => {
            let date = DateTime::<Utc>::from_timestamp(date.to_timestamp(), 0);
            if date.is_none() {
                defects.push("the Date header is out of range");
            }
            date
        }
        None if message.header_raw("Date").is_some() => {
            defects.push("the Date header does not parse");
            None
        }
        None => {
            defects.push("no Date header");
            None
        }
    };

    let paths = part_paths(&message);
    check_parts(&message, raw, &paths, &mut defects);
    out.text = text_body(&message, &mut defects);
    out.html = html_body(&message, &mut defects);
    out.attachments = attachments(&message, &paths, &mut defects);
    out.defects = defects.0;
    out
}

/// The defect list, bounded and without repeats.
#[derive(Default)]
struct Defects(Vec<String>);

impl Defects {
    fn push(&mut self, defect: impl Into<String>) {
        let defect = defect.into();
        if self.0.len() < MAX_DEFECTS && !self.0.contains(&defect) {
            self.0.push(defect);
        }
    }
}

/// A header value, bounded, with a defect when it carried bytes that are
/// not text in any charset (mail-parser replaces them with U+FFFD).
fn header_text(value: &str, header: &str, defects: &mut Defects) -> String {
    if value.contains('\u{FFFD}') {
        defects.push(format!("{header}: bytes that are not text were replaced"));
    }
    let value = value.trim();
    if value.chars().count() > MAX_HEADER_CHARS {
        defects.push(format!("{header} cut to {MAX_HEADER_CHARS} characters"));
        return value.chars().take(MAX_HEADER_CHARS).collect();
    }
    value.to_owned()
}

/// Message ids of `In-Reply-To` / `References` (mail-parser strips the angle
/// brackets).
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn addresses(value: Option<&Address<'_>>, header: &str, defects: &mut Defects) -> Vec<MailAddress> {
    let Some(value) = value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for addr in value.iter() {
        // A group's name without members, or a name without an address:
        // nothing to write back to.
        let Some(address) = addr.address() else {
            continue;
        };
        if out.len() == MAX_ADDRESSES {
            defects.push(format!("{header} cut to {MAX_ADDRESSES} addresses"));
            break;
        }
        out.push(MailAddress {
            name: addr
                .name()
                .map(|n| header_text(n, header, defects))
                .filter(|n| !n.is_empty()),
            address: header_text(address, header, defects),
        });
    }
    out
}

/// The IMAP section number of every part, by index in `message.parts`.
fn part_paths(message: &Message<'_>) -> Vec<String> {
    let mut paths = vec![String::new(); message.parts.len()];
    let mut seen = HashSet::new();
    match message.parts.first().map(|p| &p.body) {
        Some(PartType::Multipart(children)) => {
            let mut stack: Vec<(usize, String)> = children
                .iter()
                .enumerate()
                .rev()
                .map(|(i, &id)| (id as usize, (i + 1).to_string()))
                .collect();
            seen.insert(0);
            while let Some((id, path)) = stack.pop() {
                // A part listed twice (never by mail-parser, but cheap to
                // rule out) must not loop.
                if id >= paths.len() || !seen.insert(id) {
                    continue;
                }
                if let PartType::Multipart(children) = &message.parts[id].body {
                    for (i, &child) in children.iter().enumerate().rev() {
                        stack.push((child as usize, format!("{path}.{}", i + 1)));
                    }
                }
                paths[id] = path;
            }
        }
        Some(_) => paths[0] = "1".to_owned(),
        None => {}
    }
    paths
}

/// Transfer-encoding problems and multiparts without their closing
/// boundary (a truncated message).
fn check_parts(message: &Message<'_>, raw: &[u8], paths: &[String], defects: &mut Defects) {
    for (i, part) in message.parts.iter().enumerate() {
        let path = paths.get(i).map_or("", String::as_str);
        let name = if path.is_empty() { "root" } else { path };
        if part.is_encoding_problem {
            defects.push(format!(
                "part {name}: bad transfer encoding, kept as far as it decoded"
            ));
        }
        if let PartType::Multipart(_) = part.body
            && let Some(boundary) = part.content_type().and_then(|ct| ct.attribute("boundary"))
        {
            let closing = format!("--{boundary}--");
            let start = (part.offset_body as usize).min(raw.len());
            let end = (part.offset_end as usize).clamp(start, raw.len());
            if !contains(&raw[start..end], closing.as_bytes()) {
                defects.push(format!(
                    "multipart {name}: no closing boundary, the message may be truncated"
                ));
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The text body: the `text/plain` parts, else text derived from the HTML
/// ones (mail-parser lists an HTML part among the text bodies when the
/// message has no plain alternative).
fn text_body(message: &Message<'_>, defects: &mut Defects) -> String {
    let mut text = String::new();
    for part in message
        .text_body
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
    {
        let piece: Cow<'_, str> = match &part.body {
            PartType::Text(t) => Cow::Borrowed(t.as_ref()),
            PartType::Html(h) => Cow::Owned(html_to_text(h)),
            _ => continue,
        };
        if !text.is_empty() {
            text.push('\n');
        }
        // One line ending for every message: `\n`.
        text.push_str(&piece.replace("\r\n", "\n"));
        if text.len() > MAX_BODY_BYTES {
            break;
        }
    }
    cut_text(text.trim(), defects, "text")
}

/// Text from HTML: mail-parser's converter, told about the block elements
/// it would otherwise run together (`<h1>Offers</h1><p>…` → `Offers\n…`).
fn html_to_text(html: &str) -> String {
    const BLOCK_ENDS: &[&str] = &[
        "</h1>",
        "</h2>",
        "</h3>",
        "</h4>",
        "</h5>",
        "</h6>",
        "</div>",
        "</li>",
        "</tr>",
        "</table>",
        "</blockquote>",
        "</pre>",
    ];
    // ASCII lowercasing keeps byte offsets, so `lower` indexes `html`.
    let lower = html.to_ascii_lowercase();
    let mut marked = String::with_capacity(html.len() + html.len() / 16);
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = lower[at..].find("</") {
        let start = at + offset;
        let end = BLOCK_ENDS
            .iter()
            .find(|tag| lower[start..].starts_with(**tag))
            .map(|tag| start + tag.len());
        match end {
            Some(end) => {
                marked.push_str(&html[copied..end]);
                marked.push_str("<br>");
                copied = end;
                at = end;
            }
            None => at = start + 2,
        }
    }
    marked.push_str(&html[copied..]);
    mail_parser::decoders::html::html_to_text(&marked)
}

/// The HTML body, sanitised; `None` for a message without HTML.
fn html_body(message: &Message<'_>, defects: &mut Defects) -> Option<String> {
    let mut html = String::new();
    for part in message
        .html_body
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
    {
        if let PartType::Html(h) = &part.body {
            html.push_str(h);
            if html.len() > 4 * MAX_BODY_BYTES {
                break;
            }
        }
    }
    if html.is_empty() {
        return None;
    }
    // Cut before sanitising too: ammonia's work grows with its input.
    let html = cut(&html, 4 * MAX_BODY_BYTES);
    let clean = sanitize_html(html);
    if clean.len() > MAX_BODY_BYTES {
        defects.push(format!(
            "the HTML body was cut at {} KiB",
            MAX_BODY_BYTES / 1024
        ));
        // Re-sanitise the cut so that no tag is left open half-way.
        return Some(sanitize_html(cut(&clean, MAX_BODY_BYTES)));
    }
    Some(clean)
}

/// Received HTML made safe to show; see the module doc.
pub fn sanitize_html(html: &str) -> String {
    let mut schemes = HashSet::new();
    schemes.extend(["http", "https", "mailto", "tel", "cid"]);
    ammonia::Builder::default()
        .url_schemes(schemes)
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(|element, attribute, value| {
            // Remote images are read receipts in disguise: only inline
            // (`cid:`) ones stay.
            let remote = matches!((element, attribute), ("img", "src") | ("img", "srcset"))
                && !value.trim_start().to_ascii_lowercase().starts_with("cid:");
            if remote { None } else { Some(value.into()) }
        })
        .clean(html)
        .to_string()
}

fn cut_text(text: &str, defects: &mut Defects, what: &str) -> String {
    if text.len() > MAX_BODY_BYTES {
        defects.push(format!(
            "the {what} body was cut at {} KiB",
            MAX_BODY_BYTES / 1024
        ));
    }
    cut(text, MAX_BODY_BYTES).to_owned()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn attachments(
    message: &Message<'_>,
    paths: &[String],
    defects: &mut Defects,
) -> Vec<InboundAttachment> {
    let mut out = Vec::new();
    for &id in &message.attachments {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        if out.len() == MAX_ATTACHMENTS {
            defects.push(format!(
                "{} attachments, only the first {MAX_ATTACHMENTS} listed",
                message.attachments.len()
            ));
            break;
        }
        out.push(attachment(
            part,
            paths.get(id as usize).cloned().unwrap_or_default(),
            defects,
        ));
    }
    out
}

fn attachment(part: &MessagePart<'_>, part_id: String, defects: &mut Defects) -> InboundAttachment {
    let content_type = match part.content_type() {
        Some(ct) => match &ct.c_subtype {
            Some(sub) => format!("{}/{}", ct.c_type, sub),
            None => ct.c_type.to_string(),
        },
        None if matches!(part.body, PartType::Message(_)) => "message/rfc822".to_owned(),
        None => "application/octet-stream".to_owned(),
    }
    .to_ascii_lowercase();
    let size = match &part.body {
        // A forwarded message: its raw size.
        PartType::Message(inner) => inner.raw_message.len(),
        other => other.len(),
    };
    InboundAttachment {
        attachment_id: None,
        part_id,
        filename: part
            .attachment_name()
            .map(|n| header_text(n, "attachment file name", defects))
            .filter(|n| !n.is_empty()),
        content_type: cut(&content_type, 255).to_owned(),
        size: size as u64,
    }
}
