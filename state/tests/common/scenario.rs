//! Seeded random block sequences that reach every message, failure path,
//! slash and validator change: the input of the determinism, conservation,
//! fixture and crash tests.

use cairn_genesis::testnet::Testnet;
use cairn_state::Store;
use cairn_types::crypto::{Address, NodeId, SigningKey};
use cairn_types::evidence::Evidence;
use cairn_types::tx::{Msg, PutCondition};
use cairn_types::{Block, Bytes, Text};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;

use super::{double_sign, next_block, small_params, tx, tx_fee};

/// Everyone who can sign in a scenario.
pub struct Actors {
    /// Accounts, validator operators, then the admin.
    pub signers: Vec<SigningKey>,
    /// Consensus keys: genesis validators', then keys CreateValidator may use.
    pub consensus: Vec<SigningKey>,
}

impl Actors {
    pub fn new(net: &Testnet) -> Actors {
        let mut signers: Vec<SigningKey> = net.accounts.clone();
        signers.extend(net.validators.iter().map(|v| v.operator.clone()));
        signers.push(net.admin.clone());
        let mut consensus: Vec<SigningKey> =
            net.validators.iter().map(|v| v.consensus.clone()).collect();
        consensus.extend((0..4u8).map(|i| SigningKey::from_seed([100 + i; 32])));
        Actors { signers, consensus }
    }

    fn signer(&self, i: usize) -> &SigningKey {
        &self.signers[i % self.signers.len()]
    }

    fn address(&self, i: usize) -> Address {
        self.signer(i).public_key().address()
    }
}

/// Builds the next block of a seeded scenario on top of `store` (txs signed
/// with each sender's next nonce as the store sees it, plus intentional
/// failures of every kind).
pub fn random_block(store: &Store, actors: &Actors, rng: &mut ChaCha8Rng, max_txs: usize) -> Block {
    let fee = store.params().unwrap().app.min_fee_per_byte;
    let mut nonces: BTreeMap<usize, u64> = BTreeMap::new();
    let mut txs: Vec<Bytes> = Vec::new();
    let mut evidence: Vec<Evidence> = Vec::new();
    let n = rng.random_range(0..=max_txs);
    let ns = actors.signers.len();
    for _ in 0..n {
        let from = rng.random_range(0..ns);
        let key = actors.signer(from).clone();
        let nonce = *nonces
            .entry(from)
            .or_insert_with(|| store.account(&key.public_key().address()).unwrap().nonce);
        let other = actors.address(rng.random_range(0..ns));
        let operator = actors.address(rng.random_range(0..ns));
        let kind = rng.random_range(0..100u32);
        let msg = match kind {
            0..=34 => Msg::Transfer {
                to: other,
                amount: if rng.random_bool(0.1) {
                    u64::MAX / 2
                } else {
                    rng.random_range(1..5_000_000)
                },
            },
            35..=44 => Msg::Put {
                key: Bytes(vec![rng.random_range(0..4u8); rng.random_range(0..20usize)]),
                value: Bytes(vec![rng.random::<u8>(); rng.random_range(0..70usize)]),
                condition: match rng.random_range(0..3) {
                    0 => PutCondition::Always,
                    1 => PutCondition::Absent,
                    _ => PutCondition::Equals(Bytes(vec![rng.random::<u8>(); 3])),
                },
            },
            45..=54 => Msg::Delegate {
                validator: operator,
                amount: rng.random_range(1..30_000_000),
            },
            55..=64 => Msg::Undelegate {
                validator: operator,
                amount: rng.random_range(1..12_000_000),
            },
            65..=69 => Msg::PermitValidator { operator },
            70..=72 => Msg::RevokeValidator { operator },
            73..=78 => Msg::CreateValidator {
                consensus_key: actors.consensus[rng.random_range(0..actors.consensus.len())]
                    .public_key(),
                node_id: NodeId([rng.random::<u8>(); 20]),
                moniker: Text::from(format!("v{}", rng.random_range(0..100u32))),
                self_stake: rng.random_range(500_000..40_000_000),
            },
            79..=81 => Msg::EditValidator {
                moniker: Some(Text::from("edited")),
                node_id: None,
            },
            82..=85 => Msg::Unjail,
            86..=88 => {
                let mut p = small_params();
                match rng.random_range(0..4) {
                    0 => p.app.min_fee_per_byte = 2,
                    1 => p.app.max_validators = 2,
                    2 => p.app.unbonding_blocks = p.consensus.evidence_max_age_blocks, // invalid
                    _ => {}
                }
                Msg::UpdateParams { params: p }
            }
            _ => Msg::Transfer {
                to: other,
                amount: 1,
            },
        };
        let bytes = match kind {
            // A stale or future nonce: no effect.
            89..=91 => tx(&key, nonce + rng.random_range(1..3), fee, msg),
            // A fee below the minimum: no effect.
            92..=93 => tx_fee(&key, nonce, 1, msg),
            // Garbage bytes.
            94 => Bytes(vec![rng.random::<u8>(); rng.random_range(0..40usize)]),
            // A duplicate of an earlier tx of this block.
            95..=96 if !txs.is_empty() => {
                let i = rng.random_range(0..txs.len());
                txs[i].clone()
            }
            _ => {
                nonces.insert(from, nonce + 1);
                tx(&key, nonce, fee, msg)
            }
        };
        txs.push(bytes);
    }
    let latest = store.latest_height().unwrap();
    if latest >= 2 && rng.random_bool(0.12) {
        let back = rng.random_range(1..latest.min(12));
        let key = &actors.consensus[rng.random_range(0..actors.consensus.len())];
        evidence.push(double_sign(store, key, latest - back));
    }
    next_block(store, txs, evidence)
}

/// A fresh rng for `seed`.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
