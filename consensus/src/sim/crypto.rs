//! Signature caches for the simulator. ed25519 signing is deterministic and
//! verification is a pure function of (key, message, signature), so caching
//! both changes no result; it only stops the simulator from paying for the
//! same signature many times (every node verifies every vote; every seed
//! runs twice).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_types::{Hash, PublicKey, Signature, SigningKey};

use crate::guard::Signer;
use crate::params::SignatureVerifier;

/// Shared caches of signatures made and verification results.
#[derive(Debug, Default)]
pub struct CryptoCache {
    verified: Mutex<HashMap<Hash, bool>>,
    signed: Mutex<HashMap<Hash, Signature>>,
}

impl CryptoCache {
    /// An empty cache.
    pub fn new() -> Arc<CryptoCache> {
        Arc::new(CryptoCache::default())
    }
}

/// A [`SignatureVerifier`] that remembers its answers.
#[derive(Debug, Clone)]
pub struct CachedVerifier(pub Arc<CryptoCache>);

impl SignatureVerifier for CachedVerifier {
    fn verify(&self, key: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
        let k = Hash::digest_parts(&[&key.0, &sig.0, msg]);
        if let Ok(map) = self.0.verified.lock()
            && let Some(ok) = map.get(&k)
        {
            return *ok;
        }
        let ok = key.verify(msg, sig).is_ok();
        if let Ok(mut map) = self.0.verified.lock() {
            map.insert(k, ok);
        }
        ok
    }
}

/// A [`Signer`] that remembers its signatures.
#[derive(Debug, Clone)]
pub struct CachedSigner {
    key: SigningKey,
    public: PublicKey,
    cache: Arc<CryptoCache>,
}

impl CachedSigner {
    /// Wraps `key`.
    pub fn new(key: SigningKey, cache: Arc<CryptoCache>) -> CachedSigner {
        CachedSigner {
            public: key.public_key(),
            key,
            cache,
        }
    }
}

impl Signer for CachedSigner {
    fn public_key(&self) -> PublicKey {
        self.public
    }
    fn sign(&self, msg: &[u8]) -> Signature {
        let k = Hash::digest_parts(&[&self.public.0, msg]);
        if let Ok(map) = self.cache.signed.lock()
            && let Some(sig) = map.get(&k)
        {
            return *sig;
        }
        let sig = self.key.sign(msg);
        if let Ok(mut map) = self.cache.signed.lock() {
            map.insert(k, sig);
        }
        sig
    }
}
