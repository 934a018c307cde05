//! Template rendering: an arbitrary template with arbitrary variables and
//! values is checked and rendered in the sandbox — an error or a text,
//! never a panic, and never a hang (the engine's fuel bounds every render;
//! libFuzzer's `-timeout` in scripts/fuzz.sh turns a hang into a finding).
#![no_main]

use std::collections::BTreeMap;

use chrono::Utc;
use libfuzzer_sys::fuzz_target;
use tms_core::domain::outreach::{
    Language, OutreachChannel, Template, TemplateStatus, TemplateVariant, VariantContent,
};
use tms_core::id::{TemplateId, TenantId};
use tms_core::service::outreach::render::{Rendered, render, validate};

fuzz_target!(|data: &[u8]| {
    // Parts separated by NUL: subject, text, html, then `name=value` pairs.
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let subject = parts.next().unwrap_or_default().to_owned();
    let body = parts.next().unwrap_or_default().to_owned();
    let html = parts.next().unwrap_or_default().to_owned();
    let mut variables = Vec::new();
    let mut values = BTreeMap::new();
    for pair in parts.take(16) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        variables.push(name.to_owned());
        values.insert(name.to_owned(), value.to_owned());
    }
    let Ok(en) = Language::parse("en") else {
        return;
    };
    let variants = vec![TemplateVariant {
        language: en.clone(),
        content: VariantContent::Email {
            subject,
            text: body,
            html,
        },
    }];
    // What saving a template checks (renders every part with samples).
    let valid = validate(OutreachChannel::Email, &variables, &en, &variants).is_ok();
    let now = Utc::now();
    let template = Template {
        id: TemplateId::new(),
        tenant_id: TenantId::new(),
        name: "fuzz".to_owned(),
        channel: OutreachChannel::Email,
        status: TemplateStatus::Approved,
        variables,
        default_language: en.clone(),
        variants,
        approved_by: None,
        approved_at: Some(now),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    // What sending renders, with the recipient's values.
    if let Ok(Rendered::Email(email)) = render(&template, &en, &values) {
        assert!(
            !email.subject.contains(['\r', '\n']),
            "a subject stays one line"
        );
    }
    let _ = valid;
});
