//! One-click unsubscribe tokens (RFC 8058).
//!
//! A token names tenant, campaign and recipient (the recipient row's id,
//! never the address, so the link does not carry personal data) and is
//! signed with HMAC-SHA256 under a key derived from the key ring — the
//! ring's keyed-hash ([`KeyRing::blind_index`]) with its own domain label,
//! so it shares no MAC input with any other use. The tenant is part of the
//! MAC input: a token cannot be moved to another tenant. Tokens made before
//! a key rotation still verify while the old key stays in the ring.
//!
//! Layout: base64url(tenant (16) | campaign (16) | recipient (16) | key id
//! (4) | HMAC (32)). A token that does not decode, or whose MAC does not
//! match under any key, is simply unknown (the HTTP answer is 404).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;

use crate::error::Result;
use crate::id::{CampaignId, CampaignRecipientId, TenantId};
use crate::security::keyring::KeyRing;

/// The MAC's domain label.
const FIELD: &str = "outreach.unsubscribe.v1";
const IDS_LEN: usize = 48;

fn message(campaign: CampaignId, recipient: CampaignRecipientId) -> [u8; 32] {
    let mut m = [0u8; 32];
    m[..16].copy_from_slice(campaign.as_uuid().as_bytes());
    m[16..].copy_from_slice(recipient.as_uuid().as_bytes());
    m
}

/// The token of one recipient of one campaign.
///
/// ```
/// use tms_core::id::{CampaignId, CampaignRecipientId, TenantId};
/// use tms_core::ports::OsRandom;
/// use tms_core::security::keyring::KeyRing;
/// use tms_core::service::outreach::unsubscribe::{token, verify};
///
/// let ring = KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose())?;
/// let (t, c, r) = (TenantId::new(), CampaignId::new(), CampaignRecipientId::new());
/// let signed = token(&ring, t, c, r)?;
/// assert_eq!(verify(&ring, &signed), Some((t, c, r)));
/// let mut forged = signed.clone().into_bytes();
/// forged[3] ^= 1;
/// assert_eq!(verify(&ring, std::str::from_utf8(&forged).unwrap()), None);
/// # Ok::<(), tms_core::Error>(())
/// ```
pub fn token(
    keyring: &KeyRing,
    tenant: TenantId,
    campaign: CampaignId,
    recipient: CampaignRecipientId,
) -> Result<String> {
    let mac = keyring.blind_index(tenant, FIELD, &message(campaign, recipient))?;
    let mut bytes = Vec::with_capacity(IDS_LEN + mac.as_bytes().len());
    bytes.extend_from_slice(tenant.as_uuid().as_bytes());
    bytes.extend_from_slice(&message(campaign, recipient));
    bytes.extend_from_slice(mac.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What a genuine token names; `None` for anything else.
pub fn verify(
    keyring: &KeyRing,
    token: &str,
) -> Option<(TenantId, CampaignId, CampaignRecipientId)> {
    if token.len() > 200 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    let (ids, mac) = bytes.split_at_checked(IDS_LEN)?;
    let uuid = |range: std::ops::Range<usize>| uuid::Uuid::from_slice(ids.get(range)?).ok();
    let tenant = TenantId::from_uuid(uuid(0..16)?);
    let campaign = CampaignId::from_uuid(uuid(16..32)?);
    let recipient = CampaignRecipientId::from_uuid(uuid(32..48)?);
    let genuine = keyring
        .blind_index_candidates(tenant, FIELD, &message(campaign, recipient))
        .iter()
        .any(|c| c.as_bytes().ct_eq(mac).into());
    genuine.then_some((tenant, campaign, recipient))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::OsRandom;

    fn ring(ids: &[u32]) -> KeyRing {
        let entries: Vec<String> = ids
            .iter()
            .map(|&id| KeyRing::generate_key(id, &OsRandom).expose().clone())
            .collect();
        KeyRing::parse(&entries.join(",")).unwrap()
    }

    #[test]
    fn a_token_moved_to_another_tenant_or_recipient_is_unknown() {
        let keys = ring(&[1]);
        let (t, c, r) = (
            TenantId::new(),
            CampaignId::new(),
            CampaignRecipientId::new(),
        );
        let signed = token(&keys, t, c, r).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&signed).unwrap();
        bytes[..16].copy_from_slice(TenantId::new().as_uuid().as_bytes());
        assert_eq!(verify(&keys, &URL_SAFE_NO_PAD.encode(&bytes)), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&signed).unwrap();
        bytes[32..48].copy_from_slice(CampaignRecipientId::new().as_uuid().as_bytes());
        assert_eq!(verify(&keys, &URL_SAFE_NO_PAD.encode(&bytes)), None);
        for garbage in ["", "x", "!!!!", &"A".repeat(300)] {
            assert_eq!(verify(&keys, garbage), None);
        }
        assert_eq!(verify(&ring(&[1]), &signed), None, "another ring's key");
    }

    #[test]
    fn tokens_survive_a_key_rotation_while_the_old_key_stays() {
        let one = KeyRing::generate_key(1, &OsRandom);
        let old = KeyRing::parse(one.expose()).unwrap();
        let (t, c, r) = (
            TenantId::new(),
            CampaignId::new(),
            CampaignRecipientId::new(),
        );
        let signed = token(&old, t, c, r).unwrap();
        let two = KeyRing::generate_key(2, &OsRandom);
        let both = KeyRing::parse(&format!("{},{}", one.expose(), two.expose())).unwrap();
        assert_eq!(verify(&both, &signed), Some((t, c, r)));
        assert_ne!(
            token(&both, t, c, r).unwrap(),
            signed,
            "new tokens use key 2"
        );
        assert_eq!(
            verify(&KeyRing::parse(two.expose()).unwrap(), &signed),
            None
        );
    }
}
