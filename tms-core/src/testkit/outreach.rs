//! Contract cases of outreach (issue 9, schema 12): templates, the
//! suppression list, unsubscribe and campaign expansion, through the
//! service over a real store.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;

use super::clients::{consent, new_client, test_keyring};
use super::{new_branch, now, seed_tenant};
use crate::domain::outreach::{CampaignStatus, TemplateStatus, VariantContent};
use crate::domain::{BranchScope, ConsentChannel, Context, Email, Principal, Role};
use crate::error::Error;
use crate::id::{TenantId, UserId};
use crate::ports::{PageRequest, Store};
use crate::service::outreach::{CampaignForm, Outreach, TemplateForm, VariantForm};
use crate::service::tenancy::Deps;

fn owner(tenant: TenantId) -> Context {
    Context::new(
        Principal::user(
            UserId::new(),
            tenant,
            Role::TenantSuperAdmin,
            BranchScope::All,
        ),
        now(),
    )
}

fn service(store: &Arc<dyn Store>, batch: u32) -> Outreach {
    Outreach::new(
        Deps::new(store.clone()),
        Arc::new(test_keyring()),
        "https://tms.example",
    )
    .with_batch(batch)
}

/// An email template form with `client_name`, `unsubscribe_url` and
/// `offer`, in English and Arabic.
pub fn offer_template() -> TemplateForm {
    let variant = |language: &str, greeting: &str| VariantForm {
        language: language.into(),
        content: VariantContent::Email {
            subject: format!("{greeting} {{{{ client_name }}}}: {{{{ offer }}}}"),
            text: "{{ offer }} — unsubscribe: {{ unsubscribe_url }}".into(),
            html: "<p>{{ offer }}</p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a>".into(),
        },
    };
    TemplateForm {
        name: "Umrah offer".into(),
        channel: "email".into(),
        variables: vec![
            "client_name".into(),
            "unsubscribe_url".into(),
            "offer".into(),
        ],
        default_language: "en".into(),
        variants: vec![variant("en", "Dear"), variant("ar", "عزيزي")],
    }
}

/// Templates are drafts until approved, frozen after, archived for good;
/// the suppression list is idempotent; neither crosses tenants.
pub async fn outreach_templates_and_suppressions_stay_in_their_tenant(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await.id;
    let other = seed_tenant(&*store).await.id;
    let outreach = service(&store, 10);
    let ctx = owner(tenant);

    let mut bad = offer_template();
    bad.variables.pop(); // `offer` used but not declared
    assert!(matches!(
        outreach.create_template(&ctx, &bad).await,
        Err(Error::Invalid(_))
    ));

    let draft = outreach
        .create_template(&ctx, &offer_template())
        .await
        .expect("create");
    assert_eq!(draft.status, TemplateStatus::Draft);
    let mut edit = offer_template();
    edit.name = "Umrah offer 2027".into();
    let edited = outreach
        .update_template(&ctx, draft.id, &edit)
        .await
        .expect("edit a draft");
    assert_eq!(edited.version, draft.version + 1);
    assert_eq!(edited.name, "Umrah offer 2027");
    assert!(matches!(
        outreach
            .render_template(&ctx, draft.id, "en", &BTreeMap::new())
            .await,
        Err(Error::Conflict { .. })
    ));

    let approved = outreach
        .approve_template(&ctx, draft.id)
        .await
        .expect("approve");
    assert_eq!(approved.status, TemplateStatus::Approved);
    assert_eq!(approved.approved_by, ctx.principal.user_id());
    assert!(matches!(
        outreach.update_template(&ctx, draft.id, &edit).await,
        Err(Error::Conflict { .. })
    ));
    let values: BTreeMap<String, String> = [
        ("client_name", "<Ali>"),
        ("unsubscribe_url", "https://x"),
        ("offer", "Umrah"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let rendered = outreach
        .render_template(&ctx, draft.id, "ar-SA", &values)
        .await
        .expect("render");
    let crate::service::outreach::render::Rendered::Email(mail) = rendered else {
        panic!("an email")
    };
    assert_eq!(mail.language.as_str(), "ar");
    assert!(mail.subject.contains("<Ali>"));

    // Another tenant sees nothing of it.
    let stranger = owner(other);
    assert!(matches!(
        outreach.get_template(&stranger, draft.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        outreach.approve_template(&stranger, draft.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        outreach
            .list_templates(&stranger, PageRequest::first())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert_eq!(
        outreach
            .list_templates(&ctx, PageRequest::first())
            .await
            .expect("list")
            .items
            .len(),
        1
    );

    let archived = outreach
        .archive_template(&ctx, draft.id)
        .await
        .expect("archive");
    assert_eq!(archived.status, TemplateStatus::Archived);
    assert!(outreach.approve_template(&ctx, draft.id).await.is_err());

    // Suppressions.
    assert!(
        outreach
            .add_suppression(&ctx, "Ali@Example.com", "manual")
            .await
            .expect("add")
    );
    assert!(
        !outreach
            .add_suppression(&ctx, "ali@example.com", "bounced")
            .await
            .expect("again"),
        "idempotent"
    );
    assert!(matches!(
        outreach.add_suppression(&ctx, "nobody", "manual").await,
        Err(Error::Invalid(_))
    ));
    let list = outreach
        .list_suppressions(&ctx, PageRequest::first())
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].address.as_str(), "ali@example.com");
    assert_eq!(list.items[0].reason.as_str(), "manual");
    assert!(
        outreach
            .list_suppressions(&stranger, PageRequest::first())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        !outreach
            .remove_suppression(&stranger, "ali@example.com")
            .await
            .expect("remove elsewhere")
    );
    assert!(
        outreach
            .remove_suppression(&ctx, "ali@example.com")
            .await
            .expect("remove")
    );
}

/// Expansion reaches each consenting, unsuppressed address once, in
/// batches; a pause holds it; re-running it from the start (a lost cursor,
/// a second worker) writes nobody twice; the unsubscribe link works once
/// and is idempotent; a cancel withdraws what is still pending.
pub async fn campaign_expansion_reaches_each_address_once_and_resumes(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await.id;
    let other = seed_tenant(&*store).await.id;
    let branch = new_branch(tenant, now());
    let t0 = now() - Duration::hours(1);
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&branch).await.expect("branch");
    let granted_all = |c: &crate::domain::Client| {
        vec![
            consent(c, ConsentChannel::Marketing, true, t0),
            consent(c, ConsentChannel::Email, true, t0),
        ]
    };
    let mut expected = Vec::new();
    for i in 0..7 {
        let mut c = new_client(tenant, branch.id, &format!("Client {i}"));
        c.email = Some(Email::parse(&format!("c{i}@example.com")).expect("email"));
        uow.clients().insert(&c).await.expect("client");
        for r in granted_all(&c) {
            uow.clients().add_consent(&r).await.expect("consent");
        }
        expected.push(c);
    }
    // Excluded: email consent but no marketing consent.
    let mut c = new_client(tenant, branch.id, "No marketing");
    c.email = Some(Email::parse("nomarketing@example.com").expect("email"));
    uow.clients().insert(&c).await.expect("client");
    uow.clients()
        .add_consent(&consent(&c, ConsentChannel::Email, true, t0))
        .await
        .expect("consent");
    // Excluded: withdrew email consent later.
    let mut c = new_client(tenant, branch.id, "Withdrawn");
    c.email = Some(Email::parse("withdrawn@example.com").expect("email"));
    uow.clients().insert(&c).await.expect("client");
    for r in granted_all(&c) {
        uow.clients().add_consent(&r).await.expect("consent");
    }
    uow.clients()
        .add_consent(&consent(
            &c,
            ConsentChannel::Email,
            false,
            t0 + Duration::minutes(5),
        ))
        .await
        .expect("consent");
    // Excluded: no email.
    let c = new_client(tenant, branch.id, "No email");
    uow.clients().insert(&c).await.expect("client");
    for r in granted_all(&c) {
        uow.clients().add_consent(&r).await.expect("consent");
    }
    // Suppressed.
    let mut c = new_client(tenant, branch.id, "Suppressed");
    c.email = Some(Email::parse("suppressed@example.com").expect("email"));
    uow.clients().insert(&c).await.expect("client");
    for r in granted_all(&c) {
        uow.clients().add_consent(&r).await.expect("consent");
    }
    // The same address as client 0: one message for both.
    let mut c = new_client(tenant, branch.id, "Same address");
    c.email = Some(Email::parse("c0@example.com").expect("email"));
    uow.clients().insert(&c).await.expect("client");
    for r in granted_all(&c) {
        uow.clients().add_consent(&r).await.expect("consent");
    }
    uow.commit().await.expect("commit");

    let outreach = service(&store, 3);
    let ctx = owner(tenant);
    outreach
        .add_suppression(&ctx, "suppressed@example.com", "bounced")
        .await
        .expect("suppress");
    let template = outreach
        .create_template(&ctx, &offer_template())
        .await
        .expect("template");
    let form = CampaignForm {
        name: "Ramadan".into(),
        template_id: template.id,
        language: "en".into(),
        branch_id: Some(branch.id),
        variables: [("offer".to_owned(), "Umrah 2027".to_owned())].into(),
    };
    assert!(
        outreach.create_campaign(&ctx, &form).await.is_err(),
        "the template is not approved yet"
    );
    outreach
        .approve_template(&ctx, template.id)
        .await
        .expect("approve template");
    let mut missing = form.clone();
    missing.variables.clear();
    assert!(matches!(
        outreach.create_campaign(&ctx, &missing).await,
        Err(Error::Invalid(_))
    ));
    let campaign = outreach
        .create_campaign(&ctx, &form)
        .await
        .expect("campaign");
    assert!(
        outreach
            .send_campaign(&ctx, campaign.id, None, None)
            .await
            .is_err(),
        "a draft is approved first"
    );
    outreach
        .approve_campaign(&ctx, campaign.id)
        .await
        .expect("approve");
    let Err(Error::ConfirmationRequired { token, .. }) =
        outreach.send_campaign(&ctx, campaign.id, None, None).await
    else {
        panic!("sending is critical");
    };
    let sent = outreach
        .send_campaign(&ctx, campaign.id, None, Some(&token))
        .await
        .expect("send");
    assert_eq!(sent.status, CampaignStatus::Sending);

    // One batch, then a pause holds the rest.
    let first = outreach.tick(now()).await.expect("tick");
    assert_eq!(first.queued + first.suppressed, 3);
    outreach
        .pause_campaign(&ctx, campaign.id)
        .await
        .expect("pause");
    assert_eq!(outreach.tick(now()).await.expect("tick").campaigns, 0);
    outreach
        .resume_campaign(&ctx, campaign.id)
        .await
        .expect("resume");
    for _ in 0..10 {
        if outreach.tick(now()).await.expect("tick").campaigns == 0 {
            break;
        }
    }
    let (done, progress) = outreach.get_campaign(&ctx, campaign.id).await.expect("get");
    assert_eq!(done.status, CampaignStatus::Done);
    assert_eq!(progress.recipients, 8, "{progress:?}");
    assert_eq!(progress.queued, 7, "{progress:?}");
    assert_eq!(progress.suppressed, 1, "{progress:?}");

    let messages = |store: Arc<dyn Store>| async move {
        let mut uow = store.begin().await.expect("begin");
        let page = uow
            .outbox()
            .list(tenant, PageRequest::new(Some(200), None).expect("page"))
            .await
            .expect("list");
        uow.rollback().await.expect("rollback");
        page.items
    };
    let sent = messages(store.clone()).await;
    assert_eq!(sent.len(), 7);
    let mut to: Vec<&str> = sent.iter().map(|m| m.recipient()).collect();
    to.sort_unstable();
    to.dedup();
    assert_eq!(to.len(), 7, "nobody twice");
    assert!(to.iter().all(|a| a.starts_with('c')), "{to:?}");
    let mail = sent[0].as_email().expect("an email");
    assert!(mail.subject.starts_with("Dear Client"), "{}", mail.subject);
    assert!(
        mail.body_html
            .as_deref()
            .is_some_and(|h| h.contains("<p>Umrah 2027</p>"))
    );
    let header = |name: &str| {
        mail.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect("the header")
    };
    assert_eq!(
        header("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    assert!(header("List-Unsubscribe").starts_with("<https://tms.example/api/v1/unsubscribe/"));

    // Re-expanding from the start writes nobody again.
    let mut uow = store.begin().await.expect("begin");
    let mut rewound = uow
        .outreach()
        .get_campaign(tenant, campaign.id)
        .await
        .expect("get")
        .expect("there");
    rewound.cursor = None;
    rewound.status = CampaignStatus::Sending;
    uow.outreach()
        .update_campaign(&mut rewound)
        .await
        .expect("rewind");
    uow.commit().await.expect("commit");
    for _ in 0..10 {
        if outreach.tick(now()).await.expect("tick").campaigns == 0 {
            break;
        }
    }
    assert_eq!(messages(store.clone()).await.len(), 7);
    assert_eq!(
        outreach
            .progress(&ctx, campaign.id)
            .await
            .expect("progress")
            .recipients,
        8
    );

    // The unsubscribe link in a message suppresses its address, once.
    let body = &mail.body_text;
    let link = body
        .split_whitespace()
        .find(|w| w.starts_with("https://tms.example/api/v1/unsubscribe/"))
        .expect("an unsubscribe link");
    let token = link.rsplit('/').next().expect("token");
    let token_of_first = token;
    outreach.check_unsubscribe(token).await.expect("genuine");
    outreach.unsubscribe(token).await.expect("unsubscribe");
    outreach
        .unsubscribe(token)
        .await
        .expect("again: idempotent");
    let list = outreach
        .list_suppressions(&ctx, PageRequest::first())
        .await
        .expect("list");
    assert!(
        list.items
            .iter()
            .any(|s| s.address.as_str() == sent[0].recipient()
                && s.reason.as_str() == "unsubscribed")
    );
    // Its message, still pending (no worker here), is withdrawn.
    let progress = outreach
        .progress(&ctx, campaign.id)
        .await
        .expect("progress");
    assert_eq!(
        (progress.queued, progress.cancelled),
        (6, 1),
        "{progress:?}"
    );
    let withdrawn = messages(store.clone())
        .await
        .into_iter()
        .find(|m| m.id == sent[0].id)
        .expect("there");
    assert_eq!(withdrawn.status, crate::ports::OutboxStatus::Failed);
    let mut forged = token.to_owned().into_bytes();
    forged[70] = if forged[70] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    assert!(matches!(
        outreach.unsubscribe(&forged).await,
        Err(Error::NotFound { .. })
    ));

    // Another tenant cannot see or touch it.
    let stranger = owner(other);
    assert!(matches!(
        outreach.get_campaign(&stranger, campaign.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        outreach.pause_campaign(&stranger, campaign.id).await,
        Err(Error::NotFound { .. })
    ));

    // A cancel withdraws what is still pending.
    let second = outreach
        .create_campaign(
            &ctx,
            &CampaignForm {
                name: "Second".into(),
                ..form.clone()
            },
        )
        .await
        .expect("campaign");
    outreach
        .approve_campaign(&ctx, second.id)
        .await
        .expect("approve");
    let Err(Error::ConfirmationRequired { token, .. }) =
        outreach.send_campaign(&ctx, second.id, None, None).await
    else {
        panic!("sending is critical");
    };
    outreach
        .send_campaign(&ctx, second.id, None, Some(&token))
        .await
        .expect("send");
    outreach.tick(now()).await.expect("tick");
    let cancelled = outreach
        .cancel_campaign(&ctx, second.id)
        .await
        .expect("cancel");
    assert_eq!(cancelled.status, CampaignStatus::Cancelled);
    let progress = outreach.progress(&ctx, second.id).await.expect("progress");
    assert_eq!(progress.queued, 0, "{progress:?}");
    assert!(progress.cancelled >= 1, "{progress:?}");
    assert_eq!(outreach.tick(now()).await.expect("tick").campaigns, 0);
    assert!(
        outreach.resume_campaign(&ctx, second.id).await.is_err(),
        "cancelled is final"
    );

    // Erasure forgets a client's recipient rows (and so their links).
    let unsubscribed = expected
        .iter()
        .find(|c| c.email.as_ref().map(Email::as_str) == Some(sent[0].recipient()))
        .expect("the client of the first message");
    let mut uow = store.begin().await.expect("begin");
    let forgotten = uow
        .outreach()
        .forget_client(tenant, unsubscribed.id)
        .await
        .expect("forget");
    uow.commit().await.expect("commit");
    assert!(forgotten >= 1, "a row in each campaign that reached them");
    assert!(matches!(
        outreach.check_unsubscribe(token_of_first).await,
        Err(Error::NotFound { .. })
    ));
}

/// A WhatsApp campaign reaches the clients with a phone whose newest
/// answers grant Marketing and WhatsApp, as WhatsApp template rows carrying
/// the declared parameters in order.
pub async fn whatsapp_campaigns_write_template_messages_to_consenting_phones(
    store: Arc<dyn Store>,
) {
    use crate::domain::Phone;
    use crate::ports::OutboxContent;

    let tenant = seed_tenant(&*store).await.id;
    let branch = new_branch(tenant, now());
    let t0 = now() - Duration::hours(1);
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&branch).await.expect("branch");
    for (i, channels) in [
        vec![ConsentChannel::Marketing, ConsentChannel::Whatsapp],
        vec![ConsentChannel::Marketing, ConsentChannel::Email],
        vec![ConsentChannel::Whatsapp],
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = new_client(tenant, branch.id, &format!("Phone {i}"));
        c.phone = Some(Phone::parse(&format!("+96650123456{i}")).expect("phone"));
        c.email = Some(Email::parse(&format!("p{i}@example.com")).expect("email"));
        uow.clients().insert(&c).await.expect("client");
        for channel in channels {
            uow.clients()
                .add_consent(&consent(&c, channel, true, t0))
                .await
                .expect("consent");
        }
    }
    uow.commit().await.expect("commit");

    let outreach = service(&store, 10);
    let ctx = owner(tenant);
    let template = outreach
        .create_template(
            &ctx,
            &TemplateForm {
                name: "Offer".into(),
                channel: "whatsapp".into(),
                variables: vec!["client_name".into(), "offer".into()],
                default_language: "ar".into(),
                variants: vec![VariantForm {
                    language: "ar".into(),
                    content: VariantContent::Whatsapp {
                        provider_template: "umrah_offer".into(),
                        provider_language: "ar".into(),
                        parameters: vec!["client_name".into(), "offer".into()],
                    },
                }],
            },
        )
        .await
        .expect("template");
    outreach
        .approve_template(&ctx, template.id)
        .await
        .expect("approve");
    let campaign = outreach
        .create_campaign(
            &ctx,
            &CampaignForm {
                name: "WhatsApp".into(),
                template_id: template.id,
                language: "ar-SA".into(),
                branch_id: None,
                variables: [("offer".to_owned(), "Umrah".to_owned())].into(),
            },
        )
        .await
        .expect("campaign");
    outreach
        .approve_campaign(&ctx, campaign.id)
        .await
        .expect("approve");
    let Err(Error::ConfirmationRequired { token, .. }) =
        outreach.send_campaign(&ctx, campaign.id, None, None).await
    else {
        panic!("sending is critical");
    };
    // Scheduled for later: nothing happens before it is due.
    let later = now() + Duration::hours(1);
    let scheduled = outreach
        .send_campaign(&ctx, campaign.id, Some(later), Some(&token))
        .await
        .expect("schedule");
    assert_eq!(scheduled.status, CampaignStatus::Scheduled);
    assert_eq!(outreach.tick(now()).await.expect("tick").campaigns, 0);
    let report = outreach
        .tick(later + Duration::seconds(1))
        .await
        .expect("tick");
    assert_eq!((report.queued, report.done), (1, 1), "{report:?}");

    let mut uow = store.begin().await.expect("begin");
    let messages = uow
        .outbox()
        .list(tenant, PageRequest::first())
        .await
        .expect("list")
        .items;
    uow.rollback().await.expect("rollback");
    assert_eq!(messages.len(), 1);
    let OutboxContent::Whatsapp(w) = &messages[0].content else {
        panic!("a WhatsApp row");
    };
    assert_eq!(w.to.as_str(), "+966501234560");
    assert_eq!(w.template, "umrah_offer");
    assert_eq!(w.language, "ar");
    assert_eq!(w.variables, vec!["Phone 0".to_owned(), "Umrah".to_owned()]);
}
