//! Rendering templates with MiniJinja, safely.
//!
//! - **No file access**: templates come from strings; the engine is built
//!   without a loader, and `include`/`extends`/`import` are compiled out
//!   (MiniJinja's `multi_template` feature is off).
//! - **HTML auto-escaping** for the HTML body, none for subject and text;
//!   the `safe` filter is removed, so a template cannot turn escaping off
//!   for a client-supplied value.
//! - **Strict undefined**: a name that is not given is an error, never an
//!   empty string. Templates are checked when saved by rendering every
//!   part with each declared variable set, so a typo is caught then.
//! - **Fuel**: every render has an instruction budget, so a runaway loop
//!   ends with an error instead of a hung worker.
//! - A subject never contains CR or LF after rendering (header injection).

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use crate::domain::outreach::{Language, Template, TemplateStatus, VariantContent};
use crate::error::{Error, FieldErrors, Result};

/// The instruction budget of one render.
pub const FUEL: u64 = 50_000;
/// The most variables a template may declare.
pub const MAX_VARIABLES: usize = 50;
/// The longest part of a template, in bytes.
pub const MAX_PART_LEN: usize = 100_000;

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// The language of the variant used (after fallback).
    pub language: Language,
    /// One line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body, values escaped.
    pub html: String,
}

/// A rendered WhatsApp template message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedWhatsapp {
    /// The language of the variant used (after fallback).
    pub language: Language,
    /// The template's name at the provider.
    pub provider_template: String,
    /// Its language code at the provider.
    pub provider_language: String,
    /// Parameter values in order.
    pub parameters: Vec<String>,
}

/// A rendered message of either channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    /// An email.
    Email(RenderedEmail),
    /// A WhatsApp message.
    Whatsapp(RenderedWhatsapp),
}

fn environment(html: bool) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    if html {
        env.set_auto_escape_callback(|_| AutoEscape::Html);
    } else {
        env.set_auto_escape_callback(|_| AutoEscape::None);
    }
    env.remove_filter("safe");
    env
}

/// Renders one part. `field` names it in errors.
fn render_part(
    html: bool,
    field: &str,
    source: &str,
    values: &BTreeMap<String, String>,
) -> Result<String> {
    let env = environment(html);
    let context = Value::from_iter(values.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.render_str(source, context)
        .map_err(|e| Error::invalid(field.to_owned(), describe(&e)))
}

/// The error without the template source (which could be long).
fn describe(e: &minijinja::Error) -> String {
    let mut text = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

fn one_line(field: &str, text: &str) -> Result<()> {
    if text.contains(['\r', '\n']) {
        Err(Error::invalid(
            field.to_owned(),
            "must be one line (no CR or LF)",
        ))
    } else {
        Ok(())
    }
}

/// Checks a template's declared variables and every variant against them:
/// each part must compile and render with exactly the declared names
/// (strict: a name not declared is an error), subjects stay one line,
/// WhatsApp parameters name declared variables, languages are unique and
/// the default language has a variant. Every problem is reported at once.
///
/// ```
/// use tms_core::domain::outreach::*;
/// use tms_core::service::outreach::render::validate;
/// let variant = |subject: &str| TemplateVariant {
///     language: Language::parse("en").unwrap(),
///     content: VariantContent::Email { subject: subject.into(), text: "Hi {{ client_name }}".into(), html: "<p>Hi</p>".into() },
/// };
/// let en = Language::parse("en").unwrap();
/// let vars = vec!["client_name".to_owned()];
/// assert!(validate(OutreachChannel::Email, &vars, &en, &[variant("Offer for {{ client_name }}")]).is_ok());
/// assert!(validate(OutreachChannel::Email, &vars, &en, &[variant("Offer for {{ cliet_name }}")]).is_err());
/// ```
pub fn validate(
    channel: crate::domain::outreach::OutreachChannel,
    variables: &[String],
    default_language: &Language,
    variants: &[crate::domain::outreach::TemplateVariant],
) -> Result<()> {
    let mut errors = FieldErrors::new();
    if variables.len() > MAX_VARIABLES {
        errors.push("variables", format!("at most {MAX_VARIABLES}"));
    }
    for (i, name) in variables.iter().enumerate() {
        if !is_identifier(name) {
            errors.push(
                format!("variables[{i}]"),
                "must be a name of letters, digits and _",
            );
        }
        if variables[..i].contains(name) {
            errors.push(format!("variables[{i}]"), "is declared twice");
        }
    }
    if variants.is_empty() {
        errors.push("variants", "at least one language is needed");
    }
    if !variants.iter().any(|v| &v.language == default_language) {
        errors.push("default_language", "has no variant");
    }
    let sample: BTreeMap<String, String> = variables
        .iter()
        .map(|v| (v.clone(), format!("{v}-sample")))
        .collect();
    for (i, variant) in variants.iter().enumerate() {
        let at = |part: &str| format!("variants[{i}].{part}");
        if variants[..i].iter().any(|v| v.language == variant.language) {
            errors.push(at("language"), "appears twice");
        }
        if variant.content.channel() != channel {
            errors.push(at("channel"), "differs from the template's channel");
            continue;
        }
        match &variant.content {
            VariantContent::Email {
                subject,
                text,
                html,
            } => {
                if subject.trim().is_empty() {
                    errors.push(at("subject"), "is required");
                }
                if one_line("subject", subject).is_err() {
                    errors.push(at("subject"), "must be one line (no CR or LF)");
                }
                for (part, source, escape) in [
                    ("subject", subject, false),
                    ("text", text, false),
                    ("html", html, true),
                ] {
                    if source.len() > MAX_PART_LEN {
                        errors.push(at(part), format!("is longer than {MAX_PART_LEN} bytes"));
                        continue;
                    }
                    if let Err(Error::Invalid(found)) =
                        render_part(escape, &at(part), source, &sample)
                    {
                        for e in found.as_slice() {
                            errors.push(e.field.clone(), e.message.clone());
                        }
                    }
                }
            }
            VariantContent::Whatsapp {
                provider_template,
                provider_language,
                parameters,
            } => {
                let token_ok = |s: &str| {
                    !s.is_empty()
                        && s.len() <= 512
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                };
                if !token_ok(provider_template) {
                    errors.push(
                        at("provider_template"),
                        "must be the provider's template name",
                    );
                }
                if !token_ok(provider_language) {
                    errors.push(
                        at("provider_language"),
                        "must be a language code such as en_US",
                    );
                }
                for (j, p) in parameters.iter().enumerate() {
                    if !variables.contains(p) {
                        errors.push(format!("variants[{i}].parameters[{j}]"), "is not declared");
                    }
                }
            }
        }
    }
    errors.into_result()
}

/// Renders `template` in `language` (with fallback) with `values`.
///
/// Only an approved template renders; a missing value is an error (strict);
/// a subject that renders with CR or LF is refused.
pub fn render(
    template: &Template,
    language: &Language,
    values: &BTreeMap<String, String>,
) -> Result<Rendered> {
    if template.status != TemplateStatus::Approved {
        return Err(Error::conflict("only an approved template can be used"));
    }
    let variant = template
        .variant(language)
        .ok_or_else(|| Error::internal("a template has no default variant"))?;
    // Only declared names reach the engine: a value for anything else is
    // dropped, so undeclared names stay undefined (strict) as at save time.
    let values: BTreeMap<String, String> = values
        .iter()
        .filter(|(k, _)| template.variables.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match &variant.content {
        VariantContent::Email {
            subject,
            text,
            html,
        } => {
            let subject = render_part(false, "subject", subject, &values)?;
            one_line("subject", &subject)?;
            Ok(Rendered::Email(RenderedEmail {
                language: variant.language.clone(),
                subject,
                text: render_part(false, "text", text, &values)?,
                html: render_part(true, "html", html, &values)?,
            }))
        }
        VariantContent::Whatsapp {
            provider_template,
            provider_language,
            parameters,
        } => {
            let parameters = parameters
                .iter()
                .map(|p| {
                    values
                        .get(p)
                        .cloned()
                        .ok_or_else(|| Error::invalid(p.clone(), "has no value"))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Rendered::Whatsapp(RenderedWhatsapp {
                language: variant.language.clone(),
                provider_template: provider_template.clone(),
                provider_language: provider_language.clone(),
                parameters,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outreach::{OutreachChannel, TemplateVariant};
    use chrono::Utc;

    fn email(lang: &str, subject: &str, text: &str, html: &str) -> TemplateVariant {
        TemplateVariant {
            language: Language::parse(lang).unwrap(),
            content: VariantContent::Email {
                subject: subject.into(),
                text: text.into(),
                html: html.into(),
            },
        }
    }

    fn template(variants: Vec<TemplateVariant>) -> Template {
        Template {
            id: Default::default(),
            tenant_id: Default::default(),
            name: "offer".into(),
            channel: OutreachChannel::Email,
            status: TemplateStatus::Approved,
            variables: vec!["client_name".into(), "offer".into()],
            default_language: Language::parse("en").unwrap(),
            variants,
            approved_by: None,
            approved_at: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    fn values(name: &str) -> BTreeMap<String, String> {
        [("client_name", name), ("offer", "Umrah 2027")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn html_is_escaped_and_text_and_subject_are_not() {
        let t = template(vec![email(
            "en",
            "{{ offer }} for {{ client_name }}",
            "Dear {{ client_name }}",
            "<p>Dear {{ client_name }}</p>",
        )]);
        let Rendered::Email(r) = render(
            &t,
            &Language::parse("en").unwrap(),
            &values("<b>Ali</b> & co"),
        )
        .unwrap() else {
            panic!("an email")
        };
        assert_eq!(r.subject, "Umrah 2027 for <b>Ali</b> & co");
        assert_eq!(r.text, "Dear <b>Ali</b> & co");
        assert_eq!(r.html, "<p>Dear &lt;b&gt;Ali&lt;&#x2f;b&gt; &amp; co</p>");
    }

    #[test]
    fn the_safe_filter_cannot_switch_escaping_off() {
        let variants = vec![email("en", "s", "t", "{{ client_name|safe }}")];
        let en = Language::parse("en").unwrap();
        assert!(
            validate(
                OutreachChannel::Email,
                &["client_name".into()],
                &en,
                &variants
            )
            .is_err()
        );
    }

    #[test]
    fn undeclared_names_are_errors_at_save_time_and_at_render_time() {
        let en = Language::parse("en").unwrap();
        let variants = vec![email("en", "Hello {{ nme }}", "t", "h")];
        let err = validate(OutreachChannel::Email, &["name".into()], &en, &variants).unwrap_err();
        let Error::Invalid(fields) = err else {
            panic!()
        };
        assert_eq!(fields.as_slice()[0].field, "variants[0].subject");
        // At render time a missing value is an error too, never "".
        let t = template(vec![email("en", "{{ offer }}", "t", "h")]);
        assert!(render(&t, &en, &BTreeMap::new()).is_err());
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let t = template(vec![email(
            "en",
            "s",
            "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}",
            "h",
        )]);
        let err = render(&t, &Language::parse("en").unwrap(), &values("A")).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    }

    #[test]
    fn includes_and_syntax_errors_are_refused() {
        let en = Language::parse("en").unwrap();
        for source in ["{% include 'x' %}", "{{ unclosed", "{% extends 'base' %}"] {
            let variants = vec![email("en", "s", source, "h")];
            assert!(
                validate(OutreachChannel::Email, &[], &en, &variants).is_err(),
                "{source}"
            );
        }
    }

    #[test]
    fn a_subject_never_renders_with_a_line_break() {
        let t = template(vec![email("en", "Hi {{ client_name }}", "t", "h")]);
        let err = render(
            &t,
            &Language::parse("en").unwrap(),
            &values("Ali\r\nBcc: victim@example.com"),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Invalid(_)));
        let en = Language::parse("en").unwrap();
        let variants = vec![email("en", "line\nbreak", "t", "h")];
        assert!(validate(OutreachChannel::Email, &[], &en, &variants).is_err());
    }

    #[test]
    fn languages_fall_back_to_the_base_then_the_default() {
        let t = template(vec![
            email("en", "EN", "t", "h"),
            email("ar", "AR", "t", "h"),
        ]);
        let subject =
            |lang: &str| match render(&t, &Language::parse(lang).unwrap(), &values("A")).unwrap() {
                Rendered::Email(r) => (r.subject, r.language.to_string()),
                Rendered::Whatsapp(_) => panic!(),
            };
        assert_eq!(subject("ar-SA"), ("AR".into(), "ar".into()));
        assert_eq!(subject("ur"), ("EN".into(), "en".into()));
        assert_eq!(subject("en"), ("EN".into(), "en".into()));
    }

    #[test]
    fn only_approved_templates_render() {
        let mut t = template(vec![email("en", "s", "t", "h")]);
        for status in [TemplateStatus::Draft, TemplateStatus::Archived] {
            t.status = status;
            assert!(matches!(
                render(&t, &Language::parse("en").unwrap(), &values("A")),
                Err(Error::Conflict { .. })
            ));
        }
    }

    #[test]
    fn whatsapp_parameters_come_from_declared_values_in_order() {
        let mut t = template(vec![TemplateVariant {
            language: Language::parse("en").unwrap(),
            content: VariantContent::Whatsapp {
                provider_template: "umrah_offer".into(),
                provider_language: "en_US".into(),
                parameters: vec!["offer".into(), "client_name".into()],
            },
        }]);
        t.channel = OutreachChannel::Whatsapp;
        let Rendered::Whatsapp(r) =
            render(&t, &Language::parse("en").unwrap(), &values("Ali")).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.parameters, vec!["Umrah 2027", "Ali"]);
        assert!(
            validate(
                OutreachChannel::Whatsapp,
                &["offer".into()],
                &Language::parse("en").unwrap(),
                &t.variants
            )
            .is_err(),
            "client_name is not declared there"
        );
    }
}
