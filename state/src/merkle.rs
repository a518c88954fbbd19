//! The Merkle state: a Jellyfish Merkle tree (crate `jmt`) whose nodes and
//! values live in RocksDB, versioned by block height, and the proofs it gives.
//!
//! - Version `h` is the state after executing block `h` (the genesis state is
//!   version `initial_height - 1`); its root is the app hash that header
//!   `h + 1` carries.
//! - Keys are hashed with SHA-256 ([`key_hash`]); the store keeps the
//!   preimages.
//! - [`verify_proof`] needs nothing but the proof, the key, the value (or its
//!   absence) and the root: a light client can run it.

use std::sync::Mutex;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::Hash;
use jmt::proof::SparseMerkleProof;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, RootHash, SimpleHasher, Version};
use sha2::Digest;

use crate::cache::{Bounded, ENTRY_OVERHEAD, usable};
use crate::db::{CF_JMT_NODES, CF_JMT_VALUES, Db};

/// SHA-256 (sha2 0.11) as the tree's hasher: the same digests as jmt's own
/// `Sha256` hasher over sha2 0.10, without a second sha2 in our code.
#[derive(Debug, Clone, Default)]
pub struct StateHasher(sha2::Sha256);

impl SimpleHasher for StateHasher {
    fn new() -> Self {
        StateHasher(sha2::Sha256::new())
    }
    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }
    fn finalize(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The tree type used throughout.
pub(crate) type Tree<'a, R> = jmt::JellyfishMerkleTree<'a, R, StateHasher>;

/// The tree's hash of a state key.
pub fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<StateHasher>(key)
}

/// Key of a node in the nodes column family.
pub(crate) fn node_key_bytes(key: &NodeKey) -> Vec<u8> {
    borsh::to_vec(key).unwrap_or_default()
}

/// Key of a value version in the values column family: key hash ‖ version (BE).
pub(crate) fn value_key(key_hash: &KeyHash, version: Version) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(&key_hash.0);
    k[32..].copy_from_slice(&version.to_be_bytes());
    k
}

/// Reads tree nodes and values from the committed database, plus optional
/// nodes that are not written yet (the empty root below a genesis at a
/// version above 0).
pub(crate) struct TreeView<'a> {
    db: &'a Db,
    extra: Option<(NodeKey, Node)>,
    cache: Option<&'a Mutex<Bounded<NodeKey, Node>>>,
}

impl<'a> TreeView<'a> {
    pub(crate) fn new(db: &'a Db) -> TreeView<'a> {
        TreeView {
            db,
            extra: None,
            cache: None,
        }
    }

    /// A view that reads through (and fills) a node cache: nodes never
    /// change under their key, so any reader may fill it.
    pub(crate) fn cached(db: &'a Db, cache: &'a Mutex<Bounded<NodeKey, Node>>) -> TreeView<'a> {
        TreeView {
            cache: Some(cache),
            ..TreeView::new(db)
        }
    }

    /// A view in which the tree at `version` is the empty tree (for a genesis above version 0).
    pub(crate) fn with_empty_root(db: &'a Db, version: Version) -> TreeView<'a> {
        // jmt keeps the empty nibble path's constructor private; its borsh form is
        // the version, a zero nibble count (u64) and an empty byte vector (u32 length).
        let mut bytes = version.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 12]);
        let extra = NodeKey::try_from_slice(&bytes)
            .ok()
            .map(|k| (k, Node::Null));
        TreeView {
            extra,
            ..TreeView::new(db)
        }
    }
}

/// The memory a cached node holds, counted from above: an internal node
/// keeps all 16 child slots on the heap whatever its number of children (so
/// its encoded length, ~50 bytes a child, would undercount a sparse node
/// ninefold), and a key's nibble path is at most 32 bytes.
pub(crate) fn node_weight(node: &Node) -> usize {
    const CHILD_SLOTS: usize = 16 * 64;
    const NIBBLE_PATH: usize = 32;
    let children = match node {
        Node::Internal(_) => CHILD_SLOTS,
        Node::Leaf(_) | Node::Null => 0,
    };
    ENTRY_OVERHEAD + std::mem::size_of::<(NodeKey, Node)>() + NIBBLE_PATH + children
}

impl TreeReader for TreeView<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        if let Some((k, n)) = &self.extra
            && k == node_key
        {
            return Ok(Some(n.clone()));
        }
        if let Some(node) = self.cache.and_then(usable).and_then(|m| m.get(node_key)) {
            return Ok(Some(node));
        }
        let cf = self.db.cf(CF_JMT_NODES)?;
        let Some(bytes) = self.db.db.get_pinned_cf(cf, node_key_bytes(node_key))? else {
            return Ok(None);
        };
        let node = Node::try_from_slice(&bytes)?;
        if let Some(mut m) = self.cache.and_then(usable) {
            m.insert(node_key.clone(), node.clone(), node_weight(&node));
        }
        Ok(Some(node))
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let cf = self.db.cf(CF_JMT_VALUES)?;
        let mut it = self.db.db.raw_iterator_cf(cf);
        it.seek_for_prev(value_key(&key_hash, max_version));
        if let (Some(k), Some(v)) = (it.key(), it.value())
            && k.len() == 40
            && k[..32] == key_hash.0
        {
            return Ok(Option::<Vec<u8>>::try_from_slice(v)?);
        }
        it.status()?;
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only used by jmt's restore and migration features, which Cairn does not use.
        Ok(None)
    }
}

/// A proof that a key has a given value, or no value, under a state root.
#[derive(Debug, Clone, PartialEq)]
pub struct MerkleProof {
    /// The tree version (height) the proof was taken at.
    pub version: u64,
    inner: SparseMerkleProof<StateHasher>,
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The proof bytes do not decode.
    #[error("proof does not decode: {0}")]
    Decode(String),
    /// The proof does not link the key and value to the root.
    #[error("proof does not verify: {0}")]
    Invalid(String),
}

impl MerkleProof {
    pub(crate) fn new(version: u64, inner: SparseMerkleProof<StateHasher>) -> MerkleProof {
        MerkleProof { version, inner }
    }

    /// Canonical bytes (version ‖ borsh of jmt's sparse Merkle proof), for RPC.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.version.to_le_bytes().to_vec();
        if self.inner.serialize(&mut out).is_err() {
            out.clear();
        }
        out
    }

    /// Parses [`MerkleProof::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<MerkleProof, ProofError> {
        let (v, rest) = bytes
            .split_at_checked(8)
            .ok_or_else(|| ProofError::Decode("shorter than 8 bytes".into()))?;
        let mut vb = [0u8; 8];
        vb.copy_from_slice(v);
        let inner = SparseMerkleProof::<StateHasher>::try_from_slice(rest)
            .map_err(|e| ProofError::Decode(e.to_string()))?;
        Ok(MerkleProof {
            version: u64::from_le_bytes(vb),
            inner,
        })
    }
}

/// Verifies that under `root`, `key` has `value` (`Some`: inclusion) or no
/// value (`None`: exclusion). Needs nothing but its arguments.
pub fn verify_proof(
    proof: &MerkleProof,
    root: &Hash,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(), ProofError> {
    proof
        .inner
        .verify(RootHash(root.0), key_hash(key), value)
        .map_err(|e| ProofError::Invalid(e.to_string()))
}
