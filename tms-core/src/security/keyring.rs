//! The key ring: AES-256-GCM for secrets at rest (DESIGN.md §4).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A sealed secret as stored: `version (1) | key id (4, big-endian) |
/// nonce (12) | ciphertext and tag`. The bytes say nothing about the plain
/// text but its length. Serialized as standard base64.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// Wraps bytes read back from storage. They are checked when opened.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl serde::Serialize for Sealed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Sealed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}
