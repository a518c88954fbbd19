//! Test helpers: keys, a state stub and tx builders.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;

use cairn_mempool::{AccountInfo, Mempool, MempoolConfig, StateView};
use cairn_types::{Address, ChainParams, Msg, PublicKey, SigningKey, Tx, TxBody};

pub const CHAIN: &str = "cairn-test";

pub fn key(i: u64) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&i.to_le_bytes());
    seed[31] = 0xA5;
    SigningKey::from_seed(seed)
}

#[derive(Default, Clone)]
pub struct State {
    pub accounts: HashMap<Address, AccountInfo>,
    pub min_fee_per_byte: u64,
}

impl State {
    pub fn with(keys: &[&SigningKey], balance: u64) -> State {
        let mut s = State::default();
        for k in keys {
            s.set(k, balance, 0);
        }
        s
    }
    pub fn set(&mut self, k: &SigningKey, balance: u64, nonce: u64) {
        self.accounts
            .insert(k.public_key().address(), AccountInfo { balance, nonce });
    }
}

impl StateView for State {
    fn account(&self, addr: &Address) -> AccountInfo {
        self.accounts.get(addr).copied().unwrap_or_default()
    }
    fn min_fee_per_byte(&self) -> u64 {
        self.min_fee_per_byte
    }
}

pub fn body(sender: PublicKey, nonce: u64, fee: u64, amount: u64) -> TxBody {
    TxBody {
        chain_id: CHAIN.into(),
        sender,
        nonce,
        fee,
        msg: Msg::Transfer {
            to: Address([7; 20]),
            amount,
        },
    }
}

/// A signed transfer of `amount` with `fee`.
pub fn tx(k: &SigningKey, nonce: u64, fee: u64, amount: u64) -> Vec<u8> {
    Tx::sign(body(k.public_key(), nonce, fee, amount), k).to_bytes()
}

/// The size every transfer built by [`tx`] has.
pub fn transfer_size() -> usize {
    tx(&key(0), 0, 0, 0).len()
}

pub fn config() -> MempoolConfig {
    MempoolConfig::new(CHAIN, &ChainParams::default())
}

pub fn pool() -> Mempool {
    Mempool::new(config(), 1)
}

pub fn decode(b: &[u8]) -> Tx {
    Tx::decode(b, 1 << 20, CHAIN).unwrap()
}
