//! The Ed25519 keys checkpoints are signed with: a [`SecretKey`] given to
//! the log (never written into it), the [`PublicKey`] a verifier is given,
//! and the [`KeyId`] every checkpoint names, so keys can be rotated.
//!
//! Key files are one line of text: `switchboard-audit-secret-key <64 hex>`
//! or `switchboard-audit-public-key <64 hex>`, so that one is never taken
//! for the other.

use std::fmt;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chain::Digest256;

const SECRET_TAG: &str = "switchboard-audit-secret-key";
const PUBLIC_TAG: &str = "switchboard-audit-public-key";

/// What is wrong with a key or a key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a key of the expected kind.
    #[error("key file {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The system's random source failed.
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

/// The secret half: signs checkpoints. Its `Debug` shows only its
/// [`KeyId`]; the bytes are wiped when it is dropped.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

/// The public half: checks checkpoints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// A key's short name in every checkpoint it signs: the first 8 bytes of
/// the SHA-256 of its public key, as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl SecretKey {
    /// A new random key.
    pub fn generate() -> Result<SecretKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        let key = SecretKey::from_bytes(&seed);
        seed.fill(0);
        Ok(key)
    }

    /// The key whose 32 secret bytes (the Ed25519 seed) are `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(bytes))
    }

    /// Reads a secret key file written by [`write`](Self::write) (or
    /// `switchboard audit keygen`).
    pub fn read(path: impl AsRef<Path>) -> Result<SecretKey, KeyError> {
        let path = path.as_ref();
        let mut bytes = read_tagged(path, SECRET_TAG, PUBLIC_TAG)?;
        let key = SecretKey::from_bytes(&bytes);
        bytes.fill(0);
        Ok(key)
    }

    /// Writes the key to a new file readable by its owner only; refuses
    /// to replace an existing file.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), KeyError> {
        let hex = crate::hex::encode(self.0.as_bytes());
        write_new(path.as_ref(), &format!("{SECRET_TAG} {hex}\n"), true)
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Its id.
    pub fn id(&self) -> KeyId {
        self.public().id()
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id())
    }
}

/// Keys are equal when their public halves are.
impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.public() == other.public()
    }
}

impl PublicKey {
    /// The key whose 32 public bytes are `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<PublicKey> {
        VerifyingKey::from_bytes(bytes).ok().map(PublicKey)
    }

    /// Reads a public key file.
    pub fn read(path: impl AsRef<Path>) -> Result<PublicKey, KeyError> {
        let path = path.as_ref();
        let bytes = read_tagged(path, PUBLIC_TAG, SECRET_TAG)?;
        PublicKey::from_bytes(&bytes).ok_or_else(|| KeyError::Invalid {
            path: path.to_path_buf(),
            reason: "not a valid Ed25519 public key".into(),
        })
    }

    /// Writes the key to a new file; refuses to replace an existing one.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), KeyError> {
        let hex = crate::hex::encode(self.0.as_bytes());
        write_new(path.as_ref(), &format!("{PUBLIC_TAG} {hex}\n"), false)
    }

    /// Its id.
    pub fn id(&self) -> KeyId {
        let digest = Digest256::of(self.0.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest.0[..8]);
        KeyId(id)
    }

    /// Whether `signature` is this key's (strict Ed25519) signature of
    /// `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.0
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex::encode(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        crate::hex::decode(s.as_bytes())
            .map(KeyId)
            .ok_or_else(|| serde::de::Error::custom("expected 16 lowercase hex digits"))
    }
}

/// The 32 bytes of a key file tagged `want`.
fn read_tagged(path: &Path, want: &str, other: &str) -> Result<[u8; 32], KeyError> {
    let invalid = |reason: String| KeyError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(tag), Some(hex), None) if tag == want => crate::hex::decode(hex.as_bytes())
            .ok_or_else(|| invalid("the key is not 64 lowercase hex digits".into())),
        (Some(tag), _, _) if tag == other => Err(invalid(format!(
            "this is a {} key; give the {} one",
            kind(other),
            kind(want)
        ))),
        _ => Err(invalid(format!(
            "not a key file: expected one line `{want} <64 hex digits>`"
        ))),
    }
}

fn kind(tag: &str) -> &'static str {
    if tag == SECRET_TAG {
        "secret"
    } else {
        "public"
    }
}

fn write_new(path: &Path, text: &str, secret: bool) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_pair_round_trips_through_its_files() {
        let dir = crate::tests::TempDir::new("keys");
        let key = SecretKey::generate().unwrap();
        let (secret, public) = (dir.path().join("k"), dir.path().join("k.pub"));
        key.write(&secret).unwrap();
        key.public().write(&public).unwrap();
        assert_eq!(SecretKey::read(&secret).unwrap(), key);
        assert_eq!(PublicKey::read(&public).unwrap(), key.public());
        assert_eq!(key.id().to_string().len(), 16);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Never replaced, never mistaken for the other half.
        assert!(key.write(&secret).is_err());
        let err = SecretKey::read(&public).unwrap_err().to_string();
        assert!(
            err.contains("this is a public key; give the secret one"),
            "{err}"
        );
        let err = PublicKey::read(&secret).unwrap_err().to_string();
        assert!(err.contains("this is a secret key"), "{err}");
        std::fs::write(dir.path().join("junk"), "hello").unwrap();
        assert!(PublicKey::read(dir.path().join("junk")).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = SecretKey::from_bytes(&[7; 32]);
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("SecretKey({})", key.id()));
        assert!(!shown.contains("0707"));
    }

    #[test]
    fn a_signature_verifies_only_for_its_key_and_message() {
        let (a, b) = (
            SecretKey::from_bytes(&[1; 32]),
            SecretKey::from_bytes(&[2; 32]),
        );
        let sig = a.sign(b"checkpoint");
        assert!(a.public().verifies(b"checkpoint", &sig));
        assert!(!a.public().verifies(b"checkpoinT", &sig));
        assert!(!b.public().verifies(b"checkpoint", &sig));
        assert_ne!(a.id(), b.id());
    }
}
