//! Idempotency keys: a write that must not happen twice (a booking, a
//! payment) carries a client-chosen key; a retry with the same key returns
//! the first result instead of doing it again (DESIGN.md §10).
//!
//! The service claims the key **inside the unit of work that does the
//! write**, before writing: [`IdempotencyRepo::claim`] inserts the key with
//! the id the new resource will have. If that unit rolls back, the claim
//! goes with it; if it commits, the key and the resource exist together. A
//! concurrent request with the same key waits on the key's row (PostgreSQL)
//! or on the write lock (SQLite) and then finds it: exactly one resource is
//! created. The request's fingerprint (SHA-256 of its canonical form) tells
//! a retry from a different request reusing the key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::id::TenantId;

/// A client-chosen key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks the key.
    pub fn parse(raw: &str) -> Result<Self> {
        let ok = !raw.is_empty() && raw.len() <= 255 && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a request's canonical JSON form: object keys sorted at
/// every depth, so that two equal requests have one fingerprint whatever
/// order their maps were built in — and whether or not the application
/// that embeds TMS turns on serde_json's `preserve_order` (which keeps
/// insertion order instead of sorting).
pub fn fingerprint<T: serde::Serialize>(request: &T) -> Result<[u8; 32]> {
    let value =
        serde_json::to_value(request).map_err(|e| Error::internal(format!("fingerprint: {e}")))?;
    let mut bytes = Vec::with_capacity(256);
    canonical(&value, &mut bytes)?;
    Ok(Sha256::digest(&bytes).into())
}

/// Writes `value` as compact JSON with every object's keys in byte order.
fn canonical(value: &serde_json::Value, out: &mut Vec<u8>) -> Result<()> {
    use serde_json::Value;
    let fail = |e: serde_json::Error| Error::internal(format!("fingerprint: {e}"));
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key).map_err(fail)?;
                out.push(b':');
                canonical(item, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).map_err(fail)?,
    }
    Ok(())
}

/// One used key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Whose key.
    pub tenant_id: TenantId,
    /// The key.
    pub key: IdempotencyKey,
    /// What it was used for, e.g. `booking.create`: one key may serve
    /// different operations without clashing.
    pub operation: String,
    /// The request's fingerprint.
    pub fingerprint: [u8; 32],
    /// The resource the first request created.
    pub resource_id: uuid::Uuid,
    /// When the key was first used.
    pub created_at: DateTime<Utc>,
}

/// What [`IdempotencyRepo::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new and now ours: go ahead and create the resource.
    Claimed,
    /// The key was used before (committed): this is what it did.
    Existing(IdempotencyRecord),
}

/// Used idempotency keys.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IdempotencyRepo: Send {
    /// Records `record` unless its `(tenant, operation, key)` is taken, in
    /// which case the first record comes back. Waits for a concurrent
    /// claim of the same key to commit or roll back.
    async fn claim(&mut self, record: &IdempotencyRecord) -> Result<Claim>;
}

/// Claims `record`'s key for the resource about to be created: `None` to
/// go ahead; `Some(id)` when an earlier identical request already created
/// resource `id` (answer with it); the key used with a different request is
/// `Invalid`, so a client never gets another request's result.
pub async fn claim_or_replay(
    repo: &mut dyn IdempotencyRepo,
    record: &IdempotencyRecord,
) -> Result<Option<uuid::Uuid>> {
    match repo.claim(record).await? {
        Claim::Claimed => Ok(None),
        Claim::Existing(first) if first.fingerprint == record.fingerprint => {
            Ok(Some(first.resource_id))
        }
        Claim::Existing(_) => Err(crate::error::Error::invalid(
            "Idempotency-Key",
            "was already used with a different request; use a new key",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("3f1c-9a").is_ok());
        for bad in ["", "a b", "ключ", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn equal_requests_have_equal_fingerprints() {
        let a = fingerprint(&serde_json::json!({"a": 1, "b": [1, 2]})).unwrap();
        let b = fingerprint(&serde_json::json!({"b": [1, 2], "a": 1})).unwrap();
        let c = fingerprint(&serde_json::json!({"a": 2, "b": [1, 2]})).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Nested maps too, in any insertion order.
        let mut first = serde_json::Map::new();
        first.insert(
            "z".into(),
            serde_json::json!({"y": 1, "x": [{"q": 1, "p": 2}]}),
        );
        first.insert("a".into(), serde_json::json!(null));
        let mut second = serde_json::Map::new();
        second.insert("a".into(), serde_json::json!(null));
        second.insert(
            "z".into(),
            serde_json::json!({"x": [{"p": 2, "q": 1}], "y": 1}),
        );
        assert_eq!(fingerprint(&first).unwrap(), fingerprint(&second).unwrap());
    }
}
