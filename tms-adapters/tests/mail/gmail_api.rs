//! The Gmail API adapter against the loopback Gmail peer: listing and
//! history with paging, expiry, fetch and parse of every fixture through
//! the API, attachments, sending into a thread, and the error mapping
//! (rate limits, 5xx, a refused token, unknown ids) — with the token never
//! in an error.

use std::time::Duration;

use tms_adapters::mail::{GmailMailbox, GmailMailboxConfig};
use tms_core::Error;
use tms_core::ports::{HistoryOutcome, MailboxMessageRef, MailboxReader};
use tms_core::security::secret::Secret;

use crate::gmail_peer::{Failure, GmailPeer};
use crate::{FIXTURES, fixture};

const TOKEN: &str = "ya29.a0AfB_test-access-token-7f3e";

fn token() -> Secret<String> {
    Secret::new(TOKEN.to_owned())
}

fn mailbox(peer: &GmailPeer, page_size: u32) -> GmailMailbox {
    GmailMailbox::new(GmailMailboxConfig {
        base_url: peer.base_url(),
        timeout: Duration::from_secs(10),
        page_size,
        ..GmailMailboxConfig::default()
    })
    .expect("mailbox")
}

/// Neither the token nor a piece of it shows in the error.
fn assert_no_token(e: &Error) {
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains("test-access-token"), "{shown}");
    }
}

#[tokio::test]
async fn a_full_listing_reads_every_page_newest_first() {
    let peer = GmailPeer::start(TOKEN).await;
    let ids: Vec<String> = (0..5)
        .map(|i| {
            peer.add_message(
                None,
                &["INBOX"],
                format!("Subject: {i}\r\n\r\nx").as_bytes(),
            )
        })
        .collect();
    let gmail = mailbox(&peer, 2);
    let mut seen = Vec::new();
    let mut page_token = None;
    let mut pages = 0;
    loop {
        let page = gmail
            .list_messages(&token(), "newer_than:30d -in:chats", page_token)
            .await
            .expect("page");
        pages += 1;
        seen.extend(page.messages);
        page_token = page.next_page_token;
        if page_token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<MailboxMessageRef> = ids
        .iter()
        .rev()
        .map(|id| MailboxMessageRef {
            id: id.clone(),
            thread_id: id.clone(),
        })
        .collect();
    assert_eq!(seen, expected);
    // The query and the page size went as Gmail expects them.
    let first = &peer.requests()[0];
    assert!(
        first.starts_with("GET /messages?q=newer_than%3A30d+-in%3Achats&maxResults=2"),
        "{first}"
    );
}

#[tokio::test]
async fn an_empty_mailbox_lists_nothing() {
    let peer = GmailPeer::start(TOKEN).await;
    let page = mailbox(&peer, 10)
        .list_messages(&token(), "", None)
        .await
        .expect("page");
    assert!(page.messages.is_empty());
    assert_eq!(page.next_page_token, None);
}

#[tokio::test]
async fn history_pages_through_what_was_added_since_and_sees_new_mail() {
    let peer = GmailPeer::start(TOKEN).await;
    let gmail = mailbox(&peer, 2);
    peer.add_message(None, &["INBOX"], b"Subject: before\r\n\r\nx");
    let start = gmail
        .current_history_id(&token())
        .await
        .expect("history id");
    assert_eq!(start, peer.history_id().to_string());
    let first = peer.add_message(None, &["INBOX"], b"Subject: a\r\n\r\nx");
    let second = peer.add_message(Some(&first), &["INBOX"], b"Subject: b\r\n\r\nx");
    let third = peer.add_message(None, &["INBOX", "UNREAD"], b"Subject: c\r\n\r\nx");

    let HistoryOutcome::Changes(page) = gmail.history(&token(), &start, None).await.unwrap() else {
        panic!("expired");
    };
    assert_eq!(
        page.added,
        vec![
            MailboxMessageRef {
                id: first.clone(),
                thread_id: first.clone()
            },
            MailboxMessageRef {
                id: second.clone(),
                thread_id: first.clone()
            },
        ]
    );
    // Mail that arrives between pages is in the mailbox's history too.
    let fourth = peer.add_message(None, &["INBOX"], b"Subject: d\r\n\r\nx");
    let next = page.next_page_token.expect("a second page");
    let HistoryOutcome::Changes(page) = gmail.history(&token(), &start, Some(next)).await.unwrap()
    else {
        panic!("expired");
    };
    assert_eq!(
        page.added.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![third.as_str(), fourth.as_str()]
    );
    assert_eq!(page.next_page_token, None);
    assert_eq!(page.history_id, peer.history_id().to_string());

    // From the latest id: nothing new.
    let HistoryOutcome::Changes(page) = gmail
        .history(&token(), &page.history_id, None)
        .await
        .unwrap()
    else {
        panic!("expired");
    };
    assert!(page.added.is_empty());
    assert!(
        peer.requests()
            .iter()
            .any(|r| r.contains("historyTypes=messageAdded")),
        "{:?}",
        peer.requests()
    );
}

#[tokio::test]
async fn a_history_id_below_the_kept_history_is_expired() {
    let peer = GmailPeer::start(TOKEN).await;
    let gmail = mailbox(&peer, 10);
    peer.add_message(None, &["INBOX"], b"Subject: a\r\n\r\nx");
    peer.expire_history_below(1001);
    assert_eq!(
        gmail.history(&token(), "1000", None).await.unwrap(),
        HistoryOutcome::Expired
    );
    assert!(matches!(
        gmail.history(&token(), "1001", None).await.unwrap(),
        HistoryOutcome::Changes(_)
    ));
    // Not a history id: refused before any call.
    let before = peer.requests().len();
    let e = gmail.history(&token(), "12&x=1", None).await.unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert_eq!(peer.requests().len(), before);
}

#[tokio::test]
async fn every_fixture_is_fetched_and_parsed_through_the_api() {
    let peer = GmailPeer::start(TOKEN).await;
    let gmail = mailbox(&peer, 10);
    for name in FIXTURES {
        let raw = fixture(name);
        let id = peer.add_message(None, &["INBOX", "UNREAD"], &raw);
        let fetched = gmail.fetch(&token(), &id).await.expect(name);
        assert_eq!(fetched.id, id);
        assert_eq!(fetched.thread_id, id);
        assert_eq!(
            fetched.label_ids,
            vec!["INBOX".to_owned(), "UNREAD".to_owned()]
        );
        let stored = peer.message(&id).unwrap();
        assert_eq!(fetched.received_at.timestamp_millis(), stored.internal_date);
        // Through base64url and back, the same as parsing the bytes here.
        let mut local = tms_adapters::mail::inbound::parse(&raw);
        for a in &mut local.attachments {
            a.attachment_id = fetched
                .mail
                .attachments
                .iter()
                .find(|f| f.part_id == a.part_id)
                .and_then(|f| f.attachment_id.clone());
        }
        assert_eq!(fetched.mail, local, "{name}");
    }
}

#[tokio::test]
async fn attachments_get_gmail_ids_and_their_bytes_come_on_demand() {
    let peer = GmailPeer::start(TOKEN).await;
    let gmail = mailbox(&peer, 10);
    let id = peer.add_message(None, &["INBOX"], &fixture("nested_mixed.eml"));
    let pdf = fixture("nested_mixed.pdf");
    // The parser's "2" (IMAP numbering) is Gmail's "1", its "1.2" Gmail's "0.1".
    let pdf_id = peer.add_attachment(&id, "1", &pdf);
    let logo_id = peer.add_attachment(&id, "0.1", b"png bytes");
    let fetched = gmail.fetch(&token(), &id).await.expect("fetch");
    let ids: Vec<(&str, Option<&str>)> = fetched
        .mail
        .attachments
        .iter()
        .map(|a| (a.part_id.as_str(), a.attachment_id.as_deref()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("1.2", Some(logo_id.as_str())),
            ("2", Some(pdf_id.as_str()))
        ]
    );
    assert!(
        peer.requests()
            .iter()
            .any(|r| r.ends_with(&format!("/messages/{id}?format=full&fields=payload"))),
        "{:?}",
        peer.requests()
    );
    let bytes = gmail
        .fetch_attachment(&token(), &id, &pdf_id)
        .await
        .expect("attachment");
    assert_eq!(bytes, pdf);

    // Unknown ids are NotFound; ids that are not Gmail ids never reach it.
    let e = gmail
        .fetch_attachment(&token(), &id, "ANGjdJ_unknown")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let e = gmail.fetch(&token(), "18c2000000000fff").await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let before = peer.requests().len();
    for bad in ["../profile", "a/b", "x?format=full", ""] {
        let e = gmail.fetch(&token(), bad).await.unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{bad}: {e:?}");
        let e = gmail
            .fetch_attachment(&token(), &id, bad)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{bad}: {e:?}");
    }
    assert_eq!(peer.requests().len(), before);
}

#[tokio::test]
async fn a_reply_is_sent_into_its_thread_and_joins_the_mailbox() {
    let peer = GmailPeer::start(TOKEN).await;
    let gmail = mailbox(&peer, 10);
    let first = peer.add_message(None, &["INBOX"], &fixture("webmail_alternative.eml"));
    let start = peer.history_id().to_string();
    let raw = b"From: bookings@alnoor-travel.example\r\nTo: amina.khan@gmail.com\r\n\
                Subject: Re: Umrah package\r\nIn-Reply-To: <CAHx9fV0q1Zk3vT7pQ@mail.gmail.com>\r\n\
                \r\nHere are two options.\r\n";
    let sent_id = gmail
        .send(&token(), raw, Some(first.clone()))
        .await
        .expect("send");
    let sent = peer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, sent_id);
    assert_eq!(sent[0].raw, raw.to_vec());
    assert_eq!(sent[0].thread_id.as_deref(), Some(first.as_str()));
    // It shows up in the history, in the thread, labelled SENT.
    let HistoryOutcome::Changes(page) = gmail.history(&token(), &start, None).await.unwrap() else {
        panic!("expired");
    };
    assert_eq!(
        page.added,
        vec![MailboxMessageRef {
            id: sent_id.clone(),
            thread_id: first.clone()
        }]
    );
    let fetched = gmail.fetch(&token(), &sent_id).await.unwrap();
    assert_eq!(fetched.label_ids, vec!["SENT".to_owned()]);
    assert_eq!(
        fetched.mail.in_reply_to.as_deref(),
        Some("CAHx9fV0q1Zk3vT7pQ@mail.gmail.com")
    );

    // A new conversation: no thread given, a new thread.
    let other = gmail.send(&token(), raw, None).await.expect("send");
    assert_eq!(peer.message(&other).unwrap().thread_id, other);
    // An unknown thread is NotFound; a thread id that is not one is Invalid.
    let e = gmail
        .send(&token(), raw, Some("18c2ffffffffffff".into()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let e = gmail
        .send(&token(), raw, Some("a\"b".into()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
}

#[tokio::test]
async fn rate_limits_carry_the_peers_retry_after_or_a_default() {
    let peer = GmailPeer::start(TOKEN).await;
    let gmail = mailbox(&peer, 10);
    peer.fail_next(
        2,
        Failure::TooManyRequests {
            retry_after_secs: 17,
        },
    );
    for _ in 0..2 {
        let e = gmail.current_history_id(&token()).await.unwrap_err();
        match &e {
            Error::RateLimited { retry_after } => assert_eq!(retry_after.num_seconds(), 17),
            other => panic!("{other:?}"),
        }
        assert_no_token(&e);
    }
    // 403 with a rate-limit reason is a rate limit too, without Retry-After.
    peer.fail_next(1, Failure::UserRateLimit);
    let e = gmail.list_messages(&token(), "", None).await.unwrap_err();
    match &e {
        Error::RateLimited { retry_after } => assert_eq!(
            retry_after.num_seconds(),
            tms_adapters::mail::DEFAULT_RETRY_AFTER_SECS
        ),
        other => panic!("{other:?}"),
    }
    // Then the mailbox answers again.
    assert_eq!(
        gmail.current_history_id(&token()).await.unwrap(),
        peer.history_id().to_string()
    );
}

#[tokio::test]
async fn server_errors_and_an_unreachable_api_are_unavailable() {
    let peer = GmailPeer::start(TOKEN).await;
    let gmail = mailbox(&peer, 10);
    let id = peer.add_message(None, &["INBOX"], b"Subject: a\r\n\r\nx");
    peer.fail_next(1, Failure::ServerError);
    let e = gmail.fetch(&token(), &id).await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert_no_token(&e);

    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let gone = GmailMailbox::new(GmailMailboxConfig {
        base_url: format!("http://127.0.0.1:{port}/gmail/v1/users/me"),
        timeout: Duration::from_secs(5),
        ..GmailMailboxConfig::default()
    })
    .unwrap();
    let e = gone.current_history_id(&token()).await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert_no_token(&e);
}

#[tokio::test]
async fn a_refused_token_is_rejected_and_never_shown() {
    let peer = GmailPeer::start(TOKEN).await;
    let gmail = mailbox(&peer, 10);
    let id = peer.add_message(None, &["INBOX"], b"Subject: a\r\n\r\nx");
    peer.set_token("ya29.another-token");
    let errors = vec![
        gmail.current_history_id(&token()).await.unwrap_err(),
        gmail.list_messages(&token(), "", None).await.unwrap_err(),
        gmail.history(&token(), "1000", None).await.unwrap_err(),
        gmail.fetch(&token(), &id).await.unwrap_err(),
        gmail
            .fetch_attachment(&token(), &id, "ANGjdJ_x")
            .await
            .unwrap_err(),
        gmail
            .send(&token(), b"Subject: x\r\n\r\nx", None)
            .await
            .unwrap_err(),
    ];
    for e in &errors {
        assert!(matches!(e, Error::Rejected { .. }), "{e:?}");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("401"), "{e}");
        assert_no_token(e);
    }
    assert!(!format!("{gmail:?}").contains(TOKEN));
}

#[tokio::test]
async fn an_answer_over_the_size_cap_is_refused_clearly() {
    let peer = GmailPeer::start(TOKEN).await;
    let gmail = GmailMailbox::new(GmailMailboxConfig {
        base_url: peer.base_url(),
        max_response_bytes: 4096,
        ..GmailMailboxConfig::default()
    })
    .unwrap();
    let mut raw = b"Subject: big\r\n\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b'x', 8192));
    let id = peer.add_message(None, &["INBOX"], &raw);
    let e = gmail.fetch(&token(), &id).await.unwrap_err();
    assert!(matches!(e, Error::Rejected { .. }), "{e:?}");
    assert!(e.to_string().contains("larger than the 4 KiB"), "{e}");
}

#[test]
fn a_bad_configuration_is_refused() {
    for (url, page_size) in [
        ("not a url", 10),
        ("ftp://example.com/x", 10),
        ("http://127.0.0.1/x", 0),
    ] {
        let e = GmailMailbox::new(GmailMailboxConfig {
            base_url: url.to_owned(),
            page_size,
            ..GmailMailboxConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{url}: {e:?}");
    }
}
