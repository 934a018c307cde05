//! Mail Ops (issue 10), provider side: inbound MIME parsing on hand-written
//! fixtures (`tests/mail/fixtures/*.eml`) and, with feature `gmail`, the
//! Gmail API adapter against a stateful loopback Gmail peer
//! (`tests/mail/gmail_peer.rs`, shared with the server's tests).

// Tests fail by panicking, helpers included.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod inbound;

#[cfg(feature = "gmail")]
mod gmail_api;
#[cfg(feature = "gmail")]
mod gmail_peer;

/// A fixture's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mail/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture, by file name.
pub const FIXTURES: &[&str] = &[
    "webmail_alternative.eml",
    "nested_mixed.eml",
    "arabic_cp1256.eml",
    "latin1_qp.eml",
    "encoded_words.eml",
    "reply.eml",
    "malformed.eml",
    "html_only_tracking.eml",
];
