//! The transaction pool: admission, ordering, eviction, reap and recheck.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};

use cairn_types::tx::tx_hash;
use cairn_types::{Address, BatchVerifier, Bytes, Hash, KeyCache, Tx};

use crate::config::MempoolConfig;
use crate::error::MempoolError;
use crate::lru::Lru;
use crate::view::{AccountInfo, StateView, max_spend};

/// Bytes a tx adds to a block beyond its own: the borsh length prefix of
/// its entry in `Block::txs`.
pub const TX_ENTRY_OVERHEAD: usize = 4;

/// A tx that the mempool holds.
#[derive(Debug, Clone)]
struct PoolTx {
    hash: Hash,
    bytes: Bytes,
    fee: u64,
    spend: u128,
    seq: u64,
    added_height: u64,
}

impl PoolTx {
    fn size(&self) -> usize {
        self.bytes.len()
    }

    fn priority(&self) -> Priority {
        Priority {
            fee: self.fee,
            size: self.size() as u64,
            seq: self.seq,
        }
    }
}

/// Priority across senders: fee per byte, then earlier arrival. Greater is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Priority {
    fee: u64,
    size: u64,
    seq: u64,
}

impl Ord for Priority {
    fn cmp(&self, other: &Self) -> Ordering {
        // fee/size compared as fractions without division or floats.
        let lhs = u128::from(self.fee) * u128::from(other.size);
        let rhs = u128::from(other.fee) * u128::from(self.size);
        lhs.cmp(&rhs).then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Eviction order of a sender's last tx: future (gapped) before ready, then
/// by priority. The smallest key is evicted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EvictKey {
    ready: bool,
    priority: Priority,
    sender: Address,
    nonce: u64,
}

/// One sender's pending txs by nonce.
#[derive(Debug, Default)]
struct SenderQueue {
    /// The account's next nonce when last checked against state.
    base: u64,
    txs: BTreeMap<u64, PoolTx>,
    /// Total of `max_spend` over `txs`.
    spend: u128,
    /// This queue's entry in `Mempool::tails`.
    tail: Option<EvictKey>,
}

impl SenderQueue {
    /// How many txs form the contiguous run starting at `base` (the ready ones).
    fn ready_len(&self) -> usize {
        let mut expected = self.base;
        let mut n = 0;
        for &nonce in self.txs.range(self.base..).map(|(k, _)| k) {
            if nonce != expected {
                break;
            }
            n += 1;
            expected = expected.saturating_add(1);
        }
        n
    }
}

/// What the seen cache remembers about a tx hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Included in a committed block.
    Committed,
    /// Refused by a stateless check: it can never become valid.
    Invalid,
}

/// A tx the mempool accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The tx hash.
    pub hash: Hash,
    /// True when the tx waits behind a nonce gap (not yet reapable).
    pub future: bool,
    /// Txs evicted to make room for it.
    pub evicted: Vec<Hash>,
}

/// Whose pending txs [`Mempool::update`] checks against the new state.
#[derive(Debug, Clone, Copy)]
pub enum Recheck<'a> {
    /// Every sender's (the minimum fee may have changed, or nobody knows
    /// what the block changed).
    All,
    /// The accounts whose committed state the block changed; it must name
    /// every one (a sender left out keeps txs the new state may refuse,
    /// which then fail in a block). Senders of included txs and of expired
    /// txs are rechecked anyway.
    Changed(&'a [Address]),
}

/// What [`Mempool::update`] did after a commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateReport {
    /// Pending txs that the block included.
    pub committed: usize,
    /// Txs dropped because their TTL ran out.
    pub expired: Vec<Hash>,
    /// Txs dropped by the recheck against the new state, with the reason.
    pub invalid: Vec<(Hash, MempoolError)>,
}

/// A tx that passed the stateless checks.
struct Decoded {
    tx: Tx,
    bytes: Vec<u8>,
    hash: Hash,
    needs_verify: bool,
}

/// A batch after the stateless checks, before signature verification.
struct Prechecked(Vec<Result<Decoded, MempoolError>>);

/// A batch with each signature's verdict (`true` when it needed none).
struct Verified(Vec<(Result<Decoded, MempoolError>, bool)>);

impl Prechecked {
    /// Verifies the signatures that need it in one batch; needs no pool.
    fn verify(self, keys: &KeyCache) -> Verified {
        let mut batch = BatchVerifier::new();
        let mut batch_index = Vec::new();
        for (i, d) in self.0.iter().enumerate() {
            if let Ok(d) = d
                && d.needs_verify
            {
                batch.push(d.tx.body.sender, d.tx.body.sign_bytes(), d.tx.signature);
                batch_index.push(i);
            }
        }
        let mut sig_ok = vec![true; self.0.len()];
        for (pos, ok) in batch.verify_each_cached(keys).into_iter().enumerate() {
            if let Some(&i) = batch_index.get(pos) {
                sig_ok[i] = ok;
            }
        }
        Verified(self.0.into_iter().zip(sig_ok).collect())
    }
}

/// [`Mempool::check_txs`] on a mempool shared behind a lock, which is held
/// for the checks and the admission but not while the signatures verify
/// (the longest part: tens of milliseconds for a full gossip batch, which
/// block building, block validation and the commit's update would
/// otherwise wait for). `None`: the lock is poisoned.
pub fn check_txs_shared(
    pool: &Mutex<Mempool>,
    txs: Vec<Vec<u8>>,
    state: &impl StateView,
) -> Option<Vec<Result<Admitted, MempoolError>>> {
    let (prechecked, keys) = {
        let mut m = pool.lock().ok()?;
        (m.precheck_batch(txs), m.key_cache())
    };
    let verified = prechecked.verify(&keys);
    Some(pool.lock().ok()?.admit_batch(verified, state))
}

/// The transaction mempool. See the crate documentation for the flow and invariants.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    senders: HashMap<Address, SenderQueue>,
    by_hash: HashMap<Hash, (Address, u64)>,
    /// The last tx of every sender, in eviction order.
    tails: BTreeSet<EvictKey>,
    /// Every tx by the height it was admitted at, for the TTL.
    by_age: BTreeSet<(u64, Address, u64)>,
    count: usize,
    total_bytes: usize,
    next_seq: u64,
    height: u64,
    seen: Lru<Hash, Seen>,
    verified: Lru<Hash, ()>,
    keys: Arc<KeyCache>,
    /// Accounts read from the committed state since the last
    /// [`Mempool::update`]: state only changes at a commit, and each admitted
    /// tx would otherwise read its sender from the store.
    accounts: HashMap<Address, AccountInfo>,
}

impl Mempool {
    /// An empty mempool; `height` is the latest committed height.
    pub fn new(config: MempoolConfig, height: u64) -> Mempool {
        Mempool {
            seen: Lru::new(config.seen_cache_size),
            verified: Lru::new(config.verified_cache_size),
            keys: Arc::new(KeyCache::new(config.key_cache_size)),
            accounts: HashMap::new(),
            config,
            senders: HashMap::new(),
            by_hash: HashMap::new(),
            tails: BTreeSet::new(),
            by_age: BTreeSet::new(),
            count: 0,
            total_bytes: 0,
            next_seq: 0,
            height,
        }
    }

    /// The senders' decompressed keys this mempool keeps, for block
    /// validation to share.
    pub fn key_cache(&self) -> Arc<KeyCache> {
        Arc::clone(&self.keys)
    }

    /// The configuration in force.
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// Changes the largest accepted tx (after an UpdateParams).
    pub fn set_max_tx_bytes(&mut self, max: usize) {
        self.config.max_tx_bytes = max;
    }

    /// Number of pending txs (ready and future).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no tx is pending.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sum of the encoded sizes of the pending txs.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// The latest committed height the pool was updated to.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Whether the tx with this hash is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The bytes of a pending tx.
    pub fn get(&self, hash: &Hash) -> Option<&[u8]> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        let q = self.senders.get(sender)?;
        q.txs.get(nonce).map(|t| &t.bytes[..])
    }

    /// Number of pending txs of `sender`.
    pub fn sender_len(&self, sender: &Address) -> usize {
        self.senders.get(sender).map_or(0, |q| q.txs.len())
    }

    /// The nonce the sender's next tx should carry given what is pending and
    /// ready (None when nothing of the sender is pending: ask the state).
    pub fn pending_nonce(&self, sender: &Address) -> Option<u64> {
        let q = self.senders.get(sender)?;
        Some(q.base.saturating_add(q.ready_len() as u64))
    }

    /// Whether this tx's signature was verified here (block validation may skip it).
    pub fn is_verified(&self, hash: &Hash) -> bool {
        self.verified.contains(hash)
    }

    /// The indexes of the block txs whose signatures this mempool has NOT
    /// verified: block validation verifies only those.
    pub fn unverified(&self, block_txs: &[Bytes]) -> Vec<usize> {
        block_txs
            .iter()
            .enumerate()
            .filter(|(_, b)| !self.verified.contains(&tx_hash(b)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Records that a tx's signature verified elsewhere (e.g. in block
    /// validation), so that its gossip copies skip verification.
    pub fn mark_verified(&mut self, hash: Hash) {
        self.verified.insert(hash, ());
    }

    /// Admits one tx: stateless checks (size, canonical decoding, chain id,
    /// sender key, signature), then stateful checks against `state`.
    pub fn check_tx(
        &mut self,
        bytes: Vec<u8>,
        state: &impl StateView,
    ) -> Result<Admitted, MempoolError> {
        let decoded = self.precheck(bytes)?;
        if decoded.needs_verify {
            if decoded.tx.verify_signature().is_err() {
                self.seen.insert(decoded.hash, Seen::Invalid);
                return Err(MempoolError::BadSignature { hash: decoded.hash });
            }
            self.verified.insert(decoded.hash, ());
        }
        self.admit(decoded, state)
    }

    /// Admits many txs, verifying all their signatures in one deterministic
    /// ZIP-215 batch (the throughput path for RPC and gossip). Results are in
    /// input order; txs are admitted in input order, so a batch may carry
    /// consecutive nonces of one sender. [`check_txs_shared`] does the same
    /// for a shared mempool without holding its lock while verifying.
    pub fn check_txs(
        &mut self,
        txs: Vec<Vec<u8>>,
        state: &impl StateView,
    ) -> Vec<Result<Admitted, MempoolError>> {
        let verified = self.precheck_batch(txs).verify(&self.keys);
        self.admit_batch(verified, state)
    }

    /// The stateless checks of a batch (see [`Mempool::precheck`]).
    fn precheck_batch(&mut self, txs: Vec<Vec<u8>>) -> Prechecked {
        Prechecked(txs.into_iter().map(|b| self.precheck(b)).collect())
    }

    /// Admits a verified batch in input order. The pool may have changed
    /// since the precheck (another batch, a block): `admit` checks again
    /// everything that depends on it.
    fn admit_batch(
        &mut self,
        batch: Verified,
        state: &impl StateView,
    ) -> Vec<Result<Admitted, MempoolError>> {
        batch
            .0
            .into_iter()
            .map(|(d, ok)| {
                let d = d?;
                if !ok {
                    self.seen.insert(d.hash, Seen::Invalid);
                    return Err(MempoolError::BadSignature { hash: d.hash });
                }
                if d.needs_verify {
                    self.verified.insert(d.hash, ());
                }
                self.admit(d, state)
            })
            .collect()
    }

    /// Size, caches, canonical decoding, chain id and sender key: everything
    /// that needs neither state nor the signature check.
    fn precheck(&mut self, bytes: Vec<u8>) -> Result<Decoded, MempoolError> {
        if bytes.len() > self.config.max_tx_bytes {
            return Err(MempoolError::TooLarge {
                size: bytes.len(),
                max: self.config.max_tx_bytes,
            });
        }
        let hash = tx_hash(&bytes);
        if self.by_hash.contains_key(&hash) {
            return Err(MempoolError::AlreadyInPool { hash });
        }
        match self.seen.peek(&hash) {
            Some(Seen::Invalid) => return Err(MempoolError::KnownInvalid { hash }),
            Some(Seen::Committed) => return Err(MempoolError::AlreadySeen { hash }),
            None => {}
        }
        let checked = Tx::decode(&bytes, self.config.max_tx_bytes, &self.config.chain_id)
            .map_err(MempoolError::from)
            .and_then(|tx| {
                self.keys.check_usable(&tx.body.sender)?;
                Ok(tx)
            });
        match checked {
            Ok(tx) => Ok(Decoded {
                tx,
                bytes,
                hash,
                needs_verify: !self.verified.contains(&hash),
            }),
            Err(e) => {
                self.seen.insert(hash, Seen::Invalid);
                Err(e)
            }
        }
    }

    /// The stateful checks and the insertion (with eviction when full).
    fn admit(&mut self, d: Decoded, state: &impl StateView) -> Result<Admitted, MempoolError> {
        let hash = d.hash;
        if self.by_hash.contains_key(&hash) {
            return Err(MempoolError::AlreadyInPool { hash });
        }
        let size = d.bytes.len();
        let fee = d.tx.body.fee;
        let nonce = d.tx.body.nonce;
        let min = u128::from(state.min_fee_per_byte()) * size as u128;
        if u128::from(fee) < min {
            return Err(MempoolError::FeeTooLow { fee, min, size });
        }
        let sender = d.tx.sender();
        let account = self.committed_account(&sender, state);
        if nonce < account.nonce {
            return Err(MempoolError::NonceTooLow {
                nonce,
                expected: account.nonce,
            });
        }
        let window = self.config.max_per_sender as u64;
        if nonce >= account.nonce.saturating_add(window) {
            return Err(MempoolError::NonceTooFarAhead {
                nonce,
                expected: account.nonce,
                window,
            });
        }
        // Txs below the account's nonce are stale (a block used their nonce);
        // drop them so that the queue starts at the account's nonce.
        self.drop_stale(&sender, account.nonce);
        let spend = max_spend(&d.tx);
        let (future, pending_spend) = match self.senders.get(&sender) {
            Some(q) => {
                if q.txs.contains_key(&nonce) {
                    return Err(MempoolError::NonceAlreadyPending { nonce });
                }
                if q.txs.len() >= self.config.max_per_sender {
                    return Err(MempoolError::SenderFull {
                        max: self.config.max_per_sender,
                    });
                }
                let below = q.txs.range(account.nonce..nonce).count() as u64;
                let future = below != nonce - account.nonce;
                if future && q.txs.len() - q.ready_len() >= self.config.max_future_per_sender {
                    return Err(MempoolError::TooManyFuture {
                        max: self.config.max_future_per_sender,
                    });
                }
                (future, q.spend)
            }
            None => (nonce != account.nonce, 0),
        };
        if future && self.config.max_future_per_sender == 0 {
            return Err(MempoolError::TooManyFuture { max: 0 });
        }
        let required = pending_spend + spend;
        if required > u128::from(account.balance) {
            return Err(MempoolError::InsufficientBalance {
                required,
                balance: account.balance,
            });
        }
        let ptx = PoolTx {
            hash,
            bytes: Bytes(d.bytes),
            fee,
            spend,
            seq: self.next_seq,
            added_height: self.height,
        };
        let key = EvictKey {
            ready: !future,
            priority: ptx.priority(),
            sender,
            nonce,
        };
        let evicted = self.make_room(&key, size)?;
        self.next_seq += 1;
        self.insert(sender, account.nonce, nonce, ptx);
        Ok(Admitted {
            hash,
            future,
            evicted,
        })
    }

    /// Evicts lower-priority txs until a tx of `size` bytes fits, or refuses
    /// without evicting anything. Only a sender's last tx is ever evicted, so
    /// no kept tx is left behind a nonce gap; the new tx's own sender is
    /// never a victim (that could open a gap below the new tx).
    fn make_room(&mut self, new: &EvictKey, size: usize) -> Result<Vec<Hash>, MempoolError> {
        let over_count = |count: usize| count >= self.config.max_txs;
        let over_bytes = |bytes: usize| bytes.saturating_add(size) > self.config.max_total_bytes;
        if size > self.config.max_total_bytes || self.config.max_txs == 0 {
            return Err(MempoolError::Full {
                txs: self.count,
                bytes: self.total_bytes,
            });
        }
        let (mut count, mut bytes) = (self.count, self.total_bytes);
        if !over_count(count) && !over_bytes(bytes) {
            return Ok(Vec::new());
        }
        // Plan first: walk the tails in eviction order, and when a sender's
        // tail is planned away, its previous tx becomes a candidate.
        let mut planned: Vec<(Address, u64)> = Vec::new();
        let mut next_of_sender: BinaryHeap<std::cmp::Reverse<EvictKey>> = BinaryHeap::new();
        let mut tails = self
            .tails
            .iter()
            .filter(|k| k.sender != new.sender)
            .peekable();
        while over_count(count) || over_bytes(bytes) {
            let from_tails = tails.peek().copied();
            let from_heap = next_of_sender.peek().map(|r| r.0);
            let victim = match (from_tails, from_heap) {
                (Some(t), Some(h)) if h < *t => next_of_sender.pop().map(|r| r.0),
                (Some(_), _) => tails.next().copied(),
                (None, Some(_)) => next_of_sender.pop().map(|r| r.0),
                (None, None) => None,
            };
            let Some(victim) = victim.filter(|v| v < new) else {
                return Err(MempoolError::Full {
                    txs: self.count,
                    bytes: self.total_bytes,
                });
            };
            let Some(q) = self.senders.get(&victim.sender) else {
                continue;
            };
            let Some(vtx) = q.txs.get(&victim.nonce) else {
                continue;
            };
            count -= 1;
            bytes -= vtx.size();
            planned.push((victim.sender, victim.nonce));
            if let Some((&prev_nonce, prev)) = q.txs.range(..victim.nonce).next_back() {
                // The previous tx is ready iff the run from base reaches it.
                let ready = (q.ready_len() as u64) > prev_nonce.saturating_sub(q.base);
                next_of_sender.push(std::cmp::Reverse(EvictKey {
                    ready: ready && prev_nonce >= q.base,
                    priority: prev.priority(),
                    sender: victim.sender,
                    nonce: prev_nonce,
                }));
            }
        }
        drop(tails);
        let mut evicted = Vec::with_capacity(planned.len());
        for (sender, nonce) in planned {
            if let Some(t) = self.remove_tx(&sender, nonce) {
                evicted.push(t.hash);
            }
        }
        Ok(evicted)
    }

    fn insert(&mut self, sender: Address, base: u64, nonce: u64, ptx: PoolTx) {
        self.count += 1;
        self.total_bytes += ptx.size();
        self.by_hash.insert(ptx.hash, (sender, nonce));
        self.by_age.insert((ptx.added_height, sender, nonce));
        let q = self.senders.entry(sender).or_default();
        q.base = base;
        q.spend += ptx.spend;
        q.txs.insert(nonce, ptx);
        refresh_tail(&mut self.tails, sender, q);
    }

    /// Removes one tx, keeping every index consistent.
    fn remove_tx(&mut self, sender: &Address, nonce: u64) -> Option<PoolTx> {
        let q = self.senders.get_mut(sender)?;
        let ptx = q.txs.remove(&nonce)?;
        q.spend -= ptx.spend;
        self.count -= 1;
        self.total_bytes -= ptx.size();
        self.by_hash.remove(&ptx.hash);
        self.by_age.remove(&(ptx.added_height, *sender, nonce));
        refresh_tail(&mut self.tails, *sender, q);
        if q.txs.is_empty() {
            self.senders.remove(sender);
        }
        Some(ptx)
    }

    fn drop_stale(&mut self, sender: &Address, account_nonce: u64) -> Vec<Hash> {
        let stale: Vec<u64> = match self.senders.get(sender) {
            Some(q) => q.txs.range(..account_nonce).map(|(n, _)| *n).collect(),
            None => return Vec::new(),
        };
        let dropped = stale
            .into_iter()
            .filter_map(|n| self.remove_tx(sender, n).map(|t| t.hash))
            .collect();
        if let Some(q) = self.senders.get_mut(sender) {
            q.base = account_nonce;
            refresh_tail(&mut self.tails, *sender, q);
        }
        dropped
    }

    /// Removes a pending tx by hash (e.g. on an operator's request).
    pub fn remove(&mut self, hash: &Hash) -> bool {
        match self.by_hash.get(hash).copied() {
            Some((sender, nonce)) => self.remove_tx(&sender, nonce).is_some(),
            None => false,
        }
    }

    /// Drops every pending tx and both caches.
    pub fn flush(&mut self) {
        self.senders.clear();
        self.by_hash.clear();
        self.tails.clear();
        self.by_age.clear();
        self.count = 0;
        self.total_bytes = 0;
        self.seen.clear();
        self.verified.clear();
    }

    /// The txs for a block: nonce-consistent per sender (each sender's txs
    /// from its account nonce, without gaps) and across senders in order of
    /// fee per byte, then arrival. Stops at `max_txs`; counts each tx's
    /// encoded size plus [`TX_ENTRY_OVERHEAD`] against `max_bytes`. A tx that
    /// does not fit ends its sender's run (its successors cannot go without
    /// it) while smaller txs of other senders may still fill the block.
    /// `O(S + k log S)` for S senders and k txs taken; the pool is unchanged.
    pub fn reap(&self, max_bytes: usize, max_txs: usize) -> Vec<Bytes> {
        // Heap entries carry an index into `queues`, so a pop costs no hash lookup.
        let queues: Vec<&SenderQueue> = self.senders.values().collect();
        let mut heads: Vec<(Priority, u64, usize)> = Vec::with_capacity(queues.len());
        for (i, q) in queues.iter().enumerate() {
            if let Some(t) = q.txs.get(&q.base) {
                heads.push((t.priority(), q.base, i));
            }
        }
        let mut heap = BinaryHeap::from(heads);
        let mut out = Vec::new();
        let mut remaining = max_bytes;
        while out.len() < max_txs {
            let Some((_, nonce, i)) = heap.pop() else {
                break;
            };
            let Some(q) = queues.get(i) else {
                continue;
            };
            let mut run = q.txs.range(nonce..);
            let Some((_, t)) = run.next() else {
                continue;
            };
            let need = t.size() + TX_ENTRY_OVERHEAD;
            if need > remaining {
                continue;
            }
            remaining -= need;
            out.push(t.bytes.clone());
            let next = nonce.saturating_add(1);
            if let Some((&n, nt)) = run.next()
                && n == next
            {
                heap.push((nt.priority(), next, i));
            }
        }
        out
    }

    /// `sender`'s committed account, read once per height. Bounded: the
    /// memo starts over past `max_txs` senders.
    fn committed_account(&mut self, sender: &Address, state: &impl StateView) -> AccountInfo {
        if let Some(a) = self.accounts.get(sender) {
            return *a;
        }
        if self.accounts.len() >= self.config.max_txs {
            self.accounts.clear();
        }
        let account = state.account(sender);
        self.accounts.insert(*sender, account);
        account
    }

    /// After a block is committed at `height`: removes the included txs
    /// (remembering their hashes in the seen cache), drops txs whose TTL ran
    /// out, and rechecks the remaining txs of the senders `recheck` names,
    /// and of those whose queue lost a tx here, against the new state
    /// (nonce, balance including the sender's earlier pending txs, minimum
    /// fee), dropping the ones that became invalid. Signatures are not
    /// re-verified: they do not depend on state. The cost is that of the
    /// block and the rechecked senders, not of the whole pool.
    pub fn update(
        &mut self,
        height: u64,
        committed_txs: &[Bytes],
        recheck: Recheck<'_>,
        state: &impl StateView,
    ) -> UpdateReport {
        self.height = height;
        // Senders whose queue changed here; with `Recheck::Changed`, the
        // others' accounts and queues are as at their last check.
        let mut touched = BTreeSet::new();
        match recheck {
            Recheck::All => {
                self.accounts.clear();
                touched.extend(self.senders.keys().copied());
            }
            Recheck::Changed(accounts) => {
                for a in accounts {
                    self.accounts.remove(a);
                    if self.senders.contains_key(a) {
                        touched.insert(*a);
                    }
                }
            }
        }
        let mut report = UpdateReport::default();
        for b in committed_txs {
            let hash = tx_hash(b);
            self.verified.remove(&hash);
            self.seen.insert(hash, Seen::Committed);
            if let Some((sender, nonce)) = self.by_hash.get(&hash).copied()
                && self.remove_tx(&sender, nonce).is_some()
            {
                touched.insert(sender);
                report.committed += 1;
            }
        }
        if self.config.ttl_blocks > 0 && height >= self.config.ttl_blocks {
            let last_expired = height - self.config.ttl_blocks;
            let expired: Vec<(u64, Address, u64)> = self
                .by_age
                .range(..=(last_expired, Address([0xff; 20]), u64::MAX))
                .copied()
                .collect();
            for (_, s, n) in expired {
                if let Some(t) = self.remove_tx(&s, n) {
                    touched.insert(s);
                    report.expired.push(t.hash);
                }
            }
        }
        let min_fee_per_byte = u128::from(state.min_fee_per_byte());
        for sender in touched {
            let account = self.committed_account(&sender, state);
            let Some(q) = self.senders.get(&sender) else {
                continue;
            };
            let mut drop: Vec<(u64, MempoolError)> = Vec::new();
            let mut spent: u128 = 0;
            for (&nonce, t) in &q.txs {
                if nonce < account.nonce {
                    drop.push((
                        nonce,
                        MempoolError::NonceTooLow {
                            nonce,
                            expected: account.nonce,
                        },
                    ));
                    continue;
                }
                let min = min_fee_per_byte * t.size() as u128;
                if u128::from(t.fee) < min {
                    drop.push((
                        nonce,
                        MempoolError::FeeTooLow {
                            fee: t.fee,
                            min,
                            size: t.size(),
                        },
                    ));
                    continue;
                }
                if spent + t.spend > u128::from(account.balance) {
                    drop.push((
                        nonce,
                        MempoolError::InsufficientBalance {
                            required: spent + t.spend,
                            balance: account.balance,
                        },
                    ));
                    continue;
                }
                spent += t.spend;
            }
            for (nonce, err) in drop {
                if let Some(t) = self.remove_tx(&sender, nonce) {
                    report.invalid.push((t.hash, err));
                }
            }
            // Drops above may have opened gaps: keep at most the allowed
            // number of future txs, dropping the highest nonces first.
            let Some(q) = self.senders.get_mut(&sender) else {
                continue;
            };
            q.base = account.nonce;
            refresh_tail(&mut self.tails, sender, q);
            let future = q.txs.len() - q.ready_len();
            let excess = future.saturating_sub(self.config.max_future_per_sender);
            let highest: Vec<u64> = q.txs.keys().rev().take(excess).copied().collect();
            for nonce in highest {
                if let Some(t) = self.remove_tx(&sender, nonce) {
                    report.invalid.push((
                        t.hash,
                        MempoolError::TooManyFuture {
                            max: self.config.max_future_per_sender,
                        },
                    ));
                }
            }
        }
        report
    }

    /// Checks the internal indexes against each other (for tests).
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut count = 0;
        let mut bytes = 0;
        let mut tails = BTreeSet::new();
        for (s, q) in &self.senders {
            if q.txs.is_empty() {
                return Err(format!("empty queue for {s}"));
            }
            let spend: u128 = q.txs.values().map(|t| t.spend).sum();
            if spend != q.spend {
                return Err(format!("spend of {s} is {} not {spend}", q.spend));
            }
            for (n, t) in &q.txs {
                count += 1;
                bytes += t.size();
                if self.by_hash.get(&t.hash) != Some(&(*s, *n)) {
                    return Err(format!("hash index wrong for {s}/{n}"));
                }
            }
            match q.tail {
                Some(k) => {
                    tails.insert(k);
                }
                None => return Err(format!("no tail for {s}")),
            }
            if q.txs.len() - q.ready_len() > self.config.max_future_per_sender {
                return Err(format!("too many future txs for {s}"));
            }
            if q.txs.len() > self.config.max_per_sender {
                return Err(format!("too many txs for {s}"));
            }
        }
        if count != self.count || count != self.by_hash.len() {
            return Err(format!("count {} vs {count}", self.count));
        }
        if bytes != self.total_bytes {
            return Err(format!("bytes {} vs {bytes}", self.total_bytes));
        }
        if tails != self.tails {
            return Err("tail set differs from the queues' tails".into());
        }
        let ages: BTreeSet<(u64, Address, u64)> = self
            .senders
            .iter()
            .flat_map(|(s, q)| q.txs.iter().map(|(n, t)| (t.added_height, *s, *n)))
            .collect();
        if ages != self.by_age {
            return Err("age index differs from the queues".into());
        }
        if count > self.config.max_txs || bytes > self.config.max_total_bytes {
            return Err("over the pool limits".into());
        }
        Ok(())
    }
}

/// Re-files `q`'s last tx in the eviction set (its readiness may have changed).
fn refresh_tail(tails: &mut BTreeSet<EvictKey>, sender: Address, q: &mut SenderQueue) {
    if let Some(old) = q.tail.take() {
        tails.remove(&old);
    }
    if let Some((&nonce, t)) = q.txs.last_key_value() {
        let key = EvictKey {
            ready: q.ready_len() == q.txs.len(),
            priority: t.priority(),
            sender,
            nonce,
        };
        tails.insert(key);
        q.tail = Some(key);
    }
}
