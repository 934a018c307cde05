//! WhatsApp (issue 9): a tenant's WhatsApp Cloud API connection, and the
//! webhook that reports what became of its messages.
//!
//! - **Connection.** The phone number id and business account id are a
//!   row ([`WhatsappConnection`]); the access token, the app secret (which
//!   signs webhooks) and the verify token (the subscription handshake) are
//!   sealed tenant secrets — never in a log, an error, an audit payload or
//!   `Debug`. Connecting is an update of the tenant's
//!   [`ResourceKind::MailConnection`] (Administration: Tenant Super Admins
//!   and Admins); disconnecting is [`Action::Disconnect`], a critical
//!   action that needs a confirmation, and deletes the secrets.
//! - **Webhook.** Unauthenticated but bound to one tenant by its path:
//!   the handshake echoes the challenge only for the tenant's verify token
//!   (compared in constant time); a delivery is checked against
//!   `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the tenant's
//!   app secret, constant time) **before** the body is parsed, and each
//!   status is recorded once per (message, status): Meta's retries change
//!   nothing. Statuses of another phone number (another tenant sharing the
//!   Meta app) are ignored.
//! - **Routing.** [`WhatsappConnections::credentials`] gives the worker's
//!   channel routes what a send needs.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::digest::KeyInit as _;
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::audit::NewAuditEvent;
use crate::domain::Context;
use crate::error::{Error, FieldErrors, Result};
use crate::id::TenantId;
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{WhatsappConnection, WhatsappStatus, WhatsappStatusKind};
use crate::security::keyring::{KeyRing, SealContext};
use crate::security::secret::Secret;
use crate::security::token::PlainToken;
use crate::service::guard::authorize_in;
use crate::service::tenancy::Deps;

/// The sealed tenant secret holding the Graph API access token.
pub const ACCESS_TOKEN: &str = "whatsapp.access_token";
/// The sealed tenant secret holding the Meta app secret (webhook signatures).
pub const APP_SECRET: &str = "whatsapp.app_secret";
/// The sealed tenant secret holding the webhook verify token.
pub const VERIFY_TOKEN: &str = "whatsapp.verify_token";
/// The largest webhook body accepted (Meta batches at most a few KiB).
pub const MAX_WEBHOOK_BODY: usize = 256 * 1024;

/// A connection as an administrator enters it.
#[derive(Debug, Clone)]
pub struct NewWhatsappConnection {
    /// The sending number's id at Meta (digits).
    pub phone_number_id: String,
    /// The WhatsApp Business Account id (digits), if known.
    pub business_account_id: Option<String>,
    /// A (system user) access token of the Graph API.
    pub access_token: Secret<String>,
    /// The Meta app's secret, which signs webhook deliveries.
    pub app_secret: Secret<String>,
    /// The verify token entered in Meta's webhook settings (16 to 256
    /// characters).
    pub verify_token: Secret<String>,
}

/// What sending through a tenant's connection needs.
#[derive(Debug, Clone)]
pub struct WhatsappCredentials {
    /// The sending number's id.
    pub phone_number_id: String,
    /// The access token.
    pub access_token: Secret<String>,
}

/// The WhatsApp connections service (and its webhook).
#[derive(Debug, Clone)]
pub struct WhatsappConnections {
    deps: Deps,
    keyring: Arc<KeyRing>,
}

fn seal_context(tenant: TenantId, name: &str) -> SealContext<'_> {
    SealContext {
        tenant_id: tenant,
        table: "tenant_secrets",
        row: tenant.as_uuid(),
        field: name,
    }
}

fn connection_view(c: &WhatsappConnection) -> Value {
    json!({
        "phone_number_id": c.phone_number_id,
        "business_account_id": c.business_account_id,
    })
}

fn digits(raw: &str) -> bool {
    (1..=32).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a connection request; every error at once.
fn validate(new: &NewWhatsappConnection) -> Result<(String, Option<String>)> {
    let mut errors = FieldErrors::new();
    let phone = new.phone_number_id.trim().to_owned();
    if !digits(&phone) {
        errors.push("phone_number_id", "must be 1 to 32 digits");
    }
    let business = match new.business_account_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(b) => {
            if !digits(b) {
                errors.push("business_account_id", "must be 1 to 32 digits");
            }
            Some(b.to_owned())
        }
    };
    let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    let token = new.access_token.expose();
    if token.len() > 4096 || !printable(token) {
        errors.push(
            "access_token",
            "must be 1 to 4096 printable characters, no spaces",
        );
    }
    let secret = new.app_secret.expose();
    if secret.len() > 256 || !printable(secret) {
        errors.push(
            "app_secret",
            "must be 1 to 256 printable characters, no spaces",
        );
    }
    let verify = new.verify_token.expose();
    if !(16..=256).contains(&verify.len()) || !printable(verify) {
        errors.push(
            "verify_token",
            "must be 16 to 256 printable characters, no spaces",
        );
    }
    errors.into_result()?;
    Ok((phone, business))
}

impl WhatsappConnections {
    /// The service over `deps`, sealing secrets with `keyring`.
    pub fn new(deps: Deps, keyring: Arc<KeyRing>) -> Self {
        Self { deps, keyring }
    }

    fn resource(tenant: TenantId) -> Resource {
        Resource::new(ResourceKind::MailConnection, tenant)
    }

    /// Connects (or reconnects) the caller's tenant: saves the public part
    /// and seals the three secrets, audited as `whatsapp.connected` without
    /// them.
    pub async fn connect(
        &self,
        ctx: &Context,
        new: NewWhatsappConnection,
    ) -> Result<WhatsappConnection> {
        let tenant = ctx.principal.tenant_id();
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize_in(
            uow,
            &self.deps,
            ctx,
            Action::Update,
            &Self::resource(tenant),
            None,
        )
        .await?;
        let (phone_number_id, business_account_id) = validate(&new)?;
        let before = uow.whatsapp().connection(tenant).await?;
        let connection = WhatsappConnection {
            tenant_id: tenant,
            phone_number_id,
            business_account_id,
            connected_at: ctx.now,
            connected_by: ctx.principal.user_id(),
        };
        uow.whatsapp().put_connection(&connection).await?;
        for (name, value) in [
            (ACCESS_TOKEN, &new.access_token),
            (APP_SECRET, &new.app_secret),
            (VERIFY_TOKEN, &new.verify_token),
        ] {
            let sealed = self.keyring.seal(
                value.expose().as_bytes(),
                &seal_context(tenant, name),
                self.deps.random.as_ref(),
            )?;
            uow.settings().put_secret(tenant, name, &sealed).await?;
        }
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "whatsapp.connected", "mail connection", None).with_change(
                    before.as_ref().map(connection_view),
                    Some(connection_view(&connection)),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(connection)
    }

    /// The caller's tenant's connection, if any (no secrets).
    pub async fn status(&self, ctx: &Context) -> Result<Option<WhatsappConnection>> {
        let tenant = ctx.principal.tenant_id();
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize_in(
            uow,
            &self.deps,
            ctx,
            Action::Read,
            &Self::resource(tenant),
            None,
        )
        .await?;
        let connection = uow.whatsapp().connection(tenant).await?;
        uow.rollback().await?;
        Ok(connection)
    }

    /// Disconnects the caller's tenant: a critical action (the first call
    /// answers `ConfirmationRequired`); deletes the row and the secrets,
    /// audited as `whatsapp.disconnected`. `NotFound` when not connected.
    pub async fn disconnect(&self, ctx: &Context, confirmation: Option<&PlainToken>) -> Result<()> {
        let tenant = ctx.principal.tenant_id();
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize_in(
            uow,
            &self.deps,
            ctx,
            Action::Disconnect,
            &Self::resource(tenant),
            confirmation,
        )
        .await?;
        let before = uow
            .whatsapp()
            .connection(tenant)
            .await?
            .ok_or(Error::not_found("whatsapp connection"))?;
        uow.whatsapp().delete_connection(tenant).await?;
        for name in [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN] {
            uow.settings().delete_secret(tenant, name).await?;
        }
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "whatsapp.disconnected", "mail connection", None)
                    .with_change(Some(connection_view(&before)), None),
            )
            .await?;
        uow.commit().await
    }

    /// The recorded statuses of one sent message (`wamid.…`) of the
    /// caller's tenant, in the order they happened (read like the outbox:
    /// tenant settings).
    pub async fn statuses(
        &self,
        ctx: &Context,
        provider_message_id: &str,
    ) -> Result<Vec<WhatsappStatus>> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::TenantSettings, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize_in(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let statuses = uow.whatsapp().statuses(tenant, provider_message_id).await?;
        uow.rollback().await?;
        Ok(statuses)
    }

    /// What sending for `tenant` needs (for the worker's routes; no
    /// caller to authorize). `None` when the tenant is not connected.
    pub async fn credentials(&self, tenant: TenantId) -> Result<Option<WhatsappCredentials>> {
        let mut uow = self.deps.store.begin().await?;
        let connection = uow.whatsapp().connection(tenant).await?;
        let token = uow.settings().secret(tenant, ACCESS_TOKEN).await?;
        uow.rollback().await?;
        match (connection, token) {
            (Some(c), Some(sealed)) => Ok(Some(WhatsappCredentials {
                phone_number_id: c.phone_number_id,
                access_token: self
                    .keyring
                    .open_string(&sealed, &seal_context(tenant, ACCESS_TOKEN))?,
            })),
            _ => Ok(None),
        }
    }

    async fn open_secret(&self, tenant: TenantId, name: &str) -> Result<Option<Secret<String>>> {
        let mut uow = self.deps.store.begin().await?;
        let sealed = uow.settings().secret(tenant, name).await?;
        uow.rollback().await?;
        sealed
            .map(|s| self.keyring.open_string(&s, &seal_context(tenant, name)))
            .transpose()
    }

    /// The webhook's subscription handshake for `tenant`: the challenge to
    /// echo when `mode` is `subscribe` and `verify_token` is the tenant's
    /// (constant time), else `None` (answer 403).
    pub async fn verify_subscription(
        &self,
        tenant: TenantId,
        mode: Option<&str>,
        verify_token: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<Option<String>> {
        let (Some("subscribe"), Some(presented), Some(challenge)) = (mode, verify_token, challenge)
        else {
            return Ok(None);
        };
        let Some(expected) = self.open_secret(tenant, VERIFY_TOKEN).await? else {
            return Ok(None);
        };
        let same: bool = expected
            .expose()
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into();
        Ok(same.then(|| challenge.to_owned()))
    }

    /// A webhook delivery for `tenant`: verifies `signature` (the
    /// `X-Hub-Signature-256` header) over the raw `body` before reading it
    /// — missing, malformed or wrong is `Unauthenticated`, as is a tenant
    /// with no connection — then records each message status. Returns how
    /// many statuses were new.
    pub async fn receive(
        &self,
        tenant: TenantId,
        signature: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        if body.len() > MAX_WEBHOOK_BODY {
            return Err(Error::invalid("body", "is too large"));
        }
        let Some(secret) = self.open_secret(tenant, APP_SECRET).await? else {
            return Err(Error::Unauthenticated);
        };
        verify_signature(secret.expose().as_bytes(), signature, body)?;
        let statuses = parse_statuses(tenant, body, now)?;
        let mut uow = self.deps.store.begin().await?;
        let Some(connection) = uow.whatsapp().connection(tenant).await? else {
            return Err(Error::Unauthenticated);
        };
        let mut new = 0;
        for (phone_number_id, status) in statuses {
            // Another number of the same Meta app: not this tenant's.
            if phone_number_id.as_deref() != Some(connection.phone_number_id.as_str()) {
                continue;
            }
            if uow.whatsapp().record_status(&status).await? {
                new += 1;
            }
        }
        uow.commit().await?;
        Ok(new)
    }
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the HMAC-SHA256 of
/// `body` with `secret`, in constant time.
pub fn verify_signature(secret: &[u8], header: Option<&str>, body: &[u8]) -> Result<()> {
    let hex = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .ok_or(Error::Unauthenticated)?;
    let presented = decode_hex(hex).ok_or(Error::Unauthenticated)?;
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret)
        .map_err(|_| Error::internal("an HMAC key of any length is accepted"))?;
    mac.update(body);
    mac.verify_slice(&presented)
        .map_err(|_| Error::Unauthenticated)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    hex.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(*pair.get(1)?)?))
        .collect()
}

/// The statuses of a (verified) webhook body, each with the phone number
/// id it came for. Statuses this service does not know are skipped; a body
/// that is not the Graph API's shape is `Invalid`.
fn parse_statuses(
    tenant: TenantId,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<(Option<String>, WhatsappStatus)>> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| Error::invalid("body", "is not JSON"))?;
    let entries = doc
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::invalid("entry", "is missing"))?;
    let mut out = Vec::new();
    for change in entries
        .iter()
        .filter_map(|e| e.get("changes").and_then(Value::as_array))
        .flatten()
    {
        let Some(value) = change.get("value") else {
            continue;
        };
        let phone = value
            .pointer("/metadata/phone_number_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for s in value
            .get("statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(id), Some(kind)) = (
                s.get("id").and_then(Value::as_str),
                s.get("status")
                    .and_then(Value::as_str)
                    .and_then(|k| WhatsappStatusKind::parse(k).ok()),
            ) else {
                continue;
            };
            if id.is_empty() || id.len() > 256 {
                continue;
            }
            let at = s
                .get("timestamp")
                .and_then(|t| match t {
                    Value::String(t) => t.parse::<i64>().ok(),
                    other => other.as_i64(),
                })
                .and_then(|secs| DateTime::from_timestamp(secs, 0))
                .unwrap_or(now);
            let error = s
                .get("errors")
                .and_then(Value::as_array)
                .and_then(|e| e.first());
            out.push((
                phone.clone(),
                WhatsappStatus {
                    tenant_id: tenant,
                    provider_message_id: id.to_owned(),
                    status: kind,
                    at,
                    error_code: error.and_then(|e| e.get("code")).and_then(Value::as_i64),
                    error_title: error
                        .and_then(|e| e.get("title"))
                        .and_then(Value::as_str)
                        .map(|t| t.chars().take(500).collect()),
                    recorded_at: now,
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(secret).unwrap();
        mac.update(body);
        let bytes = mac.finalize().into_bytes();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    #[test]
    fn only_the_right_signature_of_the_exact_body_passes() {
        let body = br#"{"entry":[]}"#;
        let good = sign(b"app-secret", body);
        assert!(verify_signature(b"app-secret", Some(&good), body).is_ok());
        assert!(
            verify_signature(
                b"app-secret",
                Some(&good.to_uppercase().replace("SHA256", "sha256")),
                body
            )
            .is_ok()
        );
        for bad in [
            None,
            Some(""),
            Some("sha256="),
            Some("sha1=abc"),
            Some(good.trim_start_matches("sha256=")),
            Some(&sign(b"other-secret", body)),
            Some(&good[..good.len() - 2]),
        ] {
            assert!(
                matches!(
                    verify_signature(b"app-secret", bad, body),
                    Err(Error::Unauthenticated)
                ),
                "{bad:?}"
            );
        }
        assert!(verify_signature(b"app-secret", Some(&good), br#"{"entry":[1]}"#).is_err());
    }

    #[test]
    fn statuses_are_read_from_the_graph_api_shape() {
        let tenant = TenantId::new();
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "phone_number_id": "1234" },
                "statuses": [
                    { "id": "wamid.A", "status": "delivered", "timestamp": "1764590000",
                      "recipient_id": "966501234567" },
                    { "id": "wamid.B", "status": "failed", "timestamp": "1764590001",
                      "errors": [{ "code": 131026, "title": "Message undeliverable" }] },
                    { "id": "wamid.C", "status": "deleted" },
                ],
            }}]}],
        })
        .to_string();
        let parsed = parse_statuses(tenant, body.as_bytes(), Utc::now()).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0.as_deref(), Some("1234"));
        assert_eq!(parsed[0].1.status, WhatsappStatusKind::Delivered);
        assert_eq!(parsed[0].1.at.timestamp(), 1_764_590_000);
        assert_eq!(parsed[1].1.error_code, Some(131_026));
        assert!(parse_statuses(tenant, b"not json", Utc::now()).is_err());
    }
}
