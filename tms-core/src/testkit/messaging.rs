//! Contract cases for the outbox's worker side (issue 9): claiming,
//! leases, the delivery log, pause and quota, and the courier over a store.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;

use super::mail_ops::FakeMailbox;
use super::{now, seed_tenant};
use crate::domain::Email;
use crate::error::{Error, Result};
use crate::id::{MessageId, TenantId};
use crate::ports::{
    Clock as _, DeliveryAttempt, DeliveryOutcome, FixedClock, MailTransport, OutboxContent,
    OutboxControls, OutboxMessage, OutboxStatus, OutgoingMail, Receipt, SeededRandom, Store,
};
use crate::security::password::PasswordHasher;
use crate::security::secret::Secret;
use crate::service::messaging::{
    Courier, MailRoute, MailRoutes, MailboxSender, RetryPolicy, SingleRoute,
};
use crate::service::tenancy::Deps;

async fn enqueue(store: &dyn Store, tenant: TenantId, n: usize) -> Vec<OutboxMessage> {
    let at = now() - Duration::seconds(1);
    let mut uow = store.begin().await.expect("begin");
    let mut messages = Vec::with_capacity(n);
    for i in 0..n {
        let message = OutboxMessage::email(
            MessageId::new(),
            tenant,
            Email::parse(&format!("client{i}@example.com")).expect("email"),
            format!("Booking {i}"),
            "Your booking is confirmed.",
            at,
        );
        uow.outbox().enqueue(&message).await.expect("enqueue");
        messages.push(message);
    }
    uow.commit().await.expect("commit");
    messages
}

fn attempt(outcome: DeliveryOutcome) -> DeliveryAttempt {
    DeliveryAttempt {
        at: now(),
        transport: "test".into(),
        outcome,
        provider_message_id: Some("250 queued".into()),
        error: None,
    }
}

/// A claim takes due messages once (leased), skips paused tenants, and
/// every attempt lands in the delivery log and moves the message on.
pub async fn outbox_claims_lease_and_log_every_attempt(store: Arc<dyn Store>) {
    let tenant = seed_tenant(store.as_ref()).await.id;
    let paused = seed_tenant(store.as_ref()).await.id;
    let mine = enqueue(store.as_ref(), tenant, 3).await;
    enqueue(store.as_ref(), paused, 2).await;
    let mut uow = store.begin().await.expect("begin");
    let stop = OutboxControls {
        paused: true,
        daily_limit: None,
    };
    uow.outbox()
        .set_controls(paused, &stop)
        .await
        .expect("pause");
    assert_eq!(uow.outbox().controls(paused).await.expect("controls"), stop);
    assert_eq!(
        uow.outbox().controls(tenant).await.expect("controls"),
        OutboxControls::default()
    );
    uow.commit().await.expect("commit");

    let t = now();
    let mut uow = store.begin().await.expect("begin");
    let claimed = uow
        .outbox()
        .claim_due(t, t + Duration::minutes(5), 10)
        .await
        .expect("claim");
    uow.commit().await.expect("commit");
    let ids: HashSet<_> = claimed.iter().map(|m| m.id).collect();
    let expected: HashSet<_> = mine.iter().map(|m| m.id).collect();
    assert_eq!(ids, expected, "only the unpaused tenant's messages");
    assert!(claimed.iter().all(|m| m.attempts == 1));

    // Leased: a second claim finds nothing.
    let mut uow = store.begin().await.expect("begin");
    let again = uow
        .outbox()
        .claim_due(t, t + Duration::minutes(5), 10)
        .await
        .expect("claim");
    assert!(again.is_empty(), "claimed messages are leased");
    let by_id = |id: MessageId| {
        claimed
            .iter()
            .find(|m| m.id == id)
            .expect("claimed")
            .clone()
    };
    let (sent, retried, failed) = (by_id(mine[0].id), by_id(mine[1].id), by_id(mine[2].id));
    uow.outbox()
        .record_attempt(&sent, &attempt(DeliveryOutcome::Sent))
        .await
        .expect("sent");
    uow.outbox()
        .record_attempt(
            &retried,
            &DeliveryAttempt {
                error: Some("421 try later".into()),
                provider_message_id: None,
                ..attempt(DeliveryOutcome::Retry {
                    next_attempt_at: t + Duration::minutes(1),
                })
            },
        )
        .await
        .expect("retry");
    uow.outbox()
        .record_attempt(&failed, &attempt(DeliveryOutcome::Failed))
        .await
        .expect("failed");
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.outbox()
            .get(tenant, sent.id)
            .await
            .expect("get")
            .expect("there")
            .status,
        OutboxStatus::Sent
    );
    assert_eq!(
        uow.outbox()
            .get(tenant, failed.id)
            .await
            .expect("get")
            .expect("there")
            .status,
        OutboxStatus::Failed
    );
    assert!(
        uow.outbox()
            .get(paused, sent.id)
            .await
            .expect("get")
            .is_none(),
        "another tenant's message is not found"
    );
    let log = uow
        .outbox()
        .deliveries(tenant, retried.id)
        .await
        .expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].attempt, 1);
    assert_eq!(log[0].outcome, "retry");
    assert_eq!(log[0].error.as_deref(), Some("421 try later"));
    assert_eq!(log[0].transport.as_deref(), Some("test"));
    assert_eq!(
        uow.outbox()
            .sent_since(tenant, t - Duration::hours(1))
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        uow.outbox()
            .sent_since(paused, t - Duration::hours(1))
            .await
            .expect("count"),
        0
    );
    // Not yet due.
    let early = uow
        .outbox()
        .claim_due(t + Duration::seconds(30), t + Duration::minutes(6), 10)
        .await
        .expect("claim");
    assert!(early.is_empty());
    // Due: the second attempt.
    let later = uow
        .outbox()
        .claim_due(t + Duration::minutes(2), t + Duration::minutes(7), 10)
        .await
        .expect("claim");
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].id, retried.id);
    assert_eq!(later[0].attempts, 2);
    // Released untried: the attempt does not count.
    uow.outbox()
        .release(&later[0], t + Duration::minutes(3))
        .await
        .expect("release");
    uow.commit().await.expect("commit");
    let mut uow = store.begin().await.expect("begin");
    let back = uow
        .outbox()
        .get(tenant, retried.id)
        .await
        .expect("get")
        .expect("there");
    assert_eq!((back.status, back.attempts), (OutboxStatus::Pending, 1));
    uow.rollback().await.expect("rollback");
}

/// Workers claiming at the same time never take the same message, and
/// together they take every one (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
pub async fn concurrent_claimers_never_share_a_message(store: Arc<dyn Store>) {
    let tenant = seed_tenant(store.as_ref()).await.id;
    let all: HashSet<_> = enqueue(store.as_ref(), tenant, 120)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    let t = now();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = crate::ports::transact(store.as_ref(), |uow| {
                    Box::pin(
                        async move { uow.outbox().claim_due(t, t + Duration::minutes(5), 7).await },
                    )
                })
                .await
                .expect("claim");
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|m| m.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for worker in workers {
        for id in worker.await.expect("worker") {
            total += 1;
            seen.insert(id);
        }
    }
    assert_eq!(total, all.len(), "no message claimed twice");
    assert_eq!(seen, all, "every message claimed");
}

/// What the scripted transport answers.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Accept,
    Busy,
    Reject,
}

/// A transport whose answers are scripted per recipient: the n-th send to
/// an address gets the n-th answer (then the last one again).
#[derive(Debug, Default)]
struct ScriptedTransport {
    script: Mutex<Vec<(String, Vec<Answer>)>>,
    sent: Mutex<Vec<OutgoingMail>>,
}

impl ScriptedTransport {
    fn answer(&self, to: &str, answers: Vec<Answer>) {
        self.script
            .lock()
            .expect("lock")
            .push((to.to_owned(), answers));
    }
}

#[async_trait]
impl MailTransport for ScriptedTransport {
    async fn send(&self, mail: &OutgoingMail) -> Result<Receipt> {
        let to = mail.to[0].as_str().to_owned();
        let answer = {
            let mut script = self.script.lock().expect("lock");
            match script.iter_mut().find(|(address, _)| *address == to) {
                Some((_, answers)) if answers.len() > 1 => answers.remove(0),
                Some((_, answers)) => answers[0],
                None => Answer::Accept,
            }
        };
        match answer {
            Answer::Accept => {}
            Answer::Busy => return Err(Error::unavailable("421 4.3.2 try again later")),
            Answer::Reject => return Err(Error::rejected("550 5.1.1 no such user")),
        }
        self.sent.lock().expect("lock").push(mail.clone());
        Ok(Receipt {
            provider_message_id: Some(format!("id-{}", mail.message_id)),
        })
    }
}

/// The courier sends, retries transient failures with growing delays up
/// to the limit, stops at once on a permanent failure, honours the daily
/// quota, and logs every attempt.
pub async fn courier_retries_gives_up_and_honours_the_quota(store: Arc<dyn Store>) {
    let tenant = seed_tenant(store.as_ref()).await.id;
    let clock = Arc::new(FixedClock::new(now()));
    let deps = Deps {
        store: store.clone(),
        clock: clock.clone(),
        random: Arc::new(SeededRandom::new(9)),
        hasher: PasswordHasher::owasp(),
    };
    let transport = Arc::new(ScriptedTransport::default());
    transport.answer(
        "flaky@example.com",
        vec![Answer::Busy, Answer::Busy, Answer::Accept],
    );
    transport.answer("down@example.com", vec![Answer::Busy]);
    transport.answer("nobody@example.com", vec![Answer::Reject]);
    let route = MailRoute {
        transport: transport.clone(),
        name: "scripted".into(),
        from: Email::parse("bookings@al-noor.example").expect("email"),
        from_name: Some("Al-Noor Travel".into()),
    };
    let policy = RetryPolicy {
        base_delay: Duration::seconds(10),
        max_delay: Duration::minutes(10),
        max_attempts: 3,
        lease: Duration::minutes(5),
    };
    let courier = Courier::new(deps, Arc::new(SingleRoute(route))).with_policy(policy);
    let write = |to: &str| {
        OutboxMessage::email(
            MessageId::new(),
            tenant,
            Email::parse(to).expect("email"),
            "Your booking",
            "Confirmed.",
            clock.now(),
        )
    };
    let messages: Vec<_> = [
        "ok@example.com",
        "flaky@example.com",
        "down@example.com",
        "nobody@example.com",
    ]
    .iter()
    .map(|to| write(to))
    .collect();
    let mut uow = store.begin().await.expect("begin");
    for m in &messages {
        uow.outbox().enqueue(m).await.expect("enqueue");
    }
    uow.commit().await.expect("commit");

    let first = courier.deliver_due().await.expect("deliver");
    assert_eq!(
        (first.claimed, first.sent, first.retried, first.failed),
        (4, 1, 2, 1)
    );
    // Nothing is due until the retry delay has passed.
    assert_eq!(courier.deliver_due().await.expect("deliver").claimed, 0);
    for _ in 0..6 {
        clock.advance(Duration::minutes(11));
        courier.deliver_due().await.expect("deliver");
    }
    let mut uow = store.begin().await.expect("begin");
    let mut outcome = Vec::new();
    for m in &messages {
        let stored = uow
            .outbox()
            .get(tenant, m.id)
            .await
            .expect("get")
            .expect("there");
        let log = uow.outbox().deliveries(tenant, m.id).await.expect("log");
        outcome.push((stored.status, stored.attempts, log.len()));
    }
    uow.rollback().await.expect("rollback");
    assert_eq!(
        outcome,
        vec![
            (OutboxStatus::Sent, 1, 1),
            (OutboxStatus::Sent, 3, 3),
            (OutboxStatus::Failed, 3, 3),
            (OutboxStatus::Failed, 1, 1),
        ]
    );
    // The same Message-ID on every attempt of the flaky message.
    let sent = transport.sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().any(|m| m.message_id == messages[1].message_id));

    // The daily quota: 1 more send today, the rest waits untried.
    let mut uow = store.begin().await.expect("begin");
    uow.outbox()
        .set_controls(
            tenant,
            &OutboxControls {
                paused: false,
                daily_limit: Some(3),
            },
        )
        .await
        .expect("quota");
    for m in ["a@example.com", "b@example.com"] {
        uow.outbox().enqueue(&write(m)).await.expect("enqueue");
    }
    uow.commit().await.expect("commit");
    let report = courier.deliver_due().await.expect("deliver");
    assert_eq!((report.sent, report.deferred), (1, 1), "{report:?}");
    clock.advance(Duration::hours(25));
    let report = courier.deliver_due().await.expect("deliver");
    assert_eq!((report.sent, report.deferred), (1, 0), "{report:?}");
}

/// Routes whose threaded messages go through a fake mailbox (as Gmail's
/// go through the Gmail API), the rest through `route`'s transport.
#[derive(Debug)]
struct MailboxRoutes {
    route: MailRoute,
    mailbox: Arc<FakeMailbox>,
}

#[async_trait]
impl MailRoutes for MailboxRoutes {
    async fn route(&self, _tenant: TenantId) -> Result<MailRoute> {
        Ok(self.route.clone())
    }

    async fn threaded_route(
        &self,
        _tenant: TenantId,
    ) -> Result<(MailRoute, Option<MailboxSender>)> {
        Ok((
            self.route.clone(),
            Some(MailboxSender {
                mailbox: self.mailbox.clone(),
                access_token: Secret::new("access".into()),
            }),
        ))
    }
}

/// A threaded reply goes through the route's mailbox into its thread (the
/// provider's message id in the log, the composed message's Message-ID
/// unchanged on a retry); an unthreaded message, or a threaded one on a
/// route without a mailbox, goes by the transport; a refused send fails
/// the message, an outage retries it, a thread the provider no longer
/// knows sends outside it, a malformed thread id in the row fails.
pub async fn courier_sends_threaded_replies_into_the_mailbox_thread(store: Arc<dyn Store>) {
    let tenant = seed_tenant(store.as_ref()).await.id;
    let clock = Arc::new(FixedClock::new(now()));
    let deps = Deps {
        store: store.clone(),
        clock: clock.clone(),
        random: Arc::new(SeededRandom::new(10)),
        hasher: PasswordHasher::owasp(),
    };
    let transport = Arc::new(ScriptedTransport::default());
    let mailbox = Arc::new(FakeMailbox::new(10));
    let route = MailRoute {
        transport: transport.clone(),
        name: "gmail".into(),
        from: Email::parse("desk@agency.example").expect("email"),
        from_name: None,
    };
    let policy = RetryPolicy {
        base_delay: Duration::seconds(10),
        max_delay: Duration::minutes(10),
        max_attempts: 3,
        lease: Duration::minutes(5),
    };
    let courier = Courier::new(
        deps.clone(),
        Arc::new(MailboxRoutes {
            route: route.clone(),
            mailbox: mailbox.clone(),
        }),
    )
    .with_policy(policy);
    let write = |thread: Option<&str>| {
        let message = OutboxMessage::email(
            MessageId::new(),
            tenant,
            Email::parse("ana@client.example").expect("email"),
            "Re: Visa",
            "Your visa is ready.",
            clock.now(),
        )
        .with_header("In-Reply-To", "<m1@mail.example>")
        .expect("header");
        match thread {
            Some(thread) => message.with_thread_id(thread).expect("thread"),
            None => message,
        }
    };
    let outcome = |message: OutboxMessage| {
        let store = store.clone();
        async move {
            let mut uow = store.begin().await.expect("begin");
            let stored = uow
                .outbox()
                .get(tenant, message.id)
                .await
                .expect("get")
                .expect("there");
            let log = uow
                .outbox()
                .deliveries(tenant, message.id)
                .await
                .expect("log");
            uow.rollback().await.expect("rollback");
            (stored, log)
        }
    };
    let enqueue = |message: OutboxMessage| {
        let store = store.clone();
        async move {
            let mut uow = store.begin().await.expect("begin");
            uow.outbox().enqueue(&message).await.expect("enqueue");
            uow.commit().await.expect("commit");
            message
        }
    };

    // Threaded: through the mailbox, into the thread, the provider's id
    // logged; nothing by the transport.
    let threaded = enqueue(write(Some("t1"))).await;
    let report = courier.deliver_due().await.expect("deliver");
    assert_eq!((report.sent, report.failed), (1, 0), "{report:?}");
    let sent = mailbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.as_deref(), Some("t1"));
    let raw = String::from_utf8(sent[0].0.clone()).expect("utf-8");
    assert!(
        raw.contains(&format!("Message-ID: {}", threaded.message_id)),
        "{raw}"
    );
    assert!(raw.contains("In-Reply-To: <m1@mail.example>"), "{raw}");
    assert!(transport.sent.lock().expect("lock").is_empty());
    let (stored, log) = outcome(threaded).await;
    assert_eq!(stored.status, OutboxStatus::Sent);
    assert_eq!(log[0].provider_message_id.as_deref(), Some("sent-1"));
    assert_eq!(log[0].transport.as_deref(), Some("gmail"));

    // Unthreaded: by the transport.
    let plain = enqueue(write(None)).await;
    courier.deliver_due().await.expect("deliver");
    assert_eq!(mailbox.sent().len(), 1);
    assert_eq!(transport.sent.lock().expect("lock").len(), 1);
    assert_eq!(outcome(plain).await.0.status, OutboxStatus::Sent);

    // A refused send fails the message at once.
    mailbox.fail_next(Error::rejected("the token was refused"));
    let refused = enqueue(write(Some("t1"))).await;
    let report = courier.deliver_due().await.expect("deliver");
    assert_eq!(report.failed, 1, "{report:?}");
    let (stored, log) = outcome(refused).await;
    assert_eq!((stored.status, stored.attempts), (OutboxStatus::Failed, 1));
    assert!(
        log[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("refused"))
    );

    // An outage retries; the retry carries the same Message-ID.
    mailbox.fail_next(Error::unavailable("Gmail answered 503"));
    let flaky = enqueue(write(Some("t1"))).await;
    let report = courier.deliver_due().await.expect("deliver");
    assert_eq!(report.retried, 1, "{report:?}");
    assert_eq!(outcome(flaky.clone()).await.0.status, OutboxStatus::Pending);
    clock.advance(Duration::minutes(11));
    let report = courier.deliver_due().await.expect("deliver");
    assert_eq!(report.sent, 1, "{report:?}");
    let (stored, log) = outcome(flaky.clone()).await;
    assert_eq!((stored.status, log.len()), (OutboxStatus::Sent, 2));
    let last = mailbox.sent().pop().expect("sent");
    assert_eq!(last.1.as_deref(), Some("t1"));
    assert!(
        String::from_utf8(last.0)
            .expect("utf-8")
            .contains(&format!("Message-ID: {}", flaky.message_id))
    );

    // A thread the provider no longer knows: sent outside it.
    mailbox.fail_next(Error::not_found("mail thread"));
    let orphan = enqueue(write(Some("gone"))).await;
    courier.deliver_due().await.expect("deliver");
    assert_eq!(outcome(orphan).await.0.status, OutboxStatus::Sent);
    assert_eq!(mailbox.sent().pop().expect("sent").1, None);

    // A malformed thread id in the row (never written by this version):
    // failed, nothing sent.
    let mut forged = write(None);
    if let OutboxContent::Email(email) = &mut forged.content {
        email.thread_id = Some("../profile".into());
    }
    let forged = enqueue(forged).await;
    let before = mailbox.sent().len();
    let report = courier.deliver_due().await.expect("deliver");
    assert_eq!(report.failed, 1, "{report:?}");
    assert_eq!(outcome(forged).await.0.status, OutboxStatus::Failed);
    assert_eq!(mailbox.sent().len(), before);

    // A route without a mailbox (SMTP, a folder): by the transport,
    // threaded by the headers alone.
    let single = Courier::new(deps, Arc::new(SingleRoute(route))).with_policy(policy);
    let by_smtp = enqueue(write(Some("t1"))).await;
    let before = (
        mailbox.sent().len(),
        transport.sent.lock().expect("lock").len(),
    );
    single.deliver_due().await.expect("deliver");
    assert_eq!(outcome(by_smtp).await.0.status, OutboxStatus::Sent);
    assert_eq!(
        (
            mailbox.sent().len(),
            transport.sent.lock().expect("lock").len()
        ),
        (before.0, before.1 + 1)
    );
}
