//! `mail::inbound::parse` on each fixture, on the bounds, and on every
//! prefix of every fixture (truncated mail must parse, never panic).

use chrono::{TimeZone, Utc};
use tms_adapters::mail::inbound::{
    MAX_ATTACHMENTS, MAX_BODY_BYTES, MAX_HEADER_CHARS, parse, sanitize_html,
};
use tms_core::ports::MailAddress;

use crate::{FIXTURES, fixture};

fn addr(name: Option<&str>, address: &str) -> MailAddress {
    MailAddress {
        name: name.map(str::to_owned),
        address: address.to_owned(),
    }
}

#[test]
fn a_webmail_alternative_message_gives_its_plain_text_and_clean_html() {
    let mail = parse(&fixture("webmail_alternative.eml"));
    assert_eq!(
        mail.message_id.as_deref(),
        Some("CAHx9fV0q1Zk3vT7pQ@mail.gmail.com")
    );
    assert_eq!(
        mail.from,
        Some(addr(Some("Amina Khan"), "amina.khan@gmail.com"))
    );
    assert_eq!(mail.to, vec![addr(None, "bookings@alnoor-travel.example")]);
    assert_eq!(
        mail.cc,
        vec![
            addr(Some("Yusuf Khan"), "yusuf.khan@example.org"),
            addr(None, "sara@example.net")
        ]
    );
    assert_eq!(
        mail.subject.as_deref(),
        Some("Umrah package for 4 people in March")
    );
    assert_eq!(
        mail.date,
        Some(Utc.with_ymd_and_hms(2026, 12, 1, 17, 14, 3).unwrap())
    );
    // The text/plain alternative, quoted-printable decoded (the soft line
    // break joined, the en dash decoded), with `\n` line endings.
    assert_eq!(
        mail.text,
        "Salam,\n\nWe are 4 adults and would like the 14-night Umrah package in March \
         \u{2013} Makkah first, then Madinah.\nCould you send prices?\n\nAmina"
    );
    let html = mail.html.expect("html");
    assert!(html.contains("<b>Umrah package</b>"), "{html}");
    assert!(mail.attachments.is_empty());
    assert!(mail.defects.is_empty(), "{:?}", mail.defects);
}

#[test]
fn nested_multiparts_list_the_inline_image_and_the_rfc2231_named_pdf() {
    let mail = parse(&fixture("nested_mixed.eml"));
    assert_eq!(mail.text, "Please find my passport copy attached.\n[logo]");
    // The inline image stays as a `cid:` reference.
    let html = mail.html.expect("html");
    assert!(html.contains(r#"src="cid:logo@haddad""#), "{html}");
    assert_eq!(mail.attachments.len(), 2, "{:?}", mail.attachments);
    let logo = &mail.attachments[0];
    assert_eq!(logo.part_id, "1.2");
    assert_eq!(logo.filename.as_deref(), Some("logo.png"));
    assert_eq!(logo.content_type, "image/png");
    assert_eq!(logo.size, 70);
    let pdf = &mail.attachments[1];
    assert_eq!(pdf.part_id, "2");
    // RFC 2231 continuations (`filename*0*`, `filename*1*`), percent-encoded
    // UTF-8.
    assert_eq!(
        pdf.filename.as_deref(),
        Some("\u{062C}\u{0648}\u{0627}\u{0632} \u{0633}\u{0641}\u{0631} Omar.pdf")
    );
    assert_eq!(pdf.content_type, "application/pdf");
    assert_eq!(pdf.size, fixture("nested_mixed.pdf").len() as u64);
    assert_eq!(pdf.attachment_id, None, "the parser knows no provider ids");
    assert!(mail.defects.is_empty(), "{:?}", mail.defects);
}

#[test]
fn arabic_in_windows_1256_is_decoded_in_body_subject_and_name() {
    let mail = parse(&fixture("arabic_cp1256.eml"));
    assert_eq!(mail.subject.as_deref(), Some("حجز فندق"));
    assert_eq!(mail.from, Some(addr(Some("خالد"), "khaled@example.sa")));
    assert_eq!(
        mail.text,
        "السلام عليكم، نريد حجز فندق في مكة لمدة خمس ليال.\nشكرا"
    );
    assert_eq!(mail.html, None);
    assert!(mail.defects.is_empty(), "{:?}", mail.defects);
}

#[test]
fn latin1_quoted_printable_is_decoded() {
    let mail = parse(&fixture("latin1_qp.eml"));
    assert_eq!(mail.subject.as_deref(), Some("Arrivée à Zürich"));
    assert_eq!(
        mail.from,
        Some(addr(Some("François Dupré"), "francois@example.fr"))
    );
    assert_eq!(
        mail.text,
        "Bonjour,\nnous arrivons à Zürich le 12 décembre ; le café de l'hôtel est-il \
         ouvert ?\nMerci, François"
    );
}

#[test]
fn rfc2047_words_in_utf8_b_and_q_and_iso_2022_jp_are_decoded() {
    let mail = parse(&fixture("encoded_words.eml"));
    // A B word, plain text, a Q word: the space between a word and text
    // stays.
    assert_eq!(mail.subject.as_deref(), Some("عمرة and café — ok"));
    assert_eq!(
        mail.from,
        Some(addr(Some("ハロー・ワールド"), "hello@example.jp"))
    );
    assert_eq!(
        mail.to,
        vec![addr(
            Some("Al Noor Travel ✈"),
            "bookings@alnoor-travel.example"
        )]
    );
    assert_eq!(
        mail.date,
        Some(Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0).unwrap())
    );
}

#[test]
fn a_reply_carries_its_thread_headers_without_brackets() {
    let mail = parse(&fixture("reply.eml"));
    assert_eq!(
        mail.message_id.as_deref(),
        Some("CAHx9fV1reply2@mail.gmail.com")
    );
    assert_eq!(
        mail.in_reply_to.as_deref(),
        Some("tms.ticket.77.1@alnoor-travel.example")
    );
    assert_eq!(
        mail.references,
        vec![
            "CAHx9fV0q1Zk3vT7pQ@mail.gmail.com".to_owned(),
            "tms.ticket.77.1@alnoor-travel.example".to_owned()
        ]
    );
    assert_eq!(
        mail.reply_to,
        vec![addr(Some("Amina K"), "amina.work@example.com")]
    );
    assert!(
        mail.text
            .starts_with("Thank you, the second option is fine.\n")
    );
    assert!(mail.text.ends_with("> Here are two options."));
}

#[test]
fn a_malformed_message_is_kept_as_far_as_it_parses_with_its_defects() {
    let mail = parse(&fixture("malformed.eml"));
    assert_eq!(mail.message_id.as_deref(), Some("broken-1@example.com"));
    assert_eq!(
        mail.from,
        Some(addr(Some("Broken Sender"), "broken@example.com"))
    );
    // The bytes that are not UTF-8 are replaced, the rest kept.
    let subject = mail.subject.expect("subject");
    assert!(subject.starts_with("Caf"), "{subject}");
    assert!(subject.ends_with(" bad bytes"), "{subject}");
    assert_eq!(mail.date, None);
    assert_eq!(mail.text, "The first part is fine.");
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].part_id, "2");
    assert_eq!(mail.attachments[0].filename.as_deref(), Some("data.bin"));
    assert_eq!(
        mail.defects,
        vec![
            "Subject: bytes that are not text were replaced".to_owned(),
            "no Date header".to_owned(),
            "multipart root: no closing boundary, the message may be truncated".to_owned(),
            "part 2: bad transfer encoding, kept as far as it decoded".to_owned(),
        ]
    );
}

#[test]
fn html_only_mail_loses_scripts_handlers_frames_forms_and_remote_images() {
    let mail = parse(&fixture("html_only_tracking.eml"));
    let html = mail.html.expect("html");
    for banned in [
        "<script",
        "fetch(",
        "<style",
        "track.example",
        "onerror",
        "onload",
        "onclick",
        "<iframe",
        "evil.example",
        "<form",
        "<input",
        "javascript:",
    ] {
        assert!(!html.contains(banned), "{banned} in {html}");
    }
    // Formatting and the plain link stay, made inert for the referrer.
    assert!(html.contains("<h1>Offers</h1>"), "{html}");
    assert!(html.contains("<b>3 nights</b>"), "{html}");
    assert!(
        html.contains(
            r#"<a href="https://offers.example/istanbul" rel="noopener noreferrer nofollow">"#
        ),
        "{html}"
    );
    // No text/plain part: the text comes from the HTML, one block a line,
    // without the script or the style.
    assert_eq!(
        mail.text,
        "Offers\nIstanbul 3 nights from 299 EUR.\nSee the offer bad link"
    );
}

#[test]
fn a_remote_image_loses_its_source_but_an_inline_one_keeps_it() {
    let clean = sanitize_html(
        r#"<img src="HTTPS://t.example/p.gif"><img srcset="https://t.example/a.png 2x" src="cid:a@b"><img src="//t.example/p.gif">"#,
    );
    assert_eq!(clean, r#"<img><img src="cid:a@b"><img>"#);
}

#[test]
fn bodies_headers_and_attachment_lists_are_bounded() {
    let mut raw = String::from("From: a@example.com\r\nSubject: ");
    raw.push_str(&"s".repeat(MAX_HEADER_CHARS + 10));
    raw.push_str("\r\nMessage-ID: <x@y>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n");
    raw.push_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n");
    raw.push_str("Content-Type: text/plain\r\n\r\n");
    raw.push_str(&"é".repeat(MAX_BODY_BYTES)); // 2 bytes each: twice the cap
    raw.push_str("\r\n");
    for i in 0..MAX_ATTACHMENTS + 5 {
        raw.push_str(&format!(
            "--b\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"f{i}.bin\"\r\n\r\nx\r\n"
        ));
    }
    raw.push_str("--b--\r\n");
    let mail = parse(raw.as_bytes());
    assert_eq!(
        mail.subject.as_ref().map(|s| s.chars().count()),
        Some(MAX_HEADER_CHARS)
    );
    assert!(mail.text.len() <= MAX_BODY_BYTES);
    assert!(mail.text.len() > MAX_BODY_BYTES - 4);
    assert_eq!(mail.attachments.len(), MAX_ATTACHMENTS);
    assert_eq!(
        mail.defects,
        vec![
            format!("Subject cut to {MAX_HEADER_CHARS} characters"),
            "the text body was cut at 256 KiB".to_owned(),
            format!(
                "{} attachments, only the first {MAX_ATTACHMENTS} listed",
                MAX_ATTACHMENTS + 5
            ),
        ]
    );
}

#[test]
fn what_is_not_mail_still_parses_with_a_defect() {
    for raw in [
        &b""[..],
        b"\x00\xff\xfe binary",
        b"\r\n\r\n",
        b"no colon here",
    ] {
        let mail = parse(raw);
        assert!(!mail.defects.is_empty(), "{raw:?}: {mail:?}");
        assert_eq!(mail.from, None);
    }
}

/// Truncated mail (a connection cut, a size limit) must parse at every
/// length, including inside an encoded word, a boundary or a multi-byte
/// character.
#[test]
fn every_prefix_of_every_fixture_parses_without_panicking() {
    for name in FIXTURES {
        let raw = fixture(name);
        for end in 0..=raw.len() {
            let mail = parse(&raw[..end]);
            assert!(mail.text.len() <= MAX_BODY_BYTES, "{name}[..{end}]");
        }
    }
}
