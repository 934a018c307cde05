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
//!
//! # Two canonical forms, and erasure
//!
//! - **v1** (events written before schema 10): the canonical bytes hold the
//!   `before`/`after` payloads themselves. Rewriting a v1 payload breaks the
//!   chain, so a v1 event can never be erased; the privacy service leaves
//!   them as they are and reports how many it kept.
//! - **v2** (every event written since): the canonical bytes hold a
//!   *payload digest* instead, `SHA-256(len-prefixed "tms.audit.payload.v2",
//!   salt, before, after)` with a random 16-byte salt per event, both kept
//!   on the event. While the payload is there, [`ChainVerifier`] recomputes
//!   the digest from salt and payload, so an edited payload, salt or digest
//!   is [`ChainBreak::Altered`] exactly as before.
//! - **Erasure** ([`AuditEvent::erase`], used when a person exercises the
//!   right to erasure) drops the payload *and the salt* and records when,
//!   keeping the digest. The chain still verifies, because it covers only
//!   the digest; the verifier accepts an erased event only with no payload
//!   and no salt, so erasure can remove content but never substitute any.
//!   Dropping the salt matters: without it the digest of a short payload
//!   (`{"name":"Amina"}`) could be confirmed by guessing; with 128 random
//!   bits gone it says nothing about the erased content.

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

    /// Appends the length-prefixed fields every canonical form shares
    /// (everything but the payload) after the version tag.
    fn canonical_head(&self, tag: &[u8], seq: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let opt = |s: Option<String>| s.unwrap_or_default();
        push_field(&mut out, tag);
        push_field(&mut out, &seq.to_be_bytes());
        push_field(&mut out, self.id.as_uuid().as_bytes());
        push_field(&mut out, self.tenant_id.as_uuid().as_bytes());
        push_field(
            &mut out,
            self.at
                .to_rfc3339_opts(SecondsFormat::Micros, true)
                .as_bytes(),
        );
        push_field(
            &mut out,
            opt(self.actor_user_id.map(|u| u.to_string())).as_bytes(),
        );
        push_field(&mut out, self.actor.as_bytes());
        push_field(&mut out, opt(self.ip.clone()).as_bytes());
        push_field(&mut out, opt(self.user_agent.clone()).as_bytes());
        push_field(&mut out, self.request_id.as_uuid().as_bytes());
        push_field(&mut out, self.action.as_bytes());
        push_field(&mut out, self.resource_kind.as_bytes());
        push_field(
            &mut out,
            opt(self.resource_id.map(|u| u.to_string())).as_bytes(),
        );
        push_field(
            &mut out,
            opt(self.branch_id.map(|b| b.to_string())).as_bytes(),
        );
        out
    }

    /// The v1 canonical bytes of the event at position `seq` of its chain:
    /// the payloads themselves are hashed (events written before schema 10).
    pub fn canonical_v1(&self, seq: i64) -> Vec<u8> {
        let mut out = self.canonical_head(b"tms.audit.v1", seq);
        // serde_json's default map is a BTreeMap: keys come out sorted, so the
        // compact form is canonical for a given value.
        push_field(&mut out, json_text(self.before.as_ref()).as_bytes());
        push_field(&mut out, json_text(self.after.as_ref()).as_bytes());
        out
    }

    /// The v2 canonical bytes: the payload enters only through its salted
    /// digest (see the module doc), so that it can be erased later.
    pub fn canonical_v2(&self, seq: i64, payload_digest: &[u8; 32]) -> Vec<u8> {
        let mut out = self.canonical_head(b"tms.audit.v2", seq);
        push_field(&mut out, payload_digest);
        out
    }

    /// The salted digest of this event's payload.
    pub fn payload_digest(&self, salt: &[u8; 16]) -> [u8; 32] {
        payload_digest(salt, self.before.as_ref(), self.after.as_ref())
    }

    /// Places the event after `prev_hash` at `seq` in the current (v2)
    /// form, with a fresh random salt, computing its hash.
    pub fn chain(self, seq: i64, prev_hash: [u8; 32]) -> AuditEvent {
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        self.chain_salted(seq, prev_hash, salt)
    }

    /// As [`NewAuditEvent::chain`] with a given salt (deterministic tests).
    pub fn chain_salted(self, seq: i64, prev_hash: [u8; 32], salt: [u8; 16]) -> AuditEvent {
        let digest = self.payload_digest(&salt);
        let hash = chain_hash(&prev_hash, &self.canonical_v2(seq, &digest));
        AuditEvent {
            seq,
            prev_hash,
            hash,
            canon: CANON_V2,
            payload_digest: Some(digest),
            payload_salt: Some(salt),
            erased_at: None,
            event: self,
        }
    }

    /// Places the event in the legacy v1 form — what stores wrote before
    /// schema 10. Only for tests and tools that check old chains.
    pub fn chain_v1(self, seq: i64, prev_hash: [u8; 32]) -> AuditEvent {
        let hash = chain_hash(&prev_hash, &self.canonical_v1(seq));
        AuditEvent {
            seq,
            prev_hash,
            hash,
            canon: CANON_V1,
            payload_digest: None,
            payload_salt: None,
            erased_at: None,
            event: self,
        }
    }
}

/// The canonical form of events written before schema 10.
pub const CANON_V1: u8 = 1;
/// The canonical form of events written since schema 10 (payload digest).
pub const CANON_V2: u8 = 2;

fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn json_text(value: Option<&Value>) -> String {
    value.map(Value::to_string).unwrap_or_default()
}

/// `SHA-256` of the length-prefixed tag, `salt`, `before` and `after`
/// (compact JSON, empty when absent).
pub fn payload_digest(salt: &[u8; 16], before: Option<&Value>, after: Option<&Value>) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(128);
    push_field(&mut bytes, b"tms.audit.payload.v2");
    push_field(&mut bytes, salt);
    push_field(&mut bytes, json_text(before).as_bytes());
    push_field(&mut bytes, json_text(after).as_bytes());
    Sha256::digest(&bytes).into()
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
    /// Which canonical form the hash covers: [`CANON_V1`] or [`CANON_V2`].
    #[serde(default = "canon_v1")]
    pub canon: u8,
    /// v2: the salted digest of `before`/`after` that the hash covers.
    #[serde(default, with = "hex_opt")]
    pub payload_digest: Option<[u8; 32]>,
    /// v2: the digest's salt; gone once the payload is erased.
    #[serde(default, with = "hex_opt")]
    pub payload_salt: Option<[u8; 16]>,
    /// When the payload was erased (privacy right); `None` while it is there.
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
    /// The event.
    #[serde(flatten)]
    pub event: NewAuditEvent,
}

fn canon_v1() -> u8 {
    CANON_V1
}

impl AuditEvent {
    /// Whether the event can be erased without breaking the chain (v2, not
    /// erased yet).
    pub fn erasable(&self) -> bool {
        self.canon == CANON_V2 && self.erased_at.is_none()
    }

    /// Drops the payload and its salt, keeping the digest the chain covers;
    /// whether anything changed. A v1 event is left alone (its hash covers
    /// the payload itself): `false`.
    pub fn erase(&mut self, at: DateTime<Utc>) -> bool {
        if !self.erasable() {
            return false;
        }
        self.event.before = None;
        self.event.after = None;
        self.payload_salt = None;
        self.erased_at = Some(at);
        true
    }

    /// Whether the stored content matches the hash: the canonical form of
    /// its version, and for v2 the payload digest (or a clean erasure).
    fn holds(&self) -> bool {
        match self.canon {
            CANON_V1 => {
                self.payload_digest.is_none()
                    && self.payload_salt.is_none()
                    && self.erased_at.is_none()
                    && chain_hash(&self.prev_hash, &self.event.canonical_v1(self.seq)) == self.hash
            }
            CANON_V2 => {
                let Some(digest) = self.payload_digest else {
                    return false;
                };
                let payload_ok = match (self.erased_at, self.payload_salt) {
                    // Erased: nothing may be left, and nothing substituted.
                    (Some(_), None) => self.event.before.is_none() && self.event.after.is_none(),
                    (None, Some(salt)) => self.event.payload_digest(&salt) == digest,
                    _ => false,
                };
                payload_ok
                    && chain_hash(&self.prev_hash, &self.event.canonical_v2(self.seq, &digest))
                        == self.hash
            }
            _ => false,
        }
    }
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
        if !event.holds() {
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

mod hex_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &Option<[u8; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            None => s.serialize_none(),
            Some(bytes) => {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                s.serialize_some(&hex)
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        let Some(hex) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let mut out = [0u8; N];
        if hex.len() != 2 * N || !hex.is_ascii() {
            return Err(serde::de::Error::custom("wrong number of hex digits"));
        }
        for (i, byte) in out.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(serde::de::Error::custom)?;
        }
        Ok(Some(out))
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
    fn an_erased_event_still_verifies_and_keeps_nothing() {
        let mut events = chain(5);
        assert!(events[2].erase(Utc::now()));
        assert!(events[2].event.after.is_none() && events[2].payload_salt.is_none());
        assert!(events[2].payload_digest.is_some());
        assert_eq!(verify(&events), Ok(()));
        // Erasing again changes nothing.
        assert!(!events[2].erase(Utc::now()));
        assert_eq!(verify(&events), Ok(()));
    }

    #[test]
    fn an_erased_event_cannot_take_new_content() {
        let mut events = chain(5);
        events[2].erase(Utc::now());
        events[2].event.after = Some(json!({ "n": 3 }));
        assert_eq!(verify(&events), Err(ChainBreak::Altered { seq: 3 }));
    }

    #[test]
    fn an_edited_digest_or_salt_is_found() {
        let mut events = chain(5);
        events[1].payload_digest = Some([7; 32]);
        assert_eq!(verify(&events), Err(ChainBreak::Altered { seq: 2 }));
        let mut events = chain(5);
        events[3].payload_salt = Some([7; 16]);
        assert_eq!(verify(&events), Err(ChainBreak::Altered { seq: 4 }));
        // A digest recomputed for a forged payload does not match the hash.
        let mut events = chain(5);
        let salt = events[3].payload_salt.unwrap();
        events[3].event.after = Some(json!({ "n": 99 }));
        events[3].payload_digest = Some(events[3].event.payload_digest(&salt));
        assert_eq!(verify(&events), Err(ChainBreak::Altered { seq: 4 }));
    }

    #[test]
    fn v1_events_keep_verifying_and_cannot_be_erased() {
        let ctx = Context::new(Principal::system(TenantId::new(), "test"), Utc::now());
        let first = NewAuditEvent::new(&ctx, "old.thing", "thing", None)
            .with_change(None, Some(json!({ "name": "Amina" })))
            .chain_v1(1, GENESIS);
        let second = NewAuditEvent::new(&ctx, "new.thing", "thing", None).chain(2, first.hash);
        let mut events = vec![first, second];
        assert_eq!(verify(&events), Ok(()));
        assert!(!events[0].erasable());
        assert!(!events[0].erase(Utc::now()));
        events[0].event.after = None;
        assert_eq!(verify(&events), Err(ChainBreak::Altered { seq: 1 }));
        // Claiming v2 for a v1 event does not help either.
        let mut events = chain(1);
        events[0].canon = CANON_V1;
        assert_eq!(verify(&events), Err(ChainBreak::Altered { seq: 1 }));
    }

    #[test]
    fn salts_make_equal_payloads_hash_differently() {
        let events = chain(1);
        let event = &events[0];
        let again = event.event.clone().chain(1, GENESIS);
        assert_ne!(event.payload_digest, again.payload_digest);
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
        let mut erased = chain(1).remove(0);
        erased.erase(Utc::now());
        let back: AuditEvent =
            serde_json::from_str(&serde_json::to_string(&erased).unwrap()).unwrap();
        assert_eq!(back, erased);
        assert_eq!(verify(&[back]), Ok(()));
    }
}
