//! The audit log's events and their per-tenant hash chain (DESIGN.md §7).
//!
//! Each tenant's events form a chain: event `n` stores
//! `hash_n = SHA-256(hash_{n-1} || canonical(event_n))`, with 32 zero bytes
//! before the first. The canonical encoding is length-prefixed fields in a
//! fixed order (no JSON key-order or whitespace ambiguity), and it includes
//! the sequence number, so an edited, deleted, inserted or reordered event
//! breaks the chain at that point. [`ChainVerifier`] checks a chain one event
//! at a time, so a store can stream millions of events through it in constant
//! memory. Secrets are redacted from `before`/`after` when an event is built.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::Context;
use crate::id::{AuditEventId, BranchId, RequestId, TenantId, UserId};

/// The hash before a tenant's first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// Field names whose values never reach the audit log. Matched on the
/// lower-cased key, as a whole word or a `_`-separated part of it.
const SECRET_KEYS: &[&str] = &[
    "password",
    "hash",
    "secret",
    "token",
    "otp",
    "key",
    "recovery",
    "credential",
    "passport",
];

/// Replaces the values of secret-looking keys, at any depth, with `"<redacted>"`.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                let lower = key.to_ascii_lowercase();
                let secret = lower
                    .split(['_', '-', '.'])
                    .any(|part| SECRET_KEYS.contains(&part));
                if secret {
                    *inner = Value::String("<redacted>".to_owned());
                } else {
                    redact(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// An event about to be appended: everything but its place in the chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewAuditEvent {
    /// Identity.
    pub id: AuditEventId,
    /// Whose log it goes into.
    pub tenant_id: TenantId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The acting user, if a person acted.
    pub actor_user_id: Option<UserId>,
    /// The user id or `system:<job>`.
    pub actor: String,
    /// The caller's IP.
    pub ip: Option<String>,
    /// The caller's user agent.
    pub user_agent: Option<String>,
    /// Correlates with logs and the HTTP response.
    pub request_id: RequestId,
    /// What happened, dotted lower case: `booking.created`, `auth.login.failed`.
    pub action: String,
    /// The kind of record, e.g. `booking`.
    pub resource_kind: String,
    /// The record, if one.
    pub resource_id: Option<uuid::Uuid>,
    /// The record's branch, if any.
    pub branch_id: Option<BranchId>,
    /// The state before, secrets redacted.
    pub before: Option<Value>,
    /// The state after, secrets redacted.
    pub after: Option<Value>,
}

impl NewAuditEvent {
    /// An event of `action` on a record of `resource_kind`, by the caller of `ctx`.
    ///
    /// ```
    /// use chrono::Utc;
    /// use serde_json::json;
    /// use tms_core::audit::NewAuditEvent;
    /// use tms_core::domain::{Context, Principal};
    /// use tms_core::id::TenantId;
    ///
    /// let ctx = Context::new(Principal::system(TenantId::new(), "import"), Utc::now());
    /// let event = NewAuditEvent::new(&ctx, "user.updated", "user", None)
    ///     .with_change(Some(json!({"role": "sales"})), Some(json!({"role": "admin", "password_hash": "$argon2id$…"})));
    /// assert_eq!(event.after.unwrap()["password_hash"], "<redacted>");
    /// ```
    pub fn new(
        ctx: &Context,
        action: &str,
        resource_kind: &str,
        resource_id: Option<uuid::Uuid>,
    ) -> Self {
        Self {
            id: AuditEventId::new(),
            tenant_id: ctx.principal.tenant_id(),
            at: ctx.now,
            actor_user_id: ctx.principal.user_id(),
            actor: ctx.principal.audit_label(),
            ip: ctx.ip.map(|ip| ip.to_string()),
            user_agent: ctx.user_agent.clone(),
            request_id: ctx.request_id,
            action: action.to_owned(),
            resource_kind: resource_kind.to_owned(),
            resource_id,
            branch_id: None,
            before: None,
            after: None,
        }
    }

    /// Sets the record's branch.
    pub fn in_branch(mut self, branch_id: BranchId) -> Self {
        self.branch_id = Some(branch_id);
        self
    }

    /// Sets before/after, redacting secrets.
    pub fn with_change(mut self, mut before: Option<Value>, mut after: Option<Value>) -> Self {
        before.iter_mut().for_each(redact);
        after.iter_mut().for_each(redact);
        self.before = before;
        self.after = after;
        self
    }

    /// The canonical bytes of the event at position `seq` of its chain.
    pub fn canonical(&self, seq: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        let opt = |s: Option<String>| s.unwrap_or_default();
        field(b"tms.audit.v1");
        field(&seq.to_be_bytes());
        field(self.id.as_uuid().as_bytes());
        field(self.tenant_id.as_uuid().as_bytes());
        field(
            self.at
                .to_rfc3339_opts(SecondsFormat::Micros, true)
                .as_bytes(),
        );
        field(opt(self.actor_user_id.map(|u| u.to_string())).as_bytes());
        field(self.actor.as_bytes());
        field(opt(self.ip.clone()).as_bytes());
        field(opt(self.user_agent.clone()).as_bytes());
        field(self.request_id.as_uuid().as_bytes());
        field(self.action.as_bytes());
        field(self.resource_kind.as_bytes());
        field(opt(self.resource_id.map(|u| u.to_string())).as_bytes());
        field(opt(self.branch_id.map(|b| b.to_string())).as_bytes());
        // serde_json's default map is a BTreeMap: keys come out sorted, so the
        // compact form is canonical for a given value.
        field(opt(self.before.as_ref().map(Value::to_string)).as_bytes());
        field(opt(self.after.as_ref().map(Value::to_string)).as_bytes());
        out
    }

    /// Places the event after `prev_hash` at `seq`, computing its hash.
    pub fn chain(self, seq: i64, prev_hash: [u8; 32]) -> AuditEvent {
        let hash = chain_hash(&prev_hash, &self.canonical(seq));
        AuditEvent {
            seq,
            prev_hash,
            hash,
            event: self,
        }
    }
}

/// `SHA-256(prev_hash || canonical)`.
pub fn chain_hash(prev_hash: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical);
    hasher.finalize().into()
}

/// An event in its place in the tenant's chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEvent {
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    /// The previous event's hash ([`GENESIS`] for the first).
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// This event's hash.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// The event.
    #[serde(flatten)]
    pub event: NewAuditEvent,
}

/// The first place where a chain does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// The event's content no longer matches its hash: it was edited.
    #[error("event {seq} was altered")]
    Altered {
        /// Where.
        seq: i64,
    },
    /// The event does not follow the one before it: one was deleted,
    /// inserted or moved.
    #[error("the chain is broken before event {seq} (expected {expected})")]
    Gap {
        /// The sequence number found.
        seq: i64,
        /// The sequence number that should have come.
        expected: i64,
    },
    /// The event's `prev_hash` is not the previous event's hash.
    #[error("event {seq} does not link to the event before it")]
    Unlinked {
        /// Where.
        seq: i64,
    },
}

/// Checks a chain one event at a time, in order.
///
/// ```
/// use chrono::Utc;
/// use tms_core::audit::{ChainVerifier, NewAuditEvent, GENESIS};
/// use tms_core::domain::{Context, Principal};
/// use tms_core::id::TenantId;
///
/// let ctx = Context::new(Principal::system(TenantId::new(), "demo"), Utc::now());
/// let first = NewAuditEvent::new(&ctx, "tenant.created", "tenant", None).chain(1, GENESIS);
/// let second = NewAuditEvent::new(&ctx, "branch.created", "branch", None).chain(2, first.hash);
/// let mut verifier = ChainVerifier::new();
/// assert!(verifier.push(&first).is_ok() && verifier.push(&second).is_ok());
/// assert_eq!(verifier.checked(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: [u8; 32],
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier expecting event 1.
    pub fn new() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS,
        }
    }

    /// Checks the next event.
    pub fn push(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        if event.seq != self.expected_seq {
            return Err(ChainBreak::Gap {
                seq: event.seq,
                expected: self.expected_seq,
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(ChainBreak::Unlinked { seq: event.seq });
        }
        if chain_hash(&event.prev_hash, &event.event.canonical(event.seq)) != event.hash {
            return Err(ChainBreak::Altered { seq: event.seq });
        }
        self.expected_seq += 1;
        self.prev_hash = event.hash;
        Ok(())
    }

    /// How many events have been verified.
    pub fn checked(&self) -> i64 {
        self.expected_seq - 1
    }
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let hex = String::deserialize(d)?;
        let mut out = [0u8; 32];
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(serde::de::Error::custom("expected 64 hex digits"));
        }
        for (i, byte) in out.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(serde::de::Error::custom)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Principal;
    use serde_json::json;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let ctx = Context::new(Principal::system(TenantId::new(), "test"), Utc::now());
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let event = NewAuditEvent::new(&ctx, "thing.done", "thing", None)
                    .with_change(None, Some(json!({ "n": seq })))
                    .chain(seq, prev);
                prev = event.hash;
                event
            })
            .collect()
    }

    fn verify(events: &[AuditEvent]) -> Result<(), ChainBreak> {
        let mut verifier = ChainVerifier::new();
        events.iter().try_for_each(|e| verifier.push(e))
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
    }

    #[test]
    fn an_edited_event_is_found() {
        let mut events = chain(5);
        events[2].event.after = Some(json!({ "n": 99 }));
        assert_eq!(verify(&events), Err(ChainBreak::Altered { seq: 3 }));
    }

    #[test]
    fn a_deleted_event_is_found() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(
            verify(&events),
            Err(ChainBreak::Gap {
                seq: 3,
                expected: 2
            })
        );
    }

    #[test]
    fn a_deleted_and_renumbered_event_is_found() {
        let mut events = chain(5);
        events.remove(1);
        for (i, e) in events.iter_mut().enumerate() {
            e.seq = i as i64 + 1;
        }
        assert!(verify(&events).is_err());
    }

    #[test]
    fn swapped_events_are_found() {
        let mut events = chain(5);
        events.swap(1, 2);
        assert!(matches!(
            verify(&events),
            Err(ChainBreak::Gap { seq: 3, .. })
        ));
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut value = json!({
            "name": "Amina",
            "smtp": { "password": "hunter2", "host": "mail.example" },
            "tokens": [{ "access_token": "ya29" }],
            "totp_secret": "JBSWY3DP",
        });
        redact(&mut value);
        let text = value.to_string();
        for secret in ["hunter2", "ya29", "JBSWY3DP"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(value["smtp"]["host"], "mail.example");
        assert_eq!(value["name"], "Amina");
    }

    #[test]
    fn events_round_trip_through_json() {
        let event = chain(1).remove(0);
        let json = serde_json::to_string(&event).unwrap();
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
        assert_eq!(verify(&[back]), Ok(()));
    }
}
