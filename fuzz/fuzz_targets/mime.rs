//! Inbound mail parsing (issue 10): any bytes give an `InboundMail` —
//! never a panic, a hang or an unbounded result. Broken mail is kept as far
//! as it parses, and the limits the parser promises hold whatever comes in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tms_adapters::mail::inbound::{MAX_ATTACHMENTS, MAX_BODY_BYTES, parse};

fuzz_target!(|data: &[u8]| {
    let mail = parse(data);
    // The stored text and HTML are capped, and so is the attachment list.
    // (A cut HTML body is sanitised again, which may close open tags: some
    // slack, not a second unbounded body.)
    assert!(mail.text.len() <= MAX_BODY_BYTES + 1024, "text {}", mail.text.len());
    assert!(
        mail.html.as_ref().is_none_or(|h| h.len() <= 2 * MAX_BODY_BYTES),
        "html"
    );
    assert!(mail.attachments.len() <= MAX_ATTACHMENTS, "{}", mail.attachments.len());
    // Sanitised HTML never carries a script.
    if let Some(html) = &mail.html {
        assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    }
});
