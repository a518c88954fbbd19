//! Node identity: the libp2p keypair from the node key, and NodeId <-> PeerId.
//!
//! A NodeId is a hash of the node's ed25519 public key (DESIGN.md §3), so it
//! cannot be turned back into a PeerId. The other way works: an ed25519
//! PeerId inlines the public key (identity multihash), so after the noise
//! handshake p2p derives the remote's NodeId from its PeerId and checks it
//! against the allowlist, and keeps a table of the PeerIds it has seen.

use cairn_types::{NodeId, PublicKey, SigningKey};
use libp2p::PeerId;
use libp2p::identity::Keypair;

use crate::error::NetworkError;

/// The libp2p keypair of a node key (same ed25519 seed, so the same public key).
pub fn keypair(key: &SigningKey) -> Result<Keypair, NetworkError> {
    Keypair::ed25519_from_bytes(key.seed()).map_err(|e| NetworkError::Key(e.to_string()))
}

/// The PeerId of a node key.
pub fn peer_id(key: &SigningKey) -> Result<PeerId, NetworkError> {
    Ok(keypair(key)?.public().to_peer_id())
}

/// The PeerId of an ed25519 public key.
pub fn peer_id_of_key(key: &PublicKey) -> Option<PeerId> {
    let pk = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0).ok()?;
    Some(libp2p::identity::PublicKey::from(pk).to_peer_id())
}

/// The ed25519 public key inlined in a PeerId (None for other key types or hashed ids).
pub fn public_key_of(peer: &PeerId) -> Option<PublicKey> {
    let mh = peer.as_ref();
    if mh.code() != 0 {
        return None;
    }
    let pk = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let ed = pk.try_into_ed25519().ok()?;
    Some(PublicKey(ed.to_bytes()))
}

/// The NodeId of a peer (None when its PeerId does not carry an ed25519 key).
pub fn node_id_of(peer: &PeerId) -> Option<NodeId> {
    public_key_of(peer).map(|k| k.node_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_survives_the_peer_id_round_trip() {
        let key = SigningKey::from_seed([7; 32]);
        let pid = peer_id(&key).unwrap();
        assert_eq!(node_id_of(&pid), Some(key.public_key().node_id()));
        assert_eq!(peer_id_of_key(&key.public_key()), Some(pid));
        let other = SigningKey::from_seed([8; 32]);
        assert_ne!(node_id_of(&pid), Some(other.public_key().node_id()));
    }
}
