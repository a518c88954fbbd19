//! Light-client verification of what a node serves.
//!
//! A value proven by `abci_query` at height `H` is only as good as the app
//! hash it is checked against: header `H+1`'s. That header is believed only
//! if more than 2/3 of the power of a validator set the client *trusts*
//! signed its commit. Trust starts at a root the user chooses and moves
//! forward header by header:
//!
//! - root: the genesis validator set (from a local genesis file), or a
//!   header the user names by height and hash, with its validator set
//!   checked against the header's `validators_hash`;
//! - every later header must carry the chain id, follow its predecessor
//!   (`last_block_id` is the previous header's id, computed here), and
//!   name the trusted set as `validators_hash`;
//! - a header whose `next_validators_hash` differs from its
//!   `validators_hash` announces a new set: its commit must be signed by
//!   the trusted set, and the new set served by the node must hash to
//!   `next_validators_hash`; then the new set is trusted;
//! - headers that announce no change need no commit: the hash chain ties
//!   them to the next verified commit;
//! - the target header's commit is verified with the trusted set.
//!
//! A validator set served by the node and not tied to the root this way
//! proves nothing, and is refused. [`TrustedState`] holds the logic and does
//! no I/O (tested below without processes); [`follow`] fetches what it
//! needs from a node.

use std::fmt;

use cairn_genesis::{GenesisDoc, GenesisError};
use cairn_rpc::QueryResult;
use cairn_state::{MerkleProof, ProofError, verify_proof};
use cairn_types::validator::CommitError;
use cairn_types::{BlockId, Commit, CommitSig, Hash, Header, ValidatorSet};

use super::{ClientError, RpcClient};

/// The proof-op type the node's `abci_query` writes.
pub const PROOF_OP_TYPE: &str = "cairn:jmt";

/// Where trust starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustRoot {
    /// The validator set of a genesis file the client holds.
    Genesis,
    /// A header the user named.
    Header {
        /// Its height.
        height: u64,
        /// Its id (block hash).
        hash: Hash,
    },
}

impl fmt::Display for TrustRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustRoot::Genesis => write!(f, "genesis"),
            TrustRoot::Header { height, hash } => {
                write!(f, "header {height} ({})", hash.to_hex())
            }
        }
    }
}

/// Why something served by the node is not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The genesis file does not give a validator set.
    #[error("genesis: {0}")]
    Genesis(#[from] GenesisError),
    /// The trusted header is not the one the user named.
    #[error("header {height} has hash {got}, the trusted hash is {expected}")]
    RootHash {
        /// Height of the trusted header.
        height: u64,
        /// The hash the user gave.
        expected: String,
        /// The served header's computed hash.
        got: String,
    },
    /// The target lies at or below the trust root.
    #[error(
        "header {target} is not above the trust root (next verifiable height is {next}); trust an earlier header"
    )]
    BelowRoot {
        /// The header to verify.
        target: u64,
        /// The first height the trusted state can verify.
        next: u64,
    },
    /// A header out of sequence.
    #[error("expected header {expected}, got header {got}")]
    WrongHeight {
        /// The next height.
        expected: u64,
        /// The served header's height.
        got: u64,
    },
    /// A header of another chain.
    #[error("header {height} is for chain {got:?}, the trusted chain is {expected:?}")]
    WrongChain {
        /// Its height.
        height: u64,
        /// The trusted chain id.
        expected: String,
        /// The header's.
        got: String,
    },
    /// The header does not follow the previous one.
    #[error("header {height} does not follow header {}: last_block_id is {got}, the previous header's id is {expected}", height - 1)]
    BrokenChain {
        /// Its height.
        height: u64,
        /// The previous header's id (computed).
        expected: String,
        /// The header's `last_block_id`.
        got: String,
    },
    /// The header names a validator set that is not the trusted one.
    #[error(
        "header {height} names validator set {got}, but the trusted set for that height hashes to {expected} (a set not tied to the trust root proves nothing)"
    )]
    UntrustedSet {
        /// Its height.
        height: u64,
        /// The trusted set's hash.
        expected: String,
        /// The header's `validators_hash`.
        got: String,
    },
    /// A header announces a new set and no commit or set was given for it.
    #[error("header {height} announces a new validator set; its commit and the new set are needed")]
    MissingChange {
        /// Its height.
        height: u64,
    },
    /// The new set served does not hash to what the header announced.
    #[error(
        "validator set served for height {height} hashes to {got}, but header {} announced {expected}", height - 1
    )]
    NewSetMismatch {
        /// The height the new set is for.
        height: u64,
        /// The header's `next_validators_hash`.
        expected: String,
        /// The served set's hash.
        got: String,
    },
    /// A commit does not verify against the trusted set.
    #[error("commit of header {height} under the trusted validator set: {source}")]
    Commit {
        /// The committed height.
        height: u64,
        /// Why.
        source: CommitError,
    },
    /// The query answer has no usable proof.
    #[error("proof: {0}")]
    ProofShape(String),
    /// The proof does not link the value to the app hash.
    #[error("proof against app hash {app_hash}: {source}")]
    Proof {
        /// The verified app hash.
        app_hash: String,
        /// Why.
        source: ProofError,
    },
}

/// Whether header `h` announces a different validator set for `h + 1`.
pub fn announces_change(h: &Header) -> bool {
    h.next_validators_hash != h.validators_hash
}

/// What the client trusts so far: the set that signs `next_height`, and
/// the id of the header before it.
#[derive(Debug, Clone)]
pub struct TrustedState {
    chain_id: String,
    root: TrustRoot,
    next_height: u64,
    last_id: Option<BlockId>,
    set: ValidatorSet,
    set_changes: u32,
}

/// A header whose commit verified under a trusted set.
#[derive(Debug, Clone)]
pub struct VerifiedHeader {
    /// The header.
    pub header: Header,
    /// The set that signed it (hashes to its `validators_hash`).
    pub set: ValidatorSet,
    /// Power of the for-block signatures.
    pub signed_power: u64,
    /// The set's total power.
    pub total_power: u64,
    /// Where trust started.
    pub root: TrustRoot,
    /// How many validator-set changes were followed from the root.
    pub set_changes: u32,
}

impl VerifiedHeader {
    /// "commit signed by P/T power of the validator set trusted from R through N set changes".
    pub fn signed_by(&self) -> String {
        format!(
            "commit signed by {}/{} power of the validator set trusted from {} through {} set change{}",
            self.signed_power,
            self.total_power,
            self.root,
            self.set_changes,
            if self.set_changes == 1 { "" } else { "s" }
        )
    }
}

fn hex_id(id: Option<BlockId>) -> String {
    id.map_or_else(|| "none".to_owned(), |b| b.0.to_hex())
}

impl TrustedState {
    /// Trust the genesis validator set for the chain's first height.
    pub fn from_genesis(genesis: &GenesisDoc) -> Result<TrustedState, VerifyError> {
        Ok(TrustedState {
            chain_id: genesis.chain_id.clone(),
            root: TrustRoot::Genesis,
            next_height: genesis.initial_height,
            last_id: None,
            set: genesis.validator_set()?,
            set_changes: 0,
        })
    }

    /// Trust `header` because its id is `hash`, `set` because it hashes to the
    /// header's `validators_hash`, and, when the header announces a change,
    /// `next_set` because it hashes to its `next_validators_hash`.
    pub fn from_header(
        header: &Header,
        hash: &Hash,
        set: &ValidatorSet,
        next_set: Option<ValidatorSet>,
    ) -> Result<TrustedState, VerifyError> {
        let id = header.id();
        if id.0 != *hash {
            return Err(VerifyError::RootHash {
                height: header.height,
                expected: hash.to_hex(),
                got: id.0.to_hex(),
            });
        }
        check_set(header.height, set, &header.validators_hash)?;
        let next = if announces_change(header) {
            let next = next_set.ok_or(VerifyError::MissingChange {
                height: header.height,
            })?;
            check_new_set(header, &next)?;
            next
        } else {
            set.clone()
        };
        Ok(TrustedState {
            chain_id: header.chain_id.0.clone(),
            root: TrustRoot::Header {
                height: header.height,
                hash: *hash,
            },
            next_height: header.height + 1,
            last_id: Some(id),
            set: next,
            set_changes: 0,
        })
    }

    /// The next height this state can take a header for.
    pub fn next_height(&self) -> u64 {
        self.next_height
    }

    /// The trusted chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Checks that `header` is the next one, follows the last, and names the trusted set.
    fn check_next(&self, header: &Header) -> Result<(), VerifyError> {
        if header.height != self.next_height {
            return Err(VerifyError::WrongHeight {
                expected: self.next_height,
                got: header.height,
            });
        }
        if *header.chain_id != *self.chain_id {
            return Err(VerifyError::WrongChain {
                height: header.height,
                expected: self.chain_id.clone(),
                got: header.chain_id.0.clone(),
            });
        }
        if header.last_block_id != self.last_id {
            return Err(VerifyError::BrokenChain {
                height: header.height,
                expected: hex_id(self.last_id),
                got: hex_id(header.last_block_id),
            });
        }
        check_set(header.height, &self.set, &header.validators_hash)
    }

    /// Verifies `commit` of `header` under the trusted set; the signed power.
    fn check_commit(&self, header: &Header, commit: &Commit) -> Result<u64, VerifyError> {
        let err = |source| VerifyError::Commit {
            height: header.height,
            source,
        };
        self.set
            .verify_commit(&self.chain_id, header.height, &header.id(), commit)
            .map_err(err)?;
        Ok(commit
            .signatures
            .iter()
            .zip(self.set.validators())
            .filter(|(s, _)| matches!(s, CommitSig::ForBlock { .. }))
            .map(|(_, v)| v.power)
            .sum())
    }

    /// Moves past the next header. When it announces a new set, `change`
    /// must hold its commit (verified under the trusted set) and the new set
    /// (which must hash to the announced one); otherwise `change` is ignored.
    pub fn advance(
        &mut self,
        header: &Header,
        change: Option<(&Commit, ValidatorSet)>,
    ) -> Result<(), VerifyError> {
        self.check_next(header)?;
        if announces_change(header) {
            let (commit, next) = change.ok_or(VerifyError::MissingChange {
                height: header.height,
            })?;
            self.check_commit(header, commit)?;
            check_new_set(header, &next)?;
            self.set = next;
            self.set_changes += 1;
        }
        self.last_id = Some(header.id());
        self.next_height += 1;
        Ok(())
    }

    /// Verifies the target header: next in line, and its commit signed by
    /// more than 2/3 of the trusted set's power.
    pub fn finish(&self, header: &Header, commit: &Commit) -> Result<VerifiedHeader, VerifyError> {
        self.check_next(header)?;
        let signed_power = self.check_commit(header, commit)?;
        Ok(VerifiedHeader {
            header: header.clone(),
            set: self.set.clone(),
            signed_power,
            total_power: self.set.total_power(),
            root: self.root.clone(),
            set_changes: self.set_changes,
        })
    }
}

fn check_set(height: u64, set: &ValidatorSet, named: &Hash) -> Result<(), VerifyError> {
    let h = set.hash();
    if h != *named {
        return Err(VerifyError::UntrustedSet {
            height,
            expected: h.to_hex(),
            got: named.to_hex(),
        });
    }
    Ok(())
}

fn check_new_set(header: &Header, next: &ValidatorSet) -> Result<(), VerifyError> {
    let got = next.hash();
    if got != header.next_validators_hash {
        return Err(VerifyError::NewSetMismatch {
            height: header.height + 1,
            expected: header.next_validators_hash.to_hex(),
            got: got.to_hex(),
        });
    }
    Ok(())
}

/// Verifies an `abci_query` answer for `key` against `app_hash` (header
/// `q.height + 1`'s, verified by the caller): one `cairn:jmt` op about
/// `key`, at the answer's height, proving the value (code 0) or its
/// absence. Returns the proven value.
pub fn verify_query(
    q: &QueryResult,
    key: &[u8],
    app_hash: &Hash,
) -> Result<Option<Vec<u8>>, VerifyError> {
    let shape = |m: String| VerifyError::ProofShape(m);
    let ops = q
        .proof_ops
        .as_ref()
        .ok_or_else(|| shape("the answer carries no proof".into()))?;
    let [op] = ops.as_slice() else {
        return Err(shape(format!("expected one proof op, got {}", ops.len())));
    };
    if op.kind != PROOF_OP_TYPE {
        return Err(shape(format!(
            "proof op type {:?}, expected {PROOF_OP_TYPE:?}",
            op.kind
        )));
    }
    if op.key != key {
        return Err(shape(format!(
            "proof is about key {}, the query was for {}",
            hex::encode(&op.key),
            hex::encode(key)
        )));
    }
    let proof_err = |source| VerifyError::Proof {
        app_hash: app_hash.to_hex(),
        source,
    };
    let proof = MerkleProof::from_bytes(&op.data).map_err(proof_err)?;
    if proof.version != q.height {
        return Err(shape(format!(
            "proof is for state version {}, the answer claims height {}",
            proof.version, q.height
        )));
    }
    let value = (q.code == 0).then(|| q.value.clone());
    verify_proof(&proof, app_hash, key, value.as_deref()).map_err(proof_err)?;
    Ok(value)
}

/// Why [`follow`] could not verify a header.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// Fetching from the node failed (nothing was refused).
    #[error(transparent)]
    Fetch(#[from] ClientError),
    /// What the node served did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// The root as the user gives it: a genesis file, or a header height and hash.
#[derive(Debug, Clone)]
pub enum RootSpec {
    /// The validator set of this genesis document.
    Genesis(Box<GenesisDoc>),
    /// A header by height and hash.
    Header {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: Hash,
    },
}

/// Builds the trusted state for `root`, fetching the named header and its
/// set(s) from the node when the root is a header.
pub async fn trust(client: &RpcClient, root: &RootSpec) -> Result<TrustedState, FollowError> {
    match root {
        RootSpec::Genesis(g) => Ok(TrustedState::from_genesis(g)?),
        RootSpec::Header { height, hash } => {
            let headers = client.headers(*height, *height).await?;
            let header = headers
                .first()
                .ok_or_else(|| ClientError::decode("blockchain", format!("no header {height}")))?;
            let set = client.validator_set(*height).await?;
            let next = if announces_change(header) {
                Some(client.validator_set(height + 1).await?)
            } else {
                None
            };
            Ok(TrustedState::from_header(header, hash, &set, next)?)
        }
    }
}

/// Verifies header `target` starting from `trusted`: fetches every header
/// in between (a page at a time), the commit and new set of each header
/// that announces a change, and the target's commit.
pub async fn follow(
    client: &RpcClient,
    mut trusted: TrustedState,
    target: u64,
) -> Result<VerifiedHeader, FollowError> {
    if target < trusted.next_height() {
        return Err(VerifyError::BelowRoot {
            target,
            next: trusted.next_height(),
        }
        .into());
    }
    while trusted.next_height() < target {
        let from = trusted.next_height();
        let to = (target - 1).min(from + cairn_rpc::methods::MAX_BLOCKCHAIN_METAS - 1);
        for header in client.headers(from, to).await? {
            if announces_change(&header) {
                let (_, commit) = client.signed_header(header.height).await?;
                let next = client.validator_set(header.height + 1).await?;
                trusted.advance(&header, Some((&commit, next)))?;
            } else {
                trusted.advance(&header, None)?;
            }
        }
    }
    let (header, commit) = client.signed_header(target).await?;
    Ok(trusted.finish(&header, &commit)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use cairn_genesis::testnet::{self, TestnetSpec};
    use cairn_rpc::ProofOp;
    use cairn_state::{StateKey, Store, StoreOptions};
    use cairn_types::{
        Address, ChainParams, SigningKey, Text, Time, Validator, Version, Vote, VoteKind,
    };
    use rand::SeedableRng;

    use super::*;

    const CHAIN: &str = "verify-test";

    struct Fixture {
        genesis: GenesisDoc,
        /// Every consensus key, the genesis validators' first.
        keys: Vec<SigningKey>,
    }

    fn fixture() -> Fixture {
        let spec = TestnetSpec {
            chain_id: CHAIN.into(),
            validators: 4,
            full_nodes: 0,
            accounts: 1,
            genesis_time: Time(1_000_000_000),
            params: ChainParams::default(),
        };
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(11);
        let net = testnet::generate(&spec, &mut rng).unwrap();
        let mut keys: Vec<SigningKey> =
            net.validators.iter().map(|v| v.consensus.clone()).collect();
        keys.extend((0..4u8).map(|i| SigningKey::from_seed([100 + i; 32])));
        Fixture {
            genesis: net.genesis,
            keys,
        }
    }

    impl Fixture {
        fn key_of(&self, a: &Address) -> &SigningKey {
            self.keys
                .iter()
                .find(|k| k.public_key().address() == *a)
                .unwrap()
        }

        fn set_of(&self, members: &[(usize, u64)]) -> ValidatorSet {
            ValidatorSet::new(
                members
                    .iter()
                    .map(|&(i, p)| Validator::new(self.keys[i].public_key(), p))
                    .collect(),
            )
            .unwrap()
        }

        /// Precommits for `header` from the members of `set` that `signs` picks.
        fn commit(
            &self,
            header: &Header,
            set: &ValidatorSet,
            signs: impl Fn(usize) -> bool,
        ) -> Commit {
            let id = header.id();
            let signatures = set
                .validators()
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if !signs(i) {
                        return CommitSig::Absent;
                    }
                    let vote = Vote {
                        kind: VoteKind::Precommit,
                        height: header.height,
                        round: 0,
                        value: Some(id),
                        timestamp: Time(2_000_000_000 + header.height),
                        validator: v.address,
                    };
                    CommitSig::ForBlock {
                        timestamp: vote.timestamp,
                        signature: self.key_of(&v.address).sign(&vote.sign_bytes(CHAIN)),
                    }
                })
                .collect();
            Commit {
                height: header.height,
                round: 0,
                block_id: id,
                signatures,
            }
        }
    }

    fn header(
        height: u64,
        last: Option<BlockId>,
        set: &ValidatorSet,
        next: &ValidatorSet,
    ) -> Header {
        Header {
            version: Version { block: 11, app: 1 },
            chain_id: Text(CHAIN.into()),
            height,
            time: Time(1_000_000_000 + height),
            last_block_id: last,
            last_commit_hash: Hash::default(),
            data_hash: Hash::default(),
            validators_hash: set.hash(),
            next_validators_hash: next.hash(),
            consensus_hash: Hash::default(),
            app_hash: Hash::digest(&height.to_le_bytes()),
            last_results_hash: Hash::default(),
            evidence_hash: Hash::default(),
            proposer_address: set.proposer().address,
        }
    }

    /// Headers 1..=n whose sets are `sets[h-1]` (the set after the last repeats).
    fn chain(sets: &[ValidatorSet], n: u64) -> Vec<Header> {
        let at = |h: u64| &sets[((h - 1) as usize).min(sets.len() - 1)];
        let mut out: Vec<Header> = Vec::new();
        for h in 1..=n {
            let last = out.last().map(Header::id);
            out.push(header(h, last, at(h), at(h + 1)));
        }
        out
    }

    /// Runs `TrustedState` from genesis over `headers[..n-1]`, giving each
    /// announced change the commit `commit_for` makes and the set `set_for` gives.
    fn walk(
        f: &Fixture,
        headers: &[Header],
        set_for: impl Fn(u64) -> ValidatorSet,
        commit_for: impl Fn(&Header, &ValidatorSet) -> Commit,
    ) -> Result<TrustedState, VerifyError> {
        let mut t = TrustedState::from_genesis(&f.genesis)?;
        let mut signer = f.genesis.validator_set().unwrap();
        for h in &headers[..headers.len() - 1] {
            if announces_change(h) {
                let c = commit_for(h, &signer);
                let next = set_for(h.height + 1);
                t.advance(h, Some((&c, next.clone())))?;
                signer = next;
            } else {
                t.advance(h, None)?;
            }
        }
        Ok(t)
    }

    #[test]
    fn a_set_change_is_followed_and_the_target_verifies_under_the_new_set() {
        let f = fixture();
        let a = f.genesis.validator_set().unwrap();
        // From height 4 on, validator 4 joins and validator 0 leaves.
        let b = f.set_of(&[(1, 10), (2, 10), (3, 10), (4, 10)]);
        let sets: Vec<ValidatorSet> = vec![a.clone(), a.clone(), a.clone(), b.clone()];
        let headers = chain(&sets, 6);
        assert!(announces_change(&headers[2]));
        let t = walk(
            &f,
            &headers,
            |h| if h >= 4 { b.clone() } else { a.clone() },
            |h, s| f.commit(h, s, |_| true),
        )
        .unwrap();
        let target = &headers[5];
        let v = t.finish(target, &f.commit(target, &b, |i| i != 0)).unwrap();
        assert_eq!((v.signed_power, v.total_power, v.set_changes), (30, 40, 1));
        assert_eq!(v.set.hash(), b.hash());
        assert_eq!(v.root, TrustRoot::Genesis);
        assert!(v.signed_by().contains("30/40 power"), "{}", v.signed_by());

        // The same target signed by the old set is refused: it is no longer trusted.
        let err = t
            .finish(target, &f.commit(target, &a, |_| true))
            .unwrap_err();
        assert!(matches!(err, VerifyError::Commit { .. }), "{err}");
    }

    #[test]
    fn a_commit_without_more_than_two_thirds_of_the_power_is_refused() {
        let f = fixture();
        let a = f.genesis.validator_set().unwrap();
        let headers = chain(std::slice::from_ref(&a), 3);
        let t = walk(&f, &headers, |_| a.clone(), |_, _| unreachable!()).unwrap();
        let target = &headers[2];
        // Half the power.
        let two = f.commit(target, &a, |i| i < 2);
        let err = t.finish(target, &two).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Commit {
                    source: CommitError::InsufficientPower {
                        signed: 20,
                        total: 40
                    },
                    ..
                }
            ),
            "{err}"
        );
        assert!(t.finish(target, &f.commit(target, &a, |i| i < 3)).is_ok());
        // A forged signature fails even with enough power.
        let mut forged = f.commit(target, &a, |_| true);
        if let CommitSig::ForBlock { signature, .. } = &mut forged.signatures[1] {
            signature.0[0] ^= 1;
        }
        let err = t.finish(target, &forged).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Commit {
                    source: CommitError::BadSignature(_),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn exactly_two_thirds_by_power_is_refused() {
        let f = fixture();
        let a = f.set_of(&[(0, 20), (1, 10), (2, 10), (3, 20)]);
        let mut t = TrustedState::from_genesis(&f.genesis).unwrap();
        t.set = a.clone();
        let h = header(1, None, &a, &a);
        // 20 + 20 = 40 of 60 is exactly 2/3.
        let heavy: Vec<Address> = a
            .validators()
            .iter()
            .filter(|v| v.power == 20)
            .map(|v| v.address)
            .collect();
        let c = f.commit(&h, &a, |i| heavy.contains(&a.validators()[i].address));
        assert!(matches!(
            t.finish(&h, &c).unwrap_err(),
            VerifyError::Commit {
                source: CommitError::InsufficientPower {
                    signed: 40,
                    total: 60
                },
                ..
            }
        ));
    }

    #[test]
    fn a_set_not_tied_to_the_root_is_refused() {
        let f = fixture();
        let a = f.genesis.validator_set().unwrap();
        let evil = f.set_of(&[(4, 10), (5, 10), (6, 10), (7, 10)]);

        // 1. The node serves headers naming its own set from the start.
        let headers = chain(std::slice::from_ref(&evil), 3);
        let err = walk(&f, &headers, |_| evil.clone(), |_, _| unreachable!()).unwrap_err();
        assert!(
            matches!(err, VerifyError::UntrustedSet { height: 1, .. }),
            "{err}"
        );

        // 2. A change to its set, announced in a header its set signed.
        let sets = vec![a.clone(), evil.clone()];
        let headers = chain(&sets, 4);
        let err = walk(
            &f,
            &headers,
            |_| evil.clone(),
            |h, _| f.commit(h, &evil, |_| true),
        )
        .unwrap_err();
        assert!(
            matches!(err, VerifyError::Commit { height: 1, .. }),
            "{err}"
        );

        // 3. A change properly signed, but another set served for it.
        let b = f.set_of(&[(1, 10), (2, 10), (3, 10), (4, 10)]);
        let headers = chain(&[a.clone(), b.clone()], 4);
        let err = walk(
            &f,
            &headers,
            |_| evil.clone(),
            |h, s| f.commit(h, s, |_| true),
        )
        .unwrap_err();
        assert!(
            matches!(err, VerifyError::NewSetMismatch { height: 2, .. }),
            "{err}"
        );

        // 4. A change hidden by a header that does not follow its predecessor.
        let mut headers = chain(std::slice::from_ref(&a), 4);
        headers[2] = header(3, Some(BlockId(Hash([7; 32]))), &a, &a);
        let err = walk(&f, &headers, |_| a.clone(), |_, _| unreachable!()).unwrap_err();
        assert!(
            matches!(err, VerifyError::BrokenChain { height: 3, .. }),
            "{err}"
        );

        // 5. Without the change's commit and set, nothing moves.
        let headers = chain(&[a.clone(), b.clone()], 2);
        let mut t = TrustedState::from_genesis(&f.genesis).unwrap();
        assert!(matches!(
            t.advance(&headers[0], None).unwrap_err(),
            VerifyError::MissingChange { height: 1 }
        ));
    }

    #[test]
    fn a_trusted_header_root_checks_its_hash_and_sets() {
        let f = fixture();
        let a = f.genesis.validator_set().unwrap();
        let b = f.set_of(&[(1, 10), (2, 10), (3, 10), (4, 10)]);
        let headers = chain(&[a.clone(), a.clone(), b.clone()], 5);
        let root = &headers[1];
        let id = root.id().0;
        assert!(matches!(
            TrustedState::from_header(root, &Hash([1; 32]), &a, Some(b.clone())).unwrap_err(),
            VerifyError::RootHash { height: 2, .. }
        ));
        assert!(matches!(
            TrustedState::from_header(root, &id, &b, Some(b.clone())).unwrap_err(),
            VerifyError::UntrustedSet { height: 2, .. }
        ));
        assert!(matches!(
            TrustedState::from_header(root, &id, &a, Some(a.clone())).unwrap_err(),
            VerifyError::NewSetMismatch { height: 3, .. }
        ));
        let t = TrustedState::from_header(root, &id, &a, Some(b.clone())).unwrap();
        assert_eq!(t.next_height(), 3);
        let mut t2 = t.clone();
        t2.advance(&headers[2], None).unwrap();
        let target = &headers[3];
        let v = t2.finish(target, &f.commit(target, &b, |_| true)).unwrap();
        assert_eq!(
            v.root,
            TrustRoot::Header {
                height: 2,
                hash: id
            }
        );
        assert!(matches!(
            t.finish(&headers[0], &f.commit(&headers[0], &a, |_| true))
                .unwrap_err(),
            VerifyError::WrongHeight {
                expected: 3,
                got: 1
            }
        ));
    }

    /// A real proof from a store opened on a genesis, shaped as the node's `abci_query` answer.
    fn proven_account() -> (tempfile::TempDir, QueryResult, Vec<u8>, Hash) {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &f.genesis, StoreOptions::default()).unwrap();
        let key = StateKey::Account(f.genesis.accounts[0].address);
        let p = store.query(&key, None, true).unwrap();
        let q = QueryResult {
            code: 0,
            log: "exists".into(),
            key: key.to_bytes(),
            value: p.value.clone().unwrap(),
            height: p.height,
            proof_ops: Some(vec![ProofOp {
                kind: PROOF_OP_TYPE.into(),
                key: key.to_bytes(),
                data: p.proof.unwrap().to_bytes(),
            }]),
        };
        (dir, q, key.to_bytes(), p.root)
    }

    #[test]
    fn a_proof_verifies_only_untampered_against_its_app_hash() {
        let (_dir, q, key, root) = proven_account();
        assert_eq!(
            verify_query(&q, &key, &root).unwrap(),
            Some(q.value.clone())
        );

        // Wrong app hash.
        assert!(matches!(
            verify_query(&q, &key, &Hash([9; 32])).unwrap_err(),
            VerifyError::Proof { .. }
        ));
        // Every single flipped byte of the proof fails (decode or verification).
        let data = &q.proof_ops.as_ref().unwrap()[0].data;
        for i in 0..data.len() {
            let mut t = q.clone();
            t.proof_ops.as_mut().unwrap()[0].data[i] ^= 0x01;
            assert!(
                verify_query(&t, &key, &root).is_err(),
                "byte {i} flipped still verifies"
            );
        }
        // A tampered value, a claimed absence, another key, no proof, another op type.
        let mut t = q.clone();
        t.value[0] ^= 1;
        assert!(verify_query(&t, &key, &root).is_err());
        let mut t = q.clone();
        t.code = 1;
        assert!(verify_query(&t, &key, &root).is_err());
        let other = StateKey::Account(Address([3; 20])).to_bytes();
        assert!(matches!(
            verify_query(&q, &other, &root).unwrap_err(),
            VerifyError::ProofShape(_)
        ));
        let mut t = q.clone();
        t.proof_ops = None;
        assert!(matches!(
            verify_query(&t, &key, &root).unwrap_err(),
            VerifyError::ProofShape(_)
        ));
        let mut t = q.clone();
        t.proof_ops.as_mut().unwrap()[0].kind = "ics23:iavl".into();
        assert!(matches!(
            verify_query(&t, &key, &root).unwrap_err(),
            VerifyError::ProofShape(_)
        ));
        let mut t = q.clone();
        t.height += 1;
        assert!(matches!(
            verify_query(&t, &key, &root).unwrap_err(),
            VerifyError::ProofShape(_)
        ));
    }
}
